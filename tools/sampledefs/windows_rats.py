"""Inert samples and near-misses for signatures/rules/windows_rats.yar."""

from __future__ import annotations

from sample_blocks import HOST, INERT_NOTE, Builders, a, pe, w

NET = a("mscoree.dll", "_CorExeMain")
"""What every .NET executable imports."""


def agenttesla() -> dict[str, bytes]:
    return {
        "agenttesla-pe": pe(
            *NET,
            *w("%startupfolder%", "%insfolder%", "%insname%", "Time: ", "User Name: ", "Computer Name: "),
            *w("OSFullName: ", "CPU: ", "RAM: ", INERT_NOTE),
        )
    }


def agenttesla_memory() -> dict[str, bytes]:
    return {
        "agenttesla-strings": b"\0".join(
            w("%startupfolder%", "%insfolder%", "%insname%", "User Name: ", "Computer Name: ", INERT_NOTE)
        )
    }


ASYNC_WIDE = (
    "\\nuR\\noisreVtnerruC\\swodniW\\tfosorciM\\erawtfoS",
    "/c schtasks /create /f /sc onlogon /rl highest /tn ",
    "masterKey can not be null or empty.",
    "Input can not be null.",
)


def asyncrat() -> dict[str, bytes]:
    return {
        "asyncrat-pe": pe(*NET, *a("Ports", "Hosts", "Pastebin", "BDOS", "MTX", "Serversignature"), *w(*ASYNC_WIDE))
    }


def asyncrat_memory() -> dict[str, bytes]:
    # Only what the running client holds as .NET strings (UTF-16), no PE header.
    return {"asyncrat-strings": b"\0".join(w(*ASYNC_WIDE, INERT_NOTE))}


REMCOS = ("Remcos_Mutex_Inj", "Mutex_RemWatchdog", "Remcos restarted by watchdog!", "Watchdog module activated")


def remcos() -> dict[str, bytes]:
    return {"remcos-pe": pe(*a(*REMCOS, "Breaking-Security.Net", INERT_NOTE))}


def remcos_memory() -> dict[str, bytes]:
    return {"remcos-strings": b"\0" + b"\0".join(a(*REMCOS, INERT_NOTE)) + b"\0"}


def quasar() -> dict[str, bytes]:
    return {
        "quasar-pe": pe(
            *NET,
            *a("Quasar.Client", "Quasar.Common", "GetKeyloggerLogs", "DoShellExecute", "GetPasswords"),
            *a("DoDownloadAndExecute", INERT_NOTE),
        )
    }


DC = ("DC_MUTEX-F54S21D", "#KCMDDC51#-890", "#BOT#URLUpdate", "#BOT#VisitUrl", "#BOT#Ping")


def darkcomet() -> dict[str, bytes]:
    return {"darkcomet-pe": pe(*a(*DC, "DCPERSFWBP", "BTRESULT", "GENCODE", INERT_NOTE))}


def darkcomet_memory() -> dict[str, bytes]:
    return {"darkcomet-strings": b"\0" + b"\0".join(a("DC_MUTEX-F54S21D", "#KCMDDC51#-890123", *DC[2:])) + b"\0"}


def gh0st() -> dict[str, bytes]:
    return {
        "gh0st-pe": pe(
            *a("Gh0st", "\\\\.\\RESSDTDOS", "Gh0st Update", "%s\\%d_res.tmp"),
            *a("Applications\\iexplore.exe\\shell\\open\\command", INERT_NOTE),
        )
    }


def plugx() -> dict[str, bytes]:
    return {
        "plugx-pe": pe(
            *a("X-Session: %d", "X-Status: %d", "X-Size: %d", "X-Sn: %d", f"http://{HOST}/update?id=%8.8x"),
            *a("Software\\CLASSES\\FAST", INERT_NOTE),
        )
    }


def nanocore() -> dict[str, bytes]:
    return {
        "nanocore-pe": pe(
            *NET,
            *a("NanoCore Client.exe", "NanoCore.ClientPluginHost", "NanoCore.ClientPlugin"),
            *a("IClientNetworkHost", "IClientAppHost", "IClientUIHost", INERT_NOTE),
        )
    }


def redline() -> dict[str, bytes]:
    return {
        "redline-pe": pe(
            *NET,
            *a("RedLine.Logic.Helpers", "RedLine.Client.Models", "ScannedBrowser", "ScannedFile", "ScanningArgs"),
            *w("http://tempuri.org/Endpoint/", INERT_NOTE),
        )
    }


def netwire() -> dict[str, bytes]:
    return {
        "netwire-pe": pe(
            *a("HostId", "Install Date", "%Rand%", "%s\\.purple\\accounts.xml", "SOFTWARE\\NetWire", INERT_NOTE)
        )
    }


def pony() -> dict[str, bytes]:
    return {
        "pony-pe": pe(
            *a("YUIPWDFILE0YUIPKDFILE0YUICRYPTED0YUI1.0", "Software\\Ghisler\\Windows Commander"),
            *a("\\FileZilla\\sitemanager.xml", f"http://{HOST}/gate.php", INERT_NOTE),
        )
    }


