/*
   Cryptojacking campaigns beside XMRig, Kinsing and TeamTNT (miners.yar, kinsing.yar,
   teamtnt.yar): WatchDog, the 8220 Gang (PwnRig), Rocke, Sysrv and Prometei's Linux bot.
   Indicators from the vendor reports named in each rule. Cron lines and unit files have no
   header to anchor on; their rules key on regular expressions whose source text differs from
   what they match, so this file does not match itself.
*/

rule WatchDog_Dropper_Script
{
    meta:
        family = "WatchDog"
        severity = "critical"
        description = "WatchDog cryptojacking dropper: installs its three Go binaries (networkservice scanner, sysupdate miner, sysguard watchdog) and miner config"
        reference = "https://unit42.paloaltonetworks.com/watchdog-cryptojacking/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $shebang = /#!\s{0,4}\/(usr\/)?bin\/(env\s+)?(ba|da|k|z|a)?sh\b/ ascii
        $b_net = "networkservice" ascii
        $b_upd = "sysupdate" ascii
        $b_grd = "sysguard" ascii
        $fetch = /(curl|wget)[^\n]{1,200}(sysupdate|sysguard|networkservice|config\.json)/ ascii
        $ev_chattr = /chattr\s+[-+][ia]{1,2}\s/ ascii
        $ev_cron = /crontab\s+-[lr]?|\/etc\/cron\.(d|hourly)\/|\/var\/spool\/cron/ ascii
        $ev_conf = "config.json" ascii

    condition:
        filesize < 512KB
        and $shebang at 0
        and all of ($b_*)
        and $fetch
        and 2 of ($ev_*)
}

rule Gang8220_PwnRig_Miner
{
    meta:
        family = "8220Gang"
        severity = "high"
        description = "PwnRig, the 8220 Gang's XMRig fork with a built-in configuration: PwnRig branding with XMRig option and algorithm strings"
        reference = "https://www.sentinelone.com/blog/from-the-front-lines-8220-gang-massively-expands-cloud-botnet-to-30000-infected-hosts/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $name = "PwnRig" ascii
        $x1 = "--donate-level" ascii
        $x2 = "randomx" ascii nocase
        $x3 = "stratum+tcp://" ascii
        $x4 = "--cpu-max-threads-hint" ascii
        $x5 = "cryptonight" ascii nocase

    condition:
        uint32(0) == 0x464C457F
        and filesize < 30MB
        and #name >= 2
        and 3 of ($x*)
}

rule Gang8220_Dropper_Script
{
    meta:
        family = "8220Gang"
        severity = "critical"
        description = "8220 Gang loader script: fetches and starts PwnRig, clears rivals and history, persists by cron"
        reference = "https://www.sentinelone.com/blog/from-the-front-lines-8220-gang-massively-expands-cloud-botnet-to-30000-infected-hosts/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $shebang = /#!\s{0,4}\/(usr\/)?bin\/(env\s+)?(ba|da|k|z|a)?sh\b/ ascii
        $pwnrig = "pwnrig" ascii nocase
        $fetch = /(curl|wget)[^\n]{1,200}(-o|-O|>)\s*[^\n]{1,120}/ ascii
        $ev_rival = /(pkill|killall|kill -9)[^\n]{0,80}(xmr|kinsing|kdevtmpfsi|kthreaddi|sysupdate)/ ascii
        $ev_cron = /crontab\s+-[lr]?|\/etc\/cron\.(d|hourly)\// ascii
        $ev_hist = /(history -c|unset HISTFILE|HISTFILE=\/dev\/null)/ ascii
        $ev_chattr = /chattr\s+-[ia]{1,2}\s/ ascii

    condition:
        filesize < 512KB
        and $shebang at 0
        and #pwnrig >= 2
        and $fetch
        and 2 of ($ev_*)
}

rule Rocke_Dropper_Script
{
    meta:
        family = "Rocke"
        severity = "critical"
        description = "Rocke miner dropper: uninstalls Alibaba/Tencent cloud security agents and installs its kerberods/khugepageds miner"
        reference = "https://unit42.paloaltonetworks.com/malware-used-by-rocke-group-evolves-to-evade-detection-by-cloud-security-products/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $shebang = /#!\s{0,4}\/(usr\/)?bin\/(env\s+)?(ba|da|k|z|a)?sh\b/ ascii
        $name = /\b(kerberods|khugepageds)\b/ ascii
        $a1 = "update.aegis.aliyun.com/download/uninstall.sh" ascii
        $a2 = "update.aegis.aliyun.com/download/quartz_uninstall.sh" ascii
        $a3 = "/usr/local/qcloud/stargate/admin/uninstall.sh" ascii
        $a4 = "/usr/local/qcloud/YunJing/uninst.sh" ascii
        $a5 = "/usr/local/qcloud/monitor/barad/admin/uninstall.sh" ascii
        $a6 = /pkill\s+(-9\s+)?aliyun-service/ ascii

    condition:
        filesize < 512KB
        and $shebang at 0
        and $name
        and 2 of ($a*)
}

