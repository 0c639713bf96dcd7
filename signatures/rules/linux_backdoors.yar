/*
   Linux backdoors and their persistence artefacts: Ebury's trojanised libkeyutils, BPFDoor,
   RotaJakiro (its unit, upstart job and autostart entry), Rekoobe (Tiny SHell based), Orbit,
   HiddenWasp, Lightning, EvilGnome and Outlaw's Shellbot and SSH key. Indicators from the
   vendor reports named in each rule's reference.

   Rules that do not anchor on a header (unit files, cron and key files) key on at least one
   regular expression whose source text differs from what it matches, so this file does not
   match itself.
*/

rule Ebury_Trojanized_Keyutils
{
    meta:
        family = "Ebury"
        severity = "critical"
        description = "Ebury's carrier: a libkeyutils shared object (keyctl_* exports) that also carries sshd-hooking and credential-handling strings no genuine libkeyutils has"
        reference = "https://www.welivesecurity.com/wp-content/uploads/2014/03/operation_windigo.pdf"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $k1 = "keyctl_session_to_parent" ascii fullword
        $k2 = "keyctl_set_reqkey_keyring" ascii fullword
        $k3 = "keyutils_version_string" ascii fullword
        $k4 = "recursive_session_key_scan" ascii fullword
        $e_maps = "/proc/self/maps" ascii
        $e_sshd = "sshd" ascii fullword
        $e_pam = "pam_authenticate" ascii fullword
        $e_rsa = "RSA_public_decrypt" ascii fullword
        $e_pw = "auth_password" ascii fullword
        $e_kbd = "userauth_kbdint" ascii fullword
        $e_host = "SSH-2.0-" ascii

    condition:
        uint32(0) == 0x464C457F and uint16(16) == 3
        and filesize < 200KB
        and 3 of ($k*)
        and 3 of ($e_*)
}

rule BPFDoor_ELF
{
    meta:
        family = "BPFDoor"
        severity = "critical"
        description = "BPFDoor passive backdoor: the daemon names it masquerades as, its /dev/shm copy name and the BPF filter that passes its magic packets (0x7255, 0x5293)"
        reference = "https://www.elastic.co/security-labs/a-peek-behind-the-bpfdoor"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $m1 = "/sbin/udevd -d" ascii
        $m2 = "/sbin/mingetty /dev/tty7" ascii
        $m3 = "/usr/sbin/console-kit-daemon --no-daemon" ascii
        $m4 = "hald-addon-acpi: listening on acpi kernel interface /proc/acpi/event" ascii
        $m5 = "dbus-daemon --system" ascii
        $m6 = "avahi-daemon: chroot helper" ascii
        $m7 = "pickup -l -t fifo -u" ascii
        $m8 = "/sbin/auditd -n" ascii
        $m9 = "hald-runner" ascii fullword
        $copy = "kdmtmpflush" ascii
        // sock_filter entries: jeq #0x7255 (ICMP/UDP magic) and jeq #0x5293 (TCP magic)
        $bpf1 = { 15 00 ?? ?? 55 72 00 00 }
        $bpf2 = { 15 00 ?? ?? 93 52 00 00 }

    condition:
        uint32(0) == 0x464C457F
        and filesize < 5MB
        and (
            ($copy and 3 of ($m*))
            or (all of ($bpf*) and ($copy or 2 of ($m*)))
        )
}

