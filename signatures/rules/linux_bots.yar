/*
   Linux and IoT bots beside those of ddos_bots.yar: Mozi (P2P), Hajime, Dofloo (AES.DDoS),
   BillGates (Elknot), Kaiji, and more Tsunami/Kaiten and Gafgyt forms (the C sources dropped
   to be built on the victim, Kaiten variants with the stock help text). Indicators from the
   vendor reports and public sources named in each rule.
*/

rule Mozi_P2P_Bot
{
    meta:
        family = "Mozi"
        severity = "critical"
        description = "Mozi P2P IoT bot: BitTorrent DHT bootstrap nodes with its [ss]/[hp]/[dip] configuration tags, or its TR-069 port blocking with its /usr/networks copy"
        reference = "https://blog.netlab.360.com/p2p-botnet-mozi/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $d1 = "dht.transmissionbt.com:6881" ascii
        $d2 = "router.bittorrent.com:6881" ascii
        $d3 = "router.utorrent.com:6881" ascii
        $d4 = "bttracker.debian.org:6881" ascii
        $t1 = "[ss]" ascii
        $t2 = "[hp]" ascii
        $t3 = "[dip]" ascii
        $t4 = "[idp]" ascii
        $t5 = "[count]" ascii
        $t6 = "[ud]" ascii
        $t7 = "[sv]" ascii
        $i1 = "iptables -I INPUT  -p tcp --destination-port 7547 -j DROP" ascii
        $i2 = "iptables -I OUTPUT -p tcp --sport 30005 -j DROP" ascii
        $n1 = "/usr/networks" ascii
        $n2 = "/user/networktmp" ascii

    condition:
        uint32(0) == 0x464C457F
        and filesize < 2MB
        and (
            (2 of ($d*) and 3 of ($t*))
            or (all of ($i*) and 1 of ($n*))
        )
}

rule Mozi_Persistence_Script
{
    meta:
        family = "Mozi"
        severity = "high"
        description = "Mozi persistence: boot script (S95Baby.sh in /etc/init.d, /etc/rc.d or /etc/rcS.d) starting its copy at /usr/networks or /user/networktmp"
        reference = "https://blog.netlab.360.com/p2p-botnet-mozi/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $shebang = /#!\s{0,4}\/bin\/(ba)?sh\b/ ascii
        $run = /\n\/(usr\/networks|user\/networktmp)\s*&?\s*(\n|$)/ ascii

    condition:
        filesize < 1KB and $shebang at 0 and $run
}

rule Hajime_Worm
{
    meta:
        family = "Hajime"
        severity = "high"
        description = "Hajime IoT worm: the signed 'white hat' message it shows on infected devices"
        reference = "https://malpedia.caad.fkie.fraunhofer.de/details/elf.hajime"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $m1 = "Just a white hat, securing some systems." ascii
        $m2 = "Important messages will be signed like this!" ascii
        $m3 = "Hajime Author." ascii
        $m4 = "Stay sharp!" ascii

    condition:
        uint32(0) == 0x464C457F
        and filesize < 2MB
        and 3 of them
}

rule Dofloo_AESDDoS_Bot
{
    meta:
        family = "Dofloo"
        severity = "critical"
        description = "Dofloo (AES.DDoS) bot: its VERSONEX system-report format and rc.local/boot.local sed persistence templates"
        reference = "https://malpedia.caad.fkie.fraunhofer.de/details/elf.dofloo"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $ver = "VERSONEX:" ascii
        $fmt = "|%d|%d MHz|%dMB|%dMB|%s" ascii
        $p1 = "sed -i -e '/%s/d' /etc/rc.local" ascii
        $p2 = "sed -i -e '2 i%s/%s' /etc/rc.local" ascii
        $p3 = "sed -i -e '2 i%s/%s start' /etc/rc.d/rc.local" ascii
        $p4 = "sed -i -e '2 i%s/%s start' /etc/init.d/boot.local" ascii

    condition:
        uint32(0) == 0x464C457F
        and filesize < 5MB
        and $ver
        and ($fmt or 2 of ($p*))
}

rule BillGates_Elknot_Bot
{
    meta:
        family = "BillGates"
        severity = "critical"
        description = "BillGates/Elknot DDoS bot: its gates.lod/moni.lod lock files, DbSecuritySpt/selinux init names and CAttack* attack classes"
        reference = "https://blog.malwaremustdie.org/2014/05/elf-shared-so-dynamic-library-malware.html"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $l1 = "/tmp/gates.lod" ascii
        $l2 = "/tmp/moni.lod" ascii
        $n1 = "DbSecuritySpt" ascii
        $n2 = "/usr/bin/bsd-port" ascii
        $n3 = "/usr/bin/dpkgd/" ascii
        $c1 = "CAttackSyn" ascii
        $c2 = "CAttackUdp" ascii
        $c3 = "CAttackIcmp" ascii
        $c4 = "CAttackDns" ascii
        $c5 = "CAttackAmp" ascii
        $c6 = "CThreadAttack" ascii
        $c7 = "CThreadMonGates" ascii
        $c8 = "CUpdateGates" ascii
        $c9 = "CBillStatus" ascii

    condition:
        uint32(0) == 0x464C457F
        and filesize < 5MB
        and (
            (1 of ($l*) and 3 of ($n*, $c*))
            or (1 of ($c7, $c8, $c9) and 3 of ($c1, $c2, $c3, $c4, $c5, $c6))
        )
}

