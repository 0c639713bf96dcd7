"""Inert samples and near-misses for signatures/rules/windows_ransomware.yar."""

from __future__ import annotations

from sample_blocks import INERT_NOTE, Builders, a, pe, split, text, w


def wannacry_dropper() -> dict[str, bytes]:
    return {
        "wannacry-mssecsvc": pe(
            *a("mssecsvc2.0", "Microsoft Security Center (2.0) Service", "tasksche.exe"),
            *a("http://www.iuqerfsodp9ifjaposdfjhgosurijfaewrwergwea.com", INERT_NOTE),
        )
    }


def wannacry_encryptor() -> dict[str, bytes]:
    return {
        "wannacry-tasksche": pe(
            *a("WNcry@2ol7", "c.wnry", "t.wnry", "msg/m_english.wnry"),
            *a("icacls . /grant Everyone:F /T /C /Q", "attrib +h .", "taskdl.exe", INERT_NOTE),
        )
    }


def wannacry_ui() -> dict[str, bytes]:
    return {
        "wannacry-decryptor": pe(
            *w("Wana Decrypt0r 2.0", "Check Payment", "b.wnry", "00000000.res", INERT_NOTE),
        )
    }


def wannacry_readme() -> dict[str, bytes]:
    return {
        "wannacry-readme": text(
            INERT_NOTE,
            split("Q:  What's wrong ", "with my files?"),
            "A:  (text of the note)",
            split("Q:  Can I Recover ", "My Files?"),
            split("Run @Wana", "Decryptor@ to see the instructions."),
        )
    }


def ryuk() -> dict[str, bytes]:
    return {
        "ryuk-pe": pe(
            *w("RyukReadMe.txt", "UNIQUE_ID_DO_NOT_REMOVE"),
            *a("HERMES", "vssadmin Delete Shadows /all /quiet", INERT_NOTE),
        )
    }


def ryuk_note() -> dict[str, bytes]:
    return {
        "ryuk-readme": text(
            INERT_NOTE,
            "Your network has been penetrated.",
            "contact: someone@protonmail.invalid",
            "BTC wallet: (none)",
            split("Ry", "uk"),
            split("No system ", "is safe"),
        )
    }


def ryuk_bat() -> dict[str, bytes]:
    return {
        "ryuk-window-bat": text(
            f"exit /b 0 & rem {INERT_NOTE}",
            split("vssadmin Delete ", "Shadows /all /quiet"),
            split("vssadmin resize ", "shadowstorage /for=c: /on=c: /maxsize=401MB"),
            split("del /s /f /q c:\\*.VHD ", "c:\\*.bac c:\\*.bak c:\\*.wbcat c:\\*.bkf c:\\Backup*.*"),
        )
    }


def conti() -> dict[str, bytes]:
    return {
        "conti-pe": pe(
            *w("CONTI_README.txt", ".CONTI", "-nomutex", "-size", "local", "net", INERT_NOTE),
        )
    }


def conti_note() -> dict[str, bytes]:
    return {
        "conti-readme": text(
            INERT_NOTE,
            split("All of your files are currently encrypted ", "by CONTI strain."),
            "To decrypt them, open the site in TOR Browser: http://example.onion",
        )
    }


def notpetya() -> dict[str, bytes]:
    return {
        "notpetya-perfc": pe(
            *w("wowsmith123456@posteo.net", "perfc.dat", "dllhost.dat", "README.TXT"),
            *w("wevtutil cl Setup & wevtutil cl System & wevtutil cl Security", INERT_NOTE),
        )
    }


def notpetya_note() -> dict[str, bytes]:
    return {
        "notpetya-readme": text(
            INERT_NOTE,
            split("If you see this text, then your files ", "are no longer accessible"),
            split("wowsmith1234", "56@posteo.net"),
        )
    }


def locky() -> dict[str, bytes]:
    return {"locky-pe": pe(*w("_Locky_recover_instructions.txt", ".locky", "Software\\Locky", INERT_NOTE))}


def locky_note() -> dict[str, bytes]:
    return {
        "locky-note": text(
            INERT_NOTE,
            split("encrypted with RSA-2048 and AES-128 ", "ciphers."),
            "Install Tor Browser and open http://example.onion/ABC",
            split("Lo", "cky Decryptor"),
        )
    }


def cerber() -> dict[str, bytes]:
    return {
        "cerber-pe": pe(
            *w(split("# DECRYPT MY FILES ", "#.txt"), split("# DECRYPT MY FILES ", "#.html"), "Cerber"),
            *w(split("# DECRYPT MY FILES ", "#.vbs")),
            *a(INERT_NOTE),
        )
    }


def gandcrab() -> dict[str, bytes]:
    return {"gandcrab-pe": pe(*w("GANDCRAB", "KRAB-DECRYPT.txt", ".KRAB", "-DECRYPT.txt", INERT_NOTE))}


def gandcrab_note() -> dict[str, bytes]:
    return {
        "gandcrab-note": text(
            split("---= GAND", "CRAB V5.0.4 =---"),
            INERT_NOTE,
            "Download Tor Browser and open http://example.onion",
        )
    }


