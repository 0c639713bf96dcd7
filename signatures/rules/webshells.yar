/*
   Web shells dropped on web servers: China Chopper one-liners (PHP, ASPX and classic ASP), the
   WSO, c99 and r57 PHP file managers, Behinder and Godzilla in their JSP, PHP and ASPX forms,
   and JSP/ASPX command runners.
   Every rule anchors on the file being a page (it opens with a PHP/ASP/JSP tag, possibly
   behind a GIF header), so that documentation and other scanners' rule files that quote
   these strings are not matched.
*/

rule ChinaChopper_OneLiner
{
    meta:
        family = "ChinaChopper"
        severity = "critical"
        description = "China Chopper server side: eval of a request parameter in a tiny PHP or ASPX page"
        reference = "https://attack.mitre.org/software/S0020/"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $php_open = /<\?(php|=)?/ ascii nocase
        $asp_open = "<%" ascii
        $php = /@?(eval|assert)\s*\(\s*(stripslashes\s*\(\s*)?\$_(POST|GET|REQUEST|COOKIE)\s*\[\s*['"]?[A-Za-z0-9_\-]{1,40}['"]?\s*\]\s*\)?\s*\)\s*;?/ ascii nocase
        $aspx = /<%@\s*Page\s+Language\s*=\s*"?Jscript"?\s*%>\s*<%\s*eval\s*\(\s*Request(\.Item)?\s*\[\s*"[^"]{1,40}"\s*\]\s*,\s*"unsafe"\s*\)\s*;?\s*%>/ ascii nocase

    condition:
        filesize < 8KB
        and (
            ($php and $php_open in (0..16) and (uint16(0) == 0x3F3C or uint32(0) == 0x38464947))
            or ($aspx and $asp_open in (0..16))
        )
}

rule WSO_WebShell
{
    meta:
        family = "WSO"
        severity = "critical"
        description = "WSO (Web Shell by oRb) PHP file manager: its wso* helpers, action handlers and FilesMan default action"
        reference = "https://malpedia.caad.fkie.fraunhofer.de/details/php.wso_webshell"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $php = "<?" ascii
        $v = /define\s*\(\s*['"]WSO_VERSION['"]/ ascii
        $default = /\$default_action\s*=\s*['"]FilesMan['"]/ ascii
        $f_header = "function wsoHeader" ascii
        $f_footer = "function wsoFooter" ascii
        $f_ex = "function wsoEx" ascii
        $f_perms = "function wsoPerms" ascii
        $f_login = "function wsoLogin" ascii
        $f_size = "function wsoViewSize" ascii
        $a_files = "function actionFilesMan" ascii
        $a_console = "function actionConsole" ascii
        $a_brute = "function actionBruteforce" ascii
        $a_remove = "function actionSelfRemove" ascii
        $a_sec = "function actionSecInfo" ascii

    condition:
        filesize < 1MB
        and $php in (0..64)
        and (
            (($v or $default) and 3 of ($f_*, $a_*))
            or (3 of ($f_*) and 2 of ($a_*))
        )
}

rule C99_WebShell
{
    meta:
        family = "C99Shell"
        severity = "critical"
        description = "c99shell PHP backdoor: its c99sh_/c99_ helper names and banner"
        reference = "https://malpedia.caad.fkie.fraunhofer.de/details/php.c99"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $php = "<?" ascii
        $banner = "!C99Shell v." ascii nocase
        $name = "c99shell" ascii nocase
        $s_surl = "$c99sh_surl" ascii
        $s_buff = "c99_buff_prepare" ascii
        $s_sess = "c99_sess_put" ascii
        $s_ftp = "c99ftpbrutecheck" ascii
        $s_fsearch = "c99fsearch" ascii
        $s_exit = "c99shexit" ascii
        $s_update = "c99sh_getupdate" ascii

    condition:
        filesize < 2MB
        and $php in (0..64)
        and ($banner or $name)
        and 3 of ($s_*)
}

rule R57_WebShell
{
    meta:
        family = "R57Shell"
        severity = "critical"
        description = "r57shell PHP backdoor (RST/GHC): its name, origin site and back-connect/bind helpers"
        reference = "https://malpedia.caad.fkie.fraunhofer.de/details/php.r57"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $php = "<?" ascii
        $name = "r57shell" ascii nocase
        $site = "rst.void.ru" ascii nocase
        $s_bind = "$bind_port_c" ascii
        $s_bc = "$back_connect" ascii
        $s_datapipe = "$datapipe_c" ascii
        $s_lang = /\$lang\s*=\s*array\s*\(\s*['"]ru_text1['"]/ ascii

    condition:
        filesize < 2MB
        and $php in (0..64)
        and $name
        and ($site or $s_lang)
        and 2 of ($s_bind, $s_bc, $s_datapipe, $s_lang)
}

rule Behinder_JSP_WebShell
{
    meta:
        family = "Behinder"
        severity = "critical"
        description = "Behinder (Rebeyond) JSP shell: AES-decrypts the request body and defines a class from it with a custom ClassLoader"
        reference = "https://github.com/rebeyond/Behinder"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $jsp = "<%" ascii
        $loader = /class\s+\w{1,20}\s+extends\s+ClassLoader/ ascii
        $define = /super\.defineClass\s*\(\s*\w{1,20}\s*,\s*0\s*,\s*\w{1,20}\.length\s*\)/ ascii
        $aes = "Cipher.getInstance(\"AES\")" ascii
        $session = /session\.putValue\s*\(\s*"u"\s*,/ ascii
        $ctx = ".equals(pageContext)" ascii
        $body = "request.getReader().readLine()" ascii

    condition:
        filesize < 64KB
        and $jsp in (0..32)
        and $loader and $define and $aes
        and 1 of ($session, $ctx, $body)
}

rule Godzilla_JSP_WebShell
{
    meta:
        family = "Godzilla"
        severity = "critical"
        description = "Godzilla JSP shell: xc/pass/md5 variables, AES helper x(byte[],boolean) and a session-held payload class"
        reference = "https://unit42.paloaltonetworks.com/manageengine-godzilla-nglite-kdcsponge/"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $jsp = "<%" ascii
        $xc = /String\s+xc\s*=\s*"[0-9a-f]{16}"/ ascii
        $pass = /String\s+pass\s*=\s*"/ ascii
        $md5 = /String\s+md5\s*=\s*md5\s*\(\s*pass\s*\+\s*xc\s*\)/ ascii
        $x = /public\s+byte\[\]\s+x\s*\(\s*byte\[\]\s+s\s*,\s*boolean\s+m\s*\)/ ascii
        $payload = "session.getAttribute(\"payload\")" ascii
        $loader = "extends ClassLoader" ascii

    condition:
        filesize < 64KB
        and $jsp in (0..32)
        and $xc and $x
        and 2 of ($pass, $md5, $payload, $loader)
}

rule JSP_Cmd_WebShell
{
    meta:
        family = "JSP-CmdShell"
        severity = "critical"
        description = "Minimal JSP command shell: runs a request parameter through Runtime.exec or ProcessBuilder and echoes the output"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $jsp = "<%" ascii
        $exec_rt = /Runtime\.getRuntime\(\)\.exec\s*\(\s*(new\s+String\s*\[\s*\]\s*\{[^}]{0,80})?request\.getParameter\s*\(/ ascii
        $exec_pb = /new\s+ProcessBuilder\s*\([^;]{0,80}request\.getParameter\s*\(/ ascii
        $out1 = "getInputStream()" ascii
        $out2 = /out\.print(ln)?\s*\(/ ascii

    condition:
        filesize < 16KB
        and $jsp in (0..32)
        and 1 of ($exec_*)
        and $out1 and $out2
}

rule ChinaChopper_ASP_Classic
{
    meta:
        family = "ChinaChopper"
        severity = "critical"
        description = "China Chopper classic ASP server side: eval or execute of a request parameter in a tiny page"
        reference = "https://attack.mitre.org/software/S0020/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $asp_open = "<%" ascii
        $asp = /<%\s*(eval|execute(global)?)\s*\(?\s*request(\.item)?\s*[\(\[]\s*"[^"]{1,40}"\s*[\)\]]\s*\)?\s*:?\s*%>/ ascii nocase

    condition:
        filesize < 8KB
        and $asp_open in (0..16)
        and $asp
}

rule WSO_Packed_Loader
{
    meta:
        family = "WSO"
        severity = "critical"
        description = "Packed WSO loader: WSO's $auth_pass/$default_action = 'FilesMan' settings ahead of a preg_replace /e or eval(gzinflate(base64_decode())) body"
        reference = "https://malpedia.caad.fkie.fraunhofer.de/details/php.wso_webshell"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $php = "<?" ascii
        $auth = /\$auth_pass\s*=\s*"([0-9a-f]{32})?"/ ascii
        $action = /\$default_action\s*=\s*['"]FilesMan['"]/ ascii
        $ajax = "$default_use_ajax" ascii
        $charset = "$default_charset" ascii
        $body_pr = /preg_replace\s*\(\s*["']([\/#@|~!]).{0,60}[\/#@|~!][imsx]{0,3}e[imsx]{0,3}["']\s*,\s*(@?\$_(POST|GET|REQUEST|COOKIE)|["']\\x[0-9a-f]{2}\\x|@?(base64_decode|gzinflate|str_rot13)\s*\()/ ascii nocase
        $body_ev = /(eval|assert)\s*\(\s*("\?>"\s*\.\s*)?@?(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode|strrev)\s*\(\s*@?(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode|strrev)\s*\(/ ascii nocase

    condition:
        filesize < 1MB
        and $php in (0..16)
        and $auth and $action
        and 1 of ($ajax, $charset)
        and 1 of ($body_*)
}

rule R57_BackConnect_Payloads
{
    meta:
        family = "R57Shell"
        severity = "critical"
        description = "r57shell: its base64-embedded Perl back-connect and bind-port scripts ($back_connect, $bind_port_p)"
        reference = "https://malpedia.caad.fkie.fraunhofer.de/details/php.r57"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $php = "<?" ascii
        $bc = /\$back_connect\s*=\s*"IyEvdXNyL2Jpbi9wZXJs/ ascii
        $bind = /\$bind_port_p\s*=\s*"IyEvdXNyL2Jpbi9wZXJs/ ascii
        $dp = /\$datapipe_pl\s*=\s*"IyEvdXNyL2Jpbi9wZXJs/ ascii

    condition:
        filesize < 2MB
        and $php in (0..64)
        and 2 of ($bc, $bind, $dp)
}

rule Behinder_PHP_WebShell
{
    meta:
        family = "Behinder"
        severity = "critical"
        description = "Behinder (Rebeyond) PHP shell: session-held key, php://input decrypted by openssl AES128 or key XOR, then eval through an __invoke class"
        reference = "https://github.com/rebeyond/Behinder"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $php = "<?php" ascii
        $sess = /\$_SESSION\[['"]k['"]\]\s*=\s*\$key;/ ascii
        $input = "file_get_contents(\"php://input\")" ascii
        $xor = "$post[$i]^$key[$i+1&15]" ascii
        $aes = /openssl_decrypt\s*\(\s*\$post\s*,\s*"AES128"\s*,\s*\$key\s*\)/ ascii
        $invoke = /public\s+function\s+__invoke\s*\(\s*\$p\s*\)\s*\{\s*eval\s*\(\s*\$p/ ascii

    condition:
        filesize < 16KB
        and $php in (0..16)
        and $input
        and 3 of ($sess, $xor, $aes, $invoke)
}

rule Behinder_ASPX_WebShell
{
    meta:
        family = "Behinder"
        severity = "critical"
        description = "Behinder (Rebeyond) ASPX shell: request body decrypted with RijndaelManaged under the session key, loaded as an assembly and instantiated as U"
        reference = "https://github.com/rebeyond/Behinder"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $asp = "<%@" ascii
        $load = "Assembly.Load(" ascii
        $aes = "RijndaelManaged().CreateDecryptor(" ascii
        $body = "Request.BinaryRead(Request.ContentLength)" ascii
        $inst = "CreateInstance(\"U\").Equals(this)" ascii
        $sess = /Session\.Add\s*\(\s*"k"\s*,/ ascii

    condition:
        filesize < 16KB
        and $asp in (0..16)
        and $load and $aes and $inst
        and 1 of ($body, $sess)
}

rule Godzilla_PHP_WebShell
{
    meta:
        family = "Godzilla"
        severity = "critical"
        description = "Godzilla PHP shell: encode($D,$K) XOR helper, pass/payloadName/key settings and a session-held payload run by eval"
        reference = "https://unit42.paloaltonetworks.com/manageengine-godzilla-nglite-kdcsponge/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $php = "<?php" ascii
        $enc = /function\s+encode\s*\(\s*\$D\s*,\s*\$K\s*\)/ ascii
        $xor = /\$c\s*=\s*\$K\[\$i\+1&15\];/ ascii
        $name = /\$payloadName\s*=\s*'/ ascii
        $key = /\$key\s*=\s*'[0-9a-f]{16}'/ ascii
        $md5 = "md5($pass.$key)" ascii

    condition:
        filesize < 16KB
        and $php in (0..16)
        and $enc and $name
        and 2 of ($xor, $key, $md5)
}

rule Godzilla_ASPX_WebShell
{
    meta:
        family = "Godzilla"
        severity = "critical"
        description = "Godzilla ASPX shell: AES-decrypted request loaded as an assembly kept in Session[\"payload\"] and instantiated as LY"
        reference = "https://unit42.paloaltonetworks.com/manageengine-godzilla-nglite-kdcsponge/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $asp = "<%@" ascii
        $sess = "Session[\"payload\"]" ascii
        $ly = "CreateInstance(\"LY\")" ascii
        $aes = "RijndaelManaged().CreateDecryptor(" ascii
        $md5 = "MD5CryptoServiceProvider().ComputeHash(" ascii

    condition:
        filesize < 16KB
        and $asp in (0..16)
        and $sess and $ly
        and 1 of ($aes, $md5)
}

rule ASPX_Cmd_WebShell
{
    meta:
        family = "ASPX-CmdShell"
        severity = "critical"
        description = "Minimal ASPX command shell: cmd.exe /c with request input through ProcessStartInfo, output echoed back"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $asp = "<%@" ascii
        $psi = "ProcessStartInfo" ascii
        $cmd = /"cmd(\.exe)?"/ ascii nocase
        $arg = /"\/c\s*"\s*\+\s*(Request|txt[A-Za-z]{0,20}\.Text|Server\.UrlDecode\s*\(\s*Request)/ ascii
        $out = "StandardOutput.ReadToEnd()" ascii

    condition:
        filesize < 16KB
        and $asp in (0..16)
        and all of them
}

rule JSPX_Cmd_WebShell
{
    meta:
        family = "JSP-CmdShell"
        severity = "critical"
        description = "JSPX (XML-syntax JSP) command shell: a jsp:scriptlet running a request parameter through Runtime.exec or ProcessBuilder"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $root = "<jsp:root" ascii
        $ns = "http://java.sun.com/JSP/Page" ascii
        $scriptlet = "<jsp:scriptlet>" ascii
        $exec_rt = /Runtime\.getRuntime\(\)\.exec\s*\(\s*(new\s+String\s*\[\s*\]\s*\{[^}]{0,80})?request\.getParameter\s*\(/ ascii
        $exec_pb = /new\s+ProcessBuilder\s*\([^;]{0,80}request\.getParameter\s*\(/ ascii

    condition:
        filesize < 16KB
        and $root in (0..256)
        and $ns and $scriptlet
        and 1 of ($exec_*)
}
