"""Inert samples and near-misses for signatures/rules/webshells_php.yar.

Every sample page exits (or closes its only PHP block) before any indicator, and the code
fragments carry placeholder text, never a working payload.
"""

from __future__ import annotations

from sample_blocks import INERT_NOTE, Builders, text


def weevely_obfuscated() -> dict[str, bytes]:
    # The shape obfusc1_php gives an agent; the fragments spell the inert note, not an agent.
    return {
        "weevely-agent-obfusc1": text(
            f"<?php exit; // {INERT_NOTE}",
            "$o='inQwert tQwest';",
            "$O='saQwmple ';",
            "$l='of tQwhe ';",
            "$s='scQwanner ';",
            "$x='prQwoject';",
            "$r=str_replace('nb','','cnbrnbeate_nbfunbnnbctinbon');",
            "$B=str_replace('Qw','',$o.$O.$l.$s.$x);",
            "$L=$r('',$B);$L();",
            "?>",
        )
    }


def weevely_cleartext() -> dict[str, bytes]:
    return {
        "weevely-agent-cleartext": text(
            f"<?php exit; /* {INERT_NOTE}",
            '$k="0a1b2c3d";$kh="0123456789ab";$kf="ba9876543210";$p="InertSample00000";',
            'if (@preg_match("/$kh(.+)$kf/",@file_get_contents("php://input"),$m)==1) {',
            "@eval(@gzuncompress(@x(@base64_decode($m[1]),$k)));",
            'print("$p$kh$r$kf");',
            "} */",
        )
    }


def b374k_packed() -> dict[str, bytes]:
    return {
        "b374k-packed": text(
            f"<?php exit; /* {INERT_NOTE}",
            "$GLOBALS['pass'] = \"0000000000000000000000000000000000000000\";",
            '$func="cr"."eat"."e_fun"."cti"."on";$b374k=$func(\'$x\',\'return $x;\');',
            '$b374k("aW5lcnQgdGVzdCBzYW1wbGUgb25seQ==");',
            "*/",
        )
    }


def b374k_2x() -> dict[str, bytes]:
    return {
        "b374k-2x": text(
            f"<?php exit; /* {INERT_NOTE}",
            '$s_name = "b374k";',
            '$s_ver = "2.8";',
            '$s_title = $s_name." ".$s_ver;',
            '$s_pass = "";',
            "$s_auth = false;",
            "*/",
        )
    }


def pas() -> dict[str, bytes]:
    return {
        "pas-loader": text(
            f"<?php exit; /* {INERT_NOTE}",
            "$f='base'.(32*2).'_de'.'code';",
            "$k=isset($_COOKIE['k'])?$_COOKIE['k']:'';",
            "$s=$f(str_replace(\"\\n\", '', 'aW5lcnQ='));",
            "$h=substr(md5(strrev($k)),0,8).substr(md5(strrev($k)),8);",
            "$x='gzinflate';",
            "*/",
        )
    }


def antsword_gen() -> dict[str, bytes]:
    return {
        "antsword-genshell": text(
            f"<?php exit; /* {INERT_NOTE}",
            "$BSeT=create_function(chr(0x3ac-0x388).chr(0x1cc/0x04),chr(0xc9a8/0x1de).base64_decode('dg==').",
            "base64_decode('YQ==').str_rot13('y').chr(675-635).str_rot13('$').chr(807-692).chr(765-724).",
            "chr(118-59).str_rot13('v'));",
            "*/",
        )
    }


def antsword_rsa() -> dict[str, bytes]:
    return {
        "antsword-rsa": text(
            f"<?php exit; /* {INERT_NOTE}",
            "$cmd = @$_POST['ant'];",
            "$pk = <<<EOF",
            "-----BEGIN PUBLIC KEY-----",
            "aW5lcnQgdGVzdCBzYW1wbGU=",
            "-----END PUBLIC KEY-----",
            "EOF;",
            '$cmds = explode("|", $cmd);',
            "$pk = openssl_pkey_get_public($pk);",
            "$cmd = '';",
            "foreach ($cmds as $value) {",
            "    if (openssl_public_decrypt(base64_decode($value), $de, $pk)) { $cmd .= $de; }",
            "}",
            "eval($cmd);",
            "*/",
        )
    }


LAUDANUM_BANNER = (
    "*******************************************************************************",
    "*** Laudanum Project",
    "*** A Collection of Injectable Files used during a Penetration Test",
    "*******************************************************************************",
)


def laudanum_php() -> dict[str, bytes]:
    return {
        "laudanum-shell-php": text(
            f"<?php exit; /* {INERT_NOTE}",
            *LAUDANUM_BANNER,
            '$allowedIPs = array("192.0.2.1");',
            '$LIP = $_SERVER["REMOTE_ADDR"];',
            "*/",
        )
    }


