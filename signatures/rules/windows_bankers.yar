/*
   Windows banking trojans, loaders, worms and file infectors: Emotet, TrickBot, IcedID, Ursnif
   (Gozi/ISFB), Conficker, Ramnit and Sality. PE rules check the MZ and PE signatures; the
   TrickBot configuration rules are tagged `memory` and key on regular expressions over the
   decrypted XML the bot holds, so that they match the running bot and not text quoting them.
*/

rule Emotet_Loader
{
    meta:
        family = "Emotet"
        severity = "critical"
        description = "Emotet loader: its Global\\I%X/Global\\M%X mutex formats and the Zone.Identifier stream it deletes from its copy"
        reference = "https://attack.mitre.org/software/S0367/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $m_i = "Global\\I%X" ascii wide
        $m_m = "Global\\M%X" ascii wide
        $m_e = "Global\\E%X" ascii wide
        $zone = "%s:Zone.Identifier" ascii wide
        $path = "%s\\%s.exe" ascii wide

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 2MB
        and 2 of ($m_*)
        and 1 of ($zone, $path)
}

rule TrickBot_Config_Memory : memory
{
    meta:
        family = "TrickBot"
        severity = "critical"
        description = "TrickBot main configuration as the bot holds it decrypted: <mcconf> with version, group tag and C2 servers"
        reference = "https://attack.mitre.org/software/S0266/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $conf = /<mcconf>\s{0,4}<ver>[0-9]{4,10}<\/ver>\s{0,4}<gtag>[A-Za-z0-9_\-]{1,20}<\/gtag>/ ascii
        $srv = /<srv>[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}:[0-9]{2,5}<\/srv>/ ascii

    condition:
        $conf and $srv
}

rule TrickBot_ModuleConfig_Memory : memory
{
    meta:
        family = "TrickBot"
        severity = "critical"
        description = "TrickBot module configuration (injectDll, pwgrab, systeminfo ...): <moduleconfig> with autostart and needinfo entries"
        reference = "https://attack.mitre.org/software/S0266/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $conf = /<moduleconfig>\s{0,4}<autostart>(yes|no)<\/autostart>/ ascii
        $need = /<needinfo\s+name\s*=\s*"(id|ip)"\s*\/>/ ascii

    condition:
        $conf and $need
}

rule TrickBot_Module
{
    meta:
        family = "TrickBot"
        severity = "critical"
        description = "TrickBot module DLL: its Control/FreeBuffer exports (of Start, Control, Release, FreeBuffer) beside its module names"
        reference = "https://attack.mitre.org/software/S0266/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $e_free = "FreeBuffer\x00" ascii
        $e_control = "Control\x00" ascii
        $m_inject = "injectDll" ascii wide
        $m_pw = "pwgrab" ascii wide
        $m_sys = "systeminfo" ascii wide fullword
        $m_net = "networkDll" ascii wide
        $m_worm = "wormDll" ascii wide
        $m_tab = "tabDll" ascii wide
        $m_share = "shareDll" ascii wide
        $m_mail = "mailsearcher" ascii wide

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 5MB
        and all of ($e_*)
        and 2 of ($m_*)
}

rule IcedID_Loader
{
    meta:
        family = "IcedID"
        severity = "critical"
        description = "IcedID (BokBot) loader: the fake analytics cookie (__gads, _gat, _ga, _u, __io, _gid) carrying its host profile"
        reference = "https://attack.mitre.org/software/S0483/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $c_gads = "__gads=" ascii wide
        $c_gat = "; _gat=" ascii wide
        $c_ga = "; _ga=" ascii wide
        $c_u = "; _u=" ascii wide
        $c_io = "; __io=" ascii wide
        $c_gid = "; _gid=" ascii wide
        $cookie = "Cookie: " ascii wide

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 2MB
        and $cookie
        and 5 of ($c_*)
}

rule Ursnif_Gozi
{
    meta:
        family = "Ursnif"
        severity = "critical"
        description = "Ursnif/Gozi ISFB: the soft/version/user/server/id/crc request format of its C2 beacons"
        reference = "https://attack.mitre.org/software/S0386/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $req = "soft=%u&version=%u&user=%08x%08x%08x%08x&server=%u&id=%u&crc=%x" ascii wide
        $req2 = "version=%u&soft=%u&user=%08x%08x%08x%08x&server=%u&id=%u&type=%u&name=%s" ascii wide
        $s_ie = "Software\\AppDataLow\\Software\\Microsoft\\" ascii wide nocase
        $s_fmt = "&ip=%s" ascii wide
        $s_os = "&os=%s" ascii wide

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 5MB
        and 1 of ($req*)
        and 1 of ($s_*)
}

