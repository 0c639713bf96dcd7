"""Inert samples and near-misses for signatures/rules/linux_rootkits.yar."""

from __future__ import annotations

from sample_blocks import INERT_NOTE, Builders, a, elf, split, text


def reptile_lkm() -> dict[str, bytes]:
    return {
        "reptile-ko": elf(
            *a(
                "name=reptile_module",
                "reptile",
                "#<reptile>",
                "#</reptile>",
                "/reptile/reptile_shell",
                "/reptile/reptile_start",
                "khook_init",
            ),
            e_type=1,
        )
    }


def reptile_lkm_near() -> dict[str, bytes]:
    # A kernel module for a reptile-themed device: the word, no rootkit parts.
    return {
        "reptile-sensor-ko": elf(*a("name=reptile_sensor", "reptile", "license=GPL", "i2c_register_driver"), e_type=1)
    }


def reptile_block() -> dict[str, bytes]:
    return {
        "etc-modules": text(
            "# /etc/modules: kernel modules to load at boot time.",
            "loop",
            split("#<rep", "tile>"),
            "reptile_mod",
            split("#</rep", "tile>"),
        )
    }


def reptile_block_near() -> dict[str, bytes]:
    return {
        "etc-modules-clean": text(
            "# /etc/modules: kernel modules to load at boot time.", "loop", "# reptile: none", "lp"
        )
    }


def reptile_installer() -> dict[str, bytes]:
    return {
        "installer-sh": text(
            "#!/bin/bash",
            f"exit 0  # {INERT_NOTE}",
            'MODULE="reptile_mod"',
            split('echo -e "\\e[01;36mREPTILE ', 'INSTALLER\\e[00m"'),
            split("mkdir -p /rep", "tile"),
            split("cp bin/heavens_door /rep", "tile"),
            split('echo -e "#<reptile>\\n$MODULE\\n#</rep', 'tile>" >> /etc/modules'),
        )
    }


def reptile_installer_near() -> dict[str, bytes]:
    return {
        "module-installer-sh": text(
            "#!/bin/bash",
            'MODULE="snd_dummy"',
            "mkdir -p /opt/modules",
            'echo "$MODULE" >> /etc/modules',
            "depmod -a",
        )
    }


def suterusu() -> dict[str, bytes]:
    return {
        "suterusu-ko": elf(
            *a(
                "hijack_start",
                "hijack_pause",
                "hijack_resume",
                "hijack_stop",
                "n_tcp4_seq_show",
                "n_udp4_seq_show",
                "n_proc_filldir",
                "n_root_filldir",
                "hide_tcp4_port",
                "Authenticated, receiving command\n",
            ),
            e_type=1,
        )
    }


def suterusu_near() -> dict[str, bytes]:
    # A tracing module: one hijack helper name and seq_show handlers of its own.
    return {"tracer-ko": elf(*a("hijack_start", "tcp4_seq_show", "proc_filldir", "license=GPL"), e_type=1)}


BDV_PROFILE = (
    "tty -s || return",
    "[ ! -z $TERM ] && export TERM=xterm",
    "[ $(id -u) != 0 ] && su root",
    "[ $(id -u) != 0 ] && kill -9 $$",
    split("./bdv", "rolf; ./bdv makelinks"),
    "alias ls='ls --color=auto'",
    "id && who",
    '[ -f ~/auth_logs ] && echo -e "\\e[1mLogged accounts: \\e[1;31m$(cat ~/auth_logs | wc -l)\\e[0m"',
    '[ -f ~/ssh_logs ] && echo -e "\\e[1mSSH logs: \\e[1;31m$(cat ~/ssh_logs | wc -l)\\e[0m"',
    "chown -h 0:`id -g` ~/* &>/dev/null",
)


def bedevil() -> dict[str, bytes]:
    return {"bdvl-so": elf("\n".join(BDV_PROFILE).encode(), *a("readdir", "dlsym"), e_type=3)}


def bedevil_near() -> dict[str, bytes]:
    return {"profile-helper-so": elf(*a("Logged accounts: ", "chown -h", "readdir", "dlsym"), e_type=3)}


def bedevil_profile() -> dict[str, bytes]:
    return {"bashrc": text(*BDV_PROFILE)}


def bedevil_profile_near() -> dict[str, bytes]:
    return {
        "bashrc-admin": text(
            "tty -s || return",
            "[ ! -z $TERM ] && export TERM=xterm",
            "alias ls='ls --color=auto'",
            "chown -h root:root ~/bin/* &>/dev/null",
        )
    }


def skidmap_lkm() -> dict[str, bytes]:
    return {
        "iproute-ko": elf(
            *a(
                "fake_seq_show_ipv4_tcp",
                "fake_account_user_time",
                "fake_loadavg_proc_show",
                "fake_crash_kexec",
                "fake_sched_debug_show",
            ),
            e_type=1,
        )
    }


def skidmap_lkm_near() -> dict[str, bytes]:
    return {"testing-ko": elf(*a("fake_crash_kexec", "kunit_test", "license=GPL"), e_type=1)}


def skidmap_dropper() -> dict[str, bytes]:
    return {
        "pc-elf": elf(
            *a(
                "/usr/bin/pamdicks",
                "kaudited",
                "/var/lib/iproute.ko",
                "/var/lib/netlink.ko",
                "/var/lib/cryptov2.ko",
                "miner2",
            )
        )
    }


def skidmap_dropper_near() -> dict[str, bytes]:
    return {
        "iproute2-elf": elf(*a("iproute.ko", "netlink", "kauditd", "Usage: ip [ OPTIONS ] OBJECT { COMMAND | help }"))
    }


def diamorphine_src() -> dict[str, bytes]:
    return {
        "diamorphine-c": text(
            f"/* {INERT_NOTE} */",
            "#include <linux/module.h>",
            split('#define MAGIC_PREFIX "diamorphine', '_secret"'),
            split("static asmlinkage long hacked_", "getdents64(const struct pt_regs *pt_regs) { return 0; }"),
            split("static asmlinkage int hacked_", "kill(const struct pt_regs *pt_regs) { return 0; }"),
            split("void give_", "root(void) { }"),
            split('MODULE_AUTHOR("m0n', 'ad");'),
        )
    }


def diamorphine_src_near() -> dict[str, bytes]:
    return {
        "hello-module-c": text(
            "#include <linux/module.h>",
            "static int __init hello_init(void) { return 0; }",
            "module_init(hello_init);",
            'MODULE_AUTHOR("Example");',
            'MODULE_LICENSE("GPL");',
        )
    }


SAMPLES: Builders = {
    "Reptile_LKM": reptile_lkm,
    "Reptile_Hidden_Block": reptile_block,
    "Reptile_Installer_Script": reptile_installer,
    "Suterusu_LKM": suterusu,
    "Bedevil_Preload": bedevil,
    "Bedevil_Magic_Profile": bedevil_profile,
    "Skidmap_LKM": skidmap_lkm,
    "Skidmap_Dropper": skidmap_dropper,
    "Diamorphine_Source": diamorphine_src,
}

NEARMISS: Builders = {
    "Reptile_LKM": reptile_lkm_near,
    "Reptile_Hidden_Block": reptile_block_near,
    "Reptile_Installer_Script": reptile_installer_near,
    "Suterusu_LKM": suterusu_near,
    "Bedevil_Preload": bedevil_near,
    "Bedevil_Magic_Profile": bedevil_profile_near,
    "Skidmap_LKM": skidmap_lkm_near,
    "Skidmap_Dropper": skidmap_dropper_near,
    "Diamorphine_Source": diamorphine_src_near,
}
