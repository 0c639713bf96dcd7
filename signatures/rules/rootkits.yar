/*
   Linux userland (LD_PRELOAD, /etc/ld.so.preload) rootkits and one kernel-module rootkit.
   Indicators come from the public sources of libprocesshider, Azazel and Jynx2, Intezer's
   and BlackBerry's 2022 Symbiote report, and the Diamorphine LKM (used by TeamTNT).
*/

rule LibProcessHider_Preload
{
    meta:
        family = "libprocesshider"
        severity = "high"
        description = "libprocesshider: preloaded shared object that filters one process out of /proc directory listings via readdir hooks"
        reference = "https://github.com/gianlucaborello/libprocesshider"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $fd = "/proc/self/fd/%d" ascii
        $stat = "/proc/%s/stat" ascii
        $scan = "%d (%[^)]s" ascii
        $dlsym = "Error in dlsym: %s" ascii
        $rd = "readdir64" ascii
        $proc = "/proc" ascii fullword
        $sym1 = "process_to_filter" ascii
        $sym2 = "get_process_name" ascii

    condition:
        uint32(0) == 0x464C457F and uint16(16) == 3
        and filesize < 2MB
        and $scan and $fd and $stat and $rd
        and ($dlsym or 1 of ($sym*))
        and $proc
}

rule Azazel_Preload
{
    meta:
        family = "Azazel"
        severity = "critical"
        description = "Azazel LD_PRELOAD rootkit: its configuration strings, stored XORed with 0xFE (or in plain in rebuilt copies)"
        reference = "https://github.com/chokepoint/azazel"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $x_hide = "HIDE_THIS_SHELL" xor(0xFE)
        $x_ldhide = "/etc/.ld.so.preload" xor(0xFE)
        $x_antidebug = "Don't scratch the walls" xor(0xFE)
        $x_cleanup = "CLEANUP_LOGS" xor(0xFE)
        $x_unhide = "bin/unhide" xor(0xFE)
        $x_utmp = "utmp logs cleaned up." xor(0xFE)
        $x_trace = "LD_TRACE_LOADED_OBJECTS" xor(0xFE)
        $x_hist = "HISTFILE=/dev/null" xor(0xFE)
        $p_hide = "HIDE_THIS_SHELL" ascii
        $p_antidebug = "Don't scratch the walls" ascii
        $p_utmp = "utmp logs cleaned up." ascii
        $p_ldhide = "/etc/.ld.so.preload" ascii

    condition:
        uint32(0) == 0x464C457F and uint16(16) == 3
        and filesize < 2MB
        and (4 of ($x_*) or 3 of ($p_*))
}

rule Jynx2_Preload
{
    meta:
        family = "Jynx2"
        severity = "critical"
        description = "Jynx2 LD_PRELOAD rootkit: XxJynx magic string and install path, accept() backdoor and reality.so helper"
        reference = "https://github.com/chokepoint/Jynx2"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $magic = "XxJynx" ascii
        $reality = "/XxJynx/reality.so" ascii
        $msg = "Bump with shell." ascii
        $pass = "DEFAULT_PASS" ascii fullword
        $cfg = "ld.so.preload" ascii
        $f_dup = "drop_dup_shell" ascii
        $f_bc = "backconnect" ascii fullword
        $libc = "/lib/libc.so.6" ascii

    condition:
        uint32(0) == 0x464C457F and uint16(16) == 3
        and filesize < 2MB
        and $magic
        and 3 of ($reality, $msg, $pass, $cfg, $f_dup, $f_bc, $libc)
}

rule Symbiote_Preload
{
    meta:
        family = "Symbiote"
        severity = "critical"
        description = "Symbiote parasitic LD_PRELOAD implant: the list of its own artefact names that it hides (plain or single-byte XOR)"
        reference = "https://intezer.com/blog/research/new-linux-threat-symbiote/"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $h1 = "javaserverx64" ascii
        $h2 = "javaclientex64" ascii
        $h3 = "javanodex86" ascii
        $h4 = "certbotx64" ascii
        $h5 = "certbotx86" ascii
        $h6 = "apache2start" ascii
        $h7 = "apache2stop" ascii
        $h8 = "sqlsearch.php" ascii
        $h9 = "404erro.php" ascii
        // the XOR-encoded form, by its three longest names only: each xor string costs 255 atoms
        $x1 = "javaclientex64" xor(0x01-0xff)
        $x2 = "javaserverx64" xor(0x01-0xff)
        $x3 = "sqlsearch.php" xor(0x01-0xff)
        $pcap = "pcap_loop" ascii

    condition:
        uint32(0) == 0x464C457F and uint16(16) == 3
        and filesize < 5MB
        and (5 of ($h*) or all of ($x*))
        and $pcap
}

rule Diamorphine_LKM
{
    meta:
        family = "Diamorphine"
        severity = "critical"
        description = "Diamorphine loadable kernel module rootkit: hooked getdents/kill handlers, module hiding and its magic prefix"
        reference = "https://github.com/m0nad/Diamorphine"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $name = "diamorphine" ascii fullword
        $prefix = "diamorphine_secret" ascii
        $f_getdents = "hacked_getdents64" ascii
        $f_kill = "hacked_kill" ascii
        $f_hide = "module_hide" ascii
        $f_show = "module_show" ascii
        $f_root = "give_root" ascii
        $f_invis = "is_invisible" ascii
        $mi_author = "author=m0nad" ascii
        $mi_desc = "description=LKM rootkit" ascii

    condition:
        uint32(0) == 0x464C457F and uint16(16) == 1
        and filesize < 5MB
        and ($name or $prefix)
        and 3 of ($f_*, $mi_*)
}
