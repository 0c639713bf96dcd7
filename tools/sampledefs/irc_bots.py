"""Inert samples and near-misses for signatures/rules/irc_bots.yar.

The Perl samples ``exit`` on their first line and keep the bot's statements after ``__END__``;
the uuencoded sample's payload is the inert note, encoded. Near-misses are an honest Perl IRC
bot and a uuencode helper.
"""

from __future__ import annotations

import binascii

from sample_blocks import HOST, INERT_NOTE, Builders, split, text


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


SAMPLES: Builders = {
    "ShellBot_Perl_Config": shellbot_config,
    "ShellBot_Perl_Commands": shellbot_commands,
    "ShellBot_Perl_Uuencoded": shellbot_uu,
}

NEARMISS: Builders = {
    "ShellBot_Perl_Config": near_perl_bot,
    "ShellBot_Perl_Commands": near_perl_bot,
    "ShellBot_Perl_Uuencoded": near_uudecode,
}
