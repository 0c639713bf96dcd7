"""Inert samples and near-misses for signatures/rules/linux_backdoors.yar."""

# ruff: noqa: S108  (published /tmp and /dev/shm paths are indicator strings here, never opened)
from __future__ import annotations

from sample_blocks import INERT_NOTE, Builders, a, elf, split, text

KEYUTILS = (
    "keyctl_session_to_parent",
    "keyctl_set_reqkey_keyring",
    "keyutils_version_string",
    "recursive_session_key_scan",
)
# A made-up RSA key body (base64 alphabet, no real key); the comment is what the rule keys on.
FAKE_KEY = "AAAAB3NzaC1yc2EAAAADAQABAAABAQ" + "Cinert0Test0Key0Body" * 12


def ebury() -> dict[str, bytes]:
    return {
        "libkeyutils-trojan-so": elf(
            *a(*KEYUTILS, "%[^;];%d;%d;%x;", "/proc/self/maps", "sshd", "RSA_public_decrypt", "auth_password"),
            e_type=3,
        )
    }


def ebury_near() -> dict[str, bytes]:
    # The genuine library: keyutils exports and its own format strings, nothing about sshd.
    return {
        "libkeyutils-genuine-so": elf(
            *a(*KEYUTILS, "%[^;];%d;%d;%x;", "libkeyutils: Can't open /proc/keys: %m", "GLIBC_2.2.5"), e_type=3
        )
    }


def bpfdoor() -> dict[str, bytes]:
    return {
        "bpfdoor-elf": elf(
            *a(
                "/sbin/udevd -d",
                "/sbin/mingetty /dev/tty7",
                "/usr/sbin/console-kit-daemon --no-daemon",
                "hald-addon-acpi: listening on acpi kernel interface /proc/acpi/event",
                "dbus-daemon --system",
                "hald-runner",
                "kdmtmpflush",
            )
        ),
        # The filter: ld [12]; jeq #0x800 ... jeq #0x7255 ... jeq #0x5293 (struct sock_filter, little-endian).
        "bpfdoor-filter-elf": elf(
            bytes.fromhex("280000000c00000015001b000008000015001314557200001500000193520000"),
            *a("/sbin/udevd -d", "avahi-daemon: chroot helper"),
        ),
    }


def bpfdoor_near() -> dict[str, bytes]:
    # A real daemon mentions one of those command lines, and has a pid file of its own.
    return {"dbus-launcher-elf": elf(*a("dbus-daemon --system", "/var/run/dbus/pid", "--nofork", "GLIBC_2.2.5"))}


def bpfdoor_shell() -> dict[str, bytes]:
    return {
        "bpfdoor-redirect-elf": elf(
            *a(
                "/sbin/iptables -t nat -A PREROUTING -p tcp -s %s --dport %d -j REDIRECT --to-ports %d",
                "/sbin/iptables -t nat -D PREROUTING -p tcp -s %s --dport %d -j REDIRECT --to-ports %d",
                "/sbin/iptables -I INPUT -p tcp -s %s -j ACCEPT",
                "HOME=/tmp",
                "HISTFILE=/dev/null",
                "MYSQL_HISTFILE=/dev/null",
            )
        )
    }


def bpfdoor_shell_near() -> dict[str, bytes]:
    # A firewall helper: one iptables template, no shell environment.
    return {"firewall-helper-elf": elf(*a("/sbin/iptables -I INPUT -p tcp -s %s -j ACCEPT", "HOME=/root", "--reload"))}


def rotajakiro_unit() -> dict[str, bytes]:
    return {
        "sys-temd-agent-service": text(
            "[Unit]",
            "Description=System Daemon",
            "Wants=network-online.target",
            "After=network-online.target",
            "[Service]",
            split("ExecStart=/usr/lib/systemd/", "systemd-daemon"),
            "Restart=always",
            "[Install]",
            "WantedBy=multi-user.target",
        )
    }


def rotajakiro_unit_near() -> dict[str, bytes]:
    return {
        "systemd-networkd-service": text(
            "[Unit]",
            "Description=Network Configuration",
            "[Service]",
            "ExecStart=/usr/lib/systemd/systemd-networkd",
            "Restart=on-failure",
        )
    }


def rotajakiro_upstart() -> dict[str, bytes]:
    return {
        "systemd-agent-conf": text(
            "#system-daemon",
            split("start on ", "runlevel [2345]"),
            "respawn",
            split("exec /bin/systemd/", "systemd-daemon"),
        )
    }


def rotajakiro_upstart_near() -> dict[str, bytes]:
    return {"cron-upstart-conf": text('description "cron"', "start on runlevel [2345]", "respawn", "exec cron -f")}


