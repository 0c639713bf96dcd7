"""Which files a shell command line runs, sources or loads.

``executed_words`` follows a command through wrappers (``nohup``, ``env``, ``sudo``, ...),
``sh -c`` and ``eval`` code, command substitutions, interpreters' script operands,
``LD_PRELOAD``-like assignments and downloaders' output files. A path that is only an
argument (``rm /x``, ``echo /x``) is not run: that is what keeps a line that merely
mentions a detected file from being removed.
"""

from __future__ import annotations

import logging
import posixpath
import re
import shlex
from collections.abc import Generator, Iterator

from scanner.remediation.persistence.files import normalize

logger = logging.getLogger(__name__)

_HOME_RE = re.compile(r"\$\{HOME\}|\$HOME\b|(?<![^\s'\"=:])~(?=/)")
_SEPARATORS = frozenset({";", "&", "&&", "|", "||", "|&", "(", ")", ";;", "`"})
_KEYWORDS = frozenset({"if", "then", "elif", "else", "do", "while", "until", "!", "{", "}", "fi", "done", "time"})
"""Shell words after which a command follows."""
_WRAPPERS = frozenset(
    {
        "nohup",
        "exec",
        "setsid",
        "nice",
        "ionice",
        "sudo",
        "doas",
        "env",
        "command",
        "builtin",
        "timeout",
        "xargs",
        "stdbuf",
        "chrt",
        "taskset",
        "flock",
        "watch",
        "runuser",
        "setpriv",
        "unbuffer",
    }
)
"""Programs that run the command given after their own options (and, for a few, one argument)."""
_WRAPPER_ARGS = {"timeout": 1, "flock": 1, "taskset": 1, "chrt": 1}
"""Wrappers that take positional arguments before the command (a duration, a lock file, ...)."""
_WRAPPER_VALUE_OPTIONS: dict[str, frozenset[str]] = {
    "nice": frozenset({"-n"}),
    "ionice": frozenset({"-c", "-n", "-p"}),
    "sudo": frozenset({"-u", "-g", "-C", "-h", "-p", "-U", "-D", "-R", "-T"}),
    "doas": frozenset({"-u", "-C"}),
    "env": frozenset({"-u", "-C", "-S"}),
    "timeout": frozenset({"-s", "-k"}),
    "stdbuf": frozenset({"-i", "-o", "-e"}),
    "flock": frozenset({"-w", "-E"}),
    "watch": frozenset({"-n"}),
    "runuser": frozenset({"-u", "-g", "-G"}),
    "exec": frozenset({"-a"}),
    "xargs": frozenset({"-I", "-n", "-P", "-d", "-s", "-L", "-a", "-E"}),
}
"""Wrapper options whose value is the next word (``nice -n 5``, ``sudo -u bob``, ``timeout -s KILL``)."""
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ash", "ksh", "mksh", "yash", "fish"})
_INTERPRETER = re.compile(
    r"(?:python[0-9.]*|pypy[0-9.]*|perl[0-9.]*|php[0-9.]*(?:-cli)?|node|nodejs|ruby[0-9.]*|lua[0-9.]*|luajit|"
    r"tclsh[0-9.]*|wish|pwsh|awk|gawk|mawk|source|\.)\Z"
)
"""Programs whose first operand is a script they run (or, for ``.`` and ``source``, read into the shell)."""
_CODE_OPTIONS = frozenset({"-c", "-m", "-e", "-E", "-r", "--eval", "--command"})
"""Interpreter options after which code or a module name follows, not a script file."""
_DOWNLOADERS = frozenset({"curl", "wget", "fetch", "tftp", "aria2c", "scp", "rsync"})
"""Programs that write a downloaded file: a detected path among their arguments re-installs it."""
_LOADER_VARIABLES = frozenset({"LD_PRELOAD", "LD_AUDIT", "BASH_ENV", "ENV", "SHELL", "PROMPT_COMMAND"})
"""Variables whose value a program loads or runs: a detected path there counts as running it."""
_SUBSTITUTION = re.compile(r"\$\(([^()]*)\)|`([^`]*)`")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
"""A shell variable assignment (``NAME=value``) at the start of a word."""