def lokibot() -> dict[str, bytes]:
    return {
        "lokibot-pe": pe(
            *a("fuckav.ru", "%s\\FileZilla\\recentservers.xml", "Software\\SimonTatham\\PuTTY\\Sessions"),
            *a("Software\\Martin Prikryl\\WinSCP 2\\Sessions", INERT_NOTE),
        )
    }


SAMPLES: Builders = {
    "AgentTesla_Stealer": agenttesla,
    "AgentTesla_Memory": agenttesla_memory,
    "AsyncRAT_Client": asyncrat,
    "AsyncRAT_Memory": asyncrat_memory,
    "Remcos_RAT": remcos,
    "Remcos_Memory": remcos_memory,
    "QuasarRAT_Client": quasar,
    "DarkComet_RAT": darkcomet,
    "DarkComet_Memory": darkcomet_memory,
    "Gh0stRAT_Server": gh0st,
    "PlugX_Backdoor": plugx,
    "NanoCore_RAT": nanocore,
    "RedLine_Stealer": redline,
    "NetWire_RAT": netwire,
    "Pony_Fareit_Stealer": pony,
    "LokiBot_Stealer": lokibot,
}


# ---------------------------------------------------------------- near-misses


def nm_dotnet_reporter() -> dict[str, bytes]:
    # A .NET inventory tool printing machine facts, with one install placeholder.
    return {"inventory-tool": pe(*NET, *w("%insfolder%", "Time: ", "User Name: ", "Computer Name: ", "CPU: ", "RAM: "))}


def nm_dotnet_tasks() -> dict[str, bytes]:
    return {
        "task-helper": pe(
            *NET,
            *a("Hosts", "Ports", "Anti", "Version"),
            *w("/c schtasks /create /f /sc daily /tn Updater", "Input can not be null."),
        )
    }


def nm_remote_support() -> dict[str, bytes]:
    return {
        "remote-support": pe(
            *a("Breaking-Security.Net", "Watchdog module activated", "SupportTool_Mutex"),
            *w("Remcos detection removed"),
        )
    }


def nm_dotnet_admin() -> dict[str, bytes]:
    return {"admin-tool": pe(*NET, *a("Admin.Client", "GetPasswords", "DoShellExecute", "GetDesktop"))}


def nm_dc_strings() -> dict[str, bytes]:
    return {"chat-bot": pe(*a("#BOT#Ping", "GENCODE", "DCDATA", "DC_MUTEX", "BOT_MUTEX-1234567"))}


def nm_ghost_game() -> dict[str, bytes]:
    return {"ghost-game": pe(*a("Gh0st", "Ghost Hunter", "SYSTEM\\CurrentControlSet\\Services\\%s", "savegame.tmp"))}


def nm_http_client() -> dict[str, bytes]:
    return {"http-client": pe(*a("X-Session: %s", "X-Status: %d", "Content-Length: %d", "/update?id=%s", "PlugIn.dll"))}


def nm_plugin_host() -> dict[str, bytes]:
    return {"plugin-host": pe(*NET, *a("NanoCore Client docs", "IClientNetworkHost", "IClientAppHost", "PluginHost"))}


def nm_wcf_client() -> dict[str, bytes]:
    return {
        "wcf-client": pe(*NET, *a("Contoso.Logic", "ScannedFile", "ScanReport"), *w("http://tempuri.org/Endpoint/"))
    }


def nm_chat_client() -> dict[str, bytes]:
    return {"pidgin-helper": pe(*a("HostId", "%s\\.purple\\accounts.xml", "Install Date", "prefs.xml"))}


def nm_ftp_manager() -> dict[str, bytes]:
    return {"ftp-manager": pe(*a("Software\\Ghisler\\Windows Commander", "\\FileZilla\\sitemanager.xml", "gate.php"))}


def nm_password_manager() -> dict[str, bytes]:
    return {
        "password-import": pe(
            *a("%s\\FileZilla\\recentservers.xml", "Software\\SimonTatham\\PuTTY\\Sessions", "Import")
        )
    }


NEARMISS: Builders = {
    "AgentTesla_Stealer": nm_dotnet_reporter,
    "AgentTesla_Memory": nm_dotnet_reporter,
    "AsyncRAT_Client": nm_dotnet_tasks,
    "AsyncRAT_Memory": nm_dotnet_tasks,
    "Remcos_RAT": nm_remote_support,
    "Remcos_Memory": nm_remote_support,
    "QuasarRAT_Client": nm_dotnet_admin,
    "DarkComet_RAT": nm_dc_strings,
    "DarkComet_Memory": nm_dc_strings,
    "Gh0stRAT_Server": nm_ghost_game,
    "PlugX_Backdoor": nm_http_client,
    "NanoCore_RAT": nm_plugin_host,
    "RedLine_Stealer": nm_wcf_client,
    "NetWire_RAT": nm_chat_client,
    "Pony_Fareit_Stealer": nm_ftp_manager,
    "LokiBot_Stealer": nm_password_manager,
}
