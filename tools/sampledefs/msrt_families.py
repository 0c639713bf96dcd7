"""Inert samples and near-misses for signatures/rules/msrt_families.yar."""

from __future__ import annotations

from sample_blocks import HOST, INERT_NOTE, Builders, a, pe, split, text, w


def rustock_driver() -> dict[str, bytes]:
    return {
        "rustock-driver": pe(
            *a(
                "ntoskrnl.exe",
                "KeServiceDescriptorTable",
                "\\SystemRoot\\system32:lzx32.sys",
                "glaide32.sys",
                INERT_NOTE,
            )
        )
    }


def rustock_dropper() -> dict[str, bytes]:
    return {
        "rustock-dropper": pe(
            *a("OpenSCManagerA", "CreateServiceA", "lzx32.sys", INERT_NOTE),
            *w("%SystemRoot%\\system32\\drivers\\beep.sys"),
        )
    }


def zeroaccess_rootkit() -> dict[str, bytes]:
    return {
        "zeroaccess-driver": pe(
            *w("\\Device\\svchost.exe", "\\systemroot\\$NtUninstallKB31725$", "ACPI#PNP0303#2&da1a3ff&0"),
            *a(INERT_NOTE),
        )
    }


def zeroaccess_loader() -> dict[str, bytes]:
    return {
        "zeroaccess-loader": pe(
            *w("\\$Recycle.Bin\\S-1-5-18\\", "\\U\\80000032.@", "\\U\\800000cb.@"),
            *a("\\{6e4f3d1a-2b7c-4d8e-9f01-23456789abcd}\\@", INERT_NOTE),
        )
    }


def waledac() -> dict[str, bytes]:
    return {
        "waledac-pe": pe(
            *a(
                "<lm><v>1</v><i>%s</i><r>0</r><t>getkey</t></lm>",
                "<t>first</t>",
                "<t>taskreq</t>",
                "<t>emails</t>",
                "<t>httpstats</t>",
                INERT_NOTE,
            )
        )
    }


def taterf_worm() -> dict[str, bytes]:
    return {
        "taterf-worm": pe(
            *a(
                "kavo.exe",
                "kavo0.dll",
                "kavo1.dll",
                "autorun.inf",
                "shell\\open\\Command=",
                "Software\\Microsoft\\Windows\\CurrentVersion\\Run",
                "kava",
                INERT_NOTE,
            )
        )
    }


def taterf_stealer() -> dict[str, bytes]:
    return {
        "taterf-kavo0-dll": pe(
            *a("kavo0.dll", "elementclient.exe", "wow.exe", "MapleStory.exe", "cabalmain.exe", INERT_NOTE)
        )
    }


def taterf_inf() -> dict[str, bytes]:
    return {
        "taterf-autorun-inf": text(
            "[AutoRun]",
            "open=x2fk1.cmd",
            "shell\\open\\Command=x2fk1.cmd",
            "shell\\open\\Default=1",
            "shell\\explore\\Command=x2fk1.cmd",
        )
    }


def hupigon() -> dict[str, bytes]:
    return {
        "hupigon-pe": pe(
            *a("SOFTWARE\\Borland\\Delphi\\RTL", "TPF0", "Hacker.com.cn.exe", "GrayPigeon_Hacker.com.cn", INERT_NOTE)
        )
    }


def hupigon_installer() -> dict[str, bytes]:
    return {
        "hupigon-installer": pe(
            *a(
                "SYSTEM\\CurrentControlSet\\Services\\GrayPigeonServer",
                "CreateServiceA",
                "g_server.exe",
                f"http://{HOST}/a/hui.txt",
                INERT_NOTE,
            )
        )
    }


def daonol() -> dict[str, bytes]:
    return {
        "daonol-pe": pe(
            *a(
                "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Drivers32",
                "midi9",
                "%SystemRoot%\\system32\\..\\vqfasf.tmp",
                INERT_NOTE,
            )
        )
    }


def gumblar_page() -> dict[str, bytes]:
    return {
        "gumblar-html": text(
            "<html><body><p>page</p>",
            f"<!-- {INERT_NOTE} -->",
            split('<script src="http://gum', 'blar.cn/rss/?id=3"></script>'),
            "</body></html>",
        ),
        "gumblar-js": text(
            f"// {INERT_NOTE}",
            split("/*GNU ", "GPL*/ try{window.onload = function(){var x=1;}}"),
            split("/*GNU ", "GPL*/ } catch(e) {}"),
        ),
    }


