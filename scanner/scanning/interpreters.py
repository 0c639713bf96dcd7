"""Which file an interpreter process runs: the script argument of a shell, Python, Perl, PHP, ... command line.

Pure: a command line (and the executable's path) in, the script argument out, or None when the
process runs no script file (``bash -c``, ``python -c``/``-m``, ``perl -e``, code on standard
input, not an interpreter at all). Each interpreter's options are parsed as that interpreter
parses them, so an option's value (``python -W ignore x.py``, ``php -d k=v x.php``) is never
taken for the script. ``processes`` resolves the argument against the process's working
directory and root and compares files by (device, inode).
"""

from __future__ import annotations

import enum
import logging
import os
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

logger = logging.getLogger(__name__)


class Kind(enum.Enum):
    """The families of interpreters whose command lines are parsed alike."""

    SHELL = "shell"
    PYTHON = "python"
    PERL = "perl"
    PHP = "php"
    NODE = "node"
    RUBY = "ruby"
    JAVA = "java"
    LUA = "lua"
    RSCRIPT = "Rscript"
    AWK = "awk"


_NAMES: tuple[tuple[re.Pattern[str], Kind], ...] = tuple(
    (re.compile(pattern), kind)
    for pattern, kind in (
        (r"-?(sh|bash|dash|ash|zsh|ksh|ksh93|mksh|pdksh|yash|posh)(-static)?", Kind.SHELL),
        (r"(python|pypy)[0-9.]*[a-z]?", Kind.PYTHON),
        (r"perl[0-9.]*", Kind.PERL),
        (r"php[0-9.]*(-cli)?", Kind.PHP),
        (r"(node|nodejs)[0-9.]*", Kind.NODE),
        (r"ruby[0-9.]*", Kind.RUBY),
        (r"java", Kind.JAVA),
        (r"(lua|luajit)[0-9.]*", Kind.LUA),
        (r"Rscript", Kind.RSCRIPT),
        (r"(awk|gawk|mawk|nawk)", Kind.AWK),
    )
)

_BUSYBOX = re.compile(r"busybox(\.[a-z]+)?")


def kind_of(name: str) -> Kind | None:
    """The interpreter kind of an executable's base name (``python3.11``, ``bash``, ``php8.2``), or None."""
    for pattern, kind in _NAMES:
        if pattern.fullmatch(name):
            return kind
    return None


@dataclass(frozen=True)
class Script:
    """The file an interpreter process was told to run."""

    kind: Kind
    """The interpreter."""
    argument: str
    """The script argument as given (relative to the process's working directory unless absolute)."""


def _interpreter(exe: str | None, cmdline: Sequence[str]) -> tuple[Kind, list[str]] | None:
    """The interpreter kind of a process and its arguments after the interpreter's own name, or None."""
    if not cmdline:
        return None
    base = os.path.basename((exe or cmdline[0]).removesuffix(" (deleted)"))
    args = list(cmdline[1:])
    if _BUSYBOX.fullmatch(base):  # busybox runs the applet its argv[0] names, or `busybox APPLET ...`
        applet = os.path.basename(cmdline[0])
        if _BUSYBOX.fullmatch(applet):
            if not args:
                return None
            applet, args = args[0], args[1:]
        base = applet
    kind = kind_of(base)
    return None if kind is None else (kind, args)


def interpreter_of(exe: str | None, cmdline: Sequence[str]) -> Kind | None:
    """The kind of interpreter ``exe`` (else ``cmdline[0]``; busybox by its applet) is, or None."""
    found = _interpreter(exe, cmdline)
    return None if found is None else found[0]


def script_of(exe: str | None, cmdline: Sequence[str]) -> Script | None:
    """The script file ``cmdline`` runs, if ``exe`` (else ``cmdline[0]``) is a known interpreter; else None."""
    found = _interpreter(exe, cmdline)
    if found is None:
        return None
    kind, args = found
    argument = _PARSERS[kind](args)
    if argument is None or argument == "-" or not argument:
        return None
    return Script(kind, argument)


# --- one parser per kind: the script argument, or None (inline code, standard input, no file) -----------


def _shell(args: list[str]) -> str | None:
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--" or a == "-":
            return args[i + 1] if i + 1 < len(args) else None
        if a.startswith("--"):  # bash: --rcfile FILE, --init-file FILE; the rest are flags
            i += 2 if a in ("--rcfile", "--init-file") else 1
            continue
        if len(a) > 1 and a[0] in "-+":
            letters = a[1:]
            if "c" in letters or "s" in letters:  # -c: inline commands; -s: commands from standard input
                return None
            i += 1 + sum(1 for ch in letters if ch in "oO")  # -o OPTION, -O SHOPT take the next word
            continue
        return a
    return None


def _clustered(
    args: list[str], *, code: str, valued: str, attached: str = "", long_valued: frozenset[str] = frozenset()
) -> str | None:
    """The first operand of a command line of single-letter option clusters (``-uB``, ``-Wignore``):
    letters in ``code`` mean inline code or a module (no script file); a letter in ``valued`` takes the
    rest of its cluster, or the next word; one in ``attached`` takes only the rest of its cluster."""
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            return args[i + 1] if i + 1 < len(args) else None
        if a == "-" or not a.startswith("-"):
            return a
        if a.startswith("--"):
            i += 2 if a in long_valued else 1
            continue
        i += 1
        for j, ch in enumerate(a[1:], start=1):
            if ch in code:
                return None
            if ch in valued:
                if j == len(a) - 1:
                    i += 1
                break
            if ch in attached:
                break
    return None


