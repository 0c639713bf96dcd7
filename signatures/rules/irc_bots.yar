/*
   Perl IRC bots and the Outlaw group's "dota" kit on Linux servers: the ShellBot family
   (Portuguese configuration names, IRC command dispatcher with port scanner and floods, the
   uuencoded form the Outlaw campaigns deliver) and Outlaw's persistence (cron entries of the
   .configrc kit, the SSH key it plants). Each rule needs a Perl statement or path written as a
   regular expression, so the rule file and articles naming the bot do not match.
*/

rule ShellBot_Perl_Config
{
    meta:
        family = "ShellBot"
        severity = "critical"
        description = "Perl ShellBot IRC bot: Portuguese configuration block ($processo masquerade name, $servidor, @canais, @adms, $linas_max flood limit) with its IRC socket"
        reference = "https://www.trendmicro.com/en_us/research/18/k/perl-based-shellbot-looks-to-target-organizations-via-cc.html"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $proc = /my\s+\$processo\s*=\s*['"]/ ascii
        $srv = /\$servidor\s*=\s*['"][^'"\n]{1,80}['"]\s+unless\s+\$servidor/ ascii
        $chan = /my\s+@canais\s*=/ ascii
        $adm = /my\s+@adms\s*=/ ascii
        $lines = /my\s+\$linas_max\s*=/ ascii
        $sock = "IO::Socket" ascii

    condition:
        filesize < 2MB
        and $sock
        and 4 of ($proc, $srv, $chan, $adm, $lines)
}

rule ShellBot_Perl_Commands
{
    meta:
        family = "ShellBot"
        severity = "critical"
        description = "Perl ShellBot IRC command dispatcher: $funcarg matched against portscan, flood and back-connect commands, replies through sendraw PRIVMSG"
        reference = "https://www.trendmicro.com/en_us/research/18/k/perl-based-shellbot-looks-to-target-organizations-via-cc.html"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $c1 = /\$funcarg\s*=~\s*\/\^portscan/ ascii
        $c2 = /\$funcarg\s*=~\s*\/\^udpflood/ ascii
        $c3 = /\$funcarg\s*=~\s*\/\^tcpflood/ ascii
        $c4 = /\$funcarg\s*=~\s*\/\^httpflood/ ascii
        $c5 = /\$funcarg\s*=~\s*\/\^back/ ascii
        $c6 = /\$funcarg\s*=~\s*\/\^(nmap|conback|linuxhelp|sqlflood|multiscan)/ ascii
        $raw = /sendraw\(\s*\$IRC_cur_socket\s*,\s*"PRIVMSG/ ascii

    condition:
        filesize < 2MB
        and $raw
        and 3 of ($c*)
}

rule ShellBot_Perl_Uuencoded
{
    meta:
        family = "ShellBot"
        severity = "high"
        description = "Perl bot delivered as the Outlaw campaigns do: the whole script is one eval of a uuencoded string (eval unpack u=>q{...})"
        reference = "https://www.trendmicro.com/en_us/research/19/f/outlaw-hacking-groups-botnet-observed-spreading-miner-perl-based-backdoor.html"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $eval = /eval\s+unpack\s+u\s*=>\s*q\{/ ascii

    condition:
        filesize > 4KB and filesize < 2MB
        and $eval in (0..256)
}

rule Outlaw_SSH_Key
{
    meta:
        family = "Outlaw"
        severity = "critical"
        description = "SSH authorized key planted by the Outlaw (dota) botnet on brute-forced servers, with its 'mdrfckr' comment"
        reference = "https://www.trendmicro.com/en_us/research/19/f/outlaw-hacking-groups-botnet-observed-spreading-miner-perl-based-backdoor.html"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $key = /ssh-rsa\s+AAAAB3NzaC1yc2EAAAABJQAAAQEArDp4cun2lhr4KUhBGE7VvAcwdli2a8dbnrTOrb[A-Za-z0-9+\/=]{100,400}\s+mdrfckr/ ascii

    condition:
        filesize < 1MB and $key
}

rule Outlaw_Dota_Cron
{
    meta:
        family = "Outlaw"
        severity = "critical"
        description = "Outlaw dota kit persistence: cron entries starting the .configrc a/upd and b/sync scripts and the .rsync/c/aptitude miner launcher"
        reference = "https://www.trendmicro.com/en_us/research/19/f/outlaw-hacking-groups-botnet-observed-spreading-miner-perl-based-backdoor.html"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $upd = /\/\.configrc[0-9]?\/a\/upd\s*>\s*\/dev\/null/ ascii
        $sync = /\/\.configrc[0-9]?\/b\/sync\s*>\s*\/dev\/null/ ascii
        $apt = /\/\.rsync\/c\/aptitude\s*>\s*\/dev\/null/ ascii
        $boot = /@reboot\s+\S{1,120}\/\.configrc[0-9]?\// ascii

    condition:
        filesize < 64KB
        and 2 of them
}
