/*
   Remote access trojans and stealers prevalent on Windows: AgentTesla, AsyncRAT, Remcos,
   QuasarRAT, DarkComet, Gh0st RAT, PlugX, NanoCore, RedLine, NetWire, Pony/Fareit, LokiBot.
   PE rules check the MZ and PE signatures; rules tagged `memory` key on what the running
   implant holds (its settings, mutexes, command tokens) and use no file-only condition: their
   strings are wide or regular expressions, so that this file, the sample definitions and a
   compiled rule cache do not match them.
*/

rule AgentTesla_Stealer
{
    meta:
        family = "AgentTesla"
        severity = "critical"
        description = "AgentTesla .NET keylogger/stealer: its %insfolder%/%insname% install placeholders and the fields of its exfiltration report"
        reference = "https://attack.mitre.org/software/S0331/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $net = "mscoree.dll" ascii
        $p_start = "%startupfolder%" wide
        $p_insf = "%insfolder%" wide
        $p_insn = "%insname%" wide
        $f_time = "Time: " wide
        $f_user = "User Name: " wide
        $f_comp = "Computer Name: " wide
        $f_os = "OSFullName: " wide
        $f_cpu = "CPU: " wide
        $f_ram = "RAM: " wide

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 5MB
        and $net
        and 2 of ($p_*)
        and 3 of ($f_*)
}

rule AgentTesla_Memory : memory
{
    meta:
        family = "AgentTesla"
        severity = "critical"
        description = "AgentTesla in a running process (or on disk): its install placeholders and report fields as .NET strings"
        reference = "https://attack.mitre.org/software/S0331/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $p_start = "%startupfolder%" wide
        $p_insf = "%insfolder%" wide
        $p_insn = "%insname%" wide
        $f_user = "User Name: " wide
        $f_comp = "Computer Name: " wide
        $f_os = "OSFullName: " wide

    condition:
        2 of ($p_*) and 2 of ($f_*)
}

rule AsyncRAT_Client
{
    meta:
        family = "AsyncRAT"
        severity = "critical"
        description = "AsyncRAT .NET client: its settings names, reversed Run key, on-logon scheduled task and Aes256 error text"
        reference = "https://attack.mitre.org/software/S1087/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $net = "mscoree.dll" ascii
        $rev_run = "\\nuR\\noisreVtnerruC\\swodniW\\tfosorciM\\erawtfoS" wide
        $task = "/c schtasks /create /f /sc onlogon /rl highest /tn " wide
        $aes = "masterKey can not be null or empty." wide
        $s_pastebin = "Pastebin" ascii fullword
        $s_bdos = "BDOS" ascii fullword
        $s_mtx = "MTX" ascii fullword
        $s_sig = "Serversignature" ascii fullword
        $s_anti = "Anti" ascii fullword

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 5MB
        and $net
        and 2 of ($rev_run, $task, $aes)
        and 2 of ($s_*)
}

rule AsyncRAT_Memory : memory
{
    meta:
        family = "AsyncRAT"
        severity = "critical"
        description = "AsyncRAT in a running process (or on disk): its reversed Run key, scheduled-task command and Aes256 error text as .NET strings"
        reference = "https://attack.mitre.org/software/S1087/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $rev_run = "\\nuR\\noisreVtnerruC\\swodniW\\tfosorciM\\erawtfoS" wide
        $task = "/c schtasks /create /f /sc onlogon /rl highest /tn " wide
        $aes = "masterKey can not be null or empty." wide
        $input = "Input can not be null." wide

    condition:
        3 of them
}

rule Remcos_RAT
{
    meta:
        family = "Remcos"
        severity = "critical"
        description = "Remcos RAT (Breaking-Security): its mutex, watchdog and keylogger strings"
        reference = "https://attack.mitre.org/software/S0332/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $m_inj = "Remcos_Mutex_Inj" ascii wide
        $m_wd = "Mutex_RemWatchdog" ascii wide
        $s_bs = "Breaking-Security.Net" ascii wide nocase
        $s_restart = "Remcos restarted by watchdog!" ascii wide
        $s_wd = "Watchdog module activated" ascii wide
        $s_kl = "[Following text has been pasted from clipboard:]" ascii wide
        $s_agent = "Remcos Agent initialized" ascii wide

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 5MB
        and 1 of ($m_*)
        and 2 of ($s_*)
}

