/*
   Payment-card skimmers (Magecart): JavaScript injected into checkout pages that copies the
   card form and sends it to a collector, and server-side PHP patched into a shop's payment
   model that logs or mails the card fields. A legitimate checkout reads the same fields and
   posts them to its own payment endpoint; the rules key on what a checkout never does: a
   form serialised on mouse-up into a JSON POST with a bogus data type, card fields base64'd
   into an image beacon, card numbers written to a file or a mail.
*/

rule Magecart_JQuery_Form_Skimmer
{
    meta:
        family = "Magecart"
        severity = "critical"
        description = "Magecart skimmer of the British Airways kind: on mouseup/touchend of the pay button it serialises the payment form field by field and POSTs it with the bogus dataType application/json"
        reference = "https://www.riskiq.com/blog/labs/magecart-british-airways-breach/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $bind = /\.bind\(\s*["']mouseup touchend["']\s*,\s*function/ ascii
        $ser = /\.serializeArray\(\)\.map\(\s*function\s*\(\s*\w{1,12}\s*\)\s*\{\s*\w{1,12}\[\w{1,12}\.name\]\s*=\s*\w{1,12}\.value/ ascii
        $post = /type\s*:\s*["'](POST|post)["']/ ascii
        $dtype = /dataType\s*:\s*["']application\/json["']/ ascii

    condition:
        filesize < 2MB
        and $bind and $ser
        and $post and $dtype
}

rule Magecart_Image_Beacon_Skimmer
{
    meta:
        family = "Magecart"
        severity = "critical"
        description = "Card skimmer JavaScript: runs only on checkout/onepage URLs, collects card number, CVV and expiry fields and sends them base64-encoded in an image request"
        reference = "https://attack.mitre.org/techniques/T1056/003/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $loc = /(location\.href|location\.pathname|document\.URL)\.(indexOf|search|includes)\(\s*["'](checkout|onepage|onestepcheckout)/ ascii
        $img = /new\s+Image\(\)\.src\s*=/ ascii
        $img2 = /new\s+Image\(\);\s*\w{1,12}\.src\s*=/ ascii
        $b64 = /btoa\(\s*(unescape\(\s*encodeURIComponent\(\s*)?(JSON\.stringify\(|\w{1,12}\s*\))/ ascii
        $cc1 = "cc_number" ascii
        $cc2 = "cc_cid" ascii
        $cc3 = "cc_exp_month" ascii
        $cc4 = "cardnumber" ascii
        $cc5 = "card_number" ascii

    condition:
        filesize < 2MB
        and $loc
        and ($img or $img2)
        and $b64
        and 3 of ($cc*)
}

rule Magecart_PHP_Card_Logger
{
    meta:
        family = "Magecart"
        severity = "critical"
        description = "Server-side skimmer patched into a shop's PHP payment code: the POSTed payment cc_number and cc_cid are serialised/encoded and appended to a file or mailed out"
        reference = "https://attack.mitre.org/techniques/T1056/003/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $php = "<?php" ascii
        $num = /\$_POST\[\s*['"]payment['"]\s*\]\[\s*['"]cc_number['"]\s*\]/ ascii
        $cid = /\$_POST\[\s*['"]payment['"]\s*\]\[\s*['"]cc_cid['"]\s*\]/ ascii
        $enc1 = "base64_encode(" ascii
        $enc2 = "serialize(" ascii
        $out1 = /file_put_contents\([^;]{1,200}FILE_APPEND/ ascii
        $out2 = /fopen\([^;]{1,200},\s*['"]a\+?['"]\s*\)/ ascii
        $out3 = /\bmail\(\s*\$\w{1,20}\s*,/ ascii

    condition:
        filesize < 1MB
        and $php in (0..1024)
        and $num and $cid
        and 1 of ($enc*)
        and 1 of ($out*)
}
