/*
   The families from the Malicious Software Removal Tool's own history, as they sit on disk:
   Rustock (spam-bot rootkit), ZeroAccess/Sirefef (rootkit and click-fraud loader), Waledac
   (peer-to-peer spam bot), Taterf (USB worm stealing game accounts), Hupigon (Grey Pigeon
   backdoor) and Daonol (Gumblar downloader and its page injections). Binary rules check the
   MZ and PE signatures; text rules anchor on the structure of the artefact.
*/

rule Rustock_Rootkit_Driver
{
    meta:
        family = "Rustock"
        severity = "critical"
        description = "Rustock spam-bot rootkit driver: its published driver names (lzx32.sys, glaide32.sys, pe386) and the SSDT it hooks"
        reference = "https://tools.cisco.com/security/center/viewAlert.x?alertId=18294"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $n_lzx = "lzx32.sys" ascii wide nocase
        $n_glaide = "glaide32.sys" ascii wide nocase
        $n_pe386 = "pe386.sys" ascii wide nocase
        $n_ads = "system32:lzx32.sys" ascii wide nocase
        $k_krnl = "ntoskrnl.exe" ascii nocase
        $k_ssdt = "KeServiceDescriptorTable" ascii

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 2MB
        and 2 of ($n_*)
        and all of ($k_*)
}

rule Rustock_Dropper
{
    meta:
        family = "Rustock"
        severity = "critical"
        description = "Rustock dropper: installs its driver in place of beep.sys or null.sys, or as lzx32.sys/glaide32.sys, through the service manager"
        reference = "https://tools.cisco.com/security/center/viewAlert.x?alertId=18294"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $n_lzx = "lzx32.sys" ascii wide nocase
        $n_glaide = "glaide32.sys" ascii wide nocase
        $v_beep = "\\drivers\\beep.sys" ascii wide nocase
        $v_null = "\\drivers\\null.sys" ascii wide nocase
        $api_open = "OpenSCManager" ascii
        $api_create = "CreateService" ascii

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 2MB
        and 1 of ($n_*) and 1 of ($v_*)
        and all of ($api_*)
}

rule ZeroAccess_Rootkit
{
    meta:
        family = "ZeroAccess"
        severity = "critical"
        description = "ZeroAccess/Sirefef rootkit: its fake svchost.exe device, $NtUninstallKB store and spoofed ACPI device name"
        reference = "https://www.microsoft.com/en-us/wdsi/threats/malware-encyclopedia-description?Name=Trojan:Win32/Sirefef"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $dev = "\\Device\\svchost.exe" ascii wide nocase
        $gr = "\\globalroot\\Device\\svchost.exe" ascii wide nocase
        $kb = "$NtUninstallKB" ascii wide nocase
        $acpi = "ACPI#PNP0303#2&da1a3ff&0" ascii wide nocase
        $root = "\\systemroot\\$NtUninstallKB" ascii wide nocase

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 2MB
        and 2 of them
}

rule ZeroAccess_Loader
{
    meta:
        family = "ZeroAccess"
        severity = "critical"
        description = "ZeroAccess/Sirefef user-mode loader: runs the @ and U\\*.@ payloads from its folder in RECYCLER or $Recycle.Bin\\S-1-5-18"
        reference = "https://www.trendmicro.com/vinfo/us/threat-encyclopedia/malware/TROJ_SIREFEF.AQI/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $r_recycler = "RECYCLER\\S-1-5-18\\" ascii wide nocase
        $r_bin = "$Recycle.Bin\\S-1-5-18\\" ascii wide nocase
        $p_u32 = "\\U\\80000032.@" ascii wide nocase
        $p_u64 = "\\U\\80000064.@" ascii wide nocase
        $p_ucb = "\\U\\800000cb.@" ascii wide nocase
        $p_at = /\\\$?\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?\\@\x00/ ascii nocase
        $p_n = "\\n\x00" ascii

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 2MB
        and 1 of ($r_*)
        and 1 of ($p_u32, $p_u64, $p_ucb)
        and 1 of ($p_at, $p_n)
}

