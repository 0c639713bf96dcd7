"""Inert samples and near-misses for signatures/rules/linux_ransomware.yar.

Notes are synthesised from the phrases the rules key on, with documentation addresses; every
onion name below is made up (an RFC 5737-style placeholder in base32), owned by no one.
"""

# ruff: noqa: S108  (published /tmp and /dev/shm paths are indicator strings here, never opened)
from __future__ import annotations

from sample_blocks import INERT_NOTE, Builders, a, elf, split, text

ONION56 = "inerttestsampleinerttestsampleinerttestsampleinerttestab"  # 56 chars of [a-z2-7]


def lockbit() -> dict[str, bytes]:
    return {
        "lockbit-esxi-elf": elf(
            *a(
                "Restore-My-Files.txt",
                "LockBit",
                "vim-cmd vmsvc/getallvms",
                "esxcli vm process list",
                "esxcli vm process kill --type=force --world-id=%s",
            )
        )
    }


def lockbit_near() -> dict[str, bytes]:
    # An ESXi maintenance tool: the same VM commands, no ransom parts.
    return {"esxi-maint-elf": elf(*a("vim-cmd vmsvc/getallvms", "vim-cmd vmsvc/power.off %s", "maintenance mode"))}


def lockbit_note() -> dict[str, bytes]:
    return {
        "restore-my-files-txt": text(
            split("LockBit 2.0 Ransom", "ware"),
            "All your important files are stolen and encrypted!",
            "You must find Restore-My-Files.txt file and follow the instructions to decrypt your files.",
            split("http://lockbit", f"{ONION56[:40]}.onion"),
            INERT_NOTE,
        )
    }


def lockbit_note_near() -> dict[str, bytes]:
    return {
        "threat-report-txt": text(
            "LockBit is a ransomware family; victims find a Restore-My-Files.txt note.",
            "Do not pay: check https://www.nomoreransom.org for decryption tools.",
        )
    }


BLACKCAT_KEYS = (
    "config_id",
    "public_key",
    "extension",
    "note_file_name",
    "note_full_text",
    "note_short_text",
    "default_file_cipher",
    "credentials",
    "kill_services",
    "exclude_directory_names",
    "enable_esxi_vm_kill",
    "enable_esxi_vm_snapshot_kill",
    "strict_include_paths",
)


def blackcat() -> dict[str, bytes]:
    return {"blackcat-elf": elf(*a(*BLACKCAT_KEYS, "vim-cmd vmsvc/snapshot.removeall $(vim-cmd vmsvc/getallvms)"))}


def blackcat_near() -> dict[str, bytes]:
    return {"config-tool-elf": elf(*a("config_id", "public_key", "extension", "credentials", "kill_services"))}


def blackcat_config() -> dict[str, bytes]:
    return {
        "blackcat-config-json": text(
            "{",
            split('  "config', '_id": "",'),
            '  "public_key": "inert",',
            '  "extension": "inert00",',
            split('  "note_file', '_name": "RECOVER-${EXTENSION}-FILES.txt",'),
            split('  "note_full', f'_text": "{INERT_NOTE}",'),
            split('  "default_file', '_cipher": "Best",'),
            '  "credentials": [],',
            split('  "kill_', 'services": [],'),
            split('  "exclude_directory', '_names": [],'),
            split('  "enable_esxi', '_vm_kill": true'),
            "}",
        )
    }


def blackcat_config_near() -> dict[str, bytes]:
    return {
        "service-config-json": text(
            "{",
            '  "config_id": "web-01",',
            '  "credentials": [],',
            '  "kill_services": ["apache2"],',
            '  "extension": ".log"',
            "}",
        )
    }


def blackcat_note() -> dict[str, bytes]:
    return {
        "recover-files-txt": text(
            split(">> What ", "happened?"),
            'Important files on your network was ENCRYPTED and now they have "inert00" extension.',
            split(">> Sensitive ", "Data"),
            split(">> CAU", "TION"),
            split(">> What should I do ", "next?"),
            split("http://", f"{ONION56}.onion/?access-key=inert"),
            INERT_NOTE,
        )
    }