def _python(args: list[str]) -> str | None:
    return _clustered(args, code="cm", valued="WXQ", long_valued=frozenset({"--check-hash-based-pycs"}))


def _perl(args: list[str]) -> str | None:
    """perl's switch clusters: -l, -0 and -C take optional digits and go on (``-lne``); -I takes the rest
    of the cluster or the next word; -M, -m, -i, -d, -D, -F, -x, -V take the rest of the cluster."""
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            return args[i + 1] if i + 1 < len(args) else None
        if a == "-" or not a.startswith("-"):
            return a
        i += 1
        j = 1
        while j < len(a):
            ch = a[j]
            if ch in "eE":
                return None
            if ch in "l0C":
                j += 1
                while j < len(a) and (a[j].isdigit() or (ch == "0" and a[j] in "xXabcdefABCDEF")):
                    j += 1
                continue
            if ch == "I" and j == len(a) - 1:
                i += 1
            if ch in "IMmidDFxV":
                break
            j += 1
    return None


def _ruby(args: list[str]) -> str | None:
    return _clustered(args, code="e", valued="IrCE", attached="x0FKTW")


def _lua(args: list[str]) -> str | None:
    return _clustered(args, code="e", valued="l")


def _whole_words(
    args: list[str],
    *,
    script: Collection[str] = (),
    attached: str = "",
    code: Collection[str],
    valued: Collection[str],
) -> str | None:
    """The script of a command line whose options are whole words: ``script`` options name it in the next
    word (or, given as ``attached``, in the rest of the word), ``code`` ones mean there is none (inline code,
    or nothing run), ``valued`` ones take the next word; else the first word that is not an option, or the
    one after ``--``."""
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--" or a in script:
            return args[i + 1] if i + 1 < len(args) else None
        if attached and a.startswith(attached) and len(a) > len(attached):
            return a[len(attached) :]
        if a in code:
            return None
        if a in valued:
            i += 2
        elif a.startswith("-") and a != "-":
            i += 1
        else:
            return a
    return None


def _php(args: list[str]) -> str | None:
    return _whole_words(args, script=_PHP_SCRIPT, attached="-f", code=_PHP_NO_SCRIPT, valued=_PHP_VALUED)


_PHP_SCRIPT = frozenset({"-f", "--file", "-F", "--process-file"})  # the script, run once or for every input line
_PHP_NO_SCRIPT = frozenset(
    # inline code, the built-in web server, or nothing run (or read from standard input)
    {"-r", "--run", "-R", "--process-code", "-B", "--process-begin", "-E", "--process-end", "-S"}
    | {"-a", "--interactive", "-l", "--syntax-check", "-s", "--syntax-highlight", "-w", "--strip"}
)
_PHP_VALUED = frozenset({"-c", "--php-ini", "-d", "--define", "-z", "--zend-extension", "-t", "--docroot"})
_NODE_VALUED = frozenset(
    {"-r", "--require", "--import", "--loader", "--experimental-loader", "--input-type", "-C", "--conditions"}
)
_NODE_NO_SCRIPT = frozenset({"-e", "--eval", "-p", "--print", "-i", "--interactive", "-c", "--check", "--test"})


def _node(args: list[str]) -> str | None:
    return _whole_words(args, code=_NODE_NO_SCRIPT, valued=_NODE_VALUED)


_JAVA_VALUED = frozenset(
    {"-cp", "-classpath", "--class-path", "-p", "--module-path", "--add-modules", "--upgrade-module-path"}
)


def _java(args: list[str]) -> str | None:
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-jar":
            return args[i + 1] if i + 1 < len(args) else None
        if a in _JAVA_VALUED:
            i += 2
            continue
        if not a.startswith("-"):  # a main class (or -m module): no file of its own
            return None
        if a in ("-m", "--module"):
            return None
        i += 1
    return None


def _rscript(args: list[str]) -> str | None:
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-e":
            return None
        if a.startswith("--file="):
            return a.removeprefix("--file=")
        if a.startswith("-"):
            i += 1
            continue
        return a
    return None


def _awk(args: list[str]) -> str | None:
    """awk runs a program file only with -f (``-f FILE``, ``-fFILE``, ``--file=FILE``); else the program is text."""
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-f", "--file"):
            return args[i + 1] if i + 1 < len(args) else None
        if a.startswith("--file="):
            return a.removeprefix("--file=")
        if a.startswith("-f") and len(a) > 2:
            return a[2:]
        if a in ("-v", "-F", "--assign", "--field-separator"):
            i += 2
            continue
        if a == "--" or not a.startswith("-"):
            return None
        i += 1
    return None


_PARSERS = {
    Kind.SHELL: _shell,
    Kind.PYTHON: _python,
    Kind.PERL: _perl,
    Kind.PHP: _php,
    Kind.NODE: _node,
    Kind.RUBY: _ruby,
    Kind.JAVA: _java,
    Kind.LUA: _lua,
    Kind.RSCRIPT: _rscript,
    Kind.AWK: _awk,
}
