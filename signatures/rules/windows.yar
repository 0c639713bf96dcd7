/*
   Windows families: the Zbot/Zeus banking trojan (as MSRT's PWS:Win32/Zbot), Mimikatz,
   Cobalt Strike beacons and stagers, and njRAT. PE rules check the MZ and PE signatures;
   the beacon rules also match raw or in-memory configuration blocks.
*/

rule Zbot_Zeus_Trojan
{
    meta:
        family = "Zbot"
        severity = "critical"
        description = "Zeus/Zbot banking trojan (1.x builds): its system32 drop names, lowsec data files and _AVIRA_ mutex prefix"
        reference = "https://www.microsoft.com/en-us/wdsi/threats/malware-encyclopedia-description?Name=PWS:Win32/Zbot"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $a_sdra = "sdra64.exe" ascii wide nocase
        $a_lowsec = "lowsec\\" ascii wide nocase
        $a_local = "local.ds" ascii wide nocase fullword
        $a_user = "user.ds" ascii wide nocase fullword
        $a_mutex = "_AVIRA_21" ascii wide
        $b_ntos = "ntos.exe" ascii wide nocase fullword
        $b_wsnpoem = "wsnpoem" ascii wide nocase
        $b_video = "video.dll" ascii wide nocase fullword
        $b_audio = "audio.dll" ascii wide nocase fullword
        $c_userinit = "userinit.exe," ascii wide nocase

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 5MB
        and (
            3 of ($a_*)
            or ($b_ntos and $b_wsnpoem and 1 of ($b_video, $b_audio, $c_userinit))
            or ($a_sdra and $c_userinit and 1 of ($a_*))
        )
}

rule Mimikatz_Binary
{
    meta:
        family = "Mimikatz"
        severity = "high"
        description = "Mimikatz credential dumper (or its mimilib/mimidrv companions): author strings and module::command names"
        reference = "https://attack.mitre.org/software/S0002/"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $a_kiwi = "gentilkiwi" ascii wide
        $a_delpy = "Benjamin DELPY" ascii wide
        $a_motto = "A La Vie, A L'Amour" ascii wide
        $a_name = "mimikatz" ascii wide nocase
        $a_lib = "mimilib" ascii wide nocase
        $c_logon = "sekurlsa::logonpasswords" ascii wide nocase
        $c_golden = "kerberos::golden" ascii wide nocase
        $c_sam = "lsadump::sam" ascii wide nocase
        $c_dcsync = "lsadump::dcsync" ascii wide nocase
        $c_debug = "privilege::debug" ascii wide nocase
        $m_sekurlsa = "sekurlsa" ascii wide fullword
        $m_lsadump = "lsadump" ascii wide fullword

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 10MB
        and (
            (2 of ($a_*) and 2 of ($c_*, $m_*))
            or (1 of ($a_*) and 3 of ($c_*))
        )
}

