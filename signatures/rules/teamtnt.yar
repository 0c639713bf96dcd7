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

rule TeamTNT_Credential_Stealer
{
    meta:
        family = "TeamTNT"
        severity = "critical"
        description = "TeamTNT credential grabber script: collects cloud, Docker, Git and SSH credential files and uploads them to the group's server"
        reference = "https://www.cadosecurity.com/team-tnt-the-first-crypto-mining-worm-to-steal-aws-credentials/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $shebang = /#!\s{0,4}\/(usr\/)?bin\/(env\s+)?(ba|da|k|z|a)?sh\b/ ascii
        $m_name = "TeamTNT" ascii nocase
        $m_domain = "teamtnt.red" ascii nocase
        $c_aws = ".aws/credentials" ascii
        $c_docker = ".docker/config.json" ascii
        $c_s3 = ".s3cfg" ascii
        $c_git = ".git-credentials" ascii
        $c_pg = ".pgpass" ascii
        $c_ssh = ".ssh/id_rsa" ascii
        $up = /curl\s[^\n]{0,80}(-F\s[^\n]{0,80}@|--upload-file\s)/ ascii

    condition:
        filesize < 1MB
        and $shebang at 0
        and 1 of ($m_*)
        and 4 of ($c_*)
        and $up
}

rule TeamTNT_Cron_Entry
{
    meta:
        family = "TeamTNT"
        severity = "critical"
        description = "TeamTNT cron persistence: a job fetching a script from teamtnt.red and piping it to a shell"
        reference = "https://attack.mitre.org/groups/G0139/"
        author = "scanner project"
        date = "2026-12-07"

    strings:
        $shebang = "#!" ascii
        $job = /(curl|wget)[^\n]{1,120}teamtnt\.red[^\n]{0,120}\|\s*(ba)?sh/ ascii

    condition:
        filesize < 16KB and not $shebang at 0 and $job
}