rule BPFDoor_Shell_Redirect
{
    meta:
        family = "BPFDoor"
        severity = "critical"
        description = "BPFDoor (variants without the masquerade table): iptables REDIRECT/ACCEPT templates for the magic-packet sender and the history-free shell environment"
        reference = "https://www.elastic.co/security-labs/a-peek-behind-the-bpfdoor"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $ipt_redir = "/sbin/iptables -t nat -A PREROUTING -p tcp -s %s --dport %d -j REDIRECT --to-ports %d" ascii
        $ipt_del = "/sbin/iptables -t nat -D PREROUTING -p tcp -s %s --dport %d -j REDIRECT --to-ports %d" ascii
        $ipt_acc = "/sbin/iptables -I INPUT -p tcp -s %s -j ACCEPT" ascii
        $env_hist = "HISTFILE=/dev/null" ascii
        $env_mysql = "MYSQL_HISTFILE=/dev/null" ascii
        $env_home = "HOME=/tmp" ascii fullword

    condition:
        uint32(0) == 0x464C457F
        and filesize < 5MB
        and 2 of ($ipt_*)
        and 2 of ($env_*)
}

rule RotaJakiro_Systemd_Unit
{
    meta:
        family = "RotaJakiro"
        severity = "critical"
        description = "RotaJakiro root persistence: a systemd unit (sys-temd-agent.service) starting the backdoor as systemd-daemon"
        reference = "https://blog.netlab.360.com/stealth_rotajakiro_backdoor_en/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $exec = /ExecStart=\s{0,4}(\/usr\/lib\/systemd|\/bin\/systemd)\/systemd-daemon\b/ ascii

    condition:
        filesize < 4KB
        and uint32(0) == 0x696E555B  // "[Uni"
        and $exec
}

rule RotaJakiro_Upstart_Job
{
    meta:
        family = "RotaJakiro"
        severity = "critical"
        description = "RotaJakiro root persistence on upstart systems: /etc/init/systemd-agent.conf running systemd-daemon"
        reference = "https://blog.netlab.360.com/stealth_rotajakiro_backdoor_en/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $start = /(^|\n)start on (runlevel|filesystem|started)/ ascii
        $exec = /(^|\n)\s{0,8}exec\s+(\/usr\/lib\/systemd|\/bin\/systemd)\/systemd-daemon\b/ ascii

    condition:
        filesize < 4KB and $start and $exec
}

rule RotaJakiro_Autostart_Entry
{
    meta:
        family = "RotaJakiro"
        severity = "critical"
        description = "RotaJakiro non-root persistence: gnomehelper.desktop autostart entry running the gvfsd-helper or session-dbus copy in the home directory"
        reference = "https://blog.netlab.360.com/stealth_rotajakiro_backdoor_en/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $entry = "[Desktop Entry]" ascii
        $exec = /(^|\n)Exec=[^\n]{0,120}\/(\.gvfsd\/\.profile\/gvfsd-helper|\.dbus\/sessions\/session-dbus)\b/ ascii

    condition:
        filesize < 4KB and $entry and $exec
}

rule Rekoobe_TinySHell_Backdoor
{
    meta:
        family = "Rekoobe"
        severity = "critical"
        description = "Rekoobe (Tiny SHell derived) backdoor: the tsh handshake challenge constant with its pty shell and history-suppression strings"
        reference = "https://malpedia.caad.fkie.fraunhofer.de/details/elf.rekoobe"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $challenge = { 58 90 AE 86 F1 B9 1C F6 29 83 95 71 1D DE 58 0D }
        $s_hist = "HISTFILE=" ascii
        $s_term = "TERM=" ascii
        $s_sh = "/bin/sh" ascii fullword
        $s_ptmx = "/dev/ptmx" ascii
        $s_login = "exec bash --login" ascii

    condition:
        uint32(0) == 0x464C457F
        and filesize < 3MB
        and $challenge
        and 3 of ($s_*)
}

rule Orbit_Preload_Implant
{
    meta:
        family = "Orbit"
        severity = "critical"
        description = "Orbit LD_PRELOAD implant: its hidden install directory, SSH credential capture files and ownership marker"
        reference = "https://www.intezer.com/blog/incident-response/orbit-new-undetected-linux-threat/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $dir = "libntpVnQE6mk" ascii
        $s_chown = "chown -R 920366:920366" ascii
        $s_lib = "lib0UZ0LfvWZ.so" ascii
        $s_shm = "/dev/shm/ldx/.l" ascii
        $s_sniff = "sniff_ssh_session" ascii
        $s_pass = "sshpass.txt" ascii
        $s_pam = ".logpam" ascii
        $s_ports = ".ports" ascii fullword

    condition:
        uint32(0) == 0x464C457F
        and filesize < 5MB
        and $dir
        and 2 of ($s_*)
}

