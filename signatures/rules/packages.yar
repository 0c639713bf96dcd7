/*
   Malicious packages from the npm and PyPI registries, as they sit in a project's dependencies
   or site-packages: the W4SP stealer loader injected into setup.py/__init__.py (plain or as a
   base64 exec one-liner), the flatmap-stream payload that compromised event-stream, and the
   install scripts of the hijacked ua-parser-js releases. Every rule needs code written as a
   regular expression beside the published literals, so advisories quoting them stay clean.
*/

rule W4SP_Loader_Plain
{
    meta:
        family = "W4SP-Stealer"
        severity = "critical"
        description = "W4SP stealer loader in a PyPI package: writes a urlopen/exec stub to a NamedTemporaryFile and starts it with pythonw through aliased imports (_ffile, _eexecutable, _ssystem)"
        reference = "https://checkmarx.com/blog/wasp-attack-on-python-polymorphic-malware-shipping-wasp-stealer-infecting-hundreds-victims/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $tmp = /_ttmp\s*=\s*_ffile\(\s*delete\s*=\s*False\s*\)/ ascii
        $i1 = "NamedTemporaryFile as _ffile" ascii
        $i2 = "executable as _eexecutable" ascii
        $i3 = "system as _ssystem" ascii
        $i4 = "urlopen as _uurlopen" ascii
        $start = /_ssystem\(\s*f["']start \{_eexecutable\.replace\(/ ascii

    condition:
        filesize < 1MB
        and ($tmp or $start)
        and 3 of ($i*)
}

rule W4SP_Loader_Encoded
{
    meta:
        family = "W4SP-Stealer"
        severity = "critical"
        description = "W4SP stealer loader hidden as one exec/compile/b64decode line through __import__('builtins'), its base64 decoding to the _ffile/_eexecutable loader"
        reference = "https://checkmarx.com/blog/wasp-attack-on-python-polymorphic-malware-shipping-wasp-stealer-infecting-hundreds-victims/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $chain = /__import__\(\s*['"]builtins['"]\s*\)\.exec\(\s*__import__\(\s*['"]builtins['"]\s*\)\.compile\(\s*__import__\(\s*['"]base64['"]\s*\)\.b64decode\(/ ascii
        $payload = "ZnJvbSB0ZW1wZmlsZSBpbXBvcnQgTmFtZWRUZW1wb3JhcnlGaWxlIGFzIF9mZmlsZQpmcm9tIHN5cyBp" ascii

    condition:
        filesize < 1MB and $chain and $payload
}

rule FlatmapStream_Payload
{
    meta:
        family = "FlatmapStream"
        severity = "critical"
        description = "flatmap-stream 0.1.1 payload (event-stream compromise): hex-named require of ./test/data, AES-decrypted with the npm package description and loaded as a new module"
        reference = "https://github.com/dominictarr/event-stream/issues/116"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $hex = /Buffer\.from\(\s*\w{1,4}\s*,\s*["']hex["']\s*\)\.toString\(\)/ ascii
        $data = "2e2f746573742f64617461" ascii
        $desc = "6e706d5f7061636b6167655f6465736372697074696f6e" ascii
        $mod = /new\s+module\.constructor/ ascii
        $paths = /\w{1,4}\.paths\s*=\s*module\.paths/ ascii

    condition:
        filesize < 1MB
        and $hex and $data
        and ($mod or $paths)
        and ($desc or ($mod and $paths))
}

rule UAParserJS_Preinstall_Sh
{
    meta:
        family = "UAParserJS-Hijack"
        severity = "critical"
        description = "Hijacked ua-parser-js preinstall.sh: skips Russia/Ukraine/Belarus/Kazakhstan by freegeoip lookup, fetches and runs the jsextension miner"
        reference = "https://github.com/advisories/GHSA-pjwm-rvh2-c87w"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $geo = /curl\s+-k\s+https:\/\/freegeoip\.app\/xml\/\s*\|\s*grep\s+'RU\\\|UA\\\|BY\\\|KZ'/ ascii
        $pgrep = "pgrep jsextension" ascii
        $get = /(curl|wget)\s+https?:\/\/\S{1,80}\/download\/jsextension\s+-[oO]\s+jsextension/ ascii
        $run = "./jsextension -k --tls" ascii

    condition:
        filesize < 64KB
        and ($geo or $get)
        and 2 of ($pgrep, $run, $get, $geo)
}

rule UAParserJS_Preinstall_Bat
{
    meta:
        family = "UAParserJS-Hijack"
        severity = "critical"
        description = "Hijacked ua-parser-js preinstall.bat: downloads jsextension.exe and the sdd.dll password stealer, registers the DLL with regsvr32"
        reference = "https://github.com/advisories/GHSA-pjwm-rvh2-c87w"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $exe = /(curl|wget)\s+https?:\/\/\S{1,80}\/download\/jsextension\.exe\s+-[oO]\s+jsextension\.exe/ ascii
        $dll = /(curl|wget)\s+https?:\/\/\S{1,80}\/sdd\.dll\s+-[oO]\s+sdd\.dll/ ascii
        $reg = /regsvr32(\.exe)?\s+-s\s+sdd\.dll/ ascii

    condition:
        filesize < 64KB
        and 2 of them
}

rule UAParserJS_Preinstall_Js
{
    meta:
        family = "UAParserJS-Hijack"
        severity = "high"
        description = "Hijacked ua-parser-js preinstall.js: picks preinstall.sh or preinstall.bat by process.platform and runs it through child_process"
        reference = "https://github.com/advisories/GHSA-pjwm-rvh2-c87w"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $fn = /function\s+terminalLinux\s*\(\s*\)/ ascii
        $sh = /exec\(\s*["']\/bin\/bash\s+preinstall\.sh["']/ ascii
        $bat = /spawn\(\s*['"]cmd\.exe['"]\s*,\s*\[\s*['"]\/c['"]\s*,\s*['"]preinstall\.bat['"]/ ascii
        $plat = "process.platform" ascii

    condition:
        filesize < 64KB
        and $plat
        and 2 of ($fn, $sh, $bat)
}
