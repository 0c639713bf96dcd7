"""Inert samples and near-misses for signatures/rules/linux_bots.yar."""

# ruff: noqa: S108  (published /tmp and /dev/shm paths are indicator strings here, never opened)
from __future__ import annotations

from sample_blocks import HOST, INERT_NOTE, Builders, a, elf, split, text

DHT_NODES = (
    "dht.transmissionbt.com:6881",
    "router.bittorrent.com:6881",
    "router.utorrent.com:6881",
    "bttracker.debian.org:6881",
)


def mozi() -> dict[str, bytes]:
    return {
        "mozi-elf": elf(*a(*DHT_NODES, "[ss]", "[/ss]", "[hp]", "[/hp]", "[dip]", "[count]", "[ud]", "[sv]")),
        "mozi-tr069-elf": elf(
            *a(
                "iptables -I INPUT  -p tcp --destination-port 7547 -j DROP",
                "iptables -I OUTPUT -p tcp --sport 30005 -j DROP",
                "/usr/networks",
            )
        ),
    }


def mozi_near() -> dict[str, bytes]:
    # A BitTorrent client: the same DHT bootstrap nodes, no bot configuration tags.
    return {
        "bt-client-elf": elf(*a(*DHT_NODES, "announce", "info_hash", "[%s]")),
        "router-firewall-elf": elf(
            *a("iptables -I INPUT  -p tcp --destination-port 7547 -j DROP", "/usr/sbin/networkd")
        ),
    }


def mozi_script() -> dict[str, bytes]:
    return {
        "s95baby-sh": text("#!/bin/sh", split("/usr/net", "works&")),
        "s95baby-tmp-sh": text("#!/bin/sh", split("/user/network", "tmp&")),
    }


def mozi_script_near() -> dict[str, bytes]:
    return {"s95network-sh": text("#!/bin/sh", "/usr/sbin/networkd &")}


HAJIME_MSG = (
    "Just a white hat, securing some systems.",
    "Important messages will be signed like this!",
    "Hajime Author.",
    "Contact CLOSED",
    "Stay sharp!",
)


def hajime() -> dict[str, bytes]:
    return {"hajime-elf": elf("\n".join(HAJIME_MSG).encode())}


def hajime_near() -> dict[str, bytes]:
    return {"motd-elf": elf(*a("Stay sharp!", "Welcome to the router console.", "Hajime means 'beginning'."))}


def dofloo() -> dict[str, bytes]:
    return {
        "dofloo-elf": elf(
            *a(
                "VERSONEX:",
                "Linux-%s|%d|%d MHz|%dMB|%dMB|%s",
                "VERSONEX:Linux-%s|%d|%d MHz|%dMB|%dMB|%s",
                "sed -i -e '/%s/d' /etc/rc.local",
                "sed -i -e '2 i%s/%s' /etc/rc.local",
                "sed -i -e '2 i%s/%s start' /etc/rc.d/rc.local",
            )
        )
    }


def dofloo_near() -> dict[str, bytes]:
    # An installer that edits rc.local with sed: one template, no VERSONEX report.
    return {"rc-installer-elf": elf(*a("sed -i -e '/%s/d' /etc/rc.local", "%d MHz", "%dMB"))}


def billgates() -> dict[str, bytes]:
    return {
        "billgates-elf": elf(
            *a(
                "/tmp/gates.lod",
                "/tmp/moni.lod",
                "DbSecuritySpt",
                "/usr/bin/bsd-port",
                "10CAttackSyn",
                "10CAttackUdp",
                "11CAttackIcmp",
                "10CAttackDns",
            )
        )
    }


def billgates_near() -> dict[str, bytes]:
    return {"lockfile-elf": elf(*a("/tmp/gates.lod", "gates of the game", "CAttack"))}


def kaiji() -> dict[str, bytes]:
    return {
        "kaiji-elf": elf(
            *a(
                "Go build ID: inert",
                "main.Ares_Tcp",
                "main.Ares_L3_Udp",
                "main.Ares_ipspoof",
                "main.Ares_Tcp_Keep",
                "main.Killcpu",
                "/etc/id.services.conf",
            )
        )
    }