def revil_config() -> dict[str, bytes]:
    return {
        "revil-config-json": text(
            split(
                '{"pk":"',
                "aW5lcnQgdGVzdCBrZXkgb2YgdGhlIHNjYW5uZXIgcHI=",
                '","pid":"',
                '$2a$10$inert","sub":"',
                "4081",
                '","dbg":false,"et":0,"wht":{"fld":["windows"]},',
                '"nname":"{EXT}-readme.txt",',
            ),
            f'"note":"{INERT_NOTE}"}}',
        )
    }


def revil_note() -> dict[str, bytes]:
    return {
        "revil-readme": text(
            split("---=== Welcome. ", "Again. ===---"),
            INERT_NOTE,
            split("Your files are encrypted, ", "and currently unavailable."),
            split(
                "By the way, everything is possible to recover (restore), ", "but you need to follow our instructions"
            ),
        )
    }


SAMPLES: Builders = {
    "WannaCry_Dropper": wannacry_dropper,
    "WannaCry_Encryptor": wannacry_encryptor,
    "WannaCry_Decryptor_UI": wannacry_ui,
    "WannaCry_Readme": wannacry_readme,
    "Ryuk_Encryptor": ryuk,
    "Ryuk_Ransom_Note": ryuk_note,
    "Ryuk_Window_Bat": ryuk_bat,
    "Conti_Encryptor": conti,
    "Conti_Ransom_Note": conti_note,
    "NotPetya_Encryptor": notpetya,
    "NotPetya_Ransom_Note": notpetya_note,
    "Locky_Encryptor": locky,
    "Locky_Ransom_Note": locky_note,
    "Cerber_Ransomware": cerber,
    "GandCrab_Encryptor": gandcrab,
    "GandCrab_Ransom_Note": gandcrab_note,
    "REvil_Config_Memory": revil_config,
    "REvil_Ransom_Note": revil_note,
}


# ---------------------------------------------------------------- near-misses


def nm_security_pe() -> dict[str, bytes]:
    # An anti-ransomware tool that lists family artefacts one or two at a time.
    return {
        "ransom-vaccine": pe(
            *w("tasksche.exe", "c.wnry", "RyukReadMe.txt", "CONTI_README.txt", "perfc.dat", ".locky", "GANDCRAB"),
            *w("vssadmin list shadows", "Check Payment"),
        )
    }


def nm_backup_tool() -> dict[str, bytes]:
    return {
        "backup-tool": pe(*w("vssadmin Delete Shadows /all /quiet", "icacls . /grant Everyone:F /T /C /Q", "-size"))
    }


def nm_backup_bat() -> dict[str, bytes]:
    return {
        "backup-maintenance-bat": text(
            "@echo off",
            "rem weekly shadow storage maintenance",
            "vssadmin resize shadowstorage /for=c: /on=c: /maxsize=20%",
            "vssadmin list shadows",
            "del /q c:\\temp\\*.bak",
        )
    }


def nm_faq() -> dict[str, bytes]:
    return {
        "support-faq": text(
            "Q:  What's wrong with my computer?",
            "Q:  Can I recover my files after deleting them?",
            "Q:  How do I pay my invoice?",
            "Use the Recycle Bin.",
        )
    }


def nm_security_news() -> dict[str, bytes]:
    return {
        "security-article": text(
            split("The Ryuk and Conti families encrypt files; no system ", "is perfectly safe."),
            "Back up to offline media. Criminals ask for a BTC payment through Tor Browser.",
            split("RSA-2048 and AES-128 ", "ciphers are standard algorithms."),
            split("Your files are encrypted", " at rest by the disk encryption feature."),
        )
    }


def nm_config_json() -> dict[str, bytes]:
    return {
        "app-config-json": text(
            '{"pk":"abc","pid":"1","sub":"2","dbg":false,"wht":{"fld":["x"]},"nname":"readme.txt"}',
        )
    }


def nm_menu_html() -> dict[str, bytes]:
    return {"menu-html": text("<a># DECRYPT MY FILES #</a> is a song title.", "Cerber is a typo of Cerberus.")}


NEARMISS: Builders = {
    "WannaCry_Dropper": nm_security_pe,
    "WannaCry_Encryptor": nm_backup_tool,
    "WannaCry_Decryptor_UI": nm_security_pe,
    "WannaCry_Readme": nm_faq,
    "Ryuk_Encryptor": nm_security_pe,
    "Ryuk_Ransom_Note": nm_security_news,
    "Ryuk_Window_Bat": nm_backup_bat,
    "Conti_Encryptor": nm_backup_tool,
    "Conti_Ransom_Note": nm_security_news,
    "NotPetya_Encryptor": nm_security_pe,
    "NotPetya_Ransom_Note": nm_security_news,
    "Locky_Encryptor": nm_security_pe,
    "Locky_Ransom_Note": nm_security_news,
    "Cerber_Ransomware": nm_menu_html,
    "GandCrab_Encryptor": nm_security_pe,
    "GandCrab_Ransom_Note": nm_security_news,
    "REvil_Config_Memory": nm_config_json,
    "REvil_Ransom_Note": nm_security_news,
}
