/*
   PHP web shells and loaders: the agents the Weevely generator writes, b374k, the P.A.S. shell
   named in the Grizzly Steppe report, AntSword's generated shells, Laudanum (PHP, ASP, ASPX,
   JSP) and the obfuscated eval loaders dropped on compromised sites (decoder chains, request
   data run by eval/assert/create_function/preg_replace /e, hex-escaped function names). Every
   rule anchors on the file being a page (a PHP/ASP/JSP tag near the start, possibly behind a
   GIF header) and keys on code structure, not on words that documentation would quote.
*/

rule Weevely_Agent_Obfuscated
{
    meta:
        family = "Weevely"
        severity = "critical"
        description = "Weevely 3/4 PHP agent (default obfusc1_php obfuscator): split string fragments joined, cleaned by str_replace and run through a rebuilt create_function"
        reference = "https://github.com/epinna/weevely3"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $php = "<?php" ascii
        $cf = /\$[A-Za-z]=str_replace\('[A-Za-z]{1,2}','','[A-Za-z_]{17,60}'\);/ ascii
        $join = /\$[A-Za-z]=str_replace\('[^']{1,3}','',\$[A-Za-z](\.\$[A-Za-z]){4,8}\);/ ascii
        $run = /\$[A-Za-z]=\$[A-Za-z]\('',\$[A-Za-z]\);\$[A-Za-z]\(\);/ ascii

    condition:
        filesize < 8KB
        and $php at 0
        and all of them
}

rule Weevely_Agent_Cleartext
{
    meta:
        family = "Weevely"
        severity = "critical"
        description = "Weevely 3/4 PHP agent (cleartext obfuscator or decoded): XOR key, header/footer markers around a gzcompressed payload from php://input"
        reference = "https://github.com/epinna/weevely3"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $php = "<?php" ascii
        $keys = /\$k="[0-9a-f]{8}";\$kh="[0-9a-f]{12}";\$kf="[0-9a-f]{12}";\$p="[A-Za-z0-9]{16}";/ ascii
        $match = "preg_match(\"/$kh(.+)$kf/\",@file_get_contents(\"php://input\")" ascii
        $eval = "@eval(@gzuncompress(@x(@base64_decode($m[1]),$k)));" ascii
        $out = "print(\"$p$kh$r$kf\");" ascii

    condition:
        filesize < 8KB
        and $php in (0..16)
        and $keys
        and 2 of ($match, $eval, $out)
}

