/*
   Bulk mailers and phishing kits uploaded to compromised PHP sites: Leaf PHPMailer (and the
   shells built from its password gate), and the result scripts of credential-phishing kits
   that mail or send to a Telegram bot what the victim typed, with the visitor's address and
   browser, then redirect to the real site. Contact forms mail a name and a message; they do
   not collect passwords and card codes.
*/

rule LeafMailer_Page
{
    meta:
        family = "LeafMailer"
        severity = "high"
        description = "Leaf PHPMailer bulk-spam page: its own name or site beside its leafTrim/leafClear/leafMailCheck helpers and random-tag substitution"
        reference = "https://flare.systems/learn/resources/phpmailer-abuse-to-send-spam-emails/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $php = "<?php" ascii nocase
        $name1 = "leafmailer.pw" ascii nocase
        $name2 = "Leaf PHPMailer" ascii nocase
        $name3 = /\$leaf\[\s*'website'\s*\]\s*=/ ascii
        $f1 = /function\s+leafTrim\s*\(/ ascii
        $f2 = /function\s+leafClear\s*\(/ ascii
        $f3 = /function\s+leafMailCheck\s*\(/ ascii
        $tag1 = "[-randommd5-]" ascii
        $tag2 = "[-randomstring-]" ascii
        $tag3 = "[-emailuser-]" ascii

    condition:
        filesize < 2MB
        and $php
        and 1 of ($name*)
        and 1 of ($f*)
        and 2 of ($f*, $tag*)
}

rule LeafMailer_Password_Gate
{
    meta:
        family = "LeafMailer"
        severity = "high"
        description = "Leaf PHPMailer's session password gate (also reused by shells built from it): $leaf version/website settings, md5(__FILE__) session key, unlimited memory and time"
        reference = "https://flare.systems/learn/resources/phpmailer-abuse-to-send-spam-emails/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $php = "<?php" ascii nocase
        $ver = /\$leaf\[\s*'version'\s*\]\s*=\s*"/ ascii
        $site = /\$leaf\[\s*'website'\s*\]\s*=\s*"/ ascii
        $sess = /\$sessioncode\s*=\s*md5\(__FILE__\);/ ascii
        $mem = /ini_set\(\s*"memory_limit"\s*,\s*-1\s*\)/ ascii
        $pass = /\$_REQUEST\[\s*'pass'\s*\]\s*==\s*\$password/ ascii

    condition:
        filesize < 2MB
        and $php in (0..1024)
        and $ver and $site and $sess
        and 1 of ($mem, $pass)
}

rule PhishingKit_Telegram_Exfil
{
    meta:
        family = "PhishingKit"
        severity = "high"
        description = "Phishing-kit result script: builds a message from the victim's posted password or card fields with IP and user agent, sends it to a Telegram bot and redirects the victim"
        reference = "https://attack.mitre.org/techniques/T1598/003/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $php = "<?php" ascii nocase
        $tg = /api\.telegram\.org\/bot["']?\s*\.\s*\$/ ascii
        $send1 = "sendMessage" ascii
        $send2 = "sendmessage" ascii
        $msg_pass = /\.=\s*"[^"\n]{0,60}"\s*\.\s*\$_(POST|REQUEST)\[\s*['"](pass|password|passwd|pwd|pw|cvv|ssn|pin)['"]/ ascii
        $ip = /\$_SERVER\[\s*['"](REMOTE_ADDR|HTTP_CLIENT_IP|HTTP_X_FORWARDED_FOR)['"]\s*\]/ ascii
        $ua = "HTTP_USER_AGENT" ascii
        $loc = /header\(\s*["']Location:\s*https?:\/\// ascii

    condition:
        filesize < 512KB
        and $php in (0..1024)
        and $tg and 1 of ($send*) and $msg_pass
        and 2 of ($ip, $ua, $loc)
}

rule PhishingKit_Mail_Result
{
    meta:
        family = "PhishingKit"
        severity = "high"
        description = "Phishing-kit result script: mails the victim's posted login and password with IP, host and user agent to the kit owner, then redirects to the genuine site"
        reference = "https://attack.mitre.org/techniques/T1598/003/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $php = "<?php" ascii nocase
        $msg_user = /\.=\s*"[^"\n]{0,60}"\s*\.\s*\$_(POST|REQUEST)\[\s*['"](email|user|login|username|userid|mail)['"]/ ascii
        $msg_pass = /\.=\s*"[^"\n]{0,60}"\s*\.\s*\$_(POST|REQUEST)\[\s*['"](pass|password|passwd|pwd|pw)['"]/ ascii
        $mail = /\bmail\(\s*\$\w{1,20}\s*,\s*\$\w{1,20}\s*,\s*\$\w{1,20}/ ascii
        $ip = /\$_SERVER\[\s*['"](REMOTE_ADDR|HTTP_CLIENT_IP|HTTP_X_FORWARDED_FOR)['"]\s*\]/ ascii
        $host = "gethostbyaddr(" ascii
        $ua = "HTTP_USER_AGENT" ascii
        $loc = /header\(\s*["']Location:\s*https?:\/\// ascii

    condition:
        filesize < 512KB
        and $php in (0..1024)
        and $msg_user and $msg_pass and $mail
        and $ip and $loc
        and 1 of ($host, $ua)
}
