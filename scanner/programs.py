"""External programs: the one module that starts processes.

It runs ``systemctl``, ``crontab`` and ``schtasks`` for :mod:`scanner.schedule`, ``rpm`` for
:mod:`scanner.remediation.packages`, the user's ``[hooks] after_scan`` command, and starts the scanner's
own background work (``start_detached``: the preparation of routed sets, :mod:`scanner.engine.prepare`).
Programs are looked up on PATH (so tests can put stand-ins first); failures come back as
``ScheduleError`` with the program's own first line of complaint.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from scanner.errors import ScheduleError

logger = logging.getLogger(__name__)

TIMEOUT = 120.0
"""Seconds any one command may take; ``systemctl enable --now`` can wait for a start job."""

CRONTAB_READ_ARGV = ("crontab", "-l")
CRONTAB_WRITE_ARGV = ("crontab", "-")


@dataclass(frozen=True)
class CommandResult:
    """A finished external command."""

    argv: tuple[str, ...]
    """What was run."""
    returncode: int
    """Its exit status."""
    stdout: str
    """Its standard output."""
    stderr: str
    """Its standard error."""


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def run(
    argv: Sequence[str],
    *,
    input_text: str | None = None,
    check: bool = True,
    timeout: float = TIMEOUT,
) -> CommandResult:
    """Run ``argv`` to completion; with ``check``, a non-zero exit raises ``ScheduleError``."""
    args = tuple(argv)
    logger.info("running %s", " ".join(args))
    try:
        done = subprocess.run(
            args,
            input=input_text,
            capture_output=True,
            text=True,
            errors="surrogateescape",
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise ScheduleError(f"{args[0]} was not found; install it or use --unit-dir to only write the files") from exc
    except subprocess.TimeoutExpired as exc:
        raise ScheduleError(
            f"{' '.join(args)} did not finish within {timeout:.0f}s; check the service manager"
        ) from exc
    except OSError as exc:
        raise ScheduleError(f"cannot run {args[0]}: {exc.strerror}; check that it is executable") from exc
    result = CommandResult(args, done.returncode, done.stdout, done.stderr)
    if done.returncode != 0:
        logger.info("%s exited with status %d: %s", args[0], done.returncode, _first_line(done.stderr))
    if check and done.returncode != 0:
        reason = _first_line(done.stderr) or _first_line(done.stdout) or f"exit status {done.returncode}"
        raise ScheduleError(f"{' '.join(args)} failed: {reason}")
    return result


def systemd_booted(run_dir: Path = Path("/run/systemd/system")) -> bool:
    """Whether the host was booted with systemd (the test sd_booted() makes)."""
    return run_dir.is_dir()


def systemctl_argv(args: Sequence[str], *, user: bool) -> tuple[str, ...]:
    """The systemctl command line for ``args`` in the system or the user manager."""
    return ("systemctl", *(("--user",) if user else ()), *args)


def systemctl(args: Sequence[str], *, user: bool) -> CommandResult:
    """Run ``systemctl [--user] ARGS``."""
    return run(systemctl_argv(args, user=user))


def read_user_crontab() -> str:
    """The invoking user's crontab, or "" if they have none."""
    result = run(CRONTAB_READ_ARGV, check=False)
    if result.returncode == 0:
        return result.stdout
    if "no crontab" in result.stderr.lower():
        return ""
    raise ScheduleError(f"crontab -l failed: {_first_line(result.stderr) or result.returncode}")


def write_user_crontab(text: str) -> None:
    """Replace the invoking user's crontab with ``text``."""
    run(CRONTAB_WRITE_ARGV, input_text=text)


HOOK_STDERR = 4096
"""Bytes of a hook's standard error kept for the warning when it fails."""


def run_hook(argv: Sequence[str], data: bytes, timeout: float) -> str | None:
    """Run a user's hook command with ``data`` on its standard input, its output discarded; None when it
    exits 0, else why not (one line). No shell is involved; a hook still running after ``timeout``
    seconds is killed with its process group."""
    args = tuple(argv)
    logger.info("running hook %s", " ".join(args))
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
            )
        except OSError as exc:
            return f"cannot run {args[0]}: {exc.strerror}"
        try:
            proc.communicate(data, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return f"{args[0]} did not finish within {timeout:g}s and was killed"
        if proc.returncode == 0:
            return None
        err.seek(0)
        first = _first_line(err.read(HOOK_STDERR).decode("utf-8", "backslashreplace"))
        status = f"exit status {proc.returncode}" if proc.returncode > 0 else f"signal {-proc.returncode}"
        return f"{args[0]} failed ({status}){': ' + first if first else ''}"


class Detached:
    """A process started by ``start_detached``."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc
        self.pid = proc.pid
        """Its process id."""

    @property
    def done(self) -> bool:
        """Whether it has ended (well or not)."""
        return self._proc.poll() is not None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until it has ended (at most ``timeout`` seconds); whether it has."""
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True


def start_detached(argv: Sequence[str], stderr_fd: int, env: dict[str, str]) -> Detached:
    """Start ``argv`` in a session of its own (a closing terminal does not stop it; nobody needs to wait for
    it), its standard error on ``stderr_fd``, nothing on its standard input and output. OSError if it cannot
    start."""
    args = tuple(argv)
    logger.debug("starting %s in the background", " ".join(args))
    proc = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr_fd,
        start_new_session=True,
        env=env,
    )
    return Detached(proc)
