/*
   Kinsing (H2Miner): a Go bot that scans with masscan, brute-forces Redis and keeps its
   XMRig-based miner "kdevtmpfsi" running; spread by the d.sh/unk.sh shell dropper.
   Indicators from the Aqua Nautilus and Trend Micro write-ups and MITRE ATT&CK S0599.
*/

rule Kinsing_Go_Bot
{
    meta:
        family = "Kinsing"
        severity = "critical"
        description = "Kinsing Go bot: ELF with its main-package functions (masscan, backconnect, miner watchdog, Redis brute force, RC4)"
        reference = "https://blog.aquasec.com/threat-alert-kinsing-malware-container-vulnerability"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $f_masscan = "main.masscan" ascii
        $f_backconnect = "main.backconnect" ascii
        $f_minerpid = "main.getMinerPid" ascii
        $f_redis = "main.redisBrute" ascii
        $f_rc4 = "main.RC4" ascii
        $f_runtask = "main.runTask" ascii
        $f_health = "main.checkHealth" ascii
        $f_c2 = "ActiveC2CUrl" ascii
        $masscan_cmd = "-iL $INPUT --rate $RATE -p$PORT -oL $OUTPUT" ascii
        $go = "Go build ID" ascii

    condition:
        uint32(0) == 0x464C457F
        and filesize < 40MB
        and 4 of ($f_*)
        and ($go or $masscan_cmd)
}

rule Kinsing_kdevtmpfsi_Miner
{
    meta:
        family = "Kinsing"
        severity = "high"
        description = "Kinsing's miner kdevtmpfsi: an XMRig build that carries its kdevtmpfsi name"
        reference = "https://attack.mitre.org/software/S0599/"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $kdev = "kdevtmpfsi" ascii
        $x1 = "XMRig" ascii
        $x2 = "xmrig.com" ascii
        $x3 = "--donate-level" ascii
        $x4 = "randomx" ascii nocase
        $x5 = "stratum+tcp://" ascii
        $x6 = "cryptonight" ascii nocase

    condition:
        uint32(0) == 0x464C457F
        and filesize < 30MB
        and $kdev
        and 3 of ($x*)
}

rule Kinsing_Dropper_Script
{
    meta:
        family = "Kinsing"
        severity = "critical"
        description = "Kinsing shell dropper (d.sh/unk.sh/spr.sh): downloads and starts kinsing and kdevtmpfsi and installs its cron job"
        reference = "https://www.trendmicro.com/en_us/research/20/k/analysis-of-kinsing-malware-s-use-of-rootkit.html"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $shebang = /#!\s{0,4}\/(usr\/)?bin\/(env\s+)?(ba|da|k|z|a)?sh\b/ ascii
        $n_kinsing = "kinsing" ascii
        $n_kdev = "kdevtmpfsi" ascii
        $dl_kinsing = /(curl|wget|\$LDR|\$WGET|\$CURL)[^\n]{0,160}\/kinsing/ ascii
        $dl_script = /(curl|wget|\$LDR)[^\n]{0,160}\/(unk|spr|d|ex)\.sh[^\n]{0,40}\|\s*(ba)?sh/ ascii
        $run = /chmod\s+(\+x|7[0-7]{2})\s+[^\n]{0,60}kinsing/ ascii
        $ldr = /LDR=["']?(wget -q -O -|curl)/ ascii
        $cron = /crontab[^\n]{0,40}|\/etc\/cron/ ascii

    condition:
        filesize < 256KB
        and $shebang at 0
        and $n_kinsing and $n_kdev
        and 1 of ($dl_*)
        and ($run or $ldr)
        and $cron
}

rule Kinsing_Preload_Rootkit
{
    meta:
        family = "Kinsing"
        severity = "critical"
        description = "Kinsing's user-mode rootkit /etc/libsystem.so: preloaded readdir/open hooks that hide kinsing, kdevtmpfsi and the preload file itself"
        reference = "https://www.trendmicro.com/en_us/research/20/k/analysis-of-kinsing-malware-s-use-of-rootkit.html"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $h_kinsing = "kinsing" ascii
        $h_kdev = "kdevtmpfsi" ascii
        $r_readdir = "readdir64" ascii
        $r_preload = "/etc/ld.so.preload" ascii
        $r_self = "libsystem.so" ascii
        $r_dlsym = "dlsym" ascii

    condition:
        uint32(0) == 0x464C457F and uint16(16) == 3
        and filesize < 2MB
        and all of ($h_*)
        and 3 of ($r_*)
}

rule Kinsing_Cron_Entry
{
    meta:
        family = "Kinsing"
        severity = "critical"
        description = "Kinsing cron persistence: a job piping unk.sh from its server to sh every minute"
        reference = "https://www.trendmicro.com/en_us/research/20/k/analysis-of-kinsing-malware-s-use-of-rootkit.html"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $shebang = "#!" ascii
        $job = /(wget -q -O -|curl -s[a-zA-Z]{0,4}) https?:\/\/[0-9.]{7,15}(:[0-9]{2,5})?\/unk\.sh \| sh/ ascii

    condition:
        filesize < 16KB and not $shebang at 0 and $job
}
