"""Inert samples and near-misses for signatures/rules/memory.yar.

Each sample is what the running process holds: C strings NUL-terminated side by side (as in a
mapped data segment), a miner's NUL-separated argument vector, a decoded configuration. The
process-memory test keeps the decoded sample in a harmless interpreter's heap and finds it with
``scanner scan --pid``. Near-misses hold the same words as text (documentation, a shell history,
a help page), where the NUL terminators and the rest of the structure are missing.
"""

# ruff: noqa: S108  (published /tmp and /dev/shm paths are indicator strings here, never opened)
from __future__ import annotations

from sample_blocks import HOST, INERT_NOTE, WALLET, Builders, split, text, xored

NUL = b"\0"


def cstrings(*texts: str) -> bytes:
    """NUL-terminated strings side by side, after a NUL (as a data segment holds them)."""
    return NUL + NUL.join(t.encode("ascii") for t in texts) + NUL


def xmrig_config() -> dict[str, bytes]:
    return {
        "xmrig-config-heap": text(
            "{",
            split('  "donate', '-level": 1,'),
            '  "cpu": { "enabled": true },',
            '  "randomx": { "mode": "auto" },',
            split('  "po', 'ols": ['),
            f'    {{ "url": "{HOST}:3333", "user": "{WALLET}", "pass": "x" }}',
            "  ]",
            "}",
        )
    }


def xmrig_config_near() -> dict[str, bytes]:
    # A pool's public example: placeholders where a wallet would be, no donate level.
    return {
        "pool-example-json": text(
            "{",
            '  "pools": [ { "url": "pool.example.org:3333", "user": "YOUR_WALLET_ADDRESS" } ],',
            '  "cpu": { "enabled": true }',
            "}",
        )
    }


def xmrig_argv() -> dict[str, bytes]:
    argv = ("/tmp/.x/sysupdate", "-o", f"stratum+tcp://{HOST}:3333", "-u", WALLET, "-p", "x", "-B")
    return {"miner-argv": cstrings(*argv)}


def xmrig_argv_near() -> dict[str, bytes]:
    # The same command in a shell history: space-separated, no NUL between the arguments.
    return {"bash-history": text(f"./xmrig -o stratum+tcp://{HOST}:3333 -u {WALLET} -p x")}


def xmrig_binary() -> dict[str, bytes]:
    return {
        "xmrig-image": cstrings(
            "donate.v2.xmrig.com",
            "donate.ssl.xmrig.com",
            "XMRig/%s (Linux x86_64) libuv/%s gcc/%d.%d.%d",
            "      --donate-level=N          donate level, default 1%%\n"
            "      --cpu-max-threads-hint=N  maximum CPU threads count\n"
            "      --rig-id=ID               rig identifier for pool-side statistics\n",
        )
    }


def xmrig_binary_near() -> dict[str, bytes]:
    return {
        "xmrig-readme-md": text(
            "# XMRig",
            "Donations go to donate.v2.xmrig.com; set --donate-level=N to change the share.",
        )
    }


def beacon_config(key: int) -> bytes:
    """Settings 1-7 of a beacon configuration (type-length-value), XORed with ``key``."""
    tlv = bytes.fromhex(
        "0001000100020000"  # BeaconType: HTTP
        "0002000100020050"  # Port: 80
        "0003000200040000ea60"  # SleepTime: 60000
        "00040002000400100000"  # MaxGetSize
        "0005000100020000"  # Jitter
        "00060001000200ff"  # MaxDNS
        "00070003010030819f"  # PublicKey: 256 bytes, DER prefix (the rest zero here)
    ) + bytes(253)
    return bytes(b ^ key for b in tlv)


def cobaltstrike() -> dict[str, bytes]:
    return {"beacon-config-plain": beacon_config(0), "beacon-config-x2e": beacon_config(0x2E)}


def cobaltstrike_near() -> dict[str, bytes]:
    # The first three settings alone (as a parser's test vector might hold them).
    return {"tlv-fragment": beacon_config(0)[:26]}


SLIVER = "github.com/bishopfox/sliver/"


