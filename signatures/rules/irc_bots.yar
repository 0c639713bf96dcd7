/*
   Perl IRC "ShellBot" as the Outlaw group and others drop it on Linux servers, in the forms
   linux_backdoors.yar's Outlaw rules (perl shebang at offset 0) do not cover: the configuration
   block or the IRC command dispatcher of a script started as `perl file`, and the uuencoded
   one-eval form the Outlaw campaigns deliver. Each rule needs a Perl statement written as a
   regular expression, so the rule file and articles naming the bot do not match.
*/

rule ShellBot_Perl_Config
{
    meta:
        family = "Outlaw"
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
        family = "Outlaw"
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
        family = "Outlaw"
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