rule B374k_Packed_Shell
{
    meta:
        family = "b374k"
        severity = "critical"
        description = "b374k 3.x shell as its packer writes it: a create_function built from fragments runs the gz-compressed base64 shell body"
        reference = "https://github.com/b374k/b374k"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $php = "<?php" ascii
        $func = /\$func\s*=\s*"cr"\s*\.\s*"ea/ ascii
        $b374k = /\$b374k\s*=\s*\$func\s*\(/ ascii
        $call = /\$b374k\s*\(\s*["'][A-Za-z0-9+\/]{16}/ ascii
        $pass = /\$GLOBALS\['pass'\]\s*=\s*"[0-9a-f]{40}"/ ascii

    condition:
        filesize < 2MB
        and $php in (0..16)
        and $b374k and $call
        and 1 of ($func, $pass)
}

rule B374k_2x_Shell
{
    meta:
        family = "b374k"
        severity = "critical"
        description = "b374k 2.x PHP shell: its $s_name/$s_ver settings and s_-prefixed request and helper names"
        reference = "https://github.com/b374k/b374k"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $php = "<?" ascii
        $name = /\$s_name\s*=\s*"b374k"/ ascii
        $ver = /\$s_ver\s*=\s*"2\.[0-9]+"/ ascii
        $h_pass = "$s_pass" ascii
        $h_auth = "$s_auth" ascii
        $h_self = "$s_self" ascii
        $h_title = "$s_title" ascii
        $h_login = "$s_login" ascii

    condition:
        filesize < 2MB
        and $php in (0..16)
        and $name
        and ($ver or 3 of ($h_*))
}

rule PAS_WebShell
{
    meta:
        family = "PAS"
        severity = "critical"
        description = "P.A.S. PHP web shell (Grizzly Steppe): the password-keyed loader that rebuilds base64_decode as 'base'.(N*M).'_de'.'code' and decrypts with md5(strrev())"
        reference = "https://www.cisa.gov/news-events/analysis-reports/ar17-20045"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $php = "<?php" ascii
        $b64 = /'base'\s*\.\s*\(\s*[0-9]{1,3}\s*\*\s*[0-9]{1,3}\s*\)\s*\.\s*'_de'\s*\.\s*'code'/ ascii
        $md5 = ".substr(md5(strrev($" ascii
        $gz = "gzinflate" ascii
        $req = /\$_(COOKIE|POST)\b/ ascii
        $repl = "(str_replace(" ascii

    condition:
        filesize < 512KB
        and $php in (0..16)
        and $b64 and $md5
        and 2 of ($gz, $req, $repl)
}

rule AntSword_GenShell_PHP
{
    meta:
        family = "AntSword"
        severity = "critical"
        description = "AntSword-generated PHP shell: create_function whose body is spelled out of chr() arithmetic, str_rot13 and base64_decode fragments"
        reference = "https://github.com/AntSwordProject/antSword"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $php = "<?php" ascii
        $cf = /\$[A-Za-z_]{1,12}\s*=\s*create_function\s*\(\s*chr\(/ ascii
        $chr = /chr\((0x[0-9a-f]{2,6}|0[0-7]{2,8}|[0-9]{2,6})\s*[-+*\/]\s*(0x[0-9a-f]{2,6}|0[0-7]{2,8}|[0-9]{2,6})\)/ ascii
        $rot = /str_rot13\('.'\)/ ascii
        $b64 = /base64_decode\('[A-Za-z0-9+\/]{1,4}={0,2}'\)/ ascii

    condition:
        filesize < 16KB
        and $php in (0..64)
        and $cf
        and #chr >= 6 and #rot >= 2 and #b64 >= 2
}

rule AntSword_RSA_PHP
{
    meta:
        family = "AntSword"
        severity = "critical"
        description = "AntSword RSA-mode PHP shell: '|'-separated request chunks decrypted with an embedded public key, joined and run by eval"
        reference = "https://github.com/AntSwordProject/antSword"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $php = "<?php" ascii
        $cmd = /\$cmd\s*=\s*@?\$_(POST|REQUEST)\s*\[/ ascii
        $split = /\$cmds\s*=\s*explode\s*\(\s*"\|"\s*,\s*\$cmd\s*\)/ ascii
        $dec = /openssl_public_decrypt\s*\(\s*base64_decode\s*\(\s*\$[A-Za-z_]{1,20}\s*\)\s*,\s*\$de\s*,/ ascii
        $join = /\$cmd\s*\.=\s*\$de\s*;/ ascii
        $eval = /eval\s*\(\s*\$cmd\s*\)/ ascii

    condition:
        filesize < 16KB
        and $php in (0..16)
        and $cmd and $dec and $eval
        and 1 of ($split, $join)
}

rule Laudanum_PHP
{
    meta:
        family = "Laudanum"
        severity = "critical"
        description = "Laudanum PHP shell/proxy/file page: the project banner with its $allowedIPs gate"
        reference = "https://github.com/SamuraiWTF/samuraiwtf/tree/main/samuraiwtf-deb/opt/samurai/laudanum"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $php = "<?php" ascii
        $b_proj = "*** Laudanum Project" ascii
        $b_coll = "A Collection of Injectable Files used during a Penetration Test" ascii
        $gate = /\$allowedIPs\s*=\s*array\s*\(/ ascii
        $remote = "$_SERVER[\"REMOTE_ADDR\"]" ascii

    condition:
        filesize < 256KB
        and $php in (0..16)
        and 1 of ($b_*)
        and $gate and $remote
}

rule Laudanum_ASPX
{
    meta:
        family = "Laudanum"
        severity = "critical"
        description = "Laudanum ASPX shell: the project banner with its allowedIps gate and a cmd ProcessStartInfo"
        reference = "https://github.com/SamuraiWTF/samuraiwtf/tree/main/samuraiwtf-deb/opt/samurai/laudanum"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $asp = "<%@" ascii
        $b_proj = "*** Laudanum Project" ascii
        $b_coll = "A Collection of Injectable Files used during a Penetration Test" ascii
        $gate = /string\[\]\s+allowedIps\s*=\s*(new\s+string\[\]\s*)?\{/ ascii
        $cmd = /ProcessStartInfo\s*\(\s*"cmd(\.exe)?"/ ascii nocase

    condition:
        filesize < 256KB
        and $asp in (0..16)
        and 1 of ($b_*)
        and $gate and $cmd
}

rule Laudanum_JSP
{
    meta:
        family = "Laudanum"
        severity = "critical"
        description = "Laudanum JSP shell: the project banner, its remote-address gate and the 'Laudanum JSP Shell' page"
        reference = "https://github.com/SamuraiWTF/samuraiwtf/tree/main/samuraiwtf-deb/opt/samurai/laudanum"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $jsp = "<%@" ascii
        $b_proj = "*** Laudanum Project" ascii
        $title = "<TITLE>Laudanum JSP Shell</TITLE>" ascii nocase
        $gate = /request\.getRemoteAddr\(\)\s*!=\s*"/ ascii
        $exec = "Runtime.getRuntime().exec(" ascii

    condition:
        filesize < 256KB
        and $jsp in (0..16)
        and ($b_proj or $title)
        and $gate and $exec
}

rule PHP_Eval_Decoder_Chain
{
    meta:
        family = "PHP-ObfuscatedLoader"
        severity = "critical"
        description = "Obfuscated PHP loader: eval/assert of two or more nested decoders (base64_decode, gzinflate, gzuncompress, str_rot13, strrev) on an embedded blob"
        reference = "https://attack.mitre.org/techniques/T1027/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $php = /<\?(php|=)?/ ascii nocase
        $chain = /(eval|assert)\s*\(\s*("\?>"\s*\.\s*)?@?(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode|strrev)\s*\(\s*@?(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode|strrev)\s*\(/ ascii nocase
        // A packed WSO (its settings ahead of the same body) is reported as WSO by webshells.yar.
        $wso_auth = /\$auth_pass\s*=\s*"([0-9a-f]{32})?"/ ascii
        $wso_action = /\$default_action\s*=\s*['"]FilesMan['"]/ ascii
        $wso_ajax = "$default_use_ajax" ascii
        $wso_charset = "$default_charset" ascii

    condition:
        filesize < 2MB
        and $php in (0..16)
        and (uint16(0) == 0x3F3C or uint32(0) == 0x38464947)
        and $chain
        and not ($wso_auth and $wso_action and 1 of ($wso_ajax, $wso_charset))
}

rule PHP_Eval_Request_Data
{
    meta:
        family = "PHP-ObfuscatedLoader"
        severity = "critical"
        description = "PHP backdoor: eval/assert/create_function/system of decoded request data (POST, GET, REQUEST, COOKIE or an HTTP header)"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $php = /<\?(php|=)?/ ascii nocase
        $eval = /(eval|assert|system|passthru|shell_exec)\s*\(\s*@?(base64_decode|gzinflate|str_rot13|gzuncompress|hex2bin|urldecode|stripslashes)\s*\(\s*@?\$_(POST|GET|REQUEST|COOKIE|SERVER)\s*\[/ ascii nocase
        $cf = /create_function\s*\(\s*['"]{2}\s*,\s*@?(base64_decode\s*\(\s*)?\$_(POST|GET|REQUEST|COOKIE)\s*\[/ ascii nocase

    condition:
        filesize < 2MB
        and $php in (0..16)
        and (uint16(0) == 0x3F3C or uint32(0) == 0x38464947)
        and ($eval or $cf)
}

rule PHP_Preg_Replace_Eval
{
    meta:
        family = "PHP-ObfuscatedLoader"
        severity = "critical"
        description = "PHP backdoor: preg_replace with the /e modifier evaluating request data or a decoded/hex-escaped payload"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $php = /<\?(php|=)?/ ascii nocase
        $pr = /preg_replace\s*\(\s*["']([\/#@|~!]).{0,60}[\/#@|~!][imsx]{0,3}e[imsx]{0,3}["']\s*,\s*(@?\$_(POST|GET|REQUEST|COOKIE)|["']\\x[0-9a-f]{2}\\x|@?(base64_decode|gzinflate|str_rot13)\s*\()/ ascii nocase
        // A packed WSO (its settings ahead of the same body) is reported as WSO by webshells.yar.
        $wso_auth = /\$auth_pass\s*=\s*"([0-9a-f]{32})?"/ ascii
        $wso_action = /\$default_action\s*=\s*['"]FilesMan['"]/ ascii
        $wso_ajax = "$default_use_ajax" ascii
        $wso_charset = "$default_charset" ascii

    condition:
        filesize < 2MB
        and $php in (0..16)
        and (uint16(0) == 0x3F3C or uint32(0) == 0x38464947)
        and $pr
        and not ($wso_auth and $wso_action and 1 of ($wso_ajax, $wso_charset))
}

rule PHP_Variable_Function_Backdoor
{
    meta:
        family = "PHP-ObfuscatedLoader"
        severity = "critical"
        description = "PHP backdoor: a function named by request data called with request data, or an obfuscated 'assert' called with request data"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $php = /<\?(php|=)?/ ascii nocase
        $req_call = /@?\$_(GET|POST|REQUEST|COOKIE)\s*\[\s*['"]?[A-Za-z0-9_]{1,20}['"]?\s*\]\s*\(\s*@?\$_(GET|POST|REQUEST|COOKIE)\s*\[/ ascii
        $var_call = /\$[A-Za-z_][A-Za-z0-9_]{0,20}\s*\(\s*@?\$_(GET|POST|REQUEST|COOKIE)\s*\[\s*['"]?[A-Za-z0-9_]{1,20}['"]?\s*\]\s*\)/ ascii
        $a_concat = /["']as["']\s*\.\s*["']sert["']/ ascii nocase
        $a_concat2 = /["']ass["']\s*\.\s*["']ert["']/ ascii nocase
        $a_rot = /str_rot13\s*\(\s*["']nffreg["']\s*\)/ ascii nocase
        $a_b64 = /base64_decode\s*\(\s*["']YXNzZXJ0["']\s*\)/ ascii
        $a_rev = /strrev\s*\(\s*["']tressa["']\s*\)/ ascii nocase
        $a_chr = "chr(97).chr(115).chr(115).chr(101).chr(114).chr(116)" ascii nocase

    condition:
        filesize < 1MB
        and $php in (0..16)
        and (uint16(0) == 0x3F3C or uint32(0) == 0x38464947)
        and ($req_call or ($var_call and 1 of ($a_*)))
}

rule PHP_Hex_Escaped_Loader
{
    meta:
        family = "PHP-ObfuscatedLoader"
        severity = "critical"
        description = "Obfuscated PHP loader: eval/base64_decode/gzinflate spelled as \\x hex escapes inside strings"
        reference = "https://attack.mitre.org/techniques/T1027/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $php = /<\?(php|=)?/ ascii nocase
        $h_b64 = "\\x62\\x61\\x73\\x65\\x36\\x34\\x5f\\x64\\x65\\x63\\x6f\\x64\\x65" ascii nocase
        $h_gz = "\\x67\\x7a\\x69\\x6e\\x66\\x6c\\x61\\x74\\x65" ascii nocase
        $h_eval = "\\x65\\x76\\x61\\x6c\\x28" ascii nocase
        $h_rot = "\\x73\\x74\\x72\\x5f\\x72\\x6f\\x74\\x31\\x33" ascii nocase
        $h_assert = "\\x61\\x73\\x73\\x65\\x72\\x74" ascii nocase

    condition:
        filesize < 2MB
        and $php in (0..16)
        and (uint16(0) == 0x3F3C or uint32(0) == 0x38464947)
        and 2 of ($h_*)
}
