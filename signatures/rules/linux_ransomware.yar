/*
   Linux and VMware ESXi ransomware: LockBit, BlackCat/ALPHV, Babuk (ESXi locker built from its
   leaked source), RansomEXX, Royal and ESXiArgs: the encryptors, their configuration and the
   ransom notes they leave. Indicators from the vendor reports named in each rule.

   Note and configuration rules have no header to anchor on; each keys on a regular expression
   whose source text differs from what it matches, so this file does not match itself, and the
   notes' key sentences must start a line (or follow an HTML tag), so rule files and reports that
   quote them inside string literals do not match either.
*/

rule LockBit_Linux_ESXi_Encryptor
{
    meta:
        family = "LockBit"
        severity = "critical"
        description = "LockBit Linux/ESXi encryptor: note name and the vim-cmd/esxcli commands it runs to stop virtual machines"
        reference = "https://www.trendmicro.com/en_us/research/22/a/analysis-and-Impact-of-lockbit-ransomwares-first-linux-and-vmware-esxi-variant.html"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $note = "Restore-My-Files.txt" ascii
        $name = "LockBit" ascii
        $ext = ".lockbit" ascii fullword
        $c1 = "vim-cmd vmsvc/getallvms" ascii
        $c2 = "esxcli vm process list" ascii
        $c3 = "esxcli vm process kill --type=force --world-id=" ascii
        $c4 = "vim-cmd vmsvc/power.off" ascii
        $c5 = "vim-cmd hostsvc/autostartmanager/enable_autostart false" ascii

    condition:
        uint32(0) == 0x464C457F
        and filesize < 10MB
        and 2 of ($note, $name, $ext)
        and 2 of ($c*)
}

