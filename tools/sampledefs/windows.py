"""Inert samples and near-misses for signatures/rules/windows.yar."""

from __future__ import annotations

from sample_blocks import INERT_NOTE, Builders, a, pe, split, text, w


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


SAMPLES: Builders = {
    "Zbot_Zeus_Trojan": zbot,
    "Mimikatz_Binary": mimikatz,
    "Mimikatz_PowerShell_Loader": mimikatz_ps,
    "CobaltStrike_Beacon_Config": beacon_config,
    "CobaltStrike_Beacon_Strings": beacon_strings,
    "CobaltStrike_PowerShell_Stager": beacon_stager,
    "NjRAT_Binary": njrat,
}

NEARMISS: Builders = {}