def sliver() -> dict[str, bytes]:
    return {
        "sliver-funcnametab": cstrings(
            SLIVER + "protobuf/sliverpb.(*Envelope).Reset",
            SLIVER + "protobuf/commonpb.(*Request).GetTimeout",
            SLIVER + "implant/sliver/transports.StartConnectionLoop",
        )
    }


def sliver_near() -> dict[str, bytes]:
    return {"sliver-docs-md": text("Sliver implants use " + SLIVER + "protobuf/commonpb messages; see the wiki.")}


def mettle() -> dict[str, bytes]:
    return {
        "mettle-image": cstrings(
            "  -u, --uri <uri>        add connection URI\n",
            "  -U, --uuid <uuid>      set the UUID (base64)\n",
            "  -b, --background [0|1] start as a background service\n",
            "  -p, --persist [none|install|uninstall] manage persistence\n",
            "fd://%d",
            "session-guid",
        )
    }


def mettle_near() -> dict[str, bytes]:
    return {
        "mettle-manpage": text(
            "mettle(1): -U, --uuid <uuid> set the UUID (base64)",
            "-p, --persist [none|install|uninstall] manage persistence",
        )
    }


MIRAI_TABLE = (
    "/bin/busybox MIRAI",
    "MIRAI: applet not found",
    "TSource Engine Query",
    "listening tun0",
    "/dev/watchdog",
    "/proc/net/tcp",
    "/etc/resolv.conf",
)


def mirai() -> dict[str, bytes]:
    return {"mirai-data-segment": NUL.join(xored(0x22, *MIRAI_TABLE))}


def mirai_near() -> dict[str, bytes]:
    # A watchdog daemon's data: plain strings, not the bot's obfuscated table.
    return {"watchdogd-data": cstrings("/dev/watchdog", "/proc/net/tcp", "/etc/resolv.conf", "listening tun0")}


def gafgyt() -> dict[str, bytes]:
    return {
        "gafgyt-image": cstrings(
            "PING", "GETLOCALIP", "SCANNER", "KILLATTK", "LOLNOGTFO", "Killed %d.", "None Killed.", "My IP: %s"
        )
    }


def gafgyt_near() -> dict[str, bytes]:
    return {"botnet-writeup-txt": text("Gafgyt answers GETLOCALIP with 'My IP: %s' and KILLATTK with 'Killed %d.'.")}


def tsunami() -> dict[str, bytes]:
    return {
        "kaiten-image": cstrings(
            "NOTICE %s :Kaiten wa goraku",
            "NOTICE %s :TSUNAMI <target> <secs>                = A PUSH+ACK flooder",
            "NOTICE %s :PAN <target> <port> <secs>             = A SYN flooder",
            "NOTICE %s :UDP <target> <port> <secs>             = An UDP flooder",
            "NOTICE %s :Removed all spoofs",
        )
    }


def tsunami_near() -> dict[str, bytes]:
    return {"irc-help-image": cstrings("NOTICE %s :HELP", "NOTICE %s :JOIN <channel>", "NOTICE %s :Removed all bans")}


def kinsing() -> dict[str, bytes]:
    return {
        "kinsing-pclntab": cstrings(
            "main.masscan",
            "main.backconnect",
            "main.getMinerPid",
            "main.redisBrute",
            "main.runTask",
            "main.checkHealth",
        )
    }


def kinsing_near() -> dict[str, bytes]:
    return {"go-scanner-pclntab": cstrings("main.masscan", "main.main", "main.parseFlags", "runtime.main")}


def bpfdoor() -> dict[str, bytes]:
    return {
        "bpfdoor-rodata": cstrings(
            "/sbin/udevd -d",
            "/sbin/mingetty /dev/tty7",
            "/usr/sbin/console-kit-daemon --no-daemon",
            "avahi-daemon: chroot helper",
            "pickup -l -t fifo -u",
            "kdmtmpflush",
        )
    }


def bpfdoor_near() -> dict[str, bytes]:
    # A process listing held by a monitoring agent: the daemon names, not the backdoor's copy name or filter.
    return {"ps-cache": cstrings("/sbin/udevd -d", "dbus-daemon --system", "avahi-daemon: chroot helper", "cron")}


