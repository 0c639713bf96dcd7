/*
   Memory rules: each is tagged `memory` and written to match a running process as well as a
   file. No `filesize`, no header at offset 0: they key on what the process holds, a miner's
   pool configuration or argument vector, a beacon's configuration block, an implant's
   compiled-in strings, a bot's command table.

   Strings that a process holds as C strings are matched with their NUL terminator (a regular
   expression ending in \x00), so text that merely quotes them (documentation, this file, other
   scanners' rule files) does not match. A compiled rule file holds every literal of the set
   NUL-terminated: each rule passes over such a file by its "YARA" magic. In a process scan
   offset 0 is an unmapped address, so uint32(0) is undefined there and the guard
   (not defined uint32(0) or uint32(0) != "YARA") lets the rule through. The scanner never
   scans its own process.
*/

rule XMRig_Config_Memory : memory
{
    meta:
        family = "XMRig"
        severity = "high"
        description = "XMRig pool configuration as a running miner holds it (or as its config.json): pools with url and wallet user, donate level, CPU/RandomX sections"
        reference = "https://xmrig.com/docs/miner/config"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $pools = /"pools"\s{0,8}:\s{0,8}\[/ ascii
        $url = /"url"\s{0,8}:\s{0,8}"[a-z0-9+:\/.-]{4,200}:[0-9]{2,5}"/ ascii
        $user = /"user"\s{0,8}:\s{0,8}"[0-9A-Za-z]{60,200}/ ascii
        $donate = /"donate-level"\s{0,8}:\s{0,8}[0-9]/ ascii
        $randomx = /"randomx"\s{0,8}:\s{0,8}\{/ ascii
        $cpu = /"cpu"\s{0,8}:\s{0,8}\{/ ascii

    condition:
        (not defined uint32(0) or uint32(0) != 0x41524159)  // see the header
        and ($pools and $url and $user and $donate and ($randomx or $cpu))
}

rule XMRig_Commandline_Memory : memory
{
    meta:
        family = "XMRig"
        severity = "high"
        description = "A miner's argument vector as the process holds it (NUL-separated): a stratum pool after -o/--url and a Monero wallet after -u/--user"
        reference = "https://xmrig.com/docs/miner/command-line-options"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $pool = /(\x00-o|--url)[\x00=]stratum\+(tcp|ssl|tls):\/\/[a-z0-9.-]{3,80}:[0-9]{2,5}\x00/ ascii
        $user = /(\x00-u|--user)[\x00=]4[0-9AB][1-9A-HJ-NP-Za-km-z]{93}\x00/ ascii

    condition:
        (not defined uint32(0) or uint32(0) != 0x41524159)  // see the header
        and ($pool and $user)
}

rule XMRig_Binary_Memory : memory
{
    meta:
        family = "XMRig"
        severity = "high"
        description = "XMRig loaded in a process: its donation pool host and option help strings as compiled C strings"
        reference = "https://github.com/xmrig/xmrig"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $donate = /donate\.(v2|ssl)\.xmrig\.com\x00/ ascii
        $o1 = /--donate-level=N\s/ ascii
        $o2 = /--cpu-max-threads-hint=N\s/ ascii
        $o3 = /--rig-id=ID\s/ ascii
        $ua = /XMRig\/%s \(/ ascii
        $kinsing = /kdevtmpfsi\x00/ ascii

    condition:
        (not defined uint32(0) or uint32(0) != 0x41524159)  // see the header
        and ($donate and 2 of ($o*, $ua) and not $kinsing)
}

rule CobaltStrike_Beacon_Config_Memory : memory
{
    meta:
        family = "CobaltStrike"
        severity = "critical"
        description = "Cobalt Strike beacon configuration block in a process (plain, or XOR 0x69/0x2E as the loaded beacon keeps it): settings 1-7 up to the RSA public key"
        reference = "https://github.com/Sentinel-One/CobaltStrikeParser"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        // BeaconType, Port, SleepTime, MaxGetSize, Jitter, MaxDNS, then PublicKey (type 3, 256 bytes, DER 30 81 9F)
        $plain = { 00 01 00 01 00 02 ?? ?? 00 02 00 01 00 02 ?? ?? 00 03 00 02 00 04 ?? ?? ?? ?? 00 04 00 02 00 04 ?? ?? ?? ?? 00 05 00 01 00 02 ?? ?? 00 06 00 01 00 02 ?? ?? 00 07 00 03 01 00 30 81 9F }
        $x69 = { 69 68 69 68 69 6B ?? ?? 69 6B 69 68 69 6B ?? ?? 69 6A 69 6B 69 6D ?? ?? ?? ?? 69 6D 69 6B 69 6D ?? ?? ?? ?? 69 6C 69 68 69 6B ?? ?? 69 6F 69 68 69 6B ?? ?? 69 6E 69 6A 68 69 59 E8 F6 }
        $x2e = { 2E 2F 2E 2F 2E 2C ?? ?? 2E 2C 2E 2F 2E 2C ?? ?? 2E 2D 2E 2C 2E 2A ?? ?? ?? ?? 2E 2A 2E 2C 2E 2A ?? ?? ?? ?? 2E 2B 2E 2F 2E 2C ?? ?? 2E 28 2E 2F 2E 2C ?? ?? 2E 29 2E 2D 2F 2E 1E AF B1 }

    condition:
        (not defined uint32(0) or uint32(0) != 0x41524159)  // see the header
        and (1 of them)
}

rule Sliver_Implant_Memory : memory
{
    meta:
        family = "Sliver"
        severity = "critical"
        description = "Sliver implant (unobfuscated Go build) in a process: function names of its protobuf and implant packages from the Go symbol table"
        reference = "https://github.com/BishopFox/sliver"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        // Go's function-name table holds each name NUL-terminated.
        $pb = /github\.com\/bishopfox\/sliver\/protobuf\/sliverpb\.\(\*[A-Za-z0-9_]{2,60}\)\.[A-Za-z0-9_]{2,60}\x00/ ascii
        $common = /github\.com\/bishopfox\/sliver\/protobuf\/commonpb\.\(\*[A-Za-z0-9_]{2,60}\)\.[A-Za-z0-9_]{2,60}\x00/ ascii
        $impl = /github\.com\/bishopfox\/sliver\/implant\/sliver\/(transports|handlers|shell)\.[A-Za-z0-9_().*]{2,80}\x00/ ascii

    condition:
        (not defined uint32(0) or uint32(0) != 0x41524159)  // see the header
        and ($pb and ($common or $impl))
}

rule Meterpreter_Mettle_Memory : memory
{
    meta:
        family = "Meterpreter"
        severity = "critical"
        description = "Meterpreter for Linux (mettle) in a process: its usage text and transport strings as compiled C strings"
        reference = "https://github.com/rapid7/mettle"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $u_uuid = /-U, --uuid <uuid>\s{2,12}set the UUID \(base64\)\n\x00/ ascii
        $u_persist = /-p, --persist \[none\|install\|uninstall\] manage persistence\n\x00/ ascii
        $u_bg = /-b, --background \[0\|1\] start as a background service\n\x00/ ascii
        $fd = /fd:\/\/%d\x00/ ascii
        $guid = /\x00session-guid\x00/ ascii

    condition:
        (not defined uint32(0) or uint32(0) != 0x41524159)  // see the header
        and (2 of ($u_*) and 1 of ($fd, $guid))
}

rule Mirai_Table_Memory : memory
{
    meta:
        family = "Mirai"
        severity = "high"
        description = "Mirai bot in a process: its string table XOR-obfuscated with the stock key (net byte 0x22), as held in its data segment"
        reference = "https://blog.malwaremustdie.org/2016/08/mmd-0056-2016-linuxmirai-just.html"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $t1 = "/bin/busybox MIRAI" xor(0x22)
        $t2 = "MIRAI: applet not found" xor(0x22)
        $t3 = "TSource Engine Query" xor(0x22)
        $t4 = "listening tun0" xor(0x22)
        $t5 = "/dev/watchdog" xor(0x22)
        $t6 = "/proc/net/tcp" xor(0x22)
        $t7 = "/etc/resolv.conf" xor(0x22)

    condition:
        (not defined uint32(0) or uint32(0) != 0x41524159)  // see the header
        and (5 of them)
}

rule Gafgyt_Commands_Memory : memory
{
    meta:
        family = "Gafgyt"
        severity = "high"
        description = "Gafgyt/Bashlite bot in a process: its C2 verbs and status messages as compiled C strings"
        reference = "https://malpedia.caad.fkie.fraunhofer.de/details/elf.bashlite"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $c1 = /\x00GETLOCALIP\x00/ ascii
        $c2 = /\x00KILLATTK\x00/ ascii
        $c3 = /\x00LOLNOGTFO\x00/ ascii
        $m1 = /\x00Killed %d\.\x00/ ascii
        $m2 = /\x00None Killed\.\x00/ ascii
        $m3 = /\x00Failed opening raw socket\.\x00/ ascii
        $m4 = /\x00My IP: %s\x00/ ascii

    condition:
        (not defined uint32(0) or uint32(0) != 0x41524159)  // see the header
        and (2 of ($c*) and 2 of ($m*))
}

rule Tsunami_Commands_Memory : memory
{
    meta:
        family = "Tsunami"
        severity = "critical"
        description = "Tsunami/Kaiten IRC bot in a process: its NOTICE help lines for flood and spoof commands as compiled C strings"
        reference = "https://malpedia.caad.fkie.fraunhofer.de/details/elf.tsunami"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $h1 = /NOTICE %s :TSUNAMI <target> <secs>[^\x00]{0,120}\x00/ ascii
        $h2 = /NOTICE %s :PAN <target> <port> <secs>[^\x00]{0,120}\x00/ ascii
        $h3 = /NOTICE %s :UDP <target> <port> <secs>[^\x00]{0,120}\x00/ ascii
        $h4 = /NOTICE %s :UNKNOWN <target> <secs>[^\x00]{0,120}\x00/ ascii
        $h5 = /NOTICE %s :Kaiten wa goraku\x00/ ascii
        $h6 = /NOTICE %s :Removed all spoofs\x00/ ascii

    condition:
        (not defined uint32(0) or uint32(0) != 0x41524159)  // see the header
        and (3 of them)
}

rule Kinsing_Go_Memory : memory
{
    meta:
        family = "Kinsing"
        severity = "critical"
        description = "Kinsing Go bot in a process: its main-package function names from the Go symbol table"
        reference = "https://blog.aquasec.com/threat-alert-kinsing-malware-container-vulnerability"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $f1 = /main\.masscan\x00/ ascii
        $f2 = /main\.backconnect\x00/ ascii
        $f3 = /main\.getMinerPid\x00/ ascii
        $f4 = /main\.redisBrute\x00/ ascii
        $f5 = /main\.runTask\x00/ ascii
        $f6 = /main\.checkHealth\x00/ ascii

    condition:
        (not defined uint32(0) or uint32(0) != 0x41524159)  // see the header
        and (4 of them)
}

rule BPFDoor_Memory : memory
{
    meta:
        family = "BPFDoor"
        severity = "critical"
        description = "BPFDoor in a process: its masquerade names and /dev/shm copy name as compiled C strings, or its magic-packet BPF filter"
        reference = "https://www.elastic.co/security-labs/a-peek-behind-the-bpfdoor"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $copy = /\x00kdmtmpflush\x00/ ascii
        $m1 = /\x00\/sbin\/udevd -d\x00/ ascii
        $m2 = /\x00\/usr\/sbin\/console-kit-daemon --no-daemon\x00/ ascii
        $m3 = /\x00hald-addon-acpi: listening on acpi kernel interface \/proc\/acpi\/event\x00/ ascii
        $m4 = /\x00avahi-daemon: chroot helper\x00/ ascii
        $m5 = /\x00pickup -l -t fifo -u\x00/ ascii
        $m6 = /\x00\/sbin\/mingetty \/dev\/tty7\x00/ ascii
        $bpf1 = { 15 00 ?? ?? 55 72 00 00 }
        $bpf2 = { 15 00 ?? ?? 93 52 00 00 }

    condition:
        (not defined uint32(0) or uint32(0) != 0x41524159)  // see the header
        and (($copy and 2 of ($m*)) or (all of ($bpf*) and 2 of ($m*)))
}

rule Rekoobe_Memory : memory
{
    meta:
        family = "Rekoobe"
        severity = "critical"
        description = "Rekoobe/Tiny SHell backdoor in a process: the handshake challenge constant beside its pty shell strings"
        reference = "https://malpedia.caad.fkie.fraunhofer.de/details/elf.rekoobe"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $challenge = { 58 90 AE 86 F1 B9 1C F6 29 83 95 71 1D DE 58 0D }
        $hist = /\x00HISTFILE=\x00/ ascii
        $ptmx = /\x00\/dev\/ptmx\x00/ ascii
        $login = /exec bash --login\x00/ ascii

    condition:
        (not defined uint32(0) or uint32(0) != 0x41524159)  // see the header
        and ($challenge and 2 of ($hist, $ptmx, $login))
}

rule Mozi_Config_Memory : memory
{
    meta:
        family = "Mozi"
        severity = "critical"
        description = "Mozi bot in a process: its decoded configuration record with [ss] bot name, [hp] and [dip] tags"
        reference = "https://blog.netlab.360.com/p2p-botnet-mozi/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $ss = /\[ss\][a-z]{2,16}\[\/ss\]/ ascii
        $hp = /\[hp\][0-9.]{7,15}:[0-9]{2,5}\[\/hp\]/ ascii
        $dip = /\[dip\][0-9.]{7,15}:[0-9]{2,5}\[\/dip\]/ ascii
        $count = /\[count\]http[^\[]{4,200}\[\/count\]/ ascii

    condition:
        (not defined uint32(0) or uint32(0) != 0x41524159)  // see the header
        and ($ss and 2 of ($hp, $dip, $count))
}

rule Outlaw_Shellbot_Memory : memory
{
    meta:
        family = "Outlaw"
        severity = "critical"
        description = "Outlaw's Perl Shellbot in a perl process (which holds the script text): its configuration variables and flood commands"
        reference = "https://www.trendmicro.com/en_us/research/19/f/outlaw-hacking-groups-botnet-observed-spreading-miner-perl-based-backdoor.html"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $v1 = /my\s+@adms\s*=\s*\(/ ascii
        $v2 = /my\s+@canais\s*=\s*\(/ ascii
        $v3 = /my\s+\$processo\s*=\s*['"]/ ascii
        $c1 = /\|\s*tcpflood\b/ ascii
        $c2 = /\|\s*udpflood\b/ ascii
        $c3 = /\|\s*httpflood\b/ ascii

    condition:
        (not defined uint32(0) or uint32(0) != 0x41524159)  // see the header
        and (2 of ($v*) and 2 of ($c*))
}

rule Dofloo_Memory : memory
{
    meta:
        family = "Dofloo"
        severity = "critical"
        description = "Dofloo (AES.DDoS) bot in a process: its VERSONEX report format and rc.local persistence template as compiled C strings"
        reference = "https://malpedia.caad.fkie.fraunhofer.de/details/elf.dofloo"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $ver = /VERSONEX:[^\x00]{0,20}\|%d\|%d MHz\|%dMB\|%dMB\|%s\x00/ ascii
        $rc = /sed -i -e '2 i%s\/%s( start)?' \/etc\/(rc\.local|rc\.d\/rc\.local|init\.d\/boot\.local)\x00/ ascii

    condition:
        (not defined uint32(0) or uint32(0) != 0x41524159)  // see the header
        and ($ver and $rc)
}

rule BillGates_Memory : memory
{
    meta:
        family = "BillGates"
        severity = "critical"
        description = "BillGates/Elknot bot in a process: its lock files and attack class names as compiled strings"
        reference = "https://blog.malwaremustdie.org/2014/05/elf-shared-so-dynamic-library-malware.html"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $l1 = /\x00\/tmp\/gates\.lod\x00/ ascii
        $l2 = /\x00\/tmp\/moni\.lod\x00/ ascii
        $c1 = /[0-9]{1,3}CAttackSyn\x00/ ascii
        $c2 = /[0-9]{1,3}CAttackUdp\x00/ ascii
        $c3 = /[0-9]{1,3}CAttackIcmp\x00/ ascii
        $c4 = /[0-9]{1,3}CAttackDns\x00/ ascii

    condition:
        (not defined uint32(0) or uint32(0) != 0x41524159)  // see the header
        and (1 of ($l*) and 2 of ($c*))
}

rule Hajime_Memory : memory
{
    meta:
        family = "Hajime"
        severity = "high"
        description = "Hajime worm in a process: its signed 'white hat' message as held in memory"
        reference = "https://malpedia.caad.fkie.fraunhofer.de/details/elf.hajime"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        // The whole message as one C string: reports quoting it lack the terminator.
        $msg = /Just a white hat, securing some systems\.\s{1,4}Important messages will be signed like this!\s{1,4}Hajime Author\.\s{1,4}Contact CLOSED\s{1,4}Stay sharp!\s{0,2}\x00/ ascii

    condition:
        (not defined uint32(0) or uint32(0) != 0x41524159)  // see the header
        and ($msg)
}

rule Kaiji_Memory : memory
{
    meta:
        family = "Kaiji"
        severity = "critical"
        description = "Kaiji Go bot in a process: its Ares_* attack function names from the Go symbol table"
        reference = "https://www.intezer.com/blog/research/kaiji-new-chinese-linux-malware-turning-to-golang/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $f1 = /main\.Ares_Tcp\x00/ ascii
        $f2 = /main\.Ares_L3_Udp\x00/ ascii
        $f3 = /main\.Ares_ipspoof\x00/ ascii
        $f4 = /main\.Ares_Tcp_Keep\x00/ ascii
        $f5 = /main\.Killcpu\x00/ ascii

    condition:
        (not defined uint32(0) or uint32(0) != 0x41524159)  // see the header
        and (3 of them)
}

rule BlackCat_Config_Memory : memory
{
    meta:
        family = "BlackCat"
        severity = "critical"
        description = "BlackCat/ALPHV encryptor in a process: its decoded JSON configuration (note, cipher and ESXi kill settings)"
        reference = "https://www.microsoft.com/en-us/security/blog/2022/06/13/the-many-lives-of-blackcat-ransomware/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $k1 = /"config_id"\s{0,4}:\s{0,4}"/ ascii
        $k2 = /"note_file_name"\s{0,4}:\s{0,4}"/ ascii
        $k3 = /"note_full_text"\s{0,4}:\s{0,4}"/ ascii
        $k4 = /"default_file_cipher"\s{0,4}:\s{0,4}"/ ascii
        $k5 = /"enable_esxi_vm_kill"\s{0,4}:\s{0,4}(true|false)/ ascii
        $k6 = /"exclude_directory_names"\s{0,4}:\s{0,4}\[/ ascii

    condition:
        (not defined uint32(0) or uint32(0) != 0x41524159)  // see the header
        and (5 of them)
}

rule Orbit_Memory : memory
{
    meta:
        family = "Orbit"
        severity = "critical"
        description = "Orbit implant in a process (it is preloaded into every process): its hidden directory and SSH capture strings as compiled C strings"
        reference = "https://www.intezer.com/blog/incident-response/orbit-new-undetected-linux-threat/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $dir = /libntpVnQE6mk[^\x00]{0,60}\x00/ ascii
        $s1 = /sniff_ssh_session\x00/ ascii
        $s2 = /\/dev\/shm\/ldx\/\.l\x00/ ascii
        $s3 = /chown -R 920366:920366[^\x00]{0,80}\x00/ ascii
        $s4 = /lib0UZ0LfvWZ\.so\x00/ ascii

    condition:
        (not defined uint32(0) or uint32(0) != 0x41524159)  // see the header
        and ($dir and 1 of ($s*))
}

rule HiddenWasp_Memory : memory
{
    meta:
        family = "HiddenWasp"
        severity = "critical"
        description = "HiddenWasp rootkit in a process (preloaded): its I_AM_HIDDEN marker with its preload and Azazel strings as compiled C strings"
        reference = "https://www.intezer.com/blog/research/hiddenwasp-malware-targeting-linux-systems/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $marker = /\x00I_AM_HIDDEN\x00/ ascii
        $s1 = /\x00\/etc\/ld\.so\.preload\x00/ ascii
        $s2 = /\x00HIDE_THIS_SHELL\x00/ ascii
        $s3 = /\/lib\/libselinux\.a\x00/ ascii
        $s4 = /libse1inux[^\x00]{0,20}\x00/ ascii

    condition:
        (not defined uint32(0) or uint32(0) != 0x41524159)  // see the header
        and ($marker and 2 of ($s*))
}

rule Lightning_Memory : memory
{
    meta:
        family = "Lightning"
        severity = "critical"
        description = "Lightning Framework in a process: its module and plugin names as compiled C strings"
        reference = "https://www.intezer.com/blog/research/lightning-framework-new-linux-threat/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $mod = /\x00Lightning\.(Core|Downloader)\x00/ ascii
        $plugin = /\x00Linux\.Plugin\.Lightning\.[A-Za-z]{3,20}\x00/ ascii

    condition:
        (not defined uint32(0) or uint32(0) != 0x41524159)  // see the header
        and ($mod and #plugin >= 2)
}

rule EvilGnome_Memory : memory
{
    meta:
        family = "EvilGnome"
        severity = "critical"
        description = "EvilGnome in a process: its RC5 key, or its Shooter* module class names with the gnome-shell-ext install path, as compiled strings"
        reference = "https://www.intezer.com/blog/research/evilgnome-rare-malware-spying-on-linux-desktop-users/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $key = /sdg62_AS\.sturmarbeiteilung\$die3\x00/ ascii
        $mod = /[0-9]{1,3}Shooter(Sound|Image|File|Ping|Key)\x00/ ascii
        $path = /gnome-software\/gnome-shell-extensions\/gnome-shell-ext\x00/ ascii

    condition:
        (not defined uint32(0) or uint32(0) != 0x41524159)  // see the header
        and ($key or ($path and #mod >= 3))
}
