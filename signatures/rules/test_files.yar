/*
   The EICAR anti-malware test file: a harmless string every scanner agrees to detect, so a
   user can check that detection and reporting work end to end.
*/

rule EICAR_Test_File
{
    meta:
        family = "EICAR-Test-File"
        severity = "low"
        description = "EICAR anti-malware test file (the standard 68-byte string, optionally followed by whitespace); harmless"
        reference = "https://www.eicar.org/download-anti-malware-testfile/"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*" ascii

    condition:
        $eicar at 0 and filesize <= 128
}