def rekoobe() -> dict[str, bytes]:
    challenge = bytes.fromhex("5890ae86f1b91cf6298395711dde580d")
    return {"rekoobe-image": challenge + cstrings("HISTFILE=", "/dev/ptmx", "exec bash --login")}


def rekoobe_near() -> dict[str, bytes]:
    return {"terminal-image": cstrings("HISTFILE=", "/dev/ptmx", "exec bash --login", "TERM=xterm")}


def mozi() -> dict[str, bytes]:
    conf = split("[ss]", "bot[/ss][hp]") + f"{HOST}:8080[/hp][dip]{HOST}:8080[/dip][count]http://{HOST}/c[/count]"
    return {"mozi-config": cstrings(conf)}


def mozi_near() -> dict[str, bytes]:
    return {"bbcode-post": text("[b]bot[/b] [url]http://example.org[/url] [hp]198.51.100.23[/hp]")}


def shellbot() -> dict[str, bytes]:
    return {
        "shellbot-perl-heap": text(
            split("my @ad", 'ms=("x");'),
            split("my @can", 'ais=("#x");'),
            split("my $pro", "cesso = 'rsync';"),
            'sendraw($IRC_cur_socket, "PRIVMSG $printl :|tcpflood <host> <port> <secs>");',
            'sendraw($IRC_cur_socket, "PRIVMSG $printl :|udpflood <host> <size> <secs>");',
            f"# {INERT_NOTE}",
        )
    }


def shellbot_near() -> dict[str, bytes]:
    return {"perl-admin-heap": text("my @admins = ('root');", "my $process = 'rsync';", "# tcpflood test: disabled")}


def dofloo() -> dict[str, bytes]:
    return {
        "dofloo-image": cstrings(
            "VERSONEX:Linux-%s|%d|%d MHz|%dMB|%dMB|%s", "sed -i -e '2 i%s/%s' /etc/rc.local", "/etc/rc.local"
        )
    }


def dofloo_near() -> dict[str, bytes]:
    return {"sysinfo-image": cstrings("CPU: %d MHz|%dMB|%dMB|%s", "sed -i -e '2 i%s/%s' /etc/rc.local")}


def billgates() -> dict[str, bytes]:
    return {
        "billgates-image": cstrings("/tmp/gates.lod", "/tmp/moni.lod", "10CAttackSyn", "10CAttackUdp", "11CAttackIcmp")
    }


def billgates_near() -> dict[str, bytes]:
    return {"game-image": cstrings("/tmp/gates.lod", "CAttack", "CDefend")}


def hajime() -> dict[str, bytes]:
    return {
        "hajime-message": cstrings(
            "Just a white hat, securing some systems.\nImportant messages will be signed like this!\n"
            "Hajime Author.\nContact CLOSED\nStay sharp!"
        )
    }


def hajime_near() -> dict[str, bytes]:
    return {"hajime-article-txt": text("Hajime's author signed as 'Hajime Author.' and called himself a white hat.")}


def kaiji() -> dict[str, bytes]:
    return {"kaiji-pclntab": cstrings("main.Ares_Tcp", "main.Ares_L3_Udp", "main.Ares_ipspoof", "main.Killcpu")}


def kaiji_near() -> dict[str, bytes]:
    return {"ares-pclntab": cstrings("main.Ares_Tcp", "main.main", "runtime.main")}


def blackcat() -> dict[str, bytes]:
    return {
        "blackcat-config-heap": text(
            "{",
            split('"config', '_id":"",'),
            split('"note_file', '_name":"RECOVER-${EXTENSION}-FILES.txt",'),
            split('"note_full', f'_text":"{INERT_NOTE}",'),
            split('"default_file', '_cipher":"Best",'),
            split('"enable_esxi', '_vm_kill":true,'),
            split('"exclude_directory', '_names":[]'),
            "}",
        )
    }


def blackcat_near() -> dict[str, bytes]:
    return {"app-config-heap": text('{"config_id":"a1","note_file_name":"NOTES.txt","exclude_directory_names":[]}')}


def orbit() -> dict[str, bytes]:
    return {
        "orbit-image": cstrings(
            split("/lib/libntp", "VnQE6mk/.l"), "sniff_ssh_session", "/dev/shm/ldx/.l", "chown -R 920366:920366 %s"
        )
    }