rule Orbit_Preload_Entry
{
    meta:
        family = "Orbit"
        severity = "critical"
        description = "Orbit persistence: /etc/ld.so.preload naming the implant in its hidden /lib/libntpVnQE6mk/ directory"
        reference = "https://www.intezer.com/blog/incident-response/orbit-new-undetected-linux-threat/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $line = /(^|\n)\/lib\/libntpVnQE6mk\/\.?[A-Za-z0-9_.]{1,40}\s*(\n|$)/ ascii

    condition:
        filesize < 4KB and $line
}

rule HiddenWasp_Rootkit
{
    meta:
        family = "HiddenWasp"
        severity = "critical"
        description = "HiddenWasp user-mode rootkit (Azazel derived): its I_AM_HIDDEN environment marker with preload and libselinux disguise strings"
        reference = "https://www.intezer.com/blog/research/hiddenwasp-malware-targeting-linux-systems/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $marker = "I_AM_HIDDEN" ascii
        $s_preload = "/etc/ld.so.preload" ascii
        $s_selinux = "libselinux" ascii
        $s_azazel = "HIDE_THIS_SHELL" ascii
        $s_trojan = "/lib/libselinux.a" ascii
        $s_user = "sftp" ascii fullword
        $s_lookalike = "libse1inux" ascii
        $s_ifup = "ifup-local" ascii

    condition:
        uint32(0) == 0x464C457F
        and filesize < 5MB
        and $marker
        and 2 of ($s_*)
}

rule Lightning_Framework_ELF
{
    meta:
        family = "Lightning"
        severity = "critical"
        description = "Lightning Framework modular Linux backdoor: its Core/Downloader module names, plugin names and seahorses install directory"
        reference = "https://www.intezer.com/blog/research/lightning-framework-new-linux-threat/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $core = "Lightning.Core" ascii
        $dl = "Lightning.Downloader" ascii
        $p1 = "Linux.Plugin.Lightning.SsHijacker" ascii
        $p2 = "Linux.Plugin.Lightning.Sniffer" ascii
        $p3 = "Linux.Plugin.Lightning.Nethogs" ascii
        $p4 = "Linux.Plugin.Lightning.iftop" ascii
        $p5 = "Linux.Plugin.Lightning.Nmap" ascii
        $dir = "/usr/lib64/seahorses/" ascii
        $n1 = "kkdmflush" ascii
        $n2 = "kbioset" ascii
        $n3 = "proc/y.y" ascii

    condition:
        uint32(0) == 0x464C457F
        and filesize < 10MB
        and 1 of ($core, $dl)
        and 2 of ($p*, $dir, $n*)
}

rule Lightning_Init_Script
{
    meta:
        family = "Lightning"
        severity = "high"
        description = "Lightning Framework persistence: the init script it installs under the misspelt name elastisearch, starting kkdmflush from seahorses"
        reference = "https://www.intezer.com/blog/research/lightning-framework-new-linux-threat/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $shebang = /#!\s{0,4}\/(usr\/)?bin\/(env\s+)?(ba|da|k|z|a)?sh\b/ ascii
        $name = "elastisearch" ascii
        $path = /\/usr\/lib64\/seahorses\/(kkdmflush|kbioset)/ ascii

    condition:
        filesize < 16KB and $shebang at 0 and $name and $path
}

