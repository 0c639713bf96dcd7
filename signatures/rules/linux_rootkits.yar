/*
   Linux kernel-module and LD_PRELOAD rootkits beside those of rootkits.yar: Reptile (module,
   installer, hidden-block persistence), Suterusu, Bedevil (bdvl), Skidmap's kernel modules and
   dropper, and Diamorphine's source as dropped to be built on the victim. Indicators from the
   tools' public sources and Trend Micro's Skidmap report.
*/

rule Reptile_LKM
{
    meta:
        family = "Reptile"
        severity = "critical"
        description = "Reptile loadable kernel module rootkit: its module and tool names, khook engine and hidden-block tags"
        reference = "https://github.com/f0rb1dd3n/Reptile"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $name = "reptile" ascii
        $s_mod = "reptile_module" ascii
        $s_tag1 = "#<reptile>" ascii
        $s_tag2 = "#</reptile>" ascii
        $s_shell = "reptile_shell" ascii
        $s_start = "reptile_start" ascii
        $s_cmd = "reptile_cmd" ascii
        $s_khook = "khook_" ascii
        $s_kmat = "kmatryoshka" ascii

    condition:
        uint32(0) == 0x464C457F and uint16(16) == 1
        and filesize < 5MB
        and $name
        and 3 of ($s_*)
}

rule Reptile_Hidden_Block
{
    meta:
        family = "Reptile"
        severity = "critical"
        description = "Reptile persistence: a #<reptile> ... #</reptile> block (hidden by the module) in /etc/modules, /etc/rc.modules or a start script"
        reference = "https://github.com/f0rb1dd3n/Reptile"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $block = /#<reptile>\r?\n[^\n#]{1,200}\r?\n#<\/reptile>/ ascii

    condition:
        filesize < 64KB and $block
}

rule Reptile_Installer_Script
{
    meta:
        family = "Reptile"
        severity = "critical"
        description = "Reptile installer: copies the module and knock tools to /reptile and appends the hidden module block to /etc/modules"
        reference = "https://github.com/f0rb1dd3n/Reptile"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $shebang = /#!\s{0,4}\/(usr\/)?bin\/(env\s+)?(ba|da|k|z|a)?sh\b/ ascii
        $title = "REPTILE INSTALLER" ascii
        $mkdir = /mkdir -p \/reptile\b/ ascii
        $tag = /echo -e "#<reptile>\\n\$MODULE\\n#<\/reptile>"/ ascii
        $tools = /cp bin\/(heavens_door|knock_on_heaven|r00t) \/reptile/ ascii

    condition:
        filesize < 64KB
        and $shebang at 0
        and 3 of ($title, $mkdir, $tag, $tools)
}

rule Suterusu_LKM
{
    meta:
        family = "Suterusu"
        severity = "critical"
        description = "Suterusu kernel rootkit: its function-hijacking helpers and the proc/tcp/udp hooks that hide processes, ports and files"
        reference = "https://github.com/mncoppola/suterusu"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $h_start = "hijack_start" ascii
        $h_pause = "hijack_pause" ascii
        $h_resume = "hijack_resume" ascii
        $h_stop = "hijack_stop" ascii
        $n_tcp4 = "n_tcp4_seq_show" ascii
        $n_udp4 = "n_udp4_seq_show" ascii
        $n_proc = "n_proc_filldir" ascii
        $n_root = "n_root_filldir" ascii
        $n_ioctl = "n_inet_ioctl" ascii
        $f_port = "hide_tcp4_port" ascii
        $f_proc = "hide_proc" ascii fullword
        $f_file = "hide_file" ascii fullword
        $d_auth = "Authenticated, receiving command" ascii

    condition:
        uint32(0) == 0x464C457F and uint16(16) == 1
        and filesize < 5MB
        and 2 of ($h_*)
        and 3 of ($n_*, $f_*, $d_*)
}