def orbit_near() -> dict[str, bytes]:
    return {"sshd-image": cstrings("sniff_ssh_session_disabled", "/var/lib/ntp/drift")}


def hiddenwasp() -> dict[str, bytes]:
    return {
        "hiddenwasp-image": cstrings(
            split("I_AM_", "HIDDEN"), "/etc/ld.so.preload", "HIDE_THIS_SHELL", "/lib/libselinux.a"
        )
    }


def hiddenwasp_near() -> dict[str, bytes]:
    return {"libselinux-image": cstrings("/etc/ld.so.preload", "/etc/selinux/config", "SELINUX")}


def lightning() -> dict[str, bytes]:
    return {
        "lightning-image": cstrings(
            "Lightning.Core",
            "Linux.Plugin.Lightning.SsHijacker",
            "Linux.Plugin.Lightning.Sniffer",
            "Linux.Plugin.Lightning.Nethogs",
        )
    }


def lightning_near() -> dict[str, bytes]:
    return {"lightning-game-image": cstrings("Lightning.Core", "Lightning.Bolt", "Thunder.Core")}


def evilgnome() -> dict[str, bytes]:
    return {
        "evilgnome-image": cstrings(
            "gnome-software/gnome-shell-extensions/gnome-shell-ext",
            "12ShooterSound",
            "12ShooterImage",
            "11ShooterFile",
            "10ShooterKey",
        )
    }


def evilgnome_near() -> dict[str, bytes]:
    return {
        "shooter-game-image": cstrings("12ShooterSound", "13ShooterPlayer", "12ShooterEnemy", "gnome-shell-extensions")
    }


SAMPLES: Builders = {
    "XMRig_Config_Memory": xmrig_config,
    "XMRig_Commandline_Memory": xmrig_argv,
    "XMRig_Binary_Memory": xmrig_binary,
    "CobaltStrike_Beacon_Config_Memory": cobaltstrike,
    "Sliver_Implant_Memory": sliver,
    "Meterpreter_Mettle_Memory": mettle,
    "Mirai_Table_Memory": mirai,
    "Gafgyt_Commands_Memory": gafgyt,
    "Tsunami_Commands_Memory": tsunami,
    "Kinsing_Go_Memory": kinsing,
    "BPFDoor_Memory": bpfdoor,
    "Rekoobe_Memory": rekoobe,
    "Mozi_Config_Memory": mozi,
    "Outlaw_Shellbot_Memory": shellbot,
    "Dofloo_Memory": dofloo,
    "BillGates_Memory": billgates,
    "Hajime_Memory": hajime,
    "Kaiji_Memory": kaiji,
    "BlackCat_Config_Memory": blackcat,
    "Orbit_Memory": orbit,
    "HiddenWasp_Memory": hiddenwasp,
    "Lightning_Memory": lightning,
    "EvilGnome_Memory": evilgnome,
}

NEARMISS: Builders = {
    "XMRig_Config_Memory": xmrig_config_near,
    "XMRig_Commandline_Memory": xmrig_argv_near,
    "XMRig_Binary_Memory": xmrig_binary_near,
    "CobaltStrike_Beacon_Config_Memory": cobaltstrike_near,
    "Sliver_Implant_Memory": sliver_near,
    "Meterpreter_Mettle_Memory": mettle_near,
    "Mirai_Table_Memory": mirai_near,
    "Gafgyt_Commands_Memory": gafgyt_near,
    "Tsunami_Commands_Memory": tsunami_near,
    "Kinsing_Go_Memory": kinsing_near,
    "BPFDoor_Memory": bpfdoor_near,
    "Rekoobe_Memory": rekoobe_near,
    "Mozi_Config_Memory": mozi_near,
    "Outlaw_Shellbot_Memory": shellbot_near,
    "Dofloo_Memory": dofloo_near,
    "BillGates_Memory": billgates_near,
    "Hajime_Memory": hajime_near,
    "Kaiji_Memory": kaiji_near,
    "BlackCat_Config_Memory": blackcat_near,
    "Orbit_Memory": orbit_near,
    "HiddenWasp_Memory": hiddenwasp_near,
    "Lightning_Memory": lightning_near,
    "EvilGnome_Memory": evilgnome_near,
}