rule EvilGnome_Implant
{
    meta:
        family = "EvilGnome"
        severity = "critical"
        description = "EvilGnome desktop spy implant: its RC5 key, gnome-shell-ext install path and Shooter* module classes"
        reference = "https://www.intezer.com/blog/research/evilgnome-rare-malware-spying-on-linux-desktop-users/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $path = "gnome-software/gnome-shell-extensions" ascii
        $name = "gnome-shell-ext" ascii
        $key = "sdg62_AS.sturmarbeiteilung$die3" ascii
        $m1 = "ShooterSound" ascii
        $m2 = "ShooterImage" ascii
        $m3 = "ShooterFile" ascii
        $m4 = "ShooterPing" ascii
        $m5 = "ShooterKey" ascii

    condition:
        uint32(0) == 0x464C457F
        and filesize < 5MB
        and ($key or (($path or $name) and 3 of ($m*)))
}

rule EvilGnome_Cron_Entry
{
    meta:
        family = "EvilGnome"
        severity = "critical"
        description = "EvilGnome persistence: a crontab entry running gnome-shell-ext.sh from ~/.cache/gnome-software every minute"
        reference = "https://www.intezer.com/blog/research/evilgnome-rare-malware-spying-on-linux-desktop-users/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $job = /\* \* \* \* \* [^\n]{0,120}\.cache\/gnome-software\/gnome-shell-extensions\/gnome-shell-ext\.sh/ ascii

    condition:
        filesize < 16KB and $job
}

rule Outlaw_SSH_Key
{
    meta:
        family = "Outlaw"
        severity = "critical"
        description = "Outlaw persistence: authorized_keys entry carrying the gang's published key comment mdrfckr"
        reference = "https://www.trendmicro.com/en_us/research/19/f/outlaw-hacking-groups-botnet-observed-spreading-miner-perl-based-backdoor.html"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $key = /ssh-rsa AAAAB3NzaC1yc2E[0-9A-Za-z+\/]{100,800}={0,2} mdrfckr\b/ ascii

    condition:
        filesize < 64KB and $key
}

rule Outlaw_Shellbot_Perl
{
    meta:
        family = "Outlaw"
        severity = "critical"
        description = "Outlaw's Perl Shellbot: IRC bot with its Portuguese configuration variables (@adms, @canais, $processo) and flood commands"
        reference = "https://www.trendmicro.com/en_us/research/19/f/outlaw-hacking-groups-botnet-observed-spreading-miner-perl-based-backdoor.html"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $perl = /#!\s{0,4}\/(usr\/)?bin\/(env\s+)?perl\b/ ascii
        $v_adms = /my\s+@adms\s*=/ ascii
        $v_canais = /my\s+@canais\s*=/ ascii
        $v_proc = /my\s+\$processo\s*=/ ascii
        $v_linas = /\$linas_max\s*=/ ascii
        $c_tcp = "tcpflood" ascii
        $c_udp = "udpflood" ascii
        $c_http = "httpflood" ascii
        $c_scan = "portscan" ascii
        $irc = "PRIVMSG" ascii

    condition:
        filesize < 512KB
        and $perl at 0
        and $irc
        and 2 of ($v_*)
        and 2 of ($c_*)
}

rule Outlaw_Cron_Entry
{
    meta:
        family = "Outlaw"
        severity = "high"
        description = "Outlaw cron persistence: jobs starting its miner and bot from the hidden .configrc directory (a/upd, b/sync) and /tmp/.X25-unix"
        reference = "https://www.trendmicro.com/en_us/research/19/f/outlaw-hacking-groups-botnet-observed-spreading-miner-perl-based-backdoor.html"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $upd = /\/\.configrc[0-9]?\/a\/upd\b/ ascii
        $sync = /\/\.configrc[0-9]?\/b\/sync\b/ ascii
        $apt = /\/tmp\/\.X25-unix\/(\.rsync\/)?c\/aptitude\b/ ascii
        $cron = /(@reboot|\* \* \*) [^\n]{0,40}\/\.configrc/ ascii

    condition:
        filesize < 16KB and $cron and 2 of ($upd, $sync, $apt)
}
