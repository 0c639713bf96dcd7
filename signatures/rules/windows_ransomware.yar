/*
   Windows ransomware: WannaCry, Ryuk, Conti, NotPetya, Locky, Cerber, GandCrab and REvil.
   Encryptor rules check the MZ and PE signatures; ransom-note rules key on the note's own
   sentences and file names together, with a size limit. The REvil configuration rule is tagged
   `memory` (its JSON configuration as the running encryptor holds it).
*/

rule WannaCry_Dropper
{
    meta:
        family = "WannaCry"
        severity = "critical"
        description = "WannaCry worm dropper: its mssecsvc2.0 service, kill-switch domain and tasksche.exe drop"
        reference = "https://attack.mitre.org/software/S0366/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $svc = "mssecsvc2.0" ascii wide
        $svc_exe = "mssecsvc.exe" ascii wide
        $kill = "iuqerfsodp9ifjaposdfjhgosurijfaewrwergwea.com" ascii wide
        $tasks = "tasksche.exe" ascii wide
        $desc = "Microsoft Security Center (2.0) Service" ascii wide

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 10MB
        and 3 of them
}

rule WannaCry_Encryptor
{
    meta:
        family = "WannaCry"
        severity = "critical"
        description = "WannaCry encryptor (tasksche.exe): its WNcry@2ol7 archive password, .wnry files and icacls/attrib commands"
        reference = "https://attack.mitre.org/software/S0366/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $pw = "WNcry@2ol7" ascii wide
        $name = "WanaCrypt0r" ascii wide
        $w_c = "c.wnry" ascii wide
        $w_t = "t.wnry" ascii wide
        $w_s = "s.wnry" ascii wide
        $w_r = "r.wnry" ascii wide
        $w_msg = "msg/m_english.wnry" ascii wide
        $c_icacls = "icacls . /grant Everyone:F /T /C /Q" ascii wide
        $c_attrib = "attrib +h ." ascii wide
        $c_taskdl = "taskdl.exe" ascii wide

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 10MB
        and ($pw or $name)
        and 2 of ($w_*)
        and 1 of ($c_*)
}

rule WannaCry_Decryptor_UI
{
    meta:
        family = "WannaCry"
        severity = "critical"
        description = "WannaCry's @WanaDecryptor@.exe ransom window: its title, payment-check and .wnry strings"
        reference = "https://attack.mitre.org/software/S0366/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $title = "Wana Decrypt0r 2.0" ascii wide
        $exe = "@WanaDecryptor@.exe" ascii wide
        $s_pay = "Check Payment" ascii wide
        $s_res = "b.wnry" ascii wide
        $s_u = "u.wnry" ascii wide
        $s_00 = "00000000.res" ascii wide

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 10MB
        and ($title or $exe)
        and 2 of ($s_*)
}

rule WannaCry_Readme
{
    meta:
        family = "WannaCry"
        severity = "high"
        description = "WannaCry readme (r.wnry / @Please_Read_Me@.txt): its question headings and @WanaDecryptor@ instruction"
        reference = "https://attack.mitre.org/software/S0366/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $q1 = /What's wrong with my files\?/ ascii wide
        $q2 = "Can I Recover My Files?" ascii nocase
        $q3 = "How Do I Pay?" ascii nocase
        $exe = "@WanaDecryptor@" ascii wide

    condition:
        filesize < 32KB
        and $exe and $q1 and ($q2 or $q3)
}

rule Ryuk_Encryptor
{
    meta:
        family = "Ryuk"
        severity = "critical"
        description = "Ryuk encryptor: its RyukReadMe note name, HERMES file marker and shadow-copy deletion"
        reference = "https://attack.mitre.org/software/S0446/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $note_txt = "RyukReadMe.txt" ascii wide
        $note_html = "RyukReadMe.html" ascii wide
        $hermes = "HERMES" ascii wide fullword
        $uid = "UNIQUE_ID_DO_NOT_REMOVE" ascii wide
        $vss = "vssadmin Delete Shadows /all /quiet" ascii wide nocase
        $bat = "\\users\\Public\\window.bat" ascii wide nocase

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 5MB
        and 1 of ($note_*)
        and 1 of ($hermes, $uid)
        and 1 of ($vss, $bat)
}

rule Ryuk_Ransom_Note
{
    meta:
        family = "Ryuk"
        severity = "high"
        description = "Ryuk ransom note (RyukReadMe): its 'No system is safe' signature line with the mail contacts and bitcoin wallet demand"
        reference = "https://attack.mitre.org/software/S0446/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $ryuk = "Ryuk" ascii fullword
        $safe = /No system is safe[\s.!]/ ascii nocase
        $m1 = "protonmail" ascii nocase
        $m2 = "tutanota" ascii nocase
        $btc = "BTC wallet" ascii nocase

    condition:
        filesize < 16KB
        and $ryuk and $safe
        and 1 of ($m1, $m2) and $btc
}

