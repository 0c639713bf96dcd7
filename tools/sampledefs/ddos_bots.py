"""Inert samples and near-misses for signatures/rules/ddos_bots.yar."""

from __future__ import annotations

from sample_blocks import INERT_NOTE, Builders, a, elf, split, text, xored


def mirai() -> dict[str, bytes]:
    table = (
        "/bin/busybox MIRAI",
        "MIRAI: applet not found",
        "TSource Engine Query",
        "listening tun0",
        "ncorrect",
        "/dev/watchdog",
        "/proc/net/tcp",
        "/etc/resolv.conf",
    )
    return {
        "mirai-xor-table-elf": elf(*xored(0x22, *table)),
        "mirai-plain-elf": elf(
            *a("/bin/busybox MIRAI", "MIRAI: applet not found", "/dev/watchdog", "/dev/misc/watchdog")
        ),
    }


def gafgyt() -> dict[str, bytes]:
    return {
        "gafgyt-elf": elf(
            *a(
                "PING",
                "PONG!",
                "GETLOCALIP",
                "SCANNER",
                "KILLATTK",
                "LOLNOGTFO",
                "My IP: %s",
                "Killed %d.",
                "None Killed.",
                "Failed opening raw socket.",
                "Failed setting raw headers mode.",
                'Invalid flag "%s"',
                "REPORT %s:%s:%s",
            )
        )
    }


def xorddos() -> dict[str, bytes]:
    return {
        "xorddos-elf": elf(
            *a(
                "BB2FA36AAA9541F0",
                "/etc/cron.hourly/gcc.sh",
                "/lib/libudev.so",
                "sed -i '/\\/etc\\/cron.hourly\\/gcc.sh/d' /etc/crontab",
                "*/3 * * * * root /etc/cron.hourly/gcc.sh",
                "LinuxExec_Argv2",
                "DelService_form_pid",
                "encrypt_code",
                "dec_conf",
            )
        )
    }


def xorddos_cron() -> dict[str, bytes]:
    # The published gcc.sh, behind an early exit.
    return {
        "gcc-sh": text(
            "#!/bin/sh",
            f"exit 0  # {INERT_NOTE}",
            "PATH=/bin:/sbin:/usr/bin:/usr/sbin:/usr/local/bin:/usr/local/sbin:/usr/X11R6/bin",
            "for i in `cat /proc/net/dev|grep :|awk -F: {'print $1'}`; do ifconfig $i up& done",
            split("cp /lib/libudev.so", " /lib/libudev.so.6"),
            "/lib/libudev.so.6",
        )
    }


def tsunami() -> dict[str, bytes]:
    return {
        "kaiten-elf": elf(
            *a(
                "NICK %s\nUSER %s localhost localhost :%s",
                "NOTICE %s :Kaiten wa goraku",
                "NOTICE %s :TSUNAMI <target> <secs>",
                "NOTICE %s :PAN <target> <port> <secs>",
                "NOTICE %s :UDP <target> <port> <secs>",
                "NOTICE %s :UNKNOWN <target> <secs>",
                "NOTICE %s :Nick cannot be larger than 9 characters.",
                "NOTICE %s :Removed all spoofs",
            )
        )
    }


SAMPLES: Builders = {
    "Mirai_Bot": mirai,
    "Gafgyt_Bashlite_Bot": gafgyt,
    "XorDDoS_Bot": xorddos,
    "XorDDoS_Cron_Script": xorddos_cron,
    "Tsunami_Kaiten_Bot": tsunami,
}


def mirai_near() -> dict[str, bytes]:
    # A busybox build: the applet message and watchdog path, not the bot's table.
    return {"busybox-elf": elf(*a("/bin/busybox", "applet not found", "/dev/watchdog", "/proc/net/tcp"))}


def gafgyt_near() -> dict[str, bytes]:
    # A network tool: raw-socket error messages and a SCANNER mode, no C2 verbs.
    return {"netscan-elf": elf(*a("SCANNER", "Failed opening raw socket.", "My IP: %s", "PING", "usage: netscan [-s]"))}


def xorddos_near() -> dict[str, bytes]:
    # An ELF touching libudev and cron.hourly the ordinary way.
    return {
        "udev-helper-elf": elf(*a("/lib/libudev.so.1", "/etc/cron.hourly/logrotate", "udev_device_new_from_syspath"))
    }


def xorddos_cron_near() -> dict[str, bytes]:
    # A real cron.hourly script that brings interfaces up.
    return {
        "ifup-hourly-sh": text(
            "#!/bin/sh",
            "for i in $(ls /sys/class/net); do ip link set $i up; done",
            "cp /lib/libudev.so.1 /var/backups/",
        )
    }


def tsunami_near() -> dict[str, bytes]:
    # An IRC client: NOTICE and NICK/USER formats, none of Kaiten's help lines.
    return {
        "irc-client-elf": elf(
            *a("NICK %s\nUSER %s localhost localhost :%s", "NOTICE %s :", "PRIVMSG %s :%s", "JOIN %s")
        )
    }


NEARMISS: Builders = {
    "Mirai_Bot": mirai_near,
    "Gafgyt_Bashlite_Bot": gafgyt_near,
    "XorDDoS_Bot": xorddos_near,
    "XorDDoS_Cron_Script": xorddos_cron_near,
    "Tsunami_Kaiten_Bot": tsunami_near,
}
