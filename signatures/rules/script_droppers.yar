/*
   Script droppers that arrive by mail or download: Office VBA macros (as olevba or an export
   writes their source) that run on open and fetch, save and start a payload; Windows Script
   Host JScript downloaders of the Nemucod family; HTML Applications that hand a download to
   PowerShell, certutil or bitsadmin. Each rule needs an auto-run entry point or the HTA tag,
   plus the download, the write and the start: a macro that only fetches data, or an admin HTA
   that only runs a local tool, does not match.
*/

rule VBA_AutoOpen_Download_Execute
{
    meta:
        family = "VBA-Downloader"
        severity = "high"
        description = "Office VBA macro that runs on open, downloads with XMLHTTP/WinHttp/URLDownloadToFile, saves with ADODB.Stream and starts the file"
        reference = "https://github.com/decalage2/oletools/wiki/olevba"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $auto1 = /Sub\s+AutoOpen\s*\(/ ascii nocase
        $auto2 = /Sub\s+Auto_Open\s*\(/ ascii nocase
        $auto3 = /Sub\s+Document_Open\s*\(/ ascii nocase
        $auto4 = /Sub\s+Workbook_Open\s*\(/ ascii nocase
        $dl1 = /CreateObject\(\s*"(MSXML2|Microsoft)\.(Server)?XMLHTTP/ ascii nocase
        $dl2 = /CreateObject\(\s*"WinHttp\.WinHttpRequest/ ascii nocase
        $dl3 = /Declare\s+(PtrSafe\s+)?Function\s+URLDownloadToFile/ ascii nocase
        $save1 = /CreateObject\(\s*"ADODB\.Stream"/ ascii nocase
        $save2 = ".SaveToFile" ascii nocase
        $run1 = /CreateObject\(\s*"WScript\.Shell"\s*\)\.Run/ ascii nocase
        $run2 = /\bShell\s*\(?\s*Environ\(/ ascii nocase
        $run3 = /CreateObject\(\s*"Shell\.Application"\s*\)\.ShellExecute/ ascii nocase

    condition:
        filesize < 1MB
        and 1 of ($auto*)
        and 1 of ($dl*)
        and ($dl3 or all of ($save*))
        and 1 of ($run*)
}

rule VBA_AutoOpen_Hidden_PowerShell
{
    meta:
        family = "VBA-Downloader"
        severity = "high"
        description = "Office VBA macro that runs on open and starts a hidden PowerShell with an encoded command or a download cradle"
        reference = "https://github.com/decalage2/oletools/wiki/olevba"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $auto1 = /Sub\s+AutoOpen\s*\(/ ascii nocase
        $auto2 = /Sub\s+Auto_Open\s*\(/ ascii nocase
        $auto3 = /Sub\s+Document_Open\s*\(/ ascii nocase
        $auto4 = /Sub\s+Workbook_Open\s*\(/ ascii nocase
        $ps = /powershell(\.exe)?\s[^"\r\n]{0,40}-(w|win|window|windowstyle)\s+(hidden|1)\b/ ascii nocase
        $enc = /-(enc|encodedcommand)\s+[A-Za-z0-9+\/]{40}/ ascii nocase
        $cradle = /(IEX|Invoke-Expression)\s*\(?\s*\(?New-Object\s+(System\.)?Net\.WebClient\)?\.DownloadString/ ascii nocase
        $run1 = /\bShell\s*\(/ ascii nocase
        $run2 = /CreateObject\(\s*"WScript\.Shell"\s*\)/ ascii nocase
        $run3 = /GetObject\(\s*"winmgmts:/ ascii nocase

    condition:
        filesize < 1MB
        and 1 of ($auto*)
        and $ps
        and ($enc or $cradle)
        and 1 of ($run*)
}

rule Nemucod_JScript_Downloader
{
    meta:
        family = "Nemucod"
        severity = "high"
        description = "Nemucod-style Windows Script Host JScript downloader: XMLHTTP fetch, ADODB.Stream SaveToFile into %TEMP% and WScript.Shell Run"
        reference = "https://www.microsoft.com/en-us/wdsi/threats/malware-encyclopedia-description?Name=TrojanDownloader:JS/Nemucod"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $ax = /new\s+ActiveXObject\(\s*["'](MSXML2|Microsoft)\.(Server)?XMLHTTP/ ascii nocase
        $ws_xhr = /WScript\.CreateObject\(\s*["'](MSXML2|Microsoft)\.(Server)?XMLHTTP/ ascii nocase
        $stream = /ActiveXObject\(\s*["']ADODB\.Stream["']\s*\)/ ascii nocase
        $ws_stream = /WScript\.CreateObject\(\s*["']ADODB\.Stream["']\s*\)/ ascii nocase
        $save = ".SaveToFile(" ascii nocase
        $temp = "%TEMP%" ascii nocase
        $shell = /(ActiveXObject|WScript\.CreateObject)\(\s*["']WScript\.Shell["']\s*\)/ ascii nocase
        $run = ".Run(" ascii

    condition:
        filesize < 512KB
        and ($ax or $ws_xhr)
        and ($stream or $ws_stream)
        and $save and $shell and $run and $temp
}

rule HTA_PowerShell_Downloader
{
    meta:
        family = "HTA-Downloader"
        severity = "high"
        description = "HTML Application that runs PowerShell hidden with a download cradle or encoded command through WScript.Shell and closes its window"
        reference = "https://attack.mitre.org/techniques/T1218/005/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $hta = /<hta:application/ ascii nocase
        $shell = /CreateObject\(\s*["']WScript\.Shell["']\s*\)/ ascii nocase
        $shell_js = /ActiveXObject\(\s*["']WScript\.Shell["']\s*\)/ ascii nocase
        $ps = /powershell(\.exe)?\s[^"'\r\n]{0,60}-(w|win|window|windowstyle)\s+(hidden|1)\b/ ascii nocase
        $enc = /-(enc|encodedcommand)\s+[A-Za-z0-9+\/]{40}/ ascii nocase
        $cradle = /(IEX|Invoke-Expression)\s*\(?\s*\(?New-Object\s+(System\.)?Net\.WebClient\)?\.Download(String|File)/ ascii nocase
        $close1 = "self.close" ascii nocase
        $close2 = "window.close" ascii nocase

    condition:
        filesize < 512KB
        and $hta
        and ($shell or $shell_js)
        and $ps and ($enc or $cradle)
        and 1 of ($close*)
}

rule HTA_LOLBin_Downloader
{
    meta:
        family = "HTA-Downloader"
        severity = "high"
        description = "HTML Application that fetches a payload with certutil -urlcache or bitsadmin /transfer and starts it through WScript.Shell"
        reference = "https://attack.mitre.org/techniques/T1218/005/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $hta = /<hta:application/ ascii nocase
        $shell = /CreateObject\(\s*["']WScript\.Shell["']\s*\)/ ascii nocase
        $shell_js = /ActiveXObject\(\s*["']WScript\.Shell["']\s*\)/ ascii nocase
        $certutil = /certutil(\.exe)?\s+-urlcache\s+(-split\s+)?-f\s+https?:\/\// ascii nocase
        $bits = /bitsadmin(\.exe)?\s+\/transfer\s+\S+\s+(\/download\s+)?(\/priority\s+\w+\s+)?https?:\/\// ascii nocase
        $close1 = "self.close" ascii nocase
        $close2 = "window.close" ascii nocase

    condition:
        filesize < 512KB
        and $hta
        and ($shell or $shell_js)
        and ($certutil or $bits)
        and 1 of ($close*)
}
