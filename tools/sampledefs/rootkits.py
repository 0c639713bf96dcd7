"""Inert samples and near-misses for signatures/rules/rootkits.yar."""

from __future__ import annotations

from sample_blocks import Builders, a, elf, flat, xored


def libprocesshider() -> dict[str, bytes]:
    return {
        "libprocesshider-so": elf(
            *a(
                "readdir",
                "readdir64",
                "dlsym",
                "/proc/self/fd/%d",
                "/proc/%s/stat",
                "%d (%[^)]s",
                "Error in dlsym: %s\n",
                "/proc",
                "evil_script.py",
                "process_to_filter",
                "get_process_name",
            ),
            e_type=3,
        )
    }


def azazel() -> dict[str, bytes]:
    return {
        "azazel-so": elf(
            *xored(
                0xFE,
                "HIDE_THIS_SHELL",
                "HIDE_THIS_SHELL=please",
                "/etc/.ld.so.preload",
                "Don't scratch the walls",
                "CLEANUP_LOGS",
                "bin/unhide",
                "utmp logs cleaned up.",
                "LD_TRACE_LOADED_OBJECTS",
                "HISTFILE=/dev/null",
            ),
            e_type=3,
        )
    }


def jynx2() -> dict[str, bytes]:
    return {
        "jynx2-so": elf(
            *a(
                "XxJynx",
                "/XxJynx/reality.so",
                "Bump with shell.\n",
                "DEFAULT_PASS",
                "ld.so.preload",
                "/lib/libc.so.6",
                "drop_dup_shell",
                "backconnect",
            ),
            e_type=3,
        )
    }


def symbiote() -> dict[str, bytes]:
    hidden = (
        "apache2start",
        "apache2stop",
        "profiles.php",
        "404erro.php",
        "javaserverx64",
        "javaclientex64",
        "javanodex86",
        "sqlsearch.php",
        "certbotx64",
        "certbotx86",
    )
    return {
        "symbiote-plain-so": elf(*a(*hidden, "pcap_loop", "pcap_stats"), e_type=3),
        "symbiote-xor-so": elf(*flat([xored(0x5A, *hidden), a("pcap_loop", "pcap_stats")]), e_type=3),
    }


def diamorphine() -> dict[str, bytes]:
    return {
        "diamorphine-ko": elf(
            *a(
                "author=m0nad",
                "description=LKM rootkit",
                "license=Dual BSD/GPL",
                "name=diamorphine",
                "diamorphine",
                "diamorphine_secret",
                "hacked_getdents64",
                "hacked_getdents",
                "hacked_kill",
                "give_root",
                "module_hide",
                "module_show",
                "is_invisible",
            ),
            e_type=1,
        )
    }


SAMPLES: Builders = {
    "LibProcessHider_Preload": libprocesshider,
    "Azazel_Preload": azazel,
    "Jynx2_Preload": jynx2,
    "Symbiote_Preload": symbiote,
    "Diamorphine_LKM": diamorphine,
}


def libprocesshider_near() -> dict[str, bytes]:
    # A procps-like library: /proc parsing and readdir, no dlsym interposition.
    return {"libprocps-so": elf(*a("/proc/%s/stat", "/proc", "readdir64", "%d (%[^)]s"), e_type=3)}


def azazel_near() -> dict[str, bytes]:
    # A preload helper library that mentions ld.so.preload and history variables in plain text.
    return {"preload-helper-so": elf(*a("/etc/ld.so.preload", "HISTFILE", "LD_TRACE_LOADED_OBJECTS"), e_type=3)}


def jynx2_near() -> dict[str, bytes]:
    return {"libc-wrapper-so": elf(*a("ld.so.preload", "/lib/libc.so.6", "backconnect", "DEFAULT_PASS"), e_type=3)}


def symbiote_near() -> dict[str, bytes]:
    # A packet-capture tool that names two of the same words.
    return {"capture-so": elf(*a("pcap_loop", "pcap_stats", "apache2start", "certbotx64"), e_type=3)}


def diamorphine_near() -> dict[str, bytes]:
    # A kernel module with give_root-like names but not Diamorphine's name or prefix.
    return {"test-ko": elf(*a("name=kprobe_example", "module_show", "is_invisible", "license=GPL"), e_type=1)}


NEARMISS: Builders = {
    "LibProcessHider_Preload": libprocesshider_near,
    "Azazel_Preload": azazel_near,
    "Jynx2_Preload": jynx2_near,
    "Symbiote_Preload": symbiote_near,
    "Diamorphine_LKM": diamorphine_near,
}
