/*
   Linux DDoS bots met on servers and IoT devices: Mirai, Gafgyt/Bashlite, XorDDoS and
   Tsunami/Kaiten. Indicators from the public Mirai and Bashlite sources as described by
   MalwareMustDie, Microsoft's 2022 XorDDoS report and Kaiten's IRC help text.
*/

rule Mirai_Bot
{
    meta:
        family = "Mirai"
        severity = "high"
        description = "Mirai bot: ELF with its string table, plain or XOR-obfuscated with the stock table key (0xDEADBEEF, net byte 0x22)"
        reference = "https://blog.malwaremustdie.org/2016/08/mmd-0056-2016-linuxmirai-just.html"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $t_busybox = "/bin/busybox MIRAI" xor(0x22)
        $t_applet = "MIRAI: applet not found" xor(0x22)
        $t_vse = "TSource Engine Query" xor(0x22)
        $t_tun = "listening tun0" xor(0x22)
        $t_ncorrect = "ncorrect" xor(0x22)
        $t_watchdog = "/dev/watchdog" xor(0x22)
        $t_nettcp = "/proc/net/tcp" xor(0x22)
        $t_resolv = "/etc/resolv.conf" xor(0x22)
        $p_busybox = "/bin/busybox MIRAI" ascii
        $p_applet = "MIRAI: applet not found" ascii
        $p_watchdog1 = "/dev/watchdog" ascii
        $p_watchdog2 = "/dev/misc/watchdog" ascii
        $p_vse = "TSource Engine Query" ascii
        $p_ncorrect = "ncorrect" ascii fullword

    condition:
        uint32(0) == 0x464C457F
        and filesize < 3MB
        and (
            4 of ($t_*)
            or ($p_busybox and $p_applet and 1 of ($p_watchdog*, $p_vse, $p_ncorrect))
        )
}

rule Gafgyt_Bashlite_Bot
{
    meta:
        family = "Gafgyt"
        severity = "high"
        description = "Gafgyt/Bashlite IRC-style DDoS bot: ELF with its C2 verbs (GETLOCALIP, SCANNER, KILLATTK, LOLNOGTFO) and status messages"
        reference = "https://malpedia.caad.fkie.fraunhofer.de/details/elf.bashlite"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $c_getlocalip = "GETLOCALIP" ascii fullword
        $c_scanner = "SCANNER" ascii fullword
        $c_killattk = "KILLATTK" ascii fullword
        $c_gtfo = "LOLNOGTFO" ascii fullword
        $c_pong = "PONG!" ascii fullword
        $m_myip = "My IP: %s" ascii
        $m_killed = "Killed %d." ascii
        $m_none = "None Killed." ascii
        $m_raw = "Failed opening raw socket." ascii
        $m_hdr = "Failed setting raw headers mode." ascii
        $m_flag = "Invalid flag \"%s\"" ascii
        $m_report = "REPORT %s:%s:%s" ascii
        $m_gayfgt = "gayfgt" ascii

    condition:
        uint32(0) == 0x464C457F
        and filesize < 3MB
        and 2 of ($c_*)
        and 3 of ($m_*)
}

rule XorDDoS_Bot
{
    meta:
        family = "XorDDoS"
        severity = "critical"
        description = "XorDDoS Linux DDoS trojan: ELF with its XOR key, cron.hourly/libudev persistence strings or its unstripped function names"
        reference = "https://www.microsoft.com/en-us/security/blog/2022/05/19/rise-in-xorddos-a-deeper-look-at-the-stealthy-ddos-malware-targeting-linux-devices/"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $key = "BB2FA36AAA9541F0" ascii
        $p_gcc = "/etc/cron.hourly/gcc.sh" ascii
        $p_udev = "/lib/libudev.so" ascii
        $p_sed = "sed -i '/\\/etc\\/cron.hourly\\/gcc.sh/d' /etc/crontab" ascii
        $p_cronline = "*/3 * * * * root /etc/cron.hourly/gcc.sh" ascii
        $p_pid = "/var/run/gcc.pid" ascii
        $f_exec = "LinuxExec_Argv" ascii
        $f_delsvc = "DelService_form_pid" ascii
        $f_encrypt = "encrypt_code" ascii fullword
        $f_decconf = "dec_conf" ascii fullword
        $f_killed = "daemon_get_killed_process" ascii
        $f_md5 = "randmd5" ascii fullword

    condition:
        uint32(0) == 0x464C457F
        and filesize < 5MB
        and (
            ($key and 1 of ($p_*, $f_*))
            or 3 of ($p_*)
            or 4 of ($f_*)
        )
}

rule XorDDoS_Cron_Script
{
    meta:
        family = "XorDDoS"
        severity = "high"
        description = "XorDDoS /etc/cron.hourly/gcc.sh: brings interfaces up and relaunches the trojan copied from /lib/libudev.so"
        reference = "https://www.microsoft.com/en-us/security/blog/2022/05/19/rise-in-xorddos-a-deeper-look-at-the-stealthy-ddos-malware-targeting-linux-devices/"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $ifup = /for i in `cat \/proc\/net\/dev\s*\|\s*grep :\s*\|\s*awk -F:\s*\{'print \$1'\}`;\s*do ifconfig \$i up\s*&\s*done/ ascii
        $copy = "cp /lib/libudev.so /lib/libudev.so.6" ascii
        $exec = /(^|\n)\/lib\/libudev\.so\.6\s*(\n|$)/ ascii

    condition:
        filesize < 4KB and $copy and ($ifup or $exec)
}

rule Tsunami_Kaiten_Bot
{
    meta:
        family = "Tsunami"
        severity = "critical"
        description = "Tsunami/Kaiten IRC backdoor and DDoS bot: ELF with its IRC NOTICE help text for flood and spoof commands"
        reference = "https://malpedia.caad.fkie.fraunhofer.de/details/elf.tsunami"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $h_version = "Kaiten wa goraku" ascii
        $h_tsunami = "TSUNAMI <target> <secs>" ascii
        $h_pan = "PAN <target> <port> <secs>" ascii
        $h_udp = "UDP <target> <port> <secs>" ascii
        $h_unknown = "UNKNOWN <target> <secs>" ascii
        $h_nick = "Nick cannot be larger than 9 characters" ascii
        $h_subnet = "What kind of subnet address is that" ascii
        $h_spoofs = "Removed all spoofs" ascii
        $h_getspoofs = "Spoofs: %d.%d.%d.%d" ascii
        $irc_notice = "NOTICE %s :" ascii
        $irc_nick = /NICK %s\\?\n?USER %s/ ascii

    condition:
        uint32(0) == 0x464C457F
        and filesize < 3MB
        and 1 of ($irc_*)
        and 3 of ($h_*)
}