rule Mimikatz_PowerShell_Loader
{
    meta:
        family = "Mimikatz"
        severity = "high"
        description = "Invoke-Mimikatz PowerShell script: reflective PE loader carrying Mimikatz as base64 PE blobs"
        reference = "https://attack.mitre.org/software/S0002/"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $func = /function\s+Invoke-Mimikatz\b/ ascii nocase
        $pe64 = /\$PEBytes64\s*=\s*['"]TVqQ/ ascii
        $pe32 = /\$PEBytes32\s*=\s*['"]TVqQ/ ascii
        $refl = "Invoke-ReflectivePEInjection" ascii nocase
        $dump = "sekurlsa::logonpasswords" ascii nocase

    condition:
        filesize < 8MB
        and $func
        and 1 of ($pe64, $pe32)
        and ($refl or $dump)
}

rule CobaltStrike_Beacon_Config
{
    meta:
        family = "CobaltStrike"
        severity = "critical"
        description = "Cobalt Strike beacon configuration block (type-length-value settings 1-3), plain or XOR 0x69/0x2E, on disk or in memory"
        reference = "https://github.com/Sentinel-One/CobaltStrikeParser"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        // BeaconType(short) PORT(short) SLEEPTIME(int): id, type, length, value.
        $cfg_plain = { 00 01 00 01 00 02 ?? ?? 00 02 00 01 00 02 ?? ?? 00 03 00 02 00 04 ?? ?? ?? ?? 00 04 00 02 00 04 }
        $cfg_x69 = { 69 68 69 68 69 6B ?? ?? 69 6B 69 68 69 6B ?? ?? 69 6A 69 6B 69 6D ?? ?? ?? ?? 69 6D 69 6B 69 6D }
        $cfg_x2e = { 2E 2F 2E 2F 2E 2C ?? ?? 2E 2C 2E 2F 2E 2C ?? ?? 2E 2D 2E 2C 2E 2A ?? ?? ?? ?? 2E 2A 2E 2C 2E 2A }

    condition:
        filesize < 20MB and 1 of them
}

rule CobaltStrike_Beacon_Strings
{
    meta:
        family = "CobaltStrike"
        severity = "critical"
        description = "Cobalt Strike beacon DLL (unpacked, on disk or in memory): its reflective loader export and operator-facing format strings"
        reference = "https://attack.mitre.org/software/S0154/"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        // NUL-terminated as compiled C strings are, so text that merely quotes them does not match.
        $dll1 = "beacon.dll\x00" ascii
        $dll2 = "beacon.x64.dll\x00" ascii
        $loader = "ReflectiveLoader\x00" ascii
        $s_token = "%s as %s\\%s: %d\x00" ascii
        $s_spawn = "could not spawn %s: %d\x00" ascii
        $s_pipe = "Could not connect to pipe (%s): %d\x00" ascii
        $s_iex = "IEX (New-Object Net.Webclient).DownloadString('http://127.0.0.1:%u/')\x00" ascii
        $s_import = "%%IMPORT%%\x00" ascii
        $s_time = "%02d/%02d/%02d %02d:%02d:%02d\x00" ascii

    condition:
        filesize < 20MB
        and uint32(0) != 0x41524159  // "YARA": compiled rule files hold these literals NUL-terminated too
        and (uint16(0) == 0x5A4D or 1 of ($dll*))
        and $loader
        and 3 of ($s_*)
}

rule CobaltStrike_PowerShell_Stager
{
    meta:
        family = "CobaltStrike"
        severity = "critical"
        description = "Cobalt Strike PowerShell stager template: base64 shellcode XORed with 35 run through reflected delegates"
        reference = "https://attack.mitre.org/software/S0154/"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $f_gpa = /function\s+func_get_proc_address\b/ ascii
        $f_gdt = /function\s+func_get_delegate_type\b/ ascii
        $xor = /-bxor\s+35\b/ ascii
        $b64 = "[System.Convert]::FromBase64String(" ascii nocase
        $alloc = "VirtualAlloc" ascii
        $asm = "ReflectedDelegate" ascii

    condition:
        filesize < 2MB
        and $f_gpa and $f_gdt and $xor
        and 2 of ($b64, $alloc, $asm)
}

rule NjRAT_Binary
{
    meta:
        family = "njRAT"
        severity = "critical"
        description = "njRAT (Bladabindi) .NET RAT: its |'|'| field separator with firewall exception, self-delete and zone-check strings"
        reference = "https://attack.mitre.org/software/S0385/"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $sep = "|'|'|" wide
        $net = "mscoree.dll" ascii
        $s_fw_add = "netsh firewall add allowedprogram" wide
        $s_fw_del = "netsh firewall delete allowedprogram" wide
        $s_del = "cmd.exe /c ping 0 -n 2 & del" wide
        $s_zone = "SEE_MASK_NOZONECHECKS" wide
        $s_exec = "Execute ERROR" wide
        $s_dl = "Download ERROR" wide
        $s_as = "Executed As " wide

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 5MB
        and $net and $sep
        and 2 of ($s_*)
}

rule Zbot_WebInject_Config
{
    meta:
        family = "Zbot"
        severity = "critical"
        description = "Zeus/Zbot webinjects file (webinjects.txt): set_url targets with data_before/data_inject/data_after/data_end blocks"
        reference = "https://malpedia.caad.fkie.fraunhofer.de/details/win.zeus"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $url = /(^|\n)set_url\s+https?:\/\/[^\s]{1,200}\s+[GPLFHI]{1,6}\s*\r?\n/ ascii
        $before = /\ndata_before\s*\r?\n/ ascii
        $inject = /\ndata_inject\s*\r?\n/ ascii
        $after = /\ndata_after\s*\r?\n/ ascii
        $end = /\ndata_end\s*\r?\n/ ascii

    condition:
        filesize < 10MB
        and $url and $inject and $end
        and ($before or $after)
}

rule Zbot_Builder_Config
{
    meta:
        family = "Zbot"
        severity = "critical"
        description = "Zeus/Zbot builder configuration (config.txt): StaticConfig and DynamicConfig entries with url_config, file_webinjects and url_loader settings"
        reference = "https://malpedia.caad.fkie.fraunhofer.de/details/win.zeus"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $static = /entry\s+"StaticConfig"/ ascii
        $dynamic = /entry\s+"DynamicConfig"/ ascii
        $s_cfg = /\n\s*url_config\s+"?https?:\/\//ascii
        $s_inj = /\n\s*file_webinjects\s+"/ ascii
        $s_loader = /\n\s*url_loader\s+"?https?:\/\// ascii
        $s_timer = /\n\s*timer_config\s+[0-9]/ ascii
        $s_botnet = /\n\s*botnet\s+"/ ascii

    condition:
        filesize < 1MB
        and $static and $dynamic
        and 3 of ($s_*)
}

rule Zbot_Dropper_2x
{
    meta:
        family = "Zbot"
        severity = "critical"
        description = "Zeus/Zbot 1.x-2.x dropper: the Winlogon Userinit hook with the lowsec/sdra64 or ntos/wsnpoem install set and the service it disables"
        reference = "https://www.microsoft.com/en-us/wdsi/threats/malware-encyclopedia-description?Name=PWS:Win32/Zbot"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $winlogon = "Software\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon" ascii wide nocase
        $userinit = "Userinit" ascii wide fullword
        $i_sdra = "sdra64.exe" ascii wide nocase
        $i_ntos = "ntos.exe" ascii wide nocase fullword
        $i_oembios = "oembios.exe" ascii wide nocase
        $i_lowsec = "\\lowsec\\" ascii wide nocase
        $i_wsnpoem = "\\wsnpoem\\" ascii wide nocase
        $i_sysproc = "\\sysproc\\" ascii wide nocase
        $fw = "SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\FirewallPolicy\\StandardProfile" ascii wide nocase

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 5MB
        and $winlogon and $userinit
        and 2 of ($i_*)
        and $fw
}

rule Mimikatz_Output_Log
{
    meta:
        family = "Mimikatz"
        severity = "high"
        description = "Saved Mimikatz console output (credential dump): the mimikatz prompt with sekurlsa logon-session blocks and NTLM hashes"
        reference = "https://attack.mitre.org/software/S0002/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $prompt = /(^|\n)mimikatz(\([a-z]+\))? # (sekurlsa|lsadump|privilege)::[a-z]{2,20}/ ascii
        $auth = /\nAuthentication Id : [0-9]{1,6} ; [0-9]{1,12} \(/ ascii
        $msv = /\n\s+msv :\s*\r?\n/ ascii
        $ntlm = /\n\s+\* NTLM\s+: [0-9a-f]{32}/ ascii

    condition:
        filesize < 20MB
        and $prompt
        and 2 of ($auth, $msv, $ntlm)
}

rule CobaltStrike_ArtifactKit
{
    meta:
        family = "CobaltStrike"
        severity = "critical"
        description = "Cobalt Strike Artifact Kit executable (default template): the MSSE-%d-server named pipe it passes its shellcode through"
        reference = "https://attack.mitre.org/software/S0154/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $pipe = "\\\\.\\pipe\\MSSE-%d-server" ascii
        $fmt = "%c%c%c%c%c%c%c%c%cMSSE-%d-server" ascii
        $api1 = "CreateNamedPipeA" ascii
        $api2 = "ConnectNamedPipe" ascii

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 2MB
        and ($pipe or $fmt)
        and all of ($api*)
}
