/*
   HTTP tunnels dropped on web servers to proxy SOCKS traffic into internal networks: reGeorg and
   Neo-reGeorg, each in its PHP, ASPX and JSP forms. Every rule anchors on the page tag near
   the start and keys on the tunnel's protocol (its commands, headers and greeting) together.
*/

rule ReGeorg_Tunnel_PHP
{
    meta:
        family = "reGeorg"
        severity = "critical"
        description = "reGeorg PHP tunnel (tunnel.php / tunnel.nosocket.php): CONNECT/DISCONNECT/READ/FORWARD commands, X-STATUS headers and Georg's greeting"
        reference = "https://github.com/sensepost/reGeorg"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $php = "<?php" ascii
        $hello = "Georg says, 'All seems fine'" ascii
        $status = "X-STATUS" ascii
        $c_connect = "\"CONNECT\"" ascii
        $c_disc = "\"DISCONNECT\"" ascii
        $c_read = "\"READ\"" ascii
        $c_fwd = "\"FORWARD\"" ascii
        $sock = /(fsockopen|socket_create|stream_socket_client)\s*\(/ ascii

    condition:
        filesize < 64KB
        and $php in (0..16)
        and $hello and $status and $sock
        and 3 of ($c_*)
}

rule ReGeorg_Tunnel_ASPX
{
    meta:
        family = "reGeorg"
        severity = "critical"
        description = "reGeorg ASPX/ASHX tunnel: socket kept in the session, X-STATUS/X-ERROR headers and Georg's greeting"
        reference = "https://github.com/sensepost/reGeorg"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $asp = "<%@" ascii
        $hello = "Georg says, 'All seems fine'" ascii
        $status = "Response.AddHeader(\"X-STATUS\"" ascii
        $error = "Response.AddHeader(\"X-ERROR\"" ascii
        $sess = "Session.Add(\"socket\"" ascii
        $cmd = "\"DISCONNECT\"" ascii

    condition:
        filesize < 64KB
        and $asp in (0..16)
        and $hello
        and 3 of ($status, $error, $sess, $cmd)
}

rule ReGeorg_Tunnel_JSP
{
    meta:
        family = "reGeorg"
        severity = "critical"
        description = "reGeorg JSP tunnel: SocketChannel kept in the session, X-STATUS headers and Georg's greeting"
        reference = "https://github.com/sensepost/reGeorg"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $jsp = "<%@" ascii
        $hello = "Georg says, 'All seems fine'" ascii
        $status = "response.setHeader(\"X-STATUS\"" ascii
        $chan = "SocketChannel" ascii
        $sess = "session.setAttribute(\"socket\"" ascii
        $cmd = "\"DISCONNECT\"" ascii

    condition:
        filesize < 64KB
        and $jsp in (0..16)
        and $hello
        and 3 of ($status, $chan, $sess, $cmd)
}

rule NeoReGeorg_Tunnel_PHP
{
    meta:
        family = "Neo-reGeorg"
        severity = "critical"
        description = "Neo-reGeorg PHP tunnel: base64 with a substituted alphabet (strtr with $en/$de) around run/writebuf/readbuf session slots"
        reference = "https://github.com/L-codes/Neo-reGeorg"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $php = "<?php" ascii
        $en = "$en = \"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/\";" ascii
        $de = /\$de\s*=\s*"[A-Za-z0-9+\/]{64}";/ ascii
        $tr = /strtr\s*\(\s*base64_encode\s*\(\s*\$[A-Za-z]{1,20}\s*\)\s*,\s*\$en\s*,\s*\$de\s*\)/ ascii
        $s_run = "\"run\".$mark" ascii
        $s_wb = "\"writebuf\".$mark" ascii
        $s_rb = "\"readbuf\".$mark" ascii
        $s_blv = "blv_decode" ascii

    condition:
        filesize < 64KB
        and $php in (0..16)
        and $en and ($de or $tr)
        and 2 of ($s_*)
}

rule NeoReGeorg_Tunnel_ASPX
{
    meta:
        family = "Neo-reGeorg"
        severity = "critical"
        description = "Neo-reGeorg ASPX/ASHX tunnel: blv_encode/blv_decode framing, StrTr alphabet substitution and the NeoGeorg greeting"
        reference = "https://github.com/L-codes/Neo-reGeorg"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $asp = "<%@" ascii
        $blv_d = "blv_decode(" ascii
        $blv_e = "blv_encode(" ascii
        $strtr = "StrTr(" ascii
        $en = "\"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/\"" ascii
        $hello = "NeoGeorg says, 'All seems fine'" ascii
        $redir = "REDIRECTURL" ascii

    condition:
        filesize < 64KB
        and $asp in (0..16)
        and $blv_d and $blv_e
        and 2 of ($strtr, $en, $hello, $redir)
}

rule NeoReGeorg_Tunnel_JSP
{
    meta:
        family = "Neo-reGeorg"
        severity = "critical"
        description = "Neo-reGeorg JSP/JSPX tunnel: blv_encode/blv_decode framing with the substituted base64 alphabet and SocketChannel handling"
        reference = "https://github.com/L-codes/Neo-reGeorg"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $jsp1 = "<%@" ascii
        $jsp2 = "<jsp:root" ascii
        $blv_d = "blv_decode(" ascii
        $blv_e = "blv_encode(" ascii
        $en = "\"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/\"" ascii
        $chan = "SocketChannel" ascii
        $hello = "NeoGeorg says, 'All seems fine'" ascii

    condition:
        filesize < 64KB
        and ($jsp1 in (0..16) or $jsp2 in (0..64))
        and $blv_d and $blv_e
        and 2 of ($en, $chan, $hello)
}

rule NeoReGeorg_Tunnel_JSP_Loader
{
    meta:
        family = "Neo-reGeorg"
        severity = "critical"
        description = "Neo-reGeorg 5 JSP tunnel: a class file embedded as a signed byte array (CAFEBABE) defined by a custom ClassLoader, fed the tunnel's status strings"
        reference = "https://github.com/L-codes/Neo-reGeorg"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $jsp = "<%@" ascii
        $loader = /extends\s+ClassLoader/ ascii
        $define = /super\.defineClass\s*\(\s*\w{1,20}\s*,\s*0\s*,\s*\w{1,20}\.length\s*\)/ ascii
        $cafe = /new\s+byte\s*\[\s*\]\s*\{\s*-54\s*,\s*-2\s*,\s*-70\s*,\s*-66\s*,/ ascii
        $s_intra = "\"Intranet forwarding failed\"" ascii
        $s_run = "\"No more running, close now\"" ascii
        $s_post = "\"POST request read filed\"" ascii
        $s_target = "\"Failed connecting to target\"" ascii

    condition:
        filesize < 256KB
        and $jsp in (0..16)
        and $loader and $define and $cafe
        and 2 of ($s_*)
}