rule Remcos_Memory : memory
{
    meta:
        family = "Remcos"
        severity = "critical"
        description = "Remcos RAT in a running process (or on disk): its mutex names and watchdog messages as NUL-terminated C strings"
        reference = "https://attack.mitre.org/software/S0332/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        // Regular expressions: this file does not hold them NUL-terminated.
        $mutex = /(Remcos_Mutex_Inj|Mutex_RemWatchdog)\x00/ ascii
        $msg = /(Remcos restarted by watchdog!|Watchdog module activated|Breaking-Security\.Net)\x00/ ascii

    condition:
        // A compiled rule cache ("YARA" at 0) holds the Remcos_RAT literals NUL-terminated; a
        // process has no byte at address 0, so the check is skipped there.
        (not defined uint32(0) or uint32(0) != 0x41524159)
        and $mutex and #msg >= 2
}

rule QuasarRAT_Client
{
    meta:
        family = "QuasarRAT"
        severity = "critical"
        description = "QuasarRAT (xRAT) .NET client: its namespaces and the message classes of its command protocol"
        reference = "https://attack.mitre.org/software/S0262/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $net = "mscoree.dll" ascii
        $n_x = "xClient.Core" ascii
        $n_q = "Quasar.Client" ascii
        $n_c = "Quasar.Common" ascii
        $c_kl = "GetKeyloggerLogs" ascii
        $c_shell = "DoShellExecute" ascii
        $c_pw = "GetPasswords" ascii
        $c_dl = "DoDownloadAndExecute" ascii
        $c_rp = "ReverseProxyConnect" ascii
        $c_rd = "GetDesktop" ascii fullword
        $c_un = "DoClientUninstall" ascii

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 8MB
        and $net and 1 of ($n_*)
        and 3 of ($c_*)
}

rule DarkComet_RAT
{
    meta:
        family = "DarkComet"
        severity = "critical"
        description = "DarkComet RAT: DC_MUTEX, #KCMDDC key, #BOT# commands and its firewall-bypass/persistence tokens"
        reference = "https://attack.mitre.org/software/S0334/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $mutex = "DC_MUTEX-" ascii wide
        $key = /#KCMDDC5[0-9]#/ ascii wide
        $b_url = "#BOT#URLUpdate" ascii wide
        $b_visit = "#BOT#VisitUrl" ascii wide
        $b_ping = "#BOT#Ping" ascii wide
        $s_fw = "DCPERSFWBP" ascii wide
        $s_bt = "BTRESULT" ascii wide
        $s_gen = "GENCODE" ascii wide fullword
        $s_data = "DCDATA" ascii wide fullword

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 5MB
        and ($mutex or $key)
        and 3 of ($b_*, $s_*)
}