rule Ryuk_Window_Bat
{
    meta:
        family = "Ryuk"
        severity = "critical"
        description = "Ryuk's window.bat: shrinks every shadow storage to 401MB to purge it, then deletes backup files (VHD, bac, bak, wbcat, bkf)"
        reference = "https://attack.mitre.org/software/S0446/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $resize = /vssadmin resize shadowstorage \/for=c: \/on=c: \/maxsize=401MB/ ascii nocase
        $del = /del \/s \/f \/q c:\\\*\.VHD c:\\\*\.bac c:\\\*\.bak c:\\\*\.wbcat c:\\\*\.bkf/ ascii nocase
        $all = /vssadmin Delete Shadows \/all \/quiet/ ascii nocase

    condition:
        filesize < 64KB
        and $resize and $del and $all
}

rule Conti_Encryptor
{
    meta:
        family = "Conti"
        severity = "critical"
        description = "Conti encryptor: its CONTI_README.txt note, CONTI strain text and -m/-p/-nomutex command-line switches"
        reference = "https://attack.mitre.org/software/S0575/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $note = "CONTI_README.txt" ascii wide
        $strain = "currently encrypted by CONTI strain" ascii wide
        $ext = ".CONTI" ascii wide fullword
        $a_nomutex = "-nomutex" ascii wide fullword
        $a_local = "local" ascii wide fullword
        $a_net = "net" ascii wide fullword
        $a_size = "-size" ascii wide fullword
        $a_log = "-log" ascii wide fullword

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 5MB
        and 2 of ($note, $strain, $ext)
        and 2 of ($a_*)
}

rule Conti_Ransom_Note
{
    meta:
        family = "Conti"
        severity = "high"
        description = "Conti ransom note (CONTI_README.txt / readme.txt): the CONTI strain sentence with its recovery instructions"
        reference = "https://attack.mitre.org/software/S0575/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $strain = /All of your files are currently encrypted by CONTI strain[\s.]/ ascii wide nocase
        $s_tor = ".onion" ascii wide
        $s_tb = "TOR Browser" ascii wide nocase
        $s_dec = "decrypt" ascii wide nocase

    condition:
        filesize < 16KB
        and $strain
        and 2 of ($s_*)
}

rule NotPetya_Encryptor
{
    meta:
        family = "NotPetya"
        severity = "critical"
        description = "NotPetya wiper-ransomware DLL (perfc.dat): its contact mailbox, README.TXT, and wevtutil/PsExec strings"
        reference = "https://attack.mitre.org/software/S0368/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $mail = "wowsmith123456@posteo.net" ascii wide
        $s_perfc = "perfc.dat" ascii wide nocase
        $s_dllhost = "dllhost.dat" ascii wide nocase
        $s_readme = "README.TXT" ascii wide
        $s_wevt = "wevtutil cl Setup & wevtutil cl System & wevtutil cl Security" ascii wide nocase
        $s_text = "If you see this text, then your files are no longer accessible" ascii wide

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 5MB
        and ($mail or $s_text)
        and 2 of ($s_*)
}

rule NotPetya_Ransom_Note
{
    meta:
        family = "NotPetya"
        severity = "high"
        description = "NotPetya README.TXT: its 'files are no longer accessible' text with the posteo.net contact"
        reference = "https://attack.mitre.org/software/S0368/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $text = /If you see this text, then your files are no longer accessible[\s.,]/ ascii
        $mail = "wowsmith123456@posteo.net" ascii
        $key = "personal installation key" ascii nocase

    condition:
        filesize < 8KB
        and $text and ($mail or $key)
}

rule Locky_Encryptor
{
    meta:
        family = "Locky"
        severity = "critical"
        description = "Locky encryptor: its _Locky_recover_instructions note names and .locky extension"
        reference = "https://www.microsoft.com/en-us/wdsi/threats/malware-encyclopedia-description?Name=Ransom:Win32/Locky"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $n_txt = "_Locky_recover_instructions.txt" ascii wide nocase
        $n_bmp = "_Locky_recover_instructions.bmp" ascii wide nocase
        $ext = ".locky" ascii wide nocase fullword
        $vss = "vssadmin.exe Delete Shadows /All /Quiet" ascii wide nocase
        $key = "Software\\Locky" ascii wide nocase

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 5MB
        and 1 of ($n_*)
        and 1 of ($ext, $vss, $key)
}

