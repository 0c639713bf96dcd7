/*
   TeamTNT cloud/container worm scripts: miner setup, rival killing, AWS/Docker credential
   theft and its renamed chattr ("tntrecht"). Indicators from Cado Security's and Unit 42's
   write-ups and MITRE ATT&CK G0139.
*/

rule TeamTNT_Shell_Script
{
    meta:
        family = "TeamTNT"
        severity = "critical"
        description = "TeamTNT shell script: group markers (TeamTNT, teamtnt.red, tntrecht) with miner, credential-theft or rival-removal steps"
        reference = "https://attack.mitre.org/groups/G0139/"
        author = "scanner project"
        date = "2026-11-22"

    strings:
        $shebang = /#!\s{0,4}\/(usr\/)?bin\/(env\s+)?(ba|da|k|z|a)?sh\b/ ascii
        $m_name = "TeamTNT" ascii nocase
        $m_domain = "teamtnt.red" ascii nocase
        $m_chattr = "tntrecht" ascii
        $b_aws = /cat\s+[^\n]{0,40}\.aws\/credentials/ ascii
        $b_imds = "169.254.169.254/latest/meta-data/iam/security-credentials" ascii
        $b_docker = /docker\s+(run|exec)[^\n]{0,200}(--privileged|-v\s*\/:\/)/ ascii
        $b_miner = /xmrig|stratum\+(tcp|ssl):\/\/|--donate-level|nr_hugepages/ ascii nocase
        $b_chattr = /chattr\s+-[ia]{1,2}\s/ ascii
        $b_fetch = /(curl|wget)[^\n]{1,200}(\|\s*(ba)?sh|-o\s|-O\s|>\s*\/)/ ascii
        $b_rival = /(pkill|killall|kill -9)[^\n]{0,80}(kinsing|kdevtmpfsi|xmr|minerd)/ ascii
        $b_hist = /(history -c|unset HISTFILE|HISTFILE=\/dev\/null)/ ascii
        $b_upload = /curl\s[^\n]{0,60}-F\s[^\n]{0,80}@/ ascii

    condition:
        filesize < 1MB
        and $shebang at 0
        and (
            (($m_domain or $m_chattr) and 3 of ($b_*))
            or ($m_name and $b_fetch and $b_miner and 3 of ($b_aws, $b_imds, $b_docker, $b_chattr, $b_rival, $b_hist, $b_upload))
        )
}