def rotajakiro_autostart() -> dict[str, bytes]:
    return {
        "gnomehelper-desktop": text(
            "[Desktop Entry]",
            "Type=Application",
            split("Exec=/home/user/.gvfsd/.profile/", "gvfsd-helper"),
            "Hidden=false",
            "Name=gnomehelper",
        )
    }


def rotajakiro_autostart_near() -> dict[str, bytes]:
    return {
        "gvfs-autostart-desktop": text(
            "[Desktop Entry]", "Type=Application", "Exec=/usr/libexec/gvfsd", "Name=GVFS Daemon"
        )
    }


TSH_CHALLENGE = bytes.fromhex("5890ae86f1b91cf6298395711dde580d")  # Tiny SHell's handshake constant


def rekoobe() -> dict[str, bytes]:
    return {"rekoobe-elf": elf(TSH_CHALLENGE, *a("HISTFILE=", "TERM=", "/bin/sh", "/dev/ptmx", "exec bash --login"))}


def rekoobe_near() -> dict[str, bytes]:
    # A terminal program: the pty and shell strings without the handshake constant.
    return {"terminal-elf": elf(*a("HISTFILE=", "TERM=", "/bin/sh", "/dev/ptmx", "exec bash --login"))}


def orbit() -> dict[str, bytes]:
    return {
        "orbit-so": elf(
            *a(
                split("/lib/libntp", "VnQE6mk/"),
                "chown -R 920366:920366",
                "lib0UZ0LfvWZ.so",
                "/dev/shm/ldx/.l",
                "sniff_ssh_session",
                "sshpass.txt",
                ".logpam",
            ),
            e_type=3,
        )
    }


def orbit_near() -> dict[str, bytes]:
    return {"sshpass-elf": elf(*a("sshpass.txt", "sniff", "Usage: sshpass [-f|-d|-p|-e] [-hV] command parameters"))}


def orbit_preload() -> dict[str, bytes]:
    return {"ld-so-preload": text(split("/lib/libntp", "VnQE6mk/.l"))}


def orbit_preload_near() -> dict[str, bytes]:
    return {"ld-so-preload-jemalloc": text("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2")}


def hiddenwasp() -> dict[str, bytes]:
    return {
        "hiddenwasp-so": elf(
            *a(split("I_AM_", "HIDDEN"), "/etc/ld.so.preload", "libselinux", "HIDE_THIS_SHELL", "sftp"), e_type=3
        )
    }


def hiddenwasp_near() -> dict[str, bytes]:
    return {"libselinux-like-so": elf(*a("libselinux", "/etc/selinux/config", "sftp", "/etc/ld.so.preload"), e_type=3)}


def lightning() -> dict[str, bytes]:
    return {
        "lightning-core-elf": elf(
            *a(
                "Lightning.Core",
                "Lightning.Downloader",
                "Linux.Plugin.Lightning.SsHijacker",
                "Linux.Plugin.Lightning.Sniffer",
                "/usr/lib64/seahorses/",
                "kkdmflush",
            )
        )
    }


def lightning_near() -> dict[str, bytes]:
    return {"lightning-strike-game-elf": elf(*a("Lightning.Core", "lightning bolt", "thunder.ogg"))}


def lightning_init() -> dict[str, bytes]:
    return {
        "elastisearch-init": text(
            "#!/bin/sh",
            f"exit 0  # {INERT_NOTE}",
            "# chkconfig: 2345 90 10",
            "# description: elastisearch",
            split("/usr/lib64/seahorses/", "kkdmflush &"),
        )
    }


def lightning_init_near() -> dict[str, bytes]:
    return {
        "elasticsearch-init": text(
            "#!/bin/sh", "# description: elasticsearch", "exec /usr/share/elasticsearch/bin/elasticsearch -d"
        )
    }


def evilgnome() -> dict[str, bytes]:
    return evilgnome_key() | {
        "evilgnome-elf": elf(
            *a(
                split("gnome-software/", "gnome-shell-extensions"),
                "gnome-shell-ext",
                "ShooterSound",
                "ShooterImage",
                "ShooterFile",
                "ShooterPing",
                "ShooterKey",
            )
        )
    }


def evilgnome_key() -> dict[str, bytes]:
    return {"evilgnome-rc5-key-elf": elf(*a(split("sdg62_AS.sturmarbeit", "eilung$die3"), "gnome-shell-ext"))}


def evilgnome_near() -> dict[str, bytes]:
    return {"gnome-software-elf": elf(*a("gnome-software", "gnome-shell-extensions", "org.gnome.Software"))}


def evilgnome_cron() -> dict[str, bytes]:
    return {
        "crontab-user": text(
            split("* * * * * /home/user/.cache/gnome-software/", "gnome-shell-extensions/gnome-shell-ext.sh")
        )
    }


