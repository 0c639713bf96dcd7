/*
   WP-VCD: the backdoor dropper shipped inside pirated ("nulled") WordPress themes and plugins.
   Its injector (a password-gated switch that rewrites its own C2 domain), the loader that
   fetches code.php from the C2 and plants wp-vcd.php/wp-tmp.php, and the one-line hook it adds
   to a theme's functions.php. Every rule needs the page to be PHP and a statement written as a
   regular expression; WordPress core and honest themes stay clean.
*/

rule WPVCD_Injector
{
    meta:
        family = "WP-VCD"
        severity = "critical"
        description = "WP-VCD injector in a nulled theme/plugin: md5 password gate on $_REQUEST, $div_code_name wp_vcd and the change_domain/change_code actions that rewrite its C2"
        reference = "https://www.wordfence.com/wp-content/uploads/2019/11/Wordfence-WP-VCD-Whitepaper.pdf"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $php = "<?php" ascii nocase
        $div = /\$div_code_name\s*=\s*["']wp_vcd["']\s*;/ ascii
        $gate = /\$_REQUEST\[\s*'password'\s*\]\s*==\s*'[0-9a-f]{32}'/ ascii
        $dom = /case\s+'change_domain'\s*[;:]/ ascii
        $code = /case\s+'change_code'\s*[;:]/ ascii

    condition:
        filesize < 2MB
        and $php in (0..1024)
        and $div
        and 2 of ($gate, $dom, $code)
}

rule WPVCD_Loader
{
    meta:
        family = "WP-VCD"
        severity = "critical"
        description = "WP-VCD loader: fetches code.php from its C2 with the site's name and writes it to wp-vcd.php / wp-tmp.php / wp-feed.php, marked WP_V_CD"
        reference = "https://www.wordfence.com/wp-content/uploads/2019/11/Wordfence-WP-VCD-Whitepaper.pdf"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $php = "<?php" ascii nocase
        $fetch = /\$tmpcontent\s*=\s*@file_get_contents\(\s*"https?:\/\/[^"\s]{3,80}\/code\d?\.php/ ascii
        $mark = /strpos\(\s*\$\w{1,40}\s*,\s*['"]WP_V_CD['"]\s*\)/ ascii
        $f1 = "wp-vcd.php" ascii
        $f2 = "wp-tmp.php" ascii
        $f3 = "wp-feed.php" ascii
        $f4 = "class.theme-modules.php" ascii

    condition:
        filesize < 2MB
        and $php in (0..1024)
        and ($fetch or $mark)
        and 2 of ($f*)
}

rule WPVCD_Functions_Hook
{
    meta:
        family = "WP-VCD"
        severity = "high"
        description = "WP-VCD hook in a theme's functions.php: includes the dropped class.theme-modules.php from the theme directory when it exists"
        reference = "https://www.wordfence.com/wp-content/uploads/2019/11/Wordfence-WP-VCD-Whitepaper.pdf"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $php = "<?php" ascii nocase
        $exists = /file_exists\(\s*dirname\(\s*__FILE__\s*\)\s*\.\s*'\/class\.theme-modules\.php'\s*\)/ ascii
        $inc = /include_once\(\s*dirname\(\s*__FILE__\s*\)\s*\.\s*'\/class\.theme-modules\.php'\s*\)/ ascii

    condition:
        filesize < 2MB
        and $php in (0..1024)
        and $exists and $inc
}