def blackcat_note_near() -> dict[str, bytes]:
    return {
        "faq-txt": text(
            ">> What happened?",
            "The backup job failed last night; see the log below.",
            ">> What should I do next?",
            "Re-run it from the console.",
        )
    }


def babuk() -> dict[str, bytes]:
    return {
        "babuk-esxi-elf": elf(
            *a(
                "Usage: %s /path/to/be/encrypted",
                "How To Restore Your Files.txt",
                ".babyk",
                "Statistic:",
                "Doesn't encrypted files: %d",
                "Encrypted files: %d",
                "Skipped files: %d",
                "Whole files count: %d",
                "Encrypting: %s",
            )
        )
    }


def babuk_near() -> dict[str, bytes]:
    # A backup tool reporting the same kind of statistics.
    return {
        "backup-tool-elf": elf(*a("Statistic:", "Encrypted files: %d", "Skipped files: %d", "Whole files count: %d"))
    }


def babuk_note() -> dict[str, bytes]:
    return {
        "how-to-restore-txt": text(
            "What happened?",
            split("Your computers and servers are encrypted, ", "backups are deleted."),
            "But you can restore everything by purchasing a special program from us - universal decryptor.",
            split("http://", f"{ONION56}.onion/inert"),
            INERT_NOTE,
        )
    }


def babuk_note_near() -> dict[str, bytes]:
    return {
        "restore-howto-txt": text(
            "How To Restore Your Files",
            "Your computers and servers are backed up nightly; backups are kept for 30 days.",
            "Use the restore tool (not a universal decryptor) to bring files back.",
        )
    }


def ransomexx() -> dict[str, bytes]:
    return {
        "ransomexx-elf": elf(
            *a(
                "EnumFiles",
                "CryptOneFile",
                "CryptOneBlock",
                "ReadMeStoreForDir",
                "GetRansomConfig",
                "add_task_to_worker",
                "!NEWS_FOR_INERT!.txt",
                "mbedtls_aes_setkey_enc",
            )
        )
    }


def ransomexx_near() -> dict[str, bytes]:
    return {"file-walker-elf": elf(*a("EnumFiles", "add_task_to_worker", "mbedtls_aes_setkey_enc", "GLIBC_2.2.5"))}


def royal() -> dict[str, bytes]:
    return {
        "royal-esxi-elf": elf(
            *a(
                ".royal_u",
                ".royal_w",
                "-id",
                "-ep",
                "-stopvm",
                "-vmonly",
                "-fork",
                "-logs",
                "README.TXT",
                "esxcli vm process kill --type=hard --world-id=%s",
            )
        )
    }


def royal_near() -> dict[str, bytes]:
    return {"vm-tool-elf": elf(*a("-stopvm", "-fork", "-logs", "README.TXT", "royal_blue_theme"))}


def royal_note() -> dict[str, bytes]:
    return {
        "readme-txt": text(
            "Hello!",
            split("If you are reading this, it means that your system were hit by Royal ", "ransomware."),
            "Please contact us via :",
            split("http://royal", f"{ONION56[:50]}.onion/inert"),
            INERT_NOTE,
        )
    }


def royal_note_near() -> dict[str, bytes]:
    return {
        "royal-mail-txt": text(
            "Hello!",
            "If you are reading this, it means that your parcel was sent by Royal Mail.",
            "Track it at https://www.royalmail.com",
        )
    }


def esxiargs() -> dict[str, bytes]:
    return {
        "encrypt-elf": elf(
            *a(
                "usage: encrypt <public_key> <file_to_encrypt> [<enc_step>] [<enc_size>] [<file_size>]",
                "gen_stream_key",
                "encrypt_simple",
                "sosemanuk_encrypt",
                "rsa_encrypt",
                "open_read_write",
            )
        )
    }