rule Kaiji_Go_Bot
{
    meta:
        family = "Kaiji"
        severity = "critical"
        description = "Kaiji Go DDoS bot spread by SSH brute force: its Ares_* attack functions and its persistence paths"
        reference = "https://www.intezer.com/blog/research/kaiji-new-chinese-linux-malware-turning-to-golang/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $f1 = "main.Ares_Tcp" ascii
        $f2 = "main.Ares_L3_Udp" ascii
        $f3 = "main.Ares_ipspoof" ascii
        $f4 = "main.Ares_Tcp_Keep" ascii
        $f5 = "main.Killcpu" ascii
        $f6 = "main.Doshell" ascii
        $f7 = "main.Ares_L3_Raw" ascii
        $f8 = "main.Ares_Plain_Udp" ascii
        $p1 = "/etc/id.services.conf" ascii
        $p2 = "/etc/32678" ascii
        $p3 = "/usr/lib/libd1rpcld.so" ascii
        $p4 = "/etc/profile.d/gateway.sh" ascii
        $p5 = "quotaoff.service" ascii
        $p6 = "/boot/System.mod" ascii
        $go = "Go build ID" ascii

    condition:
        uint32(0) == 0x464C457F
        and filesize < 20MB
        and 3 of ($f*)
        and ($go or 1 of ($p*))
}

rule Tsunami_Kaiten_Source
{
    meta:
        family = "Tsunami"
        severity = "high"
        description = "Kaiten/Tsunami IRC bot C source, dropped to be compiled on the victim: its IRC command handlers and help text"
        reference = "https://malpedia.caad.fkie.fraunhofer.de/details/elf.tsunami"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $inc = "#include <" ascii
        $h_tsunami = /TSUNAMI <target> <secs>/ ascii
        $h_pan = /PAN <target> <port> <secs>/ ascii
        $h_unknown = /UNKNOWN <target> <secs>/ ascii
        $h_spoofs = /SPOOFS <subnet>/ ascii
        $f1 = /void\s+tsunami\s*\(\s*int\s+sock/ ascii
        $f2 = /void\s+getspoofs\s*\(\s*int\s+sock/ ascii
        $f3 = /void\s+killall\s*\(\s*int\s+sock/ ascii
        $f4 = /\{\s*"TSUNAMI"\s*,\s*tsunami\s*\}/ ascii

    condition:
        filesize < 256KB
        and $inc
        and 2 of ($h_*)
        and 2 of ($f*)
}

rule Tsunami_Kaiten_Help_Variant
{
    meta:
        family = "Tsunami"
        severity = "critical"
        description = "Kaiten-derived IRC bot (Ziggy, knight and other renamed variants): the stock help descriptions of its spoofing, download and kill commands"
        reference = "https://malpedia.caad.fkie.fraunhofer.de/details/elf.tsunami"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $d1 = "= Changes spoofing to a subnet" ascii
        $d2 = "= Gets the current spoofing" ascii
        $d3 = "= Disables all packeting from this" ascii
        $d4 = "= Enables all packeting from this" ascii
        $d5 = "= Downloads a file off the web" ascii
        $d6 = "= Kills all current packeting" ascii
        $d7 = "= Another non-spoof udp flooder" ascii
        $irc1 = "PRIVMSG %s :" ascii
        $irc2 = "NOTICE %s :" ascii

    condition:
        uint32(0) == 0x464C457F
        and filesize < 3MB
        and 1 of ($irc*)
        and 4 of ($d*)
}

rule Gafgyt_Bot_Source
{
    meta:
        family = "Gafgyt"
        severity = "high"
        description = "Gafgyt/Bashlite bot C source, dropped to be compiled on the victim: its C2 verb handlers and status messages"
        reference = "https://malpedia.caad.fkie.fraunhofer.de/details/elf.bashlite"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $inc = "#include <" ascii
        $c1 = /!strcmp\(argv\[0\],\s*"GETLOCALIP"\)/ ascii
        $c2 = /!strcmp\(argv\[0\],\s*"SCANNER"\)/ ascii
        $c3 = /!strcmp\(argv\[0\],\s*"KILLATTK"\)/ ascii
        $c4 = /!strcmp\(argv\[0\],\s*"LOLNOGTFO"\)/ ascii
        $m1 = /"Killed %d\."/ ascii
        $m2 = /"None Killed\."/ ascii
        $m3 = /"My IP: %s"/ ascii

    condition:
        filesize < 512KB
        and $inc
        and 2 of ($c*)
        and 1 of ($m*)
}