def expand_home(text: str, home: str | None, unit_home: bool = False) -> str:
    """``text`` with ``$HOME``, ``${HOME}`` and ``~/`` (and ``%h`` in a user unit) replaced by ``home``."""
    if home is None:
        return text
    text = _HOME_RE.sub(lambda _m: home, text)
    return text.replace("%h", home) if unit_home else text


def shell_words(command: str) -> list[str]:
    """``command`` split into shell words and operators; plain whitespace split if quotes do not balance."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError:  # unbalanced quotes: fall back to plain words
        logger.debug("unbalanced quotes in %r; split on whitespace instead", command)
        return command.split()


def _split_commands(words: list[str]) -> Iterator[list[str]]:
    """Simple commands of a word list: split at separators, redirections and their targets dropped."""
    current: list[str] = []
    skip_next = False
    for word in words:
        if skip_next:
            skip_next = False
            continue
        if word and all(c in ";&|()<>`" for c in word):
            if word in _SEPARATORS:
                if current:
                    yield current
                current = []
            else:  # a redirection: drop it, its target, and a file descriptor number before it
                if current and current[-1].isdigit():
                    current.pop()
                skip_next = True
            continue
        current.append(word)
    if current:
        yield current


def _resolve(word: str, cwd: str | None, bare_ok: bool) -> tuple[str, bool] | None:
    """(path, is_bare_name) for a word naming a file, or None when it cannot be placed."""
    if word.startswith("/"):
        return word, False
    if "/" not in word and bare_ok:
        return word, True
    if cwd is not None and word and not word.startswith("$"):
        return normalize(f"{cwd}/{word}"), False
    return None


def loaded_values(word: str) -> Iterator[str]:
    """Paths in the value of an assignment to a variable a program loads or runs (``LD_PRELOAD=...``)."""
    name, _, value = word.partition("=")
    if name in _LOADER_VARIABLES:
        yield from (v for v in re.split(r"[\s:]+", value) if v.startswith("/"))


def executed_words(command: str, cwd: str | None, depth: int = 0) -> Iterator[tuple[str, bool]]:
    """(path, is_bare_command_name) for each file ``command`` would run, source or load.

    That is: each simple command's command word, through wrappers (``nohup``, ``env``,
    ``timeout 10``, ``sudo -u x``, ...); the script operand of a shell or interpreter; the
    code of ``sh -c``, ``eval``, ``$(...)`` (a few levels deep); values of ``LD_PRELOAD``-like
    assignments; and a path a downloader writes. A path that is only an argument (``rm``,
    ``echo``, ``--exclude``) is not run. Relative paths are resolved against ``cwd`` (the
    owner's home, or a preceding ``cd``).
    """
    for words in _split_commands(shell_words(command)):
        if depth < 3:
            for word in words:
                for m in _SUBSTITUTION.finditer(word):
                    yield from executed_words(m.group(1) or m.group(2) or "", cwd, depth + 1)
        cwd = yield from _executed_simple(words, cwd, depth)


def _executed_simple(words: list[str], cwd: str | None, depth: int) -> Generator[tuple[str, bool], None, str | None]:
    """``executed_words`` for one simple command; returns the working directory after it (``cd``)."""
    i = yield from _leading_assignments(words)
    if i >= len(words):
        return cwd
    head, rest = words[i], words[i + 1 :]
    name = posixpath.basename(head)
    if name == "cd":
        return _after_cd(rest, cwd)
    placed = _resolve(head, cwd, bare_ok=True)
    if placed is not None:
        yield placed
    if name == "busybox" and rest:
        yield from _executed_simple(rest, cwd, depth)
    elif name == "command" and any(w in ("-v", "-V") for w in rest[:2]):
        pass  # prints what would run; runs nothing
    elif name in _WRAPPERS:
        yield from _through_wrapper(name, rest, cwd, depth)
    elif name in ("eval", "su") or name in _SHELLS:
        yield from _through_shell(name, rest, cwd, depth)
    elif _INTERPRETER.match(name):
        yield from _script_operand(rest, cwd)
    elif name in _DOWNLOADERS:
        yield from _downloaded(rest)
    return cwd


def _leading_assignments(words: list[str]) -> Generator[tuple[str, bool], None, int]:
    """Step over assignments and shell keywords before the command word, yielding the files an
    assignment loads (``LD_PRELOAD=...``); returns the command word's index."""
    i = 0
    while i < len(words):
        word = words[i]
        if ASSIGNMENT.match(word):
            for value in loaded_values(word):
                yield value, False
            i += 1
        elif word in _KEYWORDS:
            i += 1
        else:
            break
    return i


def _after_cd(rest: list[str], cwd: str | None) -> str | None:
    """The working directory after ``cd`` with arguments ``rest`` (unknown stays unknown)."""
    target = rest[0] if rest else None
    if target is not None and target.startswith("/"):
        return normalize(target)
    return normalize(f"{cwd}/{target}") if target is not None and cwd is not None else cwd


def _through_wrapper(name: str, rest: list[str], cwd: str | None, depth: int) -> Iterator[tuple[str, bool]]:
    """What a wrapper (``nohup``, ``env``, ``timeout 10``, ``sudo -u x``, ...) runs, after its options."""
    j = 0
    while j < len(rest) and (rest[j].startswith("-") or (name == "env" and ASSIGNMENT.match(rest[j]))):
        if name == "env":
            for value in loaded_values(rest[j]):
                yield value, False
        if rest[j] == "--":
            j += 1
            break
        j += 2 if rest[j] in _WRAPPER_VALUE_OPTIONS.get(name, ()) else 1
    j += _WRAPPER_ARGS.get(name, 0)
    if j < len(rest):
        yield from _executed_simple(rest[j:], cwd, depth)


def _through_shell(name: str, rest: list[str], cwd: str | None, depth: int) -> Iterator[tuple[str, bool]]:
    """What ``eval``, ``su -c`` or a shell runs: its inline code, else (a shell) its script operand."""
    if name == "eval":
        code: str | None = " ".join(rest)
    elif name == "su":  # su [-] [user] -c CODE: the option may follow the user name
        code = next((rest[k + 1] for k in range(len(rest) - 1) if rest[k] in ("-c", "--command")), None)
    else:
        code = _code_argument(rest)
    if code is not None:
        if depth < 3:
            yield from executed_words(code, cwd, depth + 1)
    elif name in _SHELLS:
        yield from _script_operand(rest, cwd)


def _downloaded(rest: list[str]) -> Iterator[tuple[str, bool]]:
    """Absolute paths among a downloader's arguments (``-O/tmp/x``, ``--output=/x``, ``file:///x``)."""
    for word in rest:
        value = word.partition("=")[2] if word.startswith("--") else word
        value = value.removeprefix("file://")
        if word.startswith("-") and not word.startswith("--") and len(word) > 2:
            value = word[2:]  # -O/tmp/x
        if value.startswith("/"):
            yield value, False


def _code_argument(rest: list[str]) -> str | None:
    """The code string of ``sh -c CODE`` (``-c`` alone or among other letters, ``-ec``), else None."""
    for j, word in enumerate(rest):
        if not word.startswith("-"):
            return None
        if not word.startswith("--") and "c" in word[1:]:
            return rest[j + 1] if j + 1 < len(rest) else None
    return None


def _script_operand(rest: list[str], cwd: str | None) -> Iterator[tuple[str, bool]]:
    """The script a shell or interpreter runs: its first operand, unless code is given inline."""
    for word in rest:
        if word in _CODE_OPTIONS:
            return
        if word.startswith("-"):
            continue
        placed = _resolve(word, cwd, bare_ok=False)
        if placed is not None:
            yield placed
        return
