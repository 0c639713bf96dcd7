/*
   macOS malware as it lands on disk: the Atomic macOS Stealer (AMOS), both its Mach-O builds and
   the AppleScript its later builds run through osascript, and the Shlayer downloader's shell
   stages from fake Flash Player installers. Binaries must be Mach-O (thin 32/64-bit or a
   universal binary with few architectures, which a Java class file is not); scripts must start
   with a shebang or carry AppleScript handlers written as regular expressions.
*/

rule AMOS_Stealer_MachO
{
    meta:
        family = "AtomicStealer"
        severity = "critical"
        description = "Atomic macOS Stealer (AMOS) Mach-O: fake System Preferences password prompt checked with dscl -authonly, keychain and browser grabbing, deskwallets/FileGrabber folders and upload to /sendlog"
        reference = "https://cyble.com/blog/threat-actor-selling-new-atomic-macos-amos-stealer-on-telegram/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $dscl = "dscl /Local/Default -authonly" ascii
        $dialog = "display dialog" ascii
        $hidden = "with hidden answer" ascii
        $keychain = "find-generic-password -ga" ascii
        $wallets = "deskwallets/" ascii
        $grab = "FileGrabber/" ascii
        $send = "/sendlog" ascii
        $osa = "osascript -e" ascii

    condition:
        (uint32(0) == 0xFEEDFACF or uint32(0) == 0xFEEDFACE or (uint32be(0) == 0xCAFEBABE and uint32be(4) < 8))
        and filesize < 30MB
        and $dscl
        and 3 of ($dialog, $hidden, $keychain, $wallets, $grab, $send, $osa)
}

rule AMOS_Stealer_AppleScript
{
    meta:
        family = "AtomicStealer"
        severity = "critical"
        description = "Atomic macOS Stealer AppleScript payload: deskwallets/filegrabber/telegram handlers copying wallets, Telegram tdata and documents into a staging folder"
        reference = "https://cyble.com/blog/threat-actor-selling-new-atomic-macos-amos-stealer-on-telegram/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $h1 = /on\s+deskwallets\(\s*writemind\s*,/ ascii
        $h2 = /on\s+filegrabber\(\s*writemind\s*\)/ ascii
        $h3 = /on\s+telegram\(\s*writemind\s*,/ ascii
        $h4 = /on\s+chromium\(\s*writemind\s*,/ ascii
        $grab = "GrabFolder(" ascii
        $rw = "readwrite(" ascii
        $tdata = "Telegram Desktop/tdata/" ascii
        $fg = "FileGrabber/" ascii

    condition:
        filesize < 2MB
        and 2 of ($h*)
        and 2 of ($grab, $rw, $tdata, $fg)
}

rule Shlayer_Bash_Decryptor
{
    meta:
        family = "Shlayer"
        severity = "high"
        description = "Shlayer first stage in a fake installer app or DMG: a shell script that evals the output of openssl aes-256-cbc decrypting the bundle's Resources/enc with a fixed password"
        reference = "https://securelist.com/shlayer-for-macos/95724/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $sh = "#!/bin/" ascii
        $eval = /eval\s+"\$\(openssl\s+enc\s+[^)\n]{0,60}-aes-256-cbc\s+[^)\n]{0,30}-pass\s+pass:\S{1,64}\s*<\s*"?\$\w{1,20}"?\/Resources\/enc\s*\)"/ ascii
        $src = /cd\s+"\$\(dirname\s+"\$BASH_SOURCE"\)"/ ascii

    condition:
        filesize < 16KB
        and $sh at 0
        and $eval
        and $src
}

rule Shlayer_Bash_Downloader
{
    meta:
        family = "Shlayer"
        severity = "high"
        description = "Shlayer second stage: fetches the payload app into a mktemp Installer directory with curl -f0L, unpacks it, makes it executable, opens it and closes Terminal"
        reference = "https://securelist.com/shlayer-for-macos/95724/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $sh = "#!/bin/" ascii
        $tmp = /\$\(mktemp\s+-t\s+Installer\)/ ascii
        $curl = /curl\s+-f0L\s+"?https?:\/\// ascii
        $chmod = /chmod\s+777\s+"\$\w{1,12}"/ ascii
        $kill = "killall Terminal" ascii
        $open = /open\s+-a\s+"\$\w{1,12}"/ ascii

    condition:
        filesize < 16KB
        and $sh at 0
        and $tmp and $curl
        and 2 of ($chmod, $kill, $open)
}
