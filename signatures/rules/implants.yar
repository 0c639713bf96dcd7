/*
   Post-exploitation implants for Linux: Sliver's Go implant and Metasploit's Meterpreter (the
   mettle ELF, the tiny reverse-TCP stager ELFs msfvenom writes, and the Python stager).
   Indicators from the frameworks' own public sources. Their in-memory forms are in memory.yar.
*/

rule Sliver_Implant_ELF
{
    meta:
        family = "Sliver"
        severity = "critical"
        description = "Sliver C2 implant (unobfuscated Go build): its protobuf message packages and implant transport/handler packages"
        reference = "https://github.com/BishopFox/sliver"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $pb = "github.com/bishopfox/sliver/protobuf/sliverpb" ascii
        $common = "github.com/bishopfox/sliver/protobuf/commonpb" ascii
        $i1 = "github.com/bishopfox/sliver/implant/sliver/transports" ascii
        $i2 = "github.com/bishopfox/sliver/implant/sliver/handlers" ascii
        $i3 = "github.com/bishopfox/sliver/implant/sliver/shell" ascii
        $m1 = "sliverpb.Envelope" ascii
        $m2 = "sliverpb.Register" ascii
        $m3 = "sliverpb.BeaconRegister" ascii

    condition:
        uint32(0) == 0x464C457F
        and filesize < 60MB
        and $pb
        and 2 of ($common, $i*, $m*)
}

rule Meterpreter_Mettle_ELF
{
    meta:
        family = "Meterpreter"
        severity = "critical"
        description = "Meterpreter for Linux (mettle): its usage text, DEFAULT_OPTS patch area and fd:// transport"
        reference = "https://github.com/rapid7/mettle"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $u_uri = "-u, --uri <uri>        add connection URI" ascii
        $u_uuid = "-U, --uuid <uuid>      set the UUID (base64)" ascii
        $u_persist = "-p, --persist [none|install|uninstall] manage persistence" ascii
        $u_bg = "-b, --background [0|1] start as a background service" ascii
        $o_default = "default_opts" ascii fullword
        $o_fd = "fd://%d" ascii
        $o_guid = "session-guid" ascii fullword

    condition:
        uint32(0) == 0x464C457F
        and filesize < 10MB
        and 2 of ($u_*)
        and 2 of ($o_*)
}

rule Meterpreter_Stager_ELF_x64
{
    meta:
        family = "Meterpreter"
        severity = "critical"
        description = "msfvenom linux/x64 reverse-TCP stager: a tiny ELF whose code opens a socket, connects and reads the next stage"
        reference = "https://github.com/rapid7/metasploit-framework"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        // push 0x29; pop rax; cdq; push 2; pop rdi; push 1; pop rsi; syscall (socket)
        $socket = { 6A 29 58 99 6A 02 5F 6A 01 5E 0F 05 }
        // push 0x10; pop rdx; push 0x2a; pop rax; syscall (connect)
        $connect = { 6A 10 5A 6A 2A 58 0F 05 }
        // push 9; pop rax; cdq (mmap for the stage)
        $mmap = { 6A 09 58 99 }

    condition:
        uint32(0) == 0x464C457F and uint8(4) == 2
        and filesize < 4KB
        and $socket and $connect and $mmap
}

rule Meterpreter_Stager_ELF_x86
{
    meta:
        family = "Meterpreter"
        severity = "critical"
        description = "msfvenom linux/x86 reverse-TCP stager: a tiny ELF whose code calls socketcall(socket) then connect and reads the next stage"
        reference = "https://github.com/rapid7/metasploit-framework"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        // xor ebx,ebx; mul ebx; push ebx; inc ebx; push ebx; push 2; mov al,0x66; mov ecx,esp; int 0x80
        $socket = { 31 DB F7 E3 53 43 53 6A 02 B0 66 89 E1 CD 80 }
        // push ip; push port|AF_INET; mov ecx,esp; push 0x66; pop eax; push eax; push ecx; push edi; mov ecx,esp; inc ebx; int 0x80 (connect)
        $connect = { 68 ?? ?? ?? ?? 68 02 00 ?? ?? 89 E1 6A 66 58 50 51 57 89 E1 43 CD 80 }
        // mov al,0x7d; int 0x80 (mprotect of the stage buffer)
        $mprotect = { B0 7D CD 80 }

    condition:
        uint32(0) == 0x464C457F and uint8(4) == 1
        and filesize < 4KB
        and $socket and $connect and $mprotect
}

rule Meterpreter_Python_Stager
{
    meta:
        family = "Meterpreter"
        severity = "high"
        description = "Metasploit python/meterpreter stager: a one-line exec of a base64 blob decoded for either Python major version"
        reference = "https://github.com/rapid7/metasploit-framework"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $stager = /exec\(base64\.b64decode\(\{2:str,\s?3:lambda b:bytes\(b,\s?'UTF-8'\)\}\[sys\.version_info\[0\]\]\('[A-Za-z0-9+\/=]{40,}/ ascii
        $import = /import base64,\s?sys;/ ascii

    condition:
        filesize < 64KB and $stager and $import
}