def laudanum_aspx() -> dict[str, bytes]:
    return {
        "laudanum-shell-aspx": text(
            '<%@ Page Language="C#" %>',
            f"<%-- {INERT_NOTE}",
            *LAUDANUM_BANNER,
            'string[] allowedIps = new string[] {"::1", "192.0.2.1"};',
            'var psi = new System.Diagnostics.ProcessStartInfo("cmd", "/c " + Request.Form["c"]);',
            "--%>",
        )
    }


def laudanum_jsp() -> dict[str, bytes]:
    return {
        "laudanum-cmd-jsp": text(
            '<%@ page import="java.util.*,java.io.*"%>',
            f"<%-- {INERT_NOTE}",
            *LAUDANUM_BANNER,
            'if (request.getRemoteAddr() != "192.0.2.1") { return; }',
            'Process p = Runtime.getRuntime().exec(request.getParameter("cmd"));',
            "<TITLE>Laudanum JSP Shell</TITLE>",
            "--%>",
        )
    }


def eval_chain() -> dict[str, bytes]:
    return {
        "eval-gzinflate-b64": text(f"<?php exit; /* {INERT_NOTE}: eval(gzinflate(base64_decode('aW5lcnQ='))); */"),
        "eval-rot13-chain": text(
            f"<?php exit; /* {INERT_NOTE}: eval(str_rot13(gzinflate(str_rot13(base64_decode('aW5lcnQ='))))); */"
        ),
        "gif-eval-chain": b"GIF89a"
        + text(f"<?php exit; /* {INERT_NOTE}: @eval(gzuncompress(base64_decode('aW5lcnQ='))); */"),
    }


def eval_request() -> dict[str, bytes]:
    return {
        "eval-b64-post": text(f"<?php exit; /* {INERT_NOTE}: eval(base64_decode($_POST['x'])); */"),
        "create-function-request": text(f"<?php exit; /* {INERT_NOTE}: $f = create_function('', $_REQUEST['c']); */"),
        "assert-header": text(f"<?php exit; /* {INERT_NOTE}: @assert(base64_decode($_SERVER['HTTP_X_DATA'])); */"),
    }


def preg_eval() -> dict[str, bytes]:
    return {
        "preg-replace-e-post": text(f"<?php exit; /* {INERT_NOTE}: preg_replace(\"/.*/e\", $_POST['code'], ''); */"),
        "preg-replace-e-hex": text(
            f"<?php exit; /* {INERT_NOTE}: preg_replace('/x/e', '\\x65\\x76\\x61\\x6c', 'x'); */"
        ),
    }


def variable_function() -> dict[str, bytes]:
    return {
        "request-named-function": text(f"<?php exit; /* {INERT_NOTE}: @$_GET['f']($_POST['x']); */"),
        "obfuscated-assert": text(
            f"<?php exit; /* {INERT_NOTE}",
            "$a = 'as'.'sert';",
            "$a($_POST['x']);",
            "*/",
        ),
    }


def hex_loader() -> dict[str, bytes]:
    return {
        "hex-escaped-loader": text(
            f"<?php exit; /* {INERT_NOTE}",
            '$f = "\\x62\\x61\\x73\\x65\\x36\\x34\\x5f\\x64\\x65\\x63\\x6f\\x64\\x65";',
            '$g = "\\x67\\x7a\\x69\\x6e\\x66\\x6c\\x61\\x74\\x65";',
            "*/",
        )
    }


SAMPLES: Builders = {
    "Weevely_Agent_Obfuscated": weevely_obfuscated,
    "Weevely_Agent_Cleartext": weevely_cleartext,
    "B374k_Packed_Shell": b374k_packed,
    "B374k_2x_Shell": b374k_2x,
    "PAS_WebShell": pas,
    "AntSword_GenShell_PHP": antsword_gen,
    "AntSword_RSA_PHP": antsword_rsa,
    "Laudanum_PHP": laudanum_php,
    "Laudanum_ASPX": laudanum_aspx,
    "Laudanum_JSP": laudanum_jsp,
    "PHP_Eval_Decoder_Chain": eval_chain,
    "PHP_Eval_Request_Data": eval_request,
    "PHP_Preg_Replace_Eval": preg_eval,
    "PHP_Variable_Function_Backdoor": variable_function,
    "PHP_Hex_Escaped_Loader": hex_loader,
}


# ---------------------------------------------------------------- near-misses: legitimate PHP


def nm_str_replace() -> dict[str, bytes]:
    # A template helper building strings with str_replace and calling a callback from a variable.
    return {
        "template-helper": text(
            "<?php",
            "$a='Hello';",
            "$b=str_replace('{name}','',$a.$a.$a);",
            "$c=str_replace('ab','','abcreate_abfunction');",
            "$f='strtoupper';",
            "echo $f($b);",
        )
    }


def nm_preg_input() -> dict[str, bytes]:
    return {
        "webhook-endpoint": text(
            "<?php",
            '$k="0a1b2c3d";',
            '$body = @file_get_contents("php://input");',
            'if (@preg_match("/^sig=([0-9a-f]+)$/", $body, $m) == 1) {',
            "    $data = @gzuncompress(@base64_decode($m[1]));",
            '    print("ok");',
            "}",
        )
    }


