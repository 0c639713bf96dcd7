"""Inert samples and near-misses for signatures/rules/webshells_tunnels.yar.

Each sample keeps the tunnel's protocol fragments inside a server-side comment: nothing runs.
"""

from __future__ import annotations

from sample_blocks import INERT_NOTE, Builders, text

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
SHUFFLED = "QWERTYUIOPASDFGHJKLZXCVBNMqwertyuiopasdfghjklzxcvbnm9876543210/+"


def regeorg_php() -> dict[str, bytes]:
    return {
        "regeorg-tunnel-php": text(
            f"<?php exit; /* {INERT_NOTE}",
            '$cmd = $headers["X-CMD"];',
            'switch($cmd){ case "CONNECT": $res = fsockopen($target, $port); header("X-STATUS: OK");',
            'case "DISCONNECT": case "READ": case "FORWARD": break;',
            "default: exit(\"Georg says, 'All seems fine'\"); }",
            "*/",
        )
    }


def regeorg_aspx() -> dict[str, bytes]:
    return {
        "regeorg-tunnel-aspx": text(
            '<%@ Page Language="C#" EnableSessionState="True"%>',
            f"<%-- {INERT_NOTE}",
            'if (cmd == "CONNECT") { Session.Add("socket", sender); Response.AddHeader("X-STATUS", "OK"); }',
            'else if (cmd == "DISCONNECT") { Response.AddHeader("X-ERROR", "none"); }',
            "else { Response.Write(\"Georg says, 'All seems fine'\"); }",
            "--%>",
        )
    }


def regeorg_jsp() -> dict[str, bytes]:
    return {
        "regeorg-tunnel-jsp": text(
            '<%@page import="java.nio.channels.*,java.net.*"%>',
            f"<%-- {INERT_NOTE}",
            'if (cmd.compareTo("CONNECT") == 0) { SocketChannel s = SocketChannel.open();',
            'session.setAttribute("socket", s); response.setHeader("X-STATUS", "OK"); }',
            'else if (cmd.compareTo("DISCONNECT") == 0) { }',
            "else { out.print(\"Georg says, 'All seems fine'\"); }",
            "--%>",
        )
    }


def neo_php() -> dict[str, bytes]:
    return {
        "neoregeorg-tunnel-php": text(
            f"<?php exit; /* {INERT_NOTE}",
            f'$en = "{B64}";',
            f'$de = "{SHUFFLED}";',
            '$run = "run".$mark;',
            '$writebuf = "writebuf".$mark;',
            '$readbuf = "readbuf".$mark;',
            "echo strtr(base64_encode($readBuffer), $en, $de);",
            "*/",
        )
    }


def neo_aspx() -> dict[str, bytes]:
    return {
        "neoregeorg-tunnel-aspx": text(
            '<%@ Page Language="C#" EnableSessionState="True"%>',
            f"<%-- {INERT_NOTE}",
            "public static Object[] blv_decode(byte[] data) { return null; }",
            "public static byte[] blv_encode(Object[] info) { return null; }",
            f'String en = "{B64}";',
            "string b64 = StrTr(body, de, en); int REDIRECTURL = 7;",
            "--%>",
        )
    }


def neo_jsp() -> dict[str, bytes]:
    return {
        "neoregeorg-tunnel-jsp": text(
            '<%@page import="java.nio.channels.*"%>',
            f"<%-- {INERT_NOTE}",
            "public static Object[] blv_decode(byte[] data) { return null; }",
            "public static byte[] blv_encode(Object[] info) { return null; }",
            f'String en = "{B64}";',
            "SocketChannel socketChannel = SocketChannel.open();",
            "--%>",
        )
    }


def neo_jsp_loader() -> dict[str, bytes]:
    # The class bytes stop after the magic and version: nothing that a JVM could define.
    return {
        "neoregeorg5-tunnel-jsp": text(
            '<%@page pageEncoding="UTF-8" trimDirectiveWhitespaces="true"%>',
            f"<%-- {INERT_NOTE}",
            "class U extends ClassLoader { U(ClassLoader c) { super(c); }",
            "public Class g(byte[] b) { return super.defineClass(b, 0, b.length); } }",
            'Object[] args = new Object[]{ "Failed connecting to target", "No more running, close now",',
            '"POST request read filed", "Intranet forwarding failed" };',
            "byte[] clazzBytes = new byte[]{-54,-2,-70,-66,0,0,0,49};",
            "--%>",
        )
    }


SAMPLES: Builders = {
    "NeoReGeorg_Tunnel_JSP_Loader": neo_jsp_loader,
    "ReGeorg_Tunnel_PHP": regeorg_php,
    "ReGeorg_Tunnel_ASPX": regeorg_aspx,
    "ReGeorg_Tunnel_JSP": regeorg_jsp,
    "NeoReGeorg_Tunnel_PHP": neo_php,
    "NeoReGeorg_Tunnel_ASPX": neo_aspx,
    "NeoReGeorg_Tunnel_JSP": neo_jsp,
}


# ---------------------------------------------------------------- near-misses


def nm_proxy_php() -> dict[str, bytes]:
    # A legitimate HTTP CONNECT proxy status page and a base64url helper.
    return {
        "proxy-status-php": text(
            "<?php",
            "// Health check: says all seems fine",
            '$res = fsockopen("192.0.2.10", 80);',
            'header("X-STATUS: OK");',
            'if ($method == "CONNECT") { echo "tunnel"; }',
        ),
        "base64url-php": text(
            "<?php",
            f'$en = "{B64}";',
            '$de = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";',
            "echo strtr(base64_encode($data), $en, $de);",
        ),
    }


def nm_socket_aspx() -> dict[str, bytes]:
    return {
        "socket-test-aspx": text(
            '<%@ Page Language="C#" %>',
            '<% Response.AddHeader("X-STATUS", "OK"); Session.Add("socket", null); %>',
            f'<% String en = "{B64}"; %>',
        )
    }


def nm_socket_jsp() -> dict[str, bytes]:
    return {
        "socket-test-jsp": text(
            '<%@page import="java.nio.channels.*"%>',
            '<% SocketChannel c = SocketChannel.open(); response.setHeader("X-STATUS", "OK"); %>',
            f'<% String en = "{B64}"; %>',
        )
    }


def nm_jsp_classloader() -> dict[str, bytes]:
    return {
        "plugin-loader-jsp": text(
            '<%@page import="java.util.*"%>',
            "<%! class L extends ClassLoader {",
            "public Class g(byte[] b) { return super.defineClass(b, 0, b.length); } } %>",
            '<% byte[] magic = new byte[]{-54,-2,-70,-66}; String err = "Failed connecting to target"; %>',
        )
    }


NEARMISS: Builders = {
    "NeoReGeorg_Tunnel_JSP_Loader": nm_jsp_classloader,
    "ReGeorg_Tunnel_PHP": nm_proxy_php,
    "ReGeorg_Tunnel_ASPX": nm_socket_aspx,
    "ReGeorg_Tunnel_JSP": nm_socket_jsp,
    "NeoReGeorg_Tunnel_PHP": nm_proxy_php,
    "NeoReGeorg_Tunnel_ASPX": nm_socket_aspx,
    "NeoReGeorg_Tunnel_JSP": nm_socket_jsp,
}
