"""Inert samples and near-misses for signatures/rules/irc_bots.yar.

The Perl samples ``exit`` on their first line and keep the bot's statements after ``__END__``;
the uuencoded sample's payload is the inert note, encoded. The key and cron samples are the
text of an authorized_keys file and a crontab: data, not programs. Near-misses are an honest
Perl IRC bot, a uuencode helper, a normal authorized_keys file and a backup crontab.
"""

from __future__ import annotations

import binascii

from sample_blocks import HOST, INERT_NOTE, Builders, split, text

OUTLAW_KEY_HEAD = "AAAAB3NzaC1yc2EAAAABJQAAAQEArDp4cun2lhr4KUhBGE7VvAcwdli2a8dbnrTOrb"
OUTLAW_KEY_TAIL = (
    "Mz1+5O73fcBOx8NVbUT0bUanUV9tJ2/9p7+vD0EpZ3Tz/+0kX34uAx1RV/75GVOmNx+9EuWOnvNoaJe0QXxziIg9eL"
    "BHpgLMuakb5+BgTFB+rKJAw9u9FSTDengvS8hX1kNFS4Mjux0hJOK8rvcEmPecjdySYMb66nylAKGwCEE6WEQHmd1m"
    "UPgHwGQ0hWCwsQk13yCGPK5w6hYp5zYkFnvlC8hGmd4Ww+u97k6pfTGTUbJk14ujvcD9iUKQTTWYYjIIu5PmUux5bs"
    "Z0R4WFwdIe6+i6rBLAsPKgAySVKPRK+oRw=="
)


def shellbot_config() -> dict[str, bytes]:
    return {
        "shellbot-config-pl": text(
            "#!/usr/bin/perl",
            f"exit 0; # {INERT_NOTE}",
            "__END__",
            "use IO::Socket::INET;",
            split("my $proc", "esso = '/usr/sbin/httpd';"),
            split(f"$servidor='{HOST}' unless ", "$servidor;"),
            "my $porta='6667';",
            split("my @can", 'ais=("#inert");'),
            split("my @ad", 'ms=("nobody");'),
            split("my $linas", "_max=6;"),
        )
    }


def shellbot_commands() -> dict[str, bytes]:
    lines = [
        "#!/usr/bin/perl",
        f"exit 0; # {INERT_NOTE}",
        "__END__",
        "sub bfunc { my $printl = $_[0]; my $funcarg = $_[1];",
    ]
    for cmd in ("portscan (.*)", "udpflood\\s+(.*)", "tcpflood\\s+(.*)", "back\\s+(.*)\\s+(\\d+)"):
        lines.append(split("  if ($funcarg =", "~ /^", cmd, "/) {"))
        lines.append(split("    sendraw($IRC_cur_socket, ", '"PRIVMSG $printl :done"); }'))
    lines.append("}")
    return {"shellbot-commands-pl": text(*lines)}


def shellbot_uu() -> dict[str, bytes]:
    payload = (f"exit 0; # {INERT_NOTE}\n" * 80).encode("ascii")
    body = b"".join(binascii.b2a_uu(payload[i : i + 45]) for i in range(0, len(payload), 45))
    return {"shellbot-uuencoded-pl": split("eval unpack u", "=>q{").encode("ascii") + body + b"};\n"}


def outlaw_key() -> dict[str, bytes]:
    return {
        "outlaw-authorized-keys": text(
            f"# {INERT_NOTE}",
            split("ssh-rsa ", OUTLAW_KEY_HEAD, OUTLAW_KEY_TAIL, " mdrf", "ckr"),
        )
    }


def outlaw_cron() -> dict[str, bytes]:
    return {
        "outlaw-crontab": text(
            f"# {INERT_NOTE}",
            split("5 6 * * 0 /root/.config", "rc/a/upd>/dev/null 2>&1"),
            split("@reboot /root/.config", "rc/a/upd>/dev/null 2>&1"),
            split("5 8 * * 0 /root/.config", "rc/b/sync>/dev/null 2>&1"),
            split("0 0 */3 * * /tmp/.X25-unix/.rsync/c/apti", "tude>/dev/null 2>&1"),
        )
    }


def near_perl_bot() -> dict[str, bytes]:
    return {
        "irc-logbot-pl": text(
            "#!/usr/bin/perl",
            "use strict; use warnings; use IO::Socket::INET;",
            "my $server = 'irc.example.org'; my $port = 6697;",
            "my @channels = ('#ops'); my @admins = ('alice');",
            "my $max_lines = 6;",
            'sub sendraw { my ($sock, $line) = @_; print $sock "$line\\r\\n"; }',
            "sub handle { my ($target, $arg) = @_;",
            '  if ($arg =~ /^uptime/) { sendraw($main::sock, "PRIVMSG $target :" . `uptime`); }',
            '  if ($arg =~ /^portscan/) { sendraw($main::sock, "PRIVMSG $target :not supported"); } }',
        )
    }


def near_uudecode() -> dict[str, bytes]:
    body = b"# helper that decodes uuencoded mail attachments\n" * 120
    return {
        "uudecode-helper-pl": b"#!/usr/bin/perl\nmy $data = unpack('u', $encoded);\n" + body,
    }


def near_keys() -> dict[str, bytes]:
    return {
        "authorized-keys": text(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExampleExamp alice@laptop",
            "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCexampleexampleexampleexample bob@workstation",
        )
    }


def near_cron() -> dict[str, bytes]:
    return {
        "backup-crontab": text(
            "# m h dom mon dow command",
            "5 6 * * 0 /root/.config/backup/upd >/dev/null 2>&1",
            "@reboot /usr/bin/rsync -a /srv/ /backup/ >/dev/null 2>&1",
            "0 0 */3 * * /usr/bin/aptitude -q update >/dev/null 2>&1",
        )
    }


SAMPLES: Builders = {
    "ShellBot_Perl_Config": shellbot_config,
    "ShellBot_Perl_Commands": shellbot_commands,
    "ShellBot_Perl_Uuencoded": shellbot_uu,
    "Outlaw_SSH_Key": outlaw_key,
    "Outlaw_Dota_Cron": outlaw_cron,
}

NEARMISS: Builders = {
    "ShellBot_Perl_Config": near_perl_bot,
    "ShellBot_Perl_Commands": near_perl_bot,
    "ShellBot_Perl_Uuencoded": near_uudecode,
    "Outlaw_SSH_Key": near_keys,
    "Outlaw_Dota_Cron": near_cron,
}