def kaiji_near() -> dict[str, bytes]:
    return {"ares-game-elf": elf(*a("Go build ID: inert", "main.Ares_Tcp", "main.Zeus_Udp", "main.main"))}


def kaiten_src() -> dict[str, bytes]:
    return {
        "kaiten-c": text(
            f"/* {INERT_NOTE} */",
            "#include <stdio.h>",
            split("void tsunami(int ", "sock, char *sender, int argc, char **argv) { }"),
            split("void getspoofs(int ", "sock, char *sender, int argc, char **argv) { }"),
            split("void killall(int ", "sock, char *sender, int argc, char **argv) { }"),
            split('  "NOTICE %s :TSUNAMI <target> ', '<secs>",'),
            split('  "NOTICE %s :PAN <target> <port> ', '<secs>",'),
            split('  "NOTICE %s :SPOOFS ', '<subnet>",'),
            split('  { "TSUNAMI", ', "tsunami },"),
        )
    }


def kaiten_src_near() -> dict[str, bytes]:
    # An IRC client's source with a help table, none of Kaiten's commands.
    return {
        "ircclient-c": text(
            "#include <stdio.h>",
            "void join(int sock, char *channel) { }",
            'static const char *help[] = { "JOIN <channel>", "PART <channel>", "NICK <nick>" };',
        )
    }


def kaiten_help() -> dict[str, bytes]:
    return {
        "kaiten-variant-elf": elf(
            *a(
                "PRIVMSG %s :",
                "PRIVMSG %s :SPOOFS <subnet>                   = Changes spoofing to a subnet",
                "PRIVMSG %s :GETSPOOFS                         = Gets the current spoofing",
                "PRIVMSG %s :DISABLE                           = Disables all packeting from this client",
                "PRIVMSG %s :ENABLE                            = Enables all packeting from this client",
                "PRIVMSG %s :GET <http address> <save as>      = Downloads a file off the web and saves it onto the hd",
                "PRIVMSG %s :KILLALL                           = Kills all current packeting",
            )
        )
    }


def kaiten_help_near() -> dict[str, bytes]:
    return {
        "irc-bot-elf": elf(
            *a("PRIVMSG %s :", "PRIVMSG %s :VERSION = Requests version of client", "PRIVMSG %s :HELP = Displays this")
        )
    }


def gafgyt_src() -> dict[str, bytes]:
    return {
        "bashlite-c": text(
            f"/* {INERT_NOTE} */",
            "#include <stdlib.h>",
            split('if(!strcmp(argv[0], "GETLOC', 'ALIP")) { }'),
            split('if(!strcmp(argv[0], "SCAN', 'NER")) { }'),
            split('if(!strcmp(argv[0], "KILL', 'ATTK")) { }'),
            split('sockprintf(mainCommSock, "Killed ', '%d.", killed);'),
            f"/* C2 {HOST} */",
        )
    }


def gafgyt_src_near() -> dict[str, bytes]:
    return {
        "scanner-c": text(
            "#include <stdlib.h>",
            'if(!strcmp(argv[0], "SCAN")) { }',
            'printf("Killed %d.", n);',
        )
    }


SAMPLES: Builders = {
    "Mozi_P2P_Bot": mozi,
    "Mozi_Persistence_Script": mozi_script,
    "Hajime_Worm": hajime,
    "Dofloo_AESDDoS_Bot": dofloo,
    "BillGates_Elknot_Bot": billgates,
    "Kaiji_Go_Bot": kaiji,
    "Tsunami_Kaiten_Source": kaiten_src,
    "Tsunami_Kaiten_Help_Variant": kaiten_help,
    "Gafgyt_Bot_Source": gafgyt_src,
}

NEARMISS: Builders = {
    "Mozi_P2P_Bot": mozi_near,
    "Mozi_Persistence_Script": mozi_script_near,
    "Hajime_Worm": hajime_near,
    "Dofloo_AESDDoS_Bot": dofloo_near,
    "BillGates_Elknot_Bot": billgates_near,
    "Kaiji_Go_Bot": kaiji_near,
    "Tsunami_Kaiten_Source": kaiten_src_near,
    "Tsunami_Kaiten_Help_Variant": kaiten_help_near,
    "Gafgyt_Bot_Source": gafgyt_src_near,
}