rule Waledac_Bot
{
    meta:
        family = "Waledac"
        severity = "critical"
        description = "Waledac peer-to-peer spam bot: its <lm> XML message envelope and the message types of its protocol"
        reference = "https://www.microsoft.com/en-us/wdsi/threats/malware-encyclopedia-description?Name=Win32/Waledac"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $lm = "<lm>" ascii
        $lm_end = "</lm>" ascii
        $t_getkey = "<t>getkey</t>" ascii
        $t_first = "<t>first</t>" ascii
        $t_notify = "<t>notify</t>" ascii
        $t_taskreq = "<t>taskreq</t>" ascii
        $t_words = "<t>words</t>" ascii
        $t_emails = "<t>emails</t>" ascii
        $t_creds = "<t>creds</t>" ascii
        $t_stats = "<t>httpstats</t>" ascii
        $v = "<v>" ascii

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 5MB
        and $lm and $lm_end and $v
        and 3 of ($t_*)
}

rule Taterf_Worm
{
    meta:
        family = "Taterf"
        severity = "high"
        description = "Taterf USB worm: its system-folder copies (kavo/amvo/avpo/awda), Run values and the autorun.inf it writes to every drive"
        reference = "https://www.cert-in.org.in/virus/Taterf_Worm.htm"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $n_kavo = "kavo.exe" ascii wide nocase
        $n_kavo0 = "kavo0.dll" ascii wide nocase
        $n_amvo = "amvo.exe" ascii wide nocase
        $n_amvo0 = "amvo0.dll" ascii wide nocase
        $n_avpo = "avpo.exe" ascii wide nocase
        $n_awda = "awda.exe" ascii wide nocase
        $inf = "autorun.inf" ascii wide nocase
        $cmd1 = "shell\\open\\Command=" ascii wide nocase
        $cmd2 = "shell\\explore\\Command=" ascii wide nocase
        $run = "Software\\Microsoft\\Windows\\CurrentVersion\\Run" ascii wide nocase

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 2MB
        and 2 of ($n_*)
        and $inf and 1 of ($cmd*) and $run
}

rule Taterf_GameStealer
{
    meta:
        family = "Taterf"
        severity = "high"
        description = "Taterf's kavo0/amvo0 game-account stealer DLL: the worm's component names and the online-game clients it reads"
        reference = "https://www.sophos.com/security/analyses/w32autorunab.html"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $n_kavo = "kavo" ascii wide nocase fullword
        $n_amvo = "amvo" ascii wide nocase fullword
        $n_kavo0 = "kavo0.dll" ascii wide nocase
        $n_amvo0 = "amvo0.dll" ascii wide nocase
        $g_elem = "elementclient.exe" ascii wide nocase
        $g_wow = "wow.exe" ascii wide nocase fullword
        $g_maple = "MapleStory.exe" ascii wide nocase
        $g_lineage = "lineage.exe" ascii wide nocase
        $g_mir = "mir1.dat" ascii wide nocase
        $g_qq = "QQLogin.exe" ascii wide nocase
        $g_ztgame = "zhengtu.dat" ascii wide nocase
        $g_cabal = "cabalmain.exe" ascii wide nocase

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 2MB
        and 1 of ($n_*)
        and 3 of ($g_*)
}

rule Taterf_Autorun_Inf
{
    meta:
        family = "Taterf"
        severity = "high"
        description = "autorun.inf as Taterf writes it at a drive's root: open, open-command, default and explore-command all point at its dropped copy"
        reference = "https://www.f-secure.com/v-descs/worm-w32-autorun-nds.shtml"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $head = "[autorun]" ascii nocase
        $open = /\nopen=[^\r\n\\\/]{1,40}\.(cmd|com|exe|pif)\r?\n/ ascii nocase
        $oc = /\nshell\\open\\Command=[^\r\n\\\/]{1,40}\.(cmd|com|exe|pif)\r?\n/ ascii nocase
        $od = /\nshell\\open\\Default=1\r?\n/ ascii nocase
        $ec = /\nshell\\explore\\Command=[^\r\n\\\/]{1,40}\.(cmd|com|exe|pif)/ ascii nocase

    condition:
        filesize < 1KB
        and $head in (0..8)
        and all of them
}