rule Rocke_Cron_Entry
{
    meta:
        family = "Rocke"
        severity = "high"
        description = "Rocke cron persistence: a job piping a pastebin raw script to sh, fetched by curl or wget alike"
        reference = "https://unit42.paloaltonetworks.com/malware-used-by-rocke-group-evolves-to-evade-detection-by-cloud-security-products/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $job = /\(curl -fsSL https:\/\/pastebin\.com\/raw\/[A-Za-z0-9]{8}\s*\|\|\s*wget -q -O-? https:\/\/pastebin\.com\/raw\/[A-Za-z0-9]{8}\)\s*\|\s*sh/ ascii

    condition:
        filesize < 16KB and $job
}

rule Sysrv_Loader_Script
{
    meta:
        family = "Sysrv"
        severity = "critical"
        description = "Sysrv(-hello/-K) loader script ldr.sh: kills rivals, fetches the sysrv worm and its kthreaddi/kthreaddk miner"
        reference = "https://blogs.juniper.net/en-us/threat-research/sysrv-botnet-expands-and-gains-persistence"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $shebang = /#!\s{0,4}\/(usr\/)?bin\/(env\s+)?(ba|da|k|z|a)?sh\b/ ascii
        $worm = /\bsysrv[0-9]{0,3}\b/ ascii
        $miner = /\bkthreadd[ik]\b/ ascii
        $fetch = /(curl|wget|\$cc|get\s)[^\n]{0,200}(\/sysrv|\/ldr\.sh|\$sfile)/ ascii
        $ev_rival = /(pkill|killall|kill -9)[^\n]{0,80}/ ascii
        $ev_cron = /crontab\s+-[lr]?|\/etc\/cron/ ascii

    condition:
        filesize < 256KB
        and $shebang at 0
        and $worm and $miner and $fetch
        and 1 of ($ev_*)
}

rule Prometei_Linux_Bot
{
    meta:
        family = "Prometei"
        severity = "critical"
        description = "Prometei botnet's Linux bot: installs itself as uplugplay (service and @reboot cron), talks to prometei.cgi and starts/stops its updatecheckerd miner"
        reference = "https://blog.talosintelligence.com/prometei-botnet-improves/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $i_sbin = "/usr/sbin/uplugplay" ascii
        $i_etc = "/etc/uplugplay" ascii
        $i_svc = "uplugplay.service" ascii
        $s_cgi = "/cgi-bin/prometei.cgi" ascii
        $s_cgi2 = "/cgi-bin//prometei.cgi" ascii
        $s_q1 = "&i=%s&enckey=%s&answ=%s" ascii
        $s_q2 = "?&i=%s&answ=OK" ascii
        $s_cron = "task.cron" ascii
        $s_start = "start_mining" ascii
        $s_stop = "stop_mining" ascii
        $s_miner = "updatecheckerd" ascii

    condition:
        uint32(0) == 0x464C457F
        and filesize < 10MB
        and 1 of ($i_*)
        and 3 of ($s_*)
}

rule Prometei_Systemd_Service
{
    meta:
        family = "Prometei"
        severity = "critical"
        description = "Prometei persistence: the UPlugPlay systemd unit (/lib/systemd/system/uplugplay.service) starting /usr/sbin/uplugplay or /etc/uplugplay"
        reference = "https://blog.talosintelligence.com/prometei-botnet-improves/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $exec = /ExecStart=\s{0,4}\/(usr\/sbin|etc)\/uplugplay\b/ ascii

    condition:
        filesize < 4KB
        and uint32(0) == 0x696E555B  // "[Uni"
        and $exec
}

rule Prometei_Cron_Entry
{
    meta:
        family = "Prometei"
        severity = "critical"
        description = "Prometei persistence: the @reboot crontab entry (installed from task.cron) starting uplugplay with -cron"
        reference = "https://blog.talosintelligence.com/prometei-botnet-improves/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $job = /@reboot\s+\/(usr\/sbin|etc)\/uplugplay\s+-cron\b/ ascii

    condition:
        filesize < 16KB and $job
}