rule Conficker_Worm
{
    meta:
        family = "Conficker"
        severity = "critical"
        description = "Conficker (Downadup) worm DLL: its netsvcs service loading, public-IP lookups and GeoIP download"
        reference = "https://attack.mitre.org/software/S0608/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $u_tc = "trafficconverter.biz" ascii wide nocase
        $u_geo = "maxmind.com/download/geoip/database/GeoIP.dat.gz" ascii wide nocase
        $u_ip1 = "checkip.dyndns.org" ascii wide nocase
        $u_ip2 = "getmyip.org" ascii wide nocase
        $u_ip3 = "whatismyip.org" ascii wide nocase
        $u_ip4 = "www.whatismyip.com" ascii wide nocase
        $svc = "netsvcs" ascii wide
        $run = "rundll32.exe" ascii wide nocase

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 2MB
        and 3 of ($u_*)
        and ($svc or $run)
}

rule Conficker_Autorun
{
    meta:
        family = "Conficker"
        severity = "critical"
        description = "Conficker's autorun.inf on removable drives: rundll32 starting a DLL hidden in a fake RECYCLER\\S-... folder"
        reference = "https://attack.mitre.org/software/S0608/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $head = /\[autorun\]/ ascii nocase
        $cmd = /rundll32\.exe\s+\.\\RECYCLER\\S-[0-9]-[0-9]-[0-9-]{4,60}\\[a-z]{4,12}\.[a-z]{3},[a-z]{4,16}/ ascii nocase

    condition:
        filesize < 256KB
        and $head and $cmd
}

rule Ramnit_HTML_Infection
{
    meta:
        family = "Ramnit"
        severity = "critical"
        description = "HTML file infected by Ramnit: an appended VBScript that writes a hex-encoded PE as svchost.exe and runs it"
        reference = "https://www.microsoft.com/en-us/wdsi/threats/malware-encyclopedia-description?Name=Virus:Win32/Ramnit.A"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $vbs = /<script\s+language\s*=\s*"?VBScript"?\s*>/ ascii nocase
        $drop = /DropFileName\s*=\s*"svchost\.exe"/ ascii nocase
        $data = /WriteData\s*=\s*"4D5A/ ascii nocase
        $fso = "Scripting.FileSystemObject" ascii nocase
        $run = /WSHshell\.Run\s*\(?\s*DropPath/ ascii nocase

    condition:
        filesize < 20MB
        and $vbs and $drop and $data
        and ($fso or $run)
}

rule Ramnit_Binary
{
    meta:
        family = "Ramnit"
        severity = "critical"
        description = "Ramnit worm/infector: its KyUffThOkYwRRtgPP mutex with its Srv.exe drop name or startup-folder copy"
        reference = "https://www.microsoft.com/en-us/wdsi/threats/malware-encyclopedia-description?Name=Virus:Win32/Ramnit.A"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $mutex = "KyUffThOkYwRRtgPP" ascii wide
        $srv = "Srv.exe" ascii wide
        $startup = "\\Start Menu\\Programs\\Startup\\" ascii wide nocase
        $winlogon = "Software\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon" ascii wide nocase

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 10MB
        and $mutex
        and 1 of ($srv, $startup, $winlogon)
}

rule Sality_Infector
{
    meta:
        family = "Sality"
        severity = "critical"
        description = "Sality file infector: its Aasppapmmxkvs settings key with its driver, autorun or security-centre tampering strings"
        reference = "https://www.microsoft.com/en-us/wdsi/threats/malware-encyclopedia-description?Name=Virus:Win32/Sality"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $key = "Software\\Aasppapmmxkvs" ascii wide nocase
        $s_drv = "\\drivers\\amsint32.sys" ascii wide nocase
        $s_inf = "autorun.inf" ascii wide nocase
        $s_sc = "AntiVirusDisableNotify" ascii wide
        $s_fw = "FirewallDisableNotify" ascii wide
        $s_uac = "EnableLUA" ascii wide

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 20MB
        and $key
        and 2 of ($s_*)
}