rule Hupigon_Backdoor
{
    meta:
        family = "Hupigon"
        severity = "critical"
        description = "Hupigon (Grey Pigeon) Delphi backdoor: its Hacker.com.cn file names, g_server names and GrayPigeon service"
        reference = "https://www.f-secure.com/v-descs/backdoor_w32_hupigon.shtml"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $h_exe = "Hacker.com.cn.exe" ascii wide nocase
        $h_dll = "Hacker.com.cn.dll" ascii wide nocase
        $h_svc = "_Hacker.com.cn" ascii wide nocase
        $h_gs = "g_server.exe" ascii wide nocase
        $h_gs2 = "g_server2.03.exe" ascii wide nocase
        $h_gp = "GrayPigeon" ascii wide nocase
        $h_legacy = "LEGACY_GRAYPIGEONSERVER" ascii wide nocase
        $delphi1 = "Borland\\Delphi" ascii
        $delphi2 = "TPF0" ascii

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 5MB
        and 1 of ($delphi*)
        and 2 of ($h_*)
}

rule Hupigon_Service_Installer
{
    meta:
        family = "Hupigon"
        severity = "critical"
        description = "Hupigon dropper: registers g_server as the GrayPigeonServer service and fetches its notification page (hui.txt)"
        reference = "https://www.microsoft.com/en-us/wdsi/threats/malware-encyclopedia-description?Name=Backdoor%3AWin32%2FHupigon.gen%21F"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $svc = "CurrentControlSet\\Services\\GrayPigeonServer" ascii wide nocase
        $gs = "g_server" ascii wide nocase
        $hui = "/a/hui.txt" ascii wide nocase
        $api = "CreateService" ascii

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 5MB
        and $svc and $api
        and 1 of ($gs, $hui)
}

rule Daonol_Downloader
{
    meta:
        family = "Daonol"
        severity = "critical"
        description = "Daonol (Gumblar) downloader: loads itself through a midi9/aux9 Drivers32 value whose path climbs out of system32, and reports to the Gumblar domains"
        reference = "https://www.microsoft.com/en-us/wdsi/threats/malware-encyclopedia-description?Name=TrojanDownloader:Win32/Daonol"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $drv = "Microsoft\\Windows NT\\CurrentVersion\\Drivers32" ascii wide nocase
        $v_midi = "midi9" ascii wide fullword
        $v_aux = "aux9" ascii wide fullword
        $v_mixer = "mixer9" ascii wide fullword
        $d_gumblar = "gumblar.cn" ascii wide nocase
        $d_martuz = "martuz.cn" ascii wide nocase
        $climb = "\\system32\\..\\" ascii wide nocase

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 2MB
        and $drv and 1 of ($v_*)
        and 1 of ($d_*, $climb)
}

rule Daonol_Gumblar_Injection
{
    meta:
        family = "Daonol"
        severity = "high"
        description = "Page injected by the Gumblar/Daonol campaign: the script loader from gumblar.cn or martuz.cn, or its /*GNU GPL*/ onload wrapper"
        reference = "https://www.microsoft.com/en-us/wdsi/threats/malware-encyclopedia-description?Name=TrojanDownloader:Win32/Daonol"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $src = /<script\s+src=["']?https?:\/\/(gumblar|martuz)\.cn\/[^"'\s>]{0,80}["']?\s*>\s*<\/script>/ ascii nocase
        $gpl = /\/\*(GNU GPL|LGPL)\*\/\s*try\s*\{\s*window\.onload\s*=\s*function\s*\(\)\s*\{/ ascii
        $cmt = /\/\*(GNU GPL|LGPL|CODE1|Exception)\*\/\s*\}\s*catch\s*\(/ ascii

    condition:
        filesize < 2MB
        and ($src or ($gpl and $cmt))
}