rule Bedevil_Preload
{
    meta:
        family = "Bedevil"
        severity = "critical"
        description = "Bedevil (bdvl) LD_PRELOAD rootkit: the magic user's shell profile it writes (bdvprep/bdvrolf helpers, logged credential counters)"
        reference = "https://github.com/Error996/bdvl"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $helper = /\.\/bdv(prep|rolf)\b/ ascii
        $s_links = "./bdv makelinks" ascii
        $s_auth = "Logged accounts: " ascii
        $s_ssh = "SSH logs: " ascii
        $s_chown = "chown -h 0:`id -g` ~/* &>/dev/null" ascii
        $s_kill = "[ $(id -u) != 0 ] && kill -9 $$" ascii
        $s_kill2 = "[ `id -u` != 0 ] && kill -9 $$" ascii

    condition:
        uint32(0) == 0x464C457F and uint16(16) == 3
        and filesize < 5MB
        and $helper
        and 2 of ($s_*)
}

rule Bedevil_Magic_Profile
{
    meta:
        family = "Bedevil"
        severity = "critical"
        description = "Bedevil (bdvl) magic user's .bashrc: becomes root, runs the bdvprep/bdvrolf helpers and reports captured logins"
        reference = "https://github.com/Error996/bdvl"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $tty = /^tty -s \|\| return\n/ ascii
        $helper = /\n\.\/bdv(prep|rolf)\b/ ascii
        $chown = /chown -h 0:`id -g` ~\/\* &>\/dev\/null/ ascii

    condition:
        filesize < 4KB and $tty and $helper and $chown
}

rule Skidmap_LKM
{
    meta:
        family = "Skidmap"
        severity = "critical"
        description = "Skidmap kernel module (iproute/netlink/cryptov2.ko): fake_* hooks that hide the miner's CPU time, load and TCP sockets"
        reference = "https://www.trendmicro.com/en_us/research/19/i/skidmap-linux-malware-uses-rootkit-capabilities-to-hide-cryptocurrency-mining-payload.html"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $f1 = "fake_seq_show_ipv4_tcp" ascii
        $f2 = "fake_account_user_time" ascii
        $f3 = "fake_loadavg_proc_show" ascii
        $f4 = "fake_trace_printk" ascii
        $f5 = "fake_bpf_trace_printk" ascii
        $f6 = "fake_crash_kexec" ascii
        $f7 = "fake_sched_debug_show" ascii

    condition:
        uint32(0) == 0x464C457F and uint16(16) == 1
        and filesize < 5MB
        and 4 of them
}

rule Skidmap_Dropper
{
    meta:
        family = "Skidmap"
        severity = "critical"
        description = "Skidmap installer: drops the pamdicks PAM backdoor, kaudited miner watcher and its kernel modules"
        reference = "https://www.trendmicro.com/en_us/research/19/i/skidmap-linux-malware-uses-rootkit-capabilities-to-hide-cryptocurrency-mining-payload.html"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $pam = "pamdicks" ascii
        $s_kaud = "kaudited" ascii fullword
        $s_ipr = "iproute.ko" ascii
        $s_nl = "netlink.ko" ascii
        $s_cry = "cryptov2.ko" ascii
        $s_miner = "miner2" ascii fullword
        $s_ssd = "/lib/udev/ssd_control" ascii

    condition:
        uint32(0) == 0x464C457F
        and filesize < 10MB
        and $pam
        and 3 of ($s_*)
}

rule Diamorphine_Source
{
    meta:
        family = "Diamorphine"
        severity = "high"
        description = "Diamorphine rootkit source as dropped on a victim to be built there (TeamTNT does): its hooked handlers, magic prefix and module author"
        reference = "https://github.com/m0nad/Diamorphine"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $inc = "#include <linux/module.h>" ascii
        $author = /MODULE_AUTHOR\("m0nad"\)/ ascii
        $prefix = /#define MAGIC_PREFIX "diamorphine_secret"/ ascii
        $h_getdents = /\bhacked_getdents(64)?\s*\(/ ascii
        $h_kill = /\bhacked_kill\s*\(/ ascii
        $h_root = /\bgive_root\s*\(/ ascii

    condition:
        filesize < 128KB
        and $inc
        and ($author or $prefix)
        and 2 of ($h_*)
}
