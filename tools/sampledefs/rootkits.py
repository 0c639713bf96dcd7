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

NEARMISS: Builders = {}