rule LockBit_Ransom_Note
{
    meta:
        family = "LockBit"
        severity = "high"
        description = "LockBit ransom note (Restore-My-Files.txt and the 3.0 README): LockBit banner, onion leak site and decryption offer"
        reference = "https://www.trendmicro.com/en_us/research/22/a/analysis-and-Impact-of-lockbit-ransomwares-first-linux-and-vmware-esxi-variant.html"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $banner = /(^|\n)[~ ]{0,4}LockBit (2\.0 Ransomware|3\.0 the world's fastest|Black Ransomware)/ ascii
        $onion = /http:\/\/lockbit[a-z0-9]{10,60}\.onion/ ascii
        $decrypt = /(decrypt|decryption)/ ascii nocase
        $stolen = /(stolen|encrypted)/ ascii

    condition:
        filesize < 64KB and $banner and $onion and $decrypt and $stolen
}

rule BlackCat_Encryptor
{
    meta:
        family = "BlackCat"
        severity = "critical"
        description = "BlackCat/ALPHV Rust encryptor for Linux/ESXi: its embedded JSON configuration keys and ESXi VM-kill switches"
        reference = "https://www.microsoft.com/en-us/security/blog/2022/06/13/the-many-lives-of-blackcat-ransomware/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $k1 = "config_id" ascii
        $k2 = "note_file_name" ascii
        $k3 = "note_full_text" ascii
        $k4 = "note_short_text" ascii
        $k5 = "default_file_cipher" ascii
        $k6 = "exclude_directory_names" ascii
        $k7 = "enable_esxi_vm_kill" ascii
        $k8 = "enable_esxi_vm_snapshot_kill" ascii
        $k9 = "strict_include_paths" ascii
        $k10 = "enable_self_propagation" ascii
        $esxi = "vim-cmd vmsvc/snapshot.removeall" ascii

    condition:
        uint32(0) == 0x464C457F
        and filesize < 20MB
        and (5 of ($k*) or (3 of ($k*) and $esxi))
}

rule BlackCat_Config
{
    meta:
        family = "BlackCat"
        severity = "critical"
        description = "BlackCat/ALPHV configuration JSON (as extracted or dropped): note, cipher, credential and ESXi kill settings"
        reference = "https://www.microsoft.com/en-us/security/blog/2022/06/13/the-many-lives-of-blackcat-ransomware/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $k1 = /"config_id"\s*:/ ascii
        $k2 = /"note_file_name"\s*:/ ascii
        $k3 = /"note_full_text"\s*:/ ascii
        $k4 = /"default_file_cipher"\s*:/ ascii
        $k5 = /"kill_services"\s*:\s*\[/ ascii
        $k6 = /"exclude_directory_names"\s*:\s*\[/ ascii
        $k7 = /"enable_esxi_vm_kill"\s*:\s*(true|false)/ ascii
        $k8 = /"credentials"\s*:\s*\[/ ascii

    condition:
        filesize < 256KB
        and uint8(0) == 0x7B
        and 5 of them
}

rule BlackCat_Ransom_Note
{
    meta:
        family = "BlackCat"
        severity = "high"
        description = "BlackCat/ALPHV ransom note (RECOVER-<ext>-FILES.txt): its >> section headings and onion access page"
        reference = "https://www.microsoft.com/en-us/security/blog/2022/06/13/the-many-lives-of-blackcat-ransomware/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $h1 = /(^|\n)>> What happened\?/ ascii
        $h2 = /(^|\n)>> Sensitive Data/ ascii
        $h3 = /(^|\n)>> CAUTION/ ascii
        $h4 = /(^|\n)>> What should I do next\?/ ascii
        $h5 = /(^|\n)>> Introduction/ ascii
        $h6 = /(^|\n)>> Recovery procedure/ ascii
        $onion = /http:\/\/[a-z2-7]{56}\.onion\/\?access-key=/ ascii

    condition:
        filesize < 64KB and 3 of ($h*) and $onion
}

rule Babuk_ESXi_Encryptor
{
    meta:
        family = "Babuk"
        severity = "critical"
        description = "ESXi locker built from Babuk's leaked source: usage line, note name, .babyk extension and end-of-run statistics"
        reference = "https://www.sentinelone.com/labs/hypervisor-ransomware-multiple-threat-actor-groups-hop-on-leaked-babuk-code-to-build-esxi-lockers/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $usage = "/path/to/be/encrypted" ascii
        $note = "How To Restore Your Files.txt" ascii
        $ext = ".babyk" ascii
        $s1 = "Statistic:" ascii
        $s2 = "Doesn't encrypted files:" ascii
        $s3 = "Encrypted files:" ascii
        $s4 = "Skipped files:" ascii
        $s5 = "Whole files count:" ascii
        $s6 = "Encrypting: %s" ascii

    condition:
        uint32(0) == 0x464C457F
        and filesize < 5MB
        and 2 of ($usage, $note, $ext)
        and 3 of ($s*)
}

rule Babuk_Ransom_Note
{
    meta:
        family = "Babuk"
        severity = "high"
        description = "Babuk ransom note (How To Restore Your Files.txt): encrypted-and-backups-deleted notice, universal decryptor offer and onion chat"
        reference = "https://www.sentinelone.com/labs/hypervisor-ransomware-multiple-threat-actor-groups-hop-on-leaked-babuk-code-to-build-esxi-lockers/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $what = /(^|\n)Your computers and servers are encrypted, backups are deleted\./ ascii
        $tool = "universal decryptor" ascii
        $onion = /http:\/\/[a-z2-7]{16,56}\.onion/ ascii

    condition:
        filesize < 64KB and $what and $tool and $onion
}

rule RansomEXX_Linux_Encryptor
{
    meta:
        family = "RansomEXX"
        severity = "critical"
        description = "RansomEXX (Defray777) Linux encryptor: its unstripped file walker, per-file/per-block encryption, config and per-directory note functions"
        reference = "https://securelist.com/ransomexx-trojan-attacks-linux-systems/99279/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $f1 = "EnumFiles" ascii fullword
        $f2 = "CryptOneFile" ascii fullword
        $f3 = "CryptOneBlock" ascii fullword
        $f4 = "ReadMeStoreForDir" ascii fullword
        $f5 = "GetRansomConfig" ascii fullword
        $f6 = "add_task_to_worker" ascii fullword
        $f7 = "g_RansomHeader" ascii fullword
        $note = "!NEWS_FOR_" ascii
        $tls = "mbedtls_" ascii

    condition:
        uint32(0) == 0x464C457F
        and filesize < 10MB
        and 4 of ($f*)
        and ($note or $tls)
}

rule Royal_Linux_Encryptor
{
    meta:
        family = "Royal"
        severity = "critical"
        description = "Royal ransomware for Linux/ESXi: its note text or .royal_u/.royal_w extensions with its switches and esxcli VM listing/kill"
        reference = "https://www.trendmicro.com/en_us/research/23/b/royal-ransomware-expands-attacks-by-targeting-linux-esxi-servers.html"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $ext_u = ".royal_u" ascii
        $ext_w = ".royal_w" ascii
        $o1 = "-stopvm" ascii fullword
        $o2 = "-vmonly" ascii fullword
        $o3 = "-fork" ascii fullword
        $o4 = "-logs" ascii fullword
        $o5 = "-ep" ascii fullword
        $kill = "esxcli vm process kill --type=hard --world-id=" ascii
        $list = "esxcli vm process list > list" ascii
        $note = "README.TXT" ascii
        $onion = ".onion/%s" ascii
        $msg = "hit by Royal ransomware." ascii

    condition:
        uint32(0) == 0x464C457F
        and filesize < 10MB
        and (1 of ($ext_*) or $msg)
        and 3 of ($o*, $kill, $list, $note, $onion)
}

rule Royal_Ransom_Note
{
    meta:
        family = "Royal"
        severity = "high"
        description = "Royal ransom note (README.TXT): its hit-by-Royal opening line and onion contact page"
        reference = "https://www.trendmicro.com/en_us/research/23/b/royal-ransomware-expands-attacks-by-targeting-linux-esxi-servers.html"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $hit = /(^|\n)If you are reading this, it means that your system were hit by Royal ransomware\./ ascii
        $onion = /http:\/\/royal[a-z2-7]{10,60}\.onion/ ascii
        $try = /Try Royal today and enter the new era of data security/ ascii

    condition:
        filesize < 64KB and $hit and ($onion or $try)
}

rule ESXiArgs_Encryptor
{
    meta:
        family = "ESXiArgs"
        severity = "critical"
        description = "ESXiArgs encryptor (the 'encrypt' ELF run by encrypt.sh): its Sosemanuk stream-key and per-file encryption functions, or its usage line"
        reference = "https://www.cisa.gov/news-events/cybersecurity-advisories/aa23-039a"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $usage = "usage: encrypt <public_key> <file_to_encrypt> [<enc_step>] [<enc_size>] [<file_size>]" ascii
        $key = "gen_stream_key" ascii fullword
        $f1 = "encrypt_simple" ascii fullword
        $f2 = "sosemanuk_encrypt" ascii fullword
        $f3 = "rsa_encrypt" ascii fullword
        $f4 = "open_read_write" ascii fullword
        $f5 = "encrypt_file" ascii fullword

    condition:
        uint32(0) == 0x464C457F
        and filesize < 5MB
        and ($usage or ($key and 3 of ($f*)))
}

rule ESXiArgs_Shell_Script
{
    meta:
        family = "ESXiArgs"
        severity = "critical"
        description = "ESXiArgs encrypt.sh: renames VM disks in .vmx files, kills vmx, runs the encryptor and replaces the ESXi welcome page and message"
        reference = "https://www.cisa.gov/news-events/cybersecurity-advisories/aa23-039a"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $shebang = /#!\s{0,4}\/(usr\/)?bin\/(env\s+)?(ba|da|k|z|a)?sh\b/ ascii
        $sed = /sed -i -e 's\/\.vmdk\/1\.vmdk\/g'/ ascii
        $welcome = /esxcli system welcomemsg set -m=/ ascii
        $index = /\/usr\/lib\/vmware\/hostd\/docroot\/ui\/index\.html/ ascii
        $enc = /\/encrypt\s+\$[A-Z_]{3,20}\s/ ascii
        $args = /\.args\b/ ascii

    condition:
        filesize < 64KB
        and $shebang at 0
        and $welcome
        and 3 of ($sed, $index, $enc, $args)
}

rule ESXiArgs_Ransom_Note
{
    meta:
        family = "ESXiArgs"
        severity = "high"
        description = "ESXiArgs ransom page (How to Restore Your Files.html / the replaced ESXi index.html): security alert text with a bitcoin demand"
        reference = "https://www.cisa.gov/news-events/cybersecurity-advisories/aa23-039a"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $hacked = /[>\s]We hacked your company successfully/ ascii
        $stolen = /[>\s]All files have been stolen and encrypted by us/ ascii
        $btc = /bitcoins? to the wallet/ ascii

    condition:
        filesize < 64KB and $hacked and $stolen and $btc
}