def nm_plugin_loader() -> dict[str, bytes]:
    return {
        "plugin-loader": text(
            "<?php",
            "$GLOBALS['pass'] = 'config';",
            '$func = "create_function_compat";',
            "$loader = $func('$x', 'return $x;');",
            '$s_name = "site"; $s_ver = "2.8"; $s_title = "b374k docs";',
        )
    }


def nm_b64_helper() -> dict[str, bytes]:
    return {
        "encoding-helper": text(
            "<?php",
            "// decode cookies set by the client",
            "$v = isset($_COOKIE['prefs']) ? base64_decode(str_replace(' ', '+', $_COOKIE['prefs'])) : '';",
            "$h = substr(md5($v), 0, 8);",
            "$z = gzinflate($v);",
        )
    }


def nm_chr_table() -> dict[str, bytes]:
    return {
        "charset-table": text(
            "<?php",
            "$map = array(chr(0x41+1), chr(0x61-1), chr(48+2), chr(0x30*1), chr(97-32), chr(65+32), chr(66-1));",
            "$t = str_rot13('a') . str_rot13('b');",
            "$u = base64_decode('YQ==') . base64_decode('Yg==');",
            "$cb = 'strtolower';",
        )
    }


def nm_license_check() -> dict[str, bytes]:
    return {
        "license-check": text(
            "<?php",
            "$cmd = $_POST['license'];",
            "$pk = '-----BEGIN PUBLIC KEY-----';",
            "openssl_public_decrypt(base64_decode($cmd), $plain, $pk);",
            "echo htmlspecialchars($plain);",
        )
    }


def nm_ip_gate() -> dict[str, bytes]:
    return {
        "admin-ip-gate-php": text(
            "<?php",
            "/* Admin tools: A Collection of helper pages for the intranet */",
            '$allowedIPs = array("192.0.2.1");',
            'if (!in_array($_SERVER["REMOTE_ADDR"], $allowedIPs)) { http_response_code(404); exit; }',
        ),
        "admin-ip-gate-aspx": text(
            '<%@ Page Language="C#" %>',
            '<% string[] allowedIps = { "192.0.2.1" }; %>',
            '<% var psi = new ProcessStartInfo("cmd.exe", "/c ipconfig"); %>',
        ),
        "admin-ip-gate-jsp": text(
            '<%@ page import="java.io.*"%>',
            '<% if (request.getRemoteAddr() != "192.0.2.1") { return; } %>',
            '<% Process p = Runtime.getRuntime().exec("uptime"); %>',
        ),
    }


def nm_eval_constant() -> dict[str, bytes]:
    # Legitimate PHP using eval on a constant, base64 on data, and decoders one at a time.
    return {
        "eval-constant": text(
            "<?php",
            "eval('return 1 + 2;');",
            "$cfg = base64_decode($_POST['cfg']);",
            "$json = json_decode(gzinflate($blob), true);",
            "$x = str_rot13(base64_encode('abc'));",
            "$v = assert($count > 0);",
        )
    }


def nm_preg_callback() -> dict[str, bytes]:
    return {
        "preg-callback": text(
            "<?php",
            "$s = preg_replace('/(\\d+)/e', \"chr('\\\\1')\", $s);",
            "$t = preg_replace_callback('/x/', function ($m) { return $m[0]; }, $_POST['t']);",
        )
    }


def nm_callback_dispatch() -> dict[str, bytes]:
    return {
        "callback-dispatch": text(
            "<?php",
            "$handlers = array('list' => 'do_list');",
            "$handler = $handlers[$_GET['action']];",
            "$handler($_POST['id']);",
            "$msg = 'assertion' . 'failed';",
        )
    }


def nm_hex_strings() -> dict[str, bytes]:
    return {
        "hex-strings": text(
            "<?php",
            '$sep = "\\x2d\\x2d";',
            '$magic = "\\x89\\x50\\x4e\\x47";',
            '$eval_label = "\\x65\\x76\\x61\\x6c";',
        )
    }


NEARMISS: Builders = {
    "Weevely_Agent_Obfuscated": nm_str_replace,
    "Weevely_Agent_Cleartext": nm_preg_input,
    "B374k_Packed_Shell": nm_plugin_loader,
    "B374k_2x_Shell": nm_plugin_loader,
    "PAS_WebShell": nm_b64_helper,
    "AntSword_GenShell_PHP": nm_chr_table,
    "AntSword_RSA_PHP": nm_license_check,
    "Laudanum_PHP": nm_ip_gate,
    "Laudanum_ASPX": nm_ip_gate,
    "Laudanum_JSP": nm_ip_gate,
    "PHP_Eval_Decoder_Chain": nm_eval_constant,
    "PHP_Eval_Request_Data": nm_eval_constant,
    "PHP_Preg_Replace_Eval": nm_preg_callback,
    "PHP_Variable_Function_Backdoor": nm_callback_dispatch,
    "PHP_Hex_Escaped_Loader": nm_hex_strings,
}