rule Locky_Ransom_Note
{
    meta:
        family = "Locky"
        severity = "high"
        description = "Locky ransom note: the RSA-2048/AES-128 sentence with its .onion decryptor page and Locky name"
        reference = "https://www.microsoft.com/en-us/wdsi/threats/malware-encyclopedia-description?Name=Ransom:Win32/Locky"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $cipher = /RSA-2048 and AES-128 ciphers[\s.]/ ascii nocase
        $locky = "Locky" ascii nocase
        $onion = ".onion/" ascii
        $tor = "Tor Browser" ascii nocase

    condition:
        filesize < 16KB
        and $cipher and $locky and $onion and $tor
}

rule Cerber_Ransomware
{
    meta:
        family = "Cerber"
        severity = "critical"
        description = "Cerber ransomware: its '# DECRYPT MY FILES #' note names, voice-message VBS and Cerber decryptor wording"
        reference = "https://www.microsoft.com/en-us/wdsi/threats/malware-encyclopedia-description?Name=Ransom:Win32/Cerber"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $n_txt = /# DECRYPT MY FILES #\.txt/ ascii wide
        $n_html = /# DECRYPT MY FILES #\.html/ ascii wide
        $n_vbs = /# DECRYPT MY FILES #\.vbs/ ascii wide
        $cerber = "Cerber" ascii wide
        $decr = "Cerber Decryptor" ascii wide

    condition:
        filesize < 5MB
        and 2 of ($n_*)
        and 1 of ($cerber, $decr)
        and (uint16(0) == 0x5A4D or filesize < 64KB)
}

rule GandCrab_Encryptor
{
    meta:
        family = "GandCrab"
        severity = "critical"
        description = "GandCrab encryptor: its GANDCRAB markers, KRAB/GDCB-DECRYPT note names and gandcrab.bit C2"
        reference = "https://malpedia.caad.fkie.fraunhofer.de/details/win.gandcrab"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $name = "GANDCRAB" ascii wide
        $n_krab = "KRAB-DECRYPT.txt" ascii wide nocase
        $n_gdcb = "GDCB-DECRYPT.txt" ascii wide nocase
        $n_krab2 = "-DECRYPT.txt" ascii wide
        $c2 = "gandcrab.bit" ascii wide nocase
        $ext = ".KRAB" ascii wide fullword

    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filesize < 5MB
        and ($name or $c2)
        and 2 of ($n_*, $ext)
}

rule GandCrab_Ransom_Note
{
    meta:
        family = "GandCrab"
        severity = "high"
        description = "GandCrab ransom note (KRAB/GDCB-DECRYPT.txt): its GANDCRAB banner with the Tor payment page"
        reference = "https://malpedia.caad.fkie.fraunhofer.de/details/win.gandcrab"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $banner = /---=\s*GANDCRAB\s*V?[0-9.]{0,6}\s*=---/ ascii
        $onion = ".onion" ascii
        $tor = "Tor Browser" ascii nocase

    condition:
        filesize < 16KB
        and $banner and $onion and $tor
}

rule REvil_Config_Memory : memory
{
    meta:
        family = "REvil"
        severity = "critical"
        description = "REvil/Sodinokibi JSON configuration as the encryptor holds it decrypted: pk, pid, sub, dbg, wht, nbody and nname keys"
        reference = "https://attack.mitre.org/software/S0496/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $head = /\{"pk":"[A-Za-z0-9+\/=]{40,50}","pid":"[^"]{0,80}","sub":"[0-9]{1,6}","dbg":(true|false)/ ascii
        $wht = /"wht":\{"fld":\[/ ascii
        $note = /"nbody":"[A-Za-z0-9+\/=]{32}/ ascii
        $name = /"nname":"\{EXT\}-readme\.txt"/ ascii

    condition:
        $head and 1 of ($wht, $note, $name)
}

rule REvil_Ransom_Note
{
    meta:
        family = "REvil"
        severity = "high"
        description = "REvil/Sodinokibi ransom note ({EXT}-readme.txt): its 'encrypted, and currently unavailable' text with the decryptor site instructions"
        reference = "https://attack.mitre.org/software/S0496/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $hdr = /---=== Welcome\. Again\. ===---/ ascii
        $text = /Your files are encrypted, and currently unavailable[\s.]/ ascii
        $ext = /By the way, everything is possible to recover \(restore\), but you need to follow our instructions/ ascii
        $tor = "decryptor.cc" ascii
        $onion = ".onion/" ascii

    condition:
        filesize < 16KB
        and ($hdr or $text)
        and 1 of ($ext, $tor, $onion)
        and ($hdr and $text or $ext)
}