def esxiargs_near() -> dict[str, bytes]:
    # A crypto library test program: Sosemanuk and RSA helpers, not the stream-key generator or the usage line.
    return {
        "crypto-test-elf": elf(*a("usage: encrypt <key> <file>", "sosemanuk_encrypt", "rsa_encrypt", "encrypt_file"))
    }


def esxiargs_script() -> dict[str, bytes]:
    return {
        "encrypt-sh": text(
            "#!/bin/sh",
            f"exit 0  # {INERT_NOTE}",
            "for config_file in $(esxcli vm process list | grep \"Config File\" | awk '{print $3}'); do",
            split("  sed -i -e 's/.vmdk/1", ".vmdk/g' -e 's/.vswp/1.vswp/g' \"$config_file\""),
            "done",
            'echo "$file" > "$file.args"',
            split("/tmp/encrypt $PUBLIC_KEY ", '"$file" $ENC_STEP'),
            split("cp /tmp/index.html /usr/lib/vmware/hostd/docroot/ui/", "index.html"),
            split("esxcli system welcomemsg set ", '-m="inert"'),
        )
    }


def esxiargs_script_near() -> dict[str, bytes]:
    return {
        "esxi-banner-sh": text(
            "#!/bin/sh",
            "# set the maintenance banner",
            'esxcli system welcomemsg set -m="Scheduled maintenance tonight"',
            "esxcli vm process list",
        )
    }


def esxiargs_note() -> dict[str, bytes]:
    return {
        "how-to-restore-html": text(
            "<html><body><h1>Security Alert!!!</h1>",
            split("<p>We hacked your company ", "successfully</p>"),
            split("<p>All files have been stolen and ", "encrypted by us</p>"),
            "<p>If you want to restore files or avoid file leaks, please send 2.0 bitcoins to the wallet inert</p>",
            f"<!-- {INERT_NOTE} -->",
            "</body></html>",
        )
    }


def esxiargs_note_near() -> dict[str, bytes]:
    return {
        "security-training-html": text(
            "<html><body><h1>Security Alert!!!</h1>",
            "<p>Phishing test: never send bitcoins to the wallet in such mails.</p>",
            "</body></html>",
        )
    }


SAMPLES: Builders = {
    "LockBit_Linux_ESXi_Encryptor": lockbit,
    "LockBit_Ransom_Note": lockbit_note,
    "BlackCat_Encryptor": blackcat,
    "BlackCat_Config": blackcat_config,
    "BlackCat_Ransom_Note": blackcat_note,
    "Babuk_ESXi_Encryptor": babuk,
    "Babuk_Ransom_Note": babuk_note,
    "RansomEXX_Linux_Encryptor": ransomexx,
    "Royal_Linux_Encryptor": royal,
    "Royal_Ransom_Note": royal_note,
    "ESXiArgs_Encryptor": esxiargs,
    "ESXiArgs_Shell_Script": esxiargs_script,
    "ESXiArgs_Ransom_Note": esxiargs_note,
}

NEARMISS: Builders = {
    "LockBit_Linux_ESXi_Encryptor": lockbit_near,
    "LockBit_Ransom_Note": lockbit_note_near,
    "BlackCat_Encryptor": blackcat_near,
    "BlackCat_Config": blackcat_config_near,
    "BlackCat_Ransom_Note": blackcat_note_near,
    "Babuk_ESXi_Encryptor": babuk_near,
    "Babuk_Ransom_Note": babuk_note_near,
    "RansomEXX_Linux_Encryptor": ransomexx_near,
    "Royal_Linux_Encryptor": royal_near,
    "Royal_Ransom_Note": royal_note_near,
    "ESXiArgs_Encryptor": esxiargs_near,
    "ESXiArgs_Shell_Script": esxiargs_script_near,
    "ESXiArgs_Ransom_Note": esxiargs_note_near,
}