SAMPLES: Builders = {
    "Rustock_Rootkit_Driver": rustock_driver,
    "Rustock_Dropper": rustock_dropper,
    "ZeroAccess_Rootkit": zeroaccess_rootkit,
    "ZeroAccess_Loader": zeroaccess_loader,
    "Waledac_Bot": waledac,
    "Taterf_Worm": taterf_worm,
    "Taterf_GameStealer": taterf_stealer,
    "Taterf_Autorun_Inf": taterf_inf,
    "Hupigon_Backdoor": hupigon,
    "Hupigon_Service_Installer": hupigon_installer,
    "Daonol_Downloader": daonol,
    "Daonol_Gumblar_Injection": gumblar_page,
}


# ---------------------------------------------------------------- near-misses


def nm_driver() -> dict[str, bytes]:
    # A legitimate kernel driver importing the same things, naming one Rustock file in a removal list.
    return {"av-driver": pe(*a("ntoskrnl.exe", "KeServiceDescriptorTable", "IoCreateDevice", "lzx32.sys"))}


def nm_service_installer() -> dict[str, bytes]:
    return {
        "driver-installer": pe(
            *a("OpenSCManagerW", "CreateServiceW", "StartServiceW"),
            *w("%SystemRoot%\\system32\\drivers\\beep.sys", "%SystemRoot%\\system32\\drivers\\null.sys"),
        )
    }


def nm_recycle() -> dict[str, bytes]:
    # A disk cleaner walking the recycle bins.
    return {
        "recycle-cleaner": pe(
            *w("\\$Recycle.Bin\\S-1-5-18\\", "RECYCLER\\S-1-5-18\\", "\\Device\\HarddiskVolume1", "$NtUninstallKB"),
        )
    }


def nm_xml_client() -> dict[str, bytes]:
    return {"xml-client": pe(*a("<lm>", "</lm>", "<v>", "<t>notify</t>", "<list>", "<item>"))}


def nm_autorun_tool() -> dict[str, bytes]:
    # A USB vaccine that knows the worm's names and deletes autorun.inf.
    return {
        "usb-vaccine": pe(
            *a("autorun.inf", "kavo.exe", "Software\\Microsoft\\Windows\\CurrentVersion\\Run", "DeleteFileA")
        )
    }


def nm_game_launcher() -> dict[str, bytes]:
    return {"game-launcher": pe(*a("elementclient.exe", "wow.exe", "MapleStory.exe", "cabalmain.exe", "launcher"))}


def nm_cd_autorun() -> dict[str, bytes]:
    return {
        "cd-autorun-inf": text(
            "[AutoRun]",
            "open=setup.exe",
            "icon=setup.exe,0",
            "label=Driver CD",
            "shell\\install\\Command=setup.exe /install",
        )
    }


def nm_delphi_app() -> dict[str, bytes]:
    return {
        "delphi-app": pe(
            *a("SOFTWARE\\Borland\\Delphi\\RTL", "TPF0", "TForm1", "http://www.hacker.com.cn.example.org/forum")
        )
    }


def nm_service_tool() -> dict[str, bytes]:
    return {"service-tool": pe(*a("CreateServiceA", "SYSTEM\\CurrentControlSet\\Services\\Spooler", "g_server_config"))}


def nm_midi_driver() -> dict[str, bytes]:
    return {
        "midi-setup": pe(
            *a("SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Drivers32", "midi9", "wdmaud.drv", "midimapper")
        )
    }


def nm_page() -> dict[str, bytes]:
    return {
        "gpl-page-js": text(
            "/* GNU GPL v2 or later */",
            "/*GNU GPL*/",
            "window.onload = function () { init(); };",
            '<script src="https://cdn.example.org/jquery.js"></script>',
        )
    }


NEARMISS: Builders = {
    "Rustock_Rootkit_Driver": nm_driver,
    "Rustock_Dropper": nm_service_installer,
    "ZeroAccess_Rootkit": nm_recycle,
    "ZeroAccess_Loader": nm_recycle,
    "Waledac_Bot": nm_xml_client,
    "Taterf_Worm": nm_autorun_tool,
    "Taterf_GameStealer": nm_game_launcher,
    "Taterf_Autorun_Inf": nm_cd_autorun,
    "Hupigon_Backdoor": nm_delphi_app,
    "Hupigon_Service_Installer": nm_service_tool,
    "Daonol_Downloader": nm_midi_driver,
    "Daonol_Gumblar_Injection": nm_page,
}