def evilgnome_cron_near() -> dict[str, bytes]:
    return {"crontab-gnome-cache": text("0 3 * * * rm -rf /home/user/.cache/gnome-software/*.tmp")}


def outlaw_key() -> dict[str, bytes]:
    return {"authorized-keys": text(f"ssh-rsa {FAKE_KEY}== " + split("mdrf", "ckr"))}


def outlaw_key_near() -> dict[str, bytes]:
    return {"authorized-keys-admin": text(f"ssh-rsa {FAKE_KEY}== admin@example.org")}


def shellbot() -> dict[str, bytes]:
    return {
        "shellbot-pl": text(
            "#!/usr/bin/perl",
            f"exit 0;  # {INERT_NOTE}",
            split("my @ad", 'ms=("x");'),
            split("my @can", 'ais=("#x");'),
            split("my $pro", "cesso = 'rsync';"),
            split("my $linas", "_max=8;"),
            'sendraw($IRC_cur_socket, "PRIVMSG $printl :|tcpflood <host> <port> <secs>");',
            'sendraw($IRC_cur_socket, "PRIVMSG $printl :|udpflood <host> <size> <secs>");',
            'sendraw($IRC_cur_socket, "PRIVMSG $printl :|httpflood <host> <secs>");',
            'sendraw($IRC_cur_socket, "PRIVMSG $printl :|portscan <host>");',
        )
    }


def shellbot_near() -> dict[str, bytes]:
    # An ordinary Perl IRC client: PRIVMSG and a channel list, no bot variables or floods.
    return {
        "irc-client-pl": text(
            "#!/usr/bin/perl",
            "use strict;",
            "my @channels = ('#perl');",
            'print $sock "PRIVMSG #perl :hello\\r\\n";',
        )
    }


def outlaw_cron() -> dict[str, bytes]:
    return {
        "crontab-root": text(
            split("5 6 * * 0 /root/.config", "rc/a/upd>/dev/null 2>&1"),
            split("@reboot /root/.config", "rc/b/sync>/dev/null 2>&1"),
        )
    }


def outlaw_cron_near() -> dict[str, bytes]:
    return {
        "crontab-backup": text(
            "5 6 * * 0 /root/.config/backup/upd >/dev/null 2>&1", "@reboot /usr/bin/rsync -a /srv /backup"
        )
    }


SAMPLES: Builders = {
    "Ebury_Trojanized_Keyutils": ebury,
    "BPFDoor_ELF": bpfdoor,
    "BPFDoor_Shell_Redirect": bpfdoor_shell,
    "RotaJakiro_Systemd_Unit": rotajakiro_unit,
    "RotaJakiro_Upstart_Job": rotajakiro_upstart,
    "RotaJakiro_Autostart_Entry": rotajakiro_autostart,
    "Rekoobe_TinySHell_Backdoor": rekoobe,
    "Orbit_Preload_Implant": orbit,
    "Orbit_Preload_Entry": orbit_preload,
    "HiddenWasp_Rootkit": hiddenwasp,
    "Lightning_Framework_ELF": lightning,
    "Lightning_Init_Script": lightning_init,
    "EvilGnome_Implant": evilgnome,
    "EvilGnome_Cron_Entry": evilgnome_cron,
    "Outlaw_SSH_Key": outlaw_key,
    "Outlaw_Shellbot_Perl": shellbot,
    "Outlaw_Cron_Entry": outlaw_cron,
}

NEARMISS: Builders = {
    "Ebury_Trojanized_Keyutils": ebury_near,
    "BPFDoor_ELF": bpfdoor_near,
    "BPFDoor_Shell_Redirect": bpfdoor_shell_near,
    "RotaJakiro_Systemd_Unit": rotajakiro_unit_near,
    "RotaJakiro_Upstart_Job": rotajakiro_upstart_near,
    "RotaJakiro_Autostart_Entry": rotajakiro_autostart_near,
    "Rekoobe_TinySHell_Backdoor": rekoobe_near,
    "Orbit_Preload_Implant": orbit_near,
    "Orbit_Preload_Entry": orbit_preload_near,
    "HiddenWasp_Rootkit": hiddenwasp_near,
    "Lightning_Framework_ELF": lightning_near,
    "Lightning_Init_Script": lightning_init_near,
    "EvilGnome_Implant": evilgnome_near,
    "EvilGnome_Cron_Entry": evilgnome_cron_near,
    "Outlaw_SSH_Key": outlaw_key_near,
    "Outlaw_Shellbot_Perl": shellbot_near,
    "Outlaw_Cron_Entry": outlaw_cron_near,
}
