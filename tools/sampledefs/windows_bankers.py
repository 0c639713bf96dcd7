"""Inert samples and near-misses for signatures/rules/windows_bankers.yar."""

from __future__ import annotations

from sample_blocks import HOST, INERT_NOTE, Builders, a, pe, split, text, w


def emotet() -> dict[str, bytes]:
    return {"emotet-pe": pe(*w("Global\\I%X", "Global\\M%X", "%s:Zone.Identifier", "%s\\%s.exe", INERT_NOTE))}


def trickbot_config() -> dict[str, bytes]:
    # The decrypted main configuration as the bot holds it (no header: also what a process holds).
    return {
        "trickbot-mcconf": text(
            f"<!-- {INERT_NOTE} -->",
            split("<mc", "conf><ver>1000512</ver><gtag>tt0002</gtag>"),
            split("<s", f"rv>{HOST}:443</srv>"),
            split("<s", f"rv>{HOST}:449</srv>"),
            "</mcconf>",
        )
    }


def trickbot_moduleconfig() -> dict[str, bytes]:
    return {
        "trickbot-moduleconfig": text(
            f"<!-- {INERT_NOTE} -->",
            split("<module", "config><autostart>yes</autostart><sys>yes</sys>"),
            split("<needinfo ", 'name="id"/>'),
            split("<needinfo ", 'name="ip"/>'),
            "</moduleconfig>",
        )
    }


def trickbot_module() -> dict[str, bytes]:
    return {
        "trickbot-module": pe(
            *a("systeminfo64.dll", "Control", "FreeBuffer", "Release", "Start", "systeminfo", "pwgrab", INERT_NOTE)
        )
    }


def icedid() -> dict[str, bytes]:
    return {
        "icedid-pe": pe(
            *a("Cookie: ", "__gads=", "; _gat=", "; _ga=", "; _u=", "; __io=", "; _gid=", INERT_NOTE),
        )
    }


def ursnif() -> dict[str, bytes]:
    return {
        "ursnif-pe": pe(
            *a("soft=%u&version=%u&user=%08x%08x%08x%08x&server=%u&id=%u&crc=%x", "&ip=%s", "&os=%s", INERT_NOTE)
        )
    }


def conficker() -> dict[str, bytes]:
    return {
        "conficker-dll": pe(
            *a("netsvcs", "trafficconverter.biz", "http://www.maxmind.com/download/geoip/database/GeoIP.dat.gz"),
            *a("http://checkip.dyndns.org", "http://getmyip.org", INERT_NOTE),
        )
    }


def conficker_autorun() -> dict[str, bytes]:
    return {
        "conficker-autorun-inf": text(
            f"; {INERT_NOTE}",
            "[AutoRun]",
            ";junk",
            split(
                "open=RUNDLL32.EXE .\\RECYCLER\\S-5-3-42-2819952290-8240758988-879315005-3665\\",
                "jwgkvsq.vmx,ahaezedrn",
            ),
        )
    }


def ramnit_html() -> dict[str, bytes]:
    return {
        "ramnit-infected-html": text(
            "<html><body><p>host page</p></body></html>",
            "<SCRIPT Language=VBScript><!--",
            "' " + INERT_NOTE,
            "' The dropper below never runs: it sits after an unconditional exit.",
            "Exit Sub",
            split('DropFileName = "svc', 'host.exe"'),
            split('WriteData = "4D5', 'A9000"'),
            'Set FSO = CreateObject("Scripting.FileSystemObject")',
            "//--></SCRIPT>",
        )
    }


def ramnit_pe() -> dict[str, bytes]:
    return {"ramnit-pe": pe(*a("KyUffThOkYwRRtgPP", "Srv.exe", INERT_NOTE))}


def sality() -> dict[str, bytes]:
    return {
        "sality-pe": pe(
            *a("Software\\Aasppapmmxkvs\\", "\\drivers\\amsint32.sys", "AntiVirusDisableNotify"),
            *a("FirewallDisableNotify", "autorun.inf", INERT_NOTE),
        )
    }


SAMPLES: Builders = {
    "Emotet_Loader": emotet,
    "TrickBot_Config_Memory": trickbot_config,
    "TrickBot_ModuleConfig_Memory": trickbot_moduleconfig,
    "TrickBot_Module": trickbot_module,
    "IcedID_Loader": icedid,
    "Ursnif_Gozi": ursnif,
    "Conficker_Worm": conficker,
    "Conficker_Autorun": conficker_autorun,
    "Ramnit_HTML_Infection": ramnit_html,
    "Ramnit_Binary": ramnit_pe,
    "Sality_Infector": sality,
}


# ---------------------------------------------------------------- near-misses


def nm_mutex_app() -> dict[str, bytes]:
    return {"single-instance-app": pe(*w("Global\\I%X", "Local\\M%X", "%s:Zone.Identifier", "%s\\%s.exe"))}


def nm_xml_config() -> dict[str, bytes]:
    return {
        "app-config-xml": text(
            '<?xml version="1.0"?>',
            "<config><ver>1000512</ver><gtag>release</gtag>",
            f"<server>{HOST}:443</server>",
            "<module><autostart>yes</autostart></module>",
            '<needinfo name="hostname"/>',
            "</config>",
        )
    }


def nm_plugin_dll() -> dict[str, bytes]:
    return {"plugin-dll": pe(*a("Control", "Release", "Start", "FreeBuffer", "systeminfo"))}


def nm_analytics() -> dict[str, bytes]:
    return {"analytics-client": pe(*a("Cookie: ", "_ga=", "; _gid=", "; _gat=", "https://example.org/collect"))}


def nm_updater() -> dict[str, bytes]:
    return {"updater": pe(*a("version=%u&build=%u&os=%s", "&ip=%s", "Software\\AppDataLow\\Software\\Microsoft\\"))}


def nm_ip_tool() -> dict[str, bytes]:
    return {"ip-tool": pe(*a("http://checkip.dyndns.org", "GeoIP.dat", "netsvcs", "rundll32.exe"))}


def nm_autorun_usb() -> dict[str, bytes]:
    return {
        "usb-autorun-inf": text(
            "[AutoRun]",
            "open=rundll32.exe shell32.dll,Control_RunDLL",
            "icon=drive.ico",
        )
    }


def nm_vbs_page() -> dict[str, bytes]:
    return {
        "vbs-page": text(
            "<html><SCRIPT Language=VBScript>",
            'Set FSO = CreateObject("Scripting.FileSystemObject")',
            'LogFileName = "svchost.log"',
            "</SCRIPT></html>",
        )
    }


def nm_startup_tool() -> dict[str, bytes]:
    return {"startup-tool": pe(*a("Srv.exe", "\\Start Menu\\Programs\\Startup\\", "KyUff"))}


def nm_security_center() -> dict[str, bytes]:
    return {
        "security-center-tool": pe(*a("AntiVirusDisableNotify", "FirewallDisableNotify", "EnableLUA", "autorun.inf"))
    }


NEARMISS: Builders = {
    "Emotet_Loader": nm_mutex_app,
    "TrickBot_Config_Memory": nm_xml_config,
    "TrickBot_ModuleConfig_Memory": nm_xml_config,
    "TrickBot_Module": nm_plugin_dll,
    "IcedID_Loader": nm_analytics,
    "Ursnif_Gozi": nm_updater,
    "Conficker_Worm": nm_ip_tool,
    "Conficker_Autorun": nm_autorun_usb,
    "Ramnit_HTML_Infection": nm_vbs_page,
    "Ramnit_Binary": nm_startup_tool,
    "Sality_Infector": nm_security_center,
}
