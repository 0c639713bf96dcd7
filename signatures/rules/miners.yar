/*
   Coin miners: the XMRig miner (binary and its JSON config) and the shell scripts that
   drop it. Written for the scanner project from public descriptions of XMRig (its own
   command-line options, donation pool and algorithm names) and of cryptojacking
   droppers; Kinsing's and TeamTNT's own scripts are left to their own rules.
*/

rule XMRig_Miner_Binary
{
    meta:
        family = "XMRig"
        severity = "high"
        description = "XMRig Monero miner executable (ELF, PE or Mach-O) carrying its option, pool and algorithm strings"
        reference = "https://github.com/xmrig/xmrig"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $donate_host = "donate.v2.xmrig.com" ascii
        $donate_ssl = "donate.ssl.xmrig.com" ascii
        $site = "xmrig.com" ascii
        $name = "XMRig" ascii
        $opt_donate = "--donate-level" ascii
        $opt_hint = "--cpu-max-threads-hint" ascii
        $opt_rig = "--rig-id" ascii
        $algo_rx = "randomx" ascii nocase
        $algo_cn = "cryptonight" ascii nocase
        $stratum = "stratum+tcp://" ascii
        $stratum_ssl = "stratum+ssl://" ascii
        // Kinsing ships its own XMRig build; that one is named by the Kinsing rules instead.
        $kinsing_miner = "kdevtmpfsi" ascii

    condition:
        (uint32(0) == 0x464C457F or
         (uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550) or
         uint32(0) == 0xFEEDFACF or uint32(0) == 0xBEBAFECA)
        and filesize < 30MB
        and (
            (1 of ($donate_*) and 3 of ($site, $name, $opt_*, $algo_*, $stratum*))
            or ($name and $site and 2 of ($opt_*) and 1 of ($algo_*))
        )
        and not $kinsing_miner
}

rule XMRig_Miner_Config
{
    meta:
        family = "XMRig"
        severity = "medium"
        description = "XMRig JSON configuration file (pools with url/user plus donate-level and CPU/RandomX sections)"
        reference = "https://xmrig.com/docs/miner/config"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $pools = /"pools"\s*:\s*\[/ ascii
        $url = /"url"\s*:\s*"[^"]{4,200}:[0-9]{2,5}"/ ascii
        $user = /"user"\s*:\s*"/ ascii
        $donate = /"donate-level"\s*:\s*[0-9]/ ascii
        $randomx = /"randomx"\s*:\s*\{/ ascii
        $cpu = /"cpu"\s*:\s*\{/ ascii
        $nicehash = /"nicehash"\s*:\s*(true|false)/ ascii
        $rig = /"rig-id"\s*:/ ascii

    condition:
        filesize < 256KB
        and uint8(0) == 0x7B
        and $pools and $url and $user and $donate
        and 2 of ($randomx, $cpu, $nicehash, $rig)
}

rule CoinMiner_Dropper_Script
{
    meta:
        family = "CoinMiner-Dropper"
        severity = "high"
        description = "Shell script that fetches and starts a Monero miner against a stratum pool while removing rival miners and defences"
        reference = "https://attack.mitre.org/techniques/T1496/"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $shebang = /#!\s{0,4}\/(usr\/)?bin\/(env\s+)?(ba|da|k|z|a)?sh\b/ ascii
        $fetch_pipe = /(curl|wget)[^\n]{1,200}\|\s*(ba)?sh/ ascii
        $fetch_file = /(curl|wget)[^\n]{1,200}(-o|-O|>)\s*[^\n]{1,120}\n[^\n]{0,200}chmod\s+(\+x|[0-7]{3,4})/ ascii
        $pool_arg = /(-o|--url[= ])\s*"?stratum\+(tcp|ssl|tls):\/\/[^\s"]{4,120}/ ascii
        $pool_json = /\\?"url\\?"\s*:\s*\\?"(stratum\+(tcp|ssl):\/\/)?[a-z0-9.-]{4,80}:[0-9]{2,5}/ ascii
        $wallet = /(-u\s+|--user[= ]|"user"\s*:\s*")"?4[0-9AB][1-9A-HJ-NP-Za-km-z]{93}/ ascii
        $miner = /xmrig|--donate-level|randomx|cryptonight/ ascii nocase
        $ev_chattr = /chattr\s+-[ia]{1,2}\s/ ascii
        $ev_hugepages = /(vm\.nr_hugepages|\/proc\/sys\/vm\/nr_hugepages)/ ascii
        $ev_rival = /(pkill|killall|kill -9)[^\n]{0,80}(xmr|minerd|kworkerds|cryptonight|\$pid)/ ascii
        $ev_rival_ps = /ps\s+(aux|-ef)[^\n]{0,120}grep[^\n]{0,160}(xmr|minerd|stratum|:3333|:5555)/ ascii
        $ev_firewall = /(ufw disable|iptables -F|setenforce 0|systemctl (stop|disable) (apparmor|aliyun|firewalld))/ ascii
        $ev_history = /(history -c|unset HISTFILE|export HISTFILE=\/dev\/null)/ ascii
        $ev_cron = /crontab\s+-[lr]?|\/etc\/cron\.(d|hourly)\// ascii
        $ev_logs = /(rm -rf|echo\s*>)\s*\/var\/log\/(syslog|wtmp|secure|auth\.log)/ ascii
        $ev_watchdog = "kernel.nmi_watchdog" ascii
        // Families with their own rules and their own persistence data.
        $other_kinsing = "kinsing" ascii nocase
        $other_tnt1 = "teamtnt" ascii nocase
        $other_tnt2 = "tntrecht" ascii

    condition:
        filesize < 512KB
        and $shebang at 0
        and 1 of ($fetch_*)
        and 1 of ($pool_arg, $pool_json, $wallet)
        and $miner
        and 3 of ($ev_*)
        and not any of ($other_*)
}

rule XMRig_Systemd_Service
{
    meta:
        family = "XMRig"
        severity = "high"
        description = "systemd unit that runs a Monero miner: ExecStart with a stratum pool, a wallet after -u or --donate-level"
        reference = "https://xmrig.com/docs/miner/command-line-options"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $exec = /ExecStart=[^\n]{0,200}(stratum\+(tcp|ssl|tls):\/\/|--donate-level|(-u|--user[= ])\s*4[0-9AB][1-9A-HJ-NP-Za-km-z]{93})/ ascii

    condition:
        filesize < 8KB
        and uint32(0) == 0x696E555B  // "[Uni"
        and $exec
}

rule XMRig_Cron_Entry
{
    meta:
        family = "XMRig"
        severity = "high"
        description = "crontab entry that (re)starts a Monero miner against a stratum pool with a wallet"
        reference = "https://xmrig.com/docs/miner/command-line-options"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $shebang = "#!" ascii
        $schedule = /(@reboot|\*\/?[0-9]{0,2} \* \* \*)\s/ ascii
        $job = /stratum\+(tcp|ssl|tls):\/\/[^\s"']{4,120}\s[^\n]{0,100}(-u|--user[= ])\s*4[0-9AB][1-9A-HJ-NP-Za-km-z]{93}/ ascii

    condition:
        filesize < 16KB
        and not $shebang at 0
        and $schedule and $job
}