rule DarkComet_Memory : memory
{
    meta:
        family = "DarkComet"
        severity = "critical"
        description = "DarkComet in a running process (or on disk): a DC_MUTEX name and #KCMDDC key beside its #BOT# command tokens"
        reference = "https://attack.mitre.org/software/S0334/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $mutex = /DC_MUTEX-[A-Z0-9]{7}\x00/ ascii
        $key = /#KCMDDC5[0-9]#-[0-9]{6,12}\x00/ ascii
        $bot = /#BOT#(URLUpdate|VisitUrl|Ping|CloseServer|SvrUninstall|OpenUrl|RunPrompt)\x00/ ascii

    condition:
        $mutex and ($key or #bot >= 2)
}

rule Gh0stRAT_Server
{
    meta:
        family = "Gh0stRAT"
        severity = "critical"
        description = "Gh0st RAT server (implant): its Gh0st packet flag, RESSDT driver device and service/update strings"
        reference = "https://attack.mitre.org/software/S0032/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $flag = "Gh0st" ascii fullword
        $s_ressdt = "\\\\.\\RESSDTDOS" ascii wide
        $s_ressdt2 = "RESSDT" ascii wide fullword
        $s_upd = "Gh0st Update" ascii wide
        $s_res = "%s\\%d_res.tmp" ascii wide
        $s_ie = "Applications\\iexplore.exe\\shell\\open\\command" ascii wide nocase
        $s_svc = "SYSTEM\\CurrentControlSet\\Services\\%s" ascii wide nocase

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 5MB
        and $flag
        and 2 of ($s_*)
}

rule PlugX_Backdoor
{
    meta:
        family = "PlugX"
        severity = "critical"
        description = "PlugX (Korplug) backdoor: its X-Session/X-Status/X-Size/X-Sn HTTP headers with its update URL, registry key or XPlug module names"
        reference = "https://attack.mitre.org/software/S0013/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $h_session = "X-Session:" ascii wide
        $h_status = "X-Status:" ascii wide
        $h_size = "X-Size:" ascii wide
        $h_sn = "X-Sn:" ascii wide
        $p_update = "/update?id=%8.8x" ascii wide
        $p_fast = "Software\\CLASSES\\FAST" ascii wide nocase
        $p_xplug = "XPlug" ascii wide
        $p_ver = /Plug[0-9]\.[0-9]/ ascii wide

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 5MB
        and 3 of ($h_*)
        and 1 of ($p_*)
}

rule NanoCore_RAT
{
    meta:
        family = "NanoCore"
        severity = "critical"
        description = "NanoCore .NET RAT client: its NanoCore Client names and plugin-host interfaces"
        reference = "https://attack.mitre.org/software/S0336/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $net = "mscoree.dll" ascii
        $n_client = "NanoCore Client" ascii wide
        $n_host = "NanoCore.ClientPluginHost" ascii wide
        $n_plugin = "NanoCore.ClientPlugin" ascii wide
        $i_net = "IClientNetworkHost" ascii
        $i_app = "IClientAppHost" ascii
        $i_ui = "IClientUIHost" ascii
        $i_data = "IClientDataHost" ascii

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 5MB
        and $net
        and 2 of ($n_*)
        and 2 of ($i_*)
}

rule RedLine_Stealer
{
    meta:
        family = "RedLine"
        severity = "critical"
        description = "RedLine .NET stealer: its RedLine.Logic/RedLine.Client namespaces, scanner classes and WCF endpoint"
        reference = "https://malpedia.caad.fkie.fraunhofer.de/details/win.redline_stealer"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $net = "mscoree.dll" ascii
        $n_logic = "RedLine.Logic" ascii
        $n_client = "RedLine.Client" ascii
        $c_browser = "ScannedBrowser" ascii
        $c_file = "ScannedFile" ascii
        $c_args = "ScanningArgs" ascii
        $c_ext = "BrowserExtension" ascii
        $wcf = "http://tempuri.org/Endpoint/" ascii wide

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 8MB
        and $net
        and (1 of ($n_*) or $wcf)
        and 2 of ($c_*)
}

rule NetWire_RAT
{
    meta:
        family = "NetWire"
        severity = "critical"
        description = "NetWire RAT: its HostId/Install Date settings, %Rand% placeholder and the Pidgin account file it steals"
        reference = "https://attack.mitre.org/software/S0198/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $s_host = "HostId" ascii fullword
        $s_date = "Install Date" ascii
        $s_rand = "%Rand%" ascii
        $s_purple = "%s\\.purple\\accounts.xml" ascii nocase
        $s_run = "SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run" ascii nocase
        $s_netwire = "SOFTWARE\\NetWire" ascii nocase

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 5MB
        and 4 of them
}

rule Pony_Fareit_Stealer
{
    meta:
        family = "Pony"
        severity = "critical"
        description = "Pony (Fareit) credential stealer: its YUIPWDFILE report markers and the stolen-data container header"
        reference = "https://malpedia.caad.fkie.fraunhofer.de/details/win.pony"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $m_hdr = "YUIPWDFILE0YUIPKDFILE0YUICRYPTED0YUI1.0" ascii
        $m_pwd = "YUIPWDFILE" ascii
        $m_pk = "YUIPKDFILE" ascii
        $s_ftp = "Software\\Ghisler\\Windows Commander" ascii nocase
        $s_fz = "\\FileZilla\\sitemanager.xml" ascii nocase
        $s_post = "Content-Type: application/octet-stream" ascii
        $s_gate = "gate.php" ascii

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 5MB
        and ($m_hdr or ($m_pwd and $m_pk))
        and 2 of ($s_*)
}

rule LokiBot_Stealer
{
    meta:
        family = "LokiBot"
        severity = "critical"
        description = "LokiBot stealer: its ckav.ru marker with the application credential stores it reads"
        reference = "https://attack.mitre.org/software/S0447/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $marker = "ckav.ru" ascii wide nocase
        $s_fz = "%s\\FileZilla\\recentservers.xml" ascii wide nocase
        $s_put = "Software\\SimonTatham\\PuTTY\\Sessions" ascii wide nocase
        $s_ws = "Software\\Martin Prikryl\\WinSCP 2\\Sessions" ascii wide nocase
        $s_moz = "%s\\Mozilla\\Firefox\\profiles.ini" ascii wide nocase
        $s_fp = "fuckav.ru" ascii wide nocase

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 5MB
        and $marker
        and 2 of ($s_*)
}
