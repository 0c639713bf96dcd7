/*
   PowerShell offensive frameworks as they are dropped on disk during intrusions: PowerShell
   Empire's stagers and launchers, Nishang's shells and hash dumper, and PowerSploit's
   shellcode injector, privilege-escalation and Group Policy password scripts. Scripts have no
   header, so every rule needs a function definition or code fragment written as a regular
   expression (whose source text does not match itself) beside several of the tool's own
   literals: a how-to page quoting the command line that loads a script never matches.
*/

rule Empire_PowerShell_Stager
{
    meta:
        family = "PowerShell-Empire"
        severity = "critical"
        description = "PowerShell Empire HTTP stager: RC4 key schedule in one line, DownloadData from the listener and the decrypted agent piped to IEX"
        reference = "https://github.com/BC-SECURITY/Empire"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $rc4 = /\$S=0\.\.255;0\.\.255\|%\{\$J=\(\$J\+\$S\[\$_\]\+\$K\[\$_%\$K\.Count\]\)%256;/ ascii
        $iex = /-join\[Char\[\]\]\(&\s?\$R\s\$data\s\(\$IV\+\$K\)\)\|IEX/ ascii
        $dl = ".DownloadData($ser+$t)" ascii
        $iv = "$iv=$data[0..3];" ascii
        $ua = "$wc.Headers.Add('User-Agent',$u)" ascii

    condition:
        filesize < 512KB
        and $rc4
        and $iex
        and 1 of ($dl, $iv, $ua)
}

rule Empire_PowerShell_Launcher
{
    meta:
        family = "PowerShell-Empire"
        severity = "high"
        description = "PowerShell Empire launcher as written to a .bat, macro, scheduled task or run key: its fixed -noP -sta -w 1 -enc flags followed by the encoded stager"
        reference = "https://github.com/BC-SECURITY/Empire"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $launch = /powershell(\.exe)?\s+-noP\s+-sta\s+-w\s+1\s+-enc\s+[A-Za-z0-9+\/]{200}/ ascii nocase

    condition:
        filesize < 1MB and $launch
}

rule Empire_Python_Stager
{
    meta:
        family = "PowerShell-Empire"
        severity = "critical"
        description = "Empire Python stager for macOS and Linux: checks for Little Snitch, fetches the agent with a fixed user agent and RC4-decrypts it before exec"
        reference = "https://github.com/BC-SECURITY/Empire"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $snitch = /grep\s+Little\\\s*Snitch\s*\|\s*grep\s+-v\s+grep/ ascii
        $rc4 = /S,j,out=range\(256\),0,\[\]/ ascii
        $exec = /exec\(''\.join\(out\)\)/ ascii
        $iv = "IV=data[0:4]" ascii
        $ua = "req.add_header('User-Agent'" ascii

    condition:
        filesize < 256KB
        and $rc4
        and ($snitch or $exec)
        and 1 of ($iv, $ua)
}

rule Nishang_Invoke_PowerShellTcp
{
    meta:
        family = "Nishang"
        severity = "high"
        description = "Nishang Invoke-PowerShellTcp reverse/bind shell script: TCPClient stream loop with its fake PowerShell banner"
        reference = "https://github.com/samratashok/nishang"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $func = /function\s+Invoke-PowerShellTcp\b/ ascii
        $banner = "Windows PowerShell running as user " ascii
        $client = "New-Object System.Net.Sockets.TCPClient(" ascii
        $bytes = /\[byte\[\]\]\$bytes\s*=\s*0\.\.65535\|%\{0\}/ ascii
        $listen = "[System.Net.Sockets.TcpListener]" ascii
        $iex = /iex\s+\$data\s+2>&1/ ascii

    condition:
        filesize < 256KB
        and $func
        and $bytes
        and 2 of ($banner, $client, $listen, $iex)
}

rule Nishang_PowerShellTcp_OneLiner
{
    meta:
        family = "Nishang"
        severity = "high"
        description = "Nishang Invoke-PowerShellTcpOneLine reverse shell dropped as a script: socket read loop that runs each command through iex and writes back a PS prompt"
        reference = "https://github.com/samratashok/nishang/blob/master/Shells/Invoke-PowerShellTcpOneLine.ps1"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $client = /New-Object\s+(System\.)?Net\.Sockets\.TCPClient\(/ ascii
        $loop = /while\(\(\$i\s?=\s?\$\w{1,10}\.Read\(\$\w{1,10},\s?0,\s?\$\w{1,10}\.Length\)\)\s?-ne\s?0\)/ ascii
        $run = /\(iex\s+\$\w{1,10}\s+2>&1\s?\|\s?Out-String\s?\)/ ascii
        $prompt = /\+\s?'PS '\s?\+\s?\(pwd\)\.Path\s?\+\s?'> '/ ascii

    condition:
        filesize < 16KB
        and all of them
}

rule Nishang_Get_PassHashes
{
    meta:
        family = "Nishang"
        severity = "high"
        description = "Nishang Get-PassHashes: dumps SAM password hashes with the boot key, using the registry's LMPASSWORD/NTPASSWORD constants"
        reference = "https://github.com/samratashok/nishang/blob/master/Gather/Get-PassHashes.ps1"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $func = /function\s+Get-PassHashes\b/ ascii
        $nt = "GetBytes(\"NTPASSWORD`0\")" ascii
        $lm = "GetBytes(\"LMPASSWORD`0\")" ascii
        $boot = /function\s+Get-BootKey\b/ ascii
        $hboot = /function\s+Get-HBootKey\b/ ascii

    condition:
        filesize < 256KB
        and $func
        and ($nt or $lm)
        and ($boot or $hboot)
}

rule PowerSploit_Invoke_Shellcode
{
    meta:
        family = "PowerSploit"
        severity = "high"
        description = "PowerSploit Invoke-Shellcode: injects shellcode into its own or another process through its local and remote injection helpers"
        reference = "https://github.com/PowerShellMafia/PowerSploit/blob/master/CodeExecution/Invoke-Shellcode.ps1"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $func = /function\s+Invoke-Shellcode\b/ ascii
        $remote = /function\s+Local:Inject-RemoteShellcode\b/ ascii
        $local = /function\s+Local:Inject-LocalShellcode\b/ ascii
        $api1 = "VirtualAllocEx" ascii
        $api2 = "CreateRemoteThread" ascii

    condition:
        filesize < 512KB
        and $func
        and ($remote or $local)
        and all of ($api*)
}

rule PowerSploit_PowerUp
{
    meta:
        family = "PowerSploit"
        severity = "medium"
        description = "PowerSploit PowerUp privilege-escalation script: service-binary writers and DLL-hijack helpers beside its audit entry point"
        reference = "https://github.com/PowerShellMafia/PowerSploit/blob/master/Privesc/PowerUp.ps1"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $f1 = /function\s+Write-ServiceBinary\b/ ascii
        $f2 = /function\s+Install-ServiceBinary\b/ ascii
        $f3 = /function\s+Write-HijackDll\b/ ascii
        $f4 = /function\s+Get-ModifiableServiceFile\b/ ascii
        $f5 = /function\s+Get-UnquotedService\b/ ascii
        $f6 = /function\s+Invoke-(AllChecks|PrivescAudit)\b/ ascii

    condition:
        filesize < 2MB
        and 4 of them
}

rule PowerSploit_Get_GPPPassword
{
    meta:
        family = "PowerSploit"
        severity = "high"
        description = "PowerSploit Get-GPPPassword: finds Group Policy Preferences files on SYSVOL and decrypts their cpassword with Microsoft's published AES key"
        reference = "https://github.com/PowerShellMafia/PowerSploit/blob/master/Exfiltration/Get-GPPPassword.ps1"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $func = /function\s+Get-GPPPassword\b/ ascii
        $key = /0x4e,\s?0x99,\s?0x06,\s?0xe8,\s?0xfc,\s?0xb6,\s?0x6c,\s?0xc9,\s?0xfa,\s?0xf4,\s?0x93,\s?0x10/ ascii
        $cpass = "cpassword" ascii
        $decrypt = /function\s+Get-DecryptedCpassword\b/ ascii

    condition:
        filesize < 256KB
        and $func
        and $key
        and ($cpass or $decrypt)
}

rule PowerSploit_PowerView
{
    meta:
        family = "PowerSploit"
        severity = "medium"
        description = "PowerSploit PowerView Active Directory reconnaissance script: domain user/computer/share enumeration, local-admin and user hunting, Kerberoasting"
        reference = "https://github.com/PowerShellMafia/PowerSploit/blob/master/Recon/PowerView.ps1"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $f1 = /function\s+Get-DomainUser\b/ ascii
        $f2 = /function\s+Get-DomainComputer\b/ ascii
        $f3 = /function\s+Find-DomainShare\b/ ascii
        $f4 = /function\s+Find-LocalAdminAccess\b/ ascii
        $f5 = /function\s+Invoke-Kerberoast\b/ ascii
        $f6 = /function\s+Find-DomainUserLocation\b/ ascii
        $f7 = /function\s+Get-NetUser\b/ ascii
        $f8 = /function\s+Invoke-UserHunter\b/ ascii
        $f9 = /function\s+Invoke-ShareFinder\b/ ascii

    condition:
        filesize < 4MB
        and 4 of them
}
