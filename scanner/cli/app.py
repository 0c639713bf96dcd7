"""The ``scanner`` command group and what every command shares.

The group itself (``main``: --version, --verbose/--debug), the common options (--home, --config),
the environment a command runs in (``Env``: state directory and configuration), logging set-up, the
one-line error handling that maps library errors to exit codes, and quiet handling of a standard
output closed early. Text reaches the user only through ``say``, ``warn`` and ``fail`` (escaped).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import math
import os
import select
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from scanner import __version__, logsetup
from scanner.config import Config, load_config
from scanner.errors import ScannerError
from scanner.fleet.reporter import FleetSettings, Reporter
from scanner.model import ExitCode, Severity, printable
from scanner.state import ENV_HOME, StateDir, default_home

logger = logging.getLogger(__name__)

EXIT_CODES_HELP = """\b
Exit codes:
  0  nothing found
  1  threats found (and every requested action succeeded)
  2  error: bad usage, rules that do not compile, nothing could be scanned
  3  threats found and a requested action failed (or needs a reboot or a manual step)
  141  standard output was closed before the report was written (piped into head)
"""
"""The epilog of the group, ``scan`` and ``monthly``."""

F = TypeVar("F", bound=Callable[..., Any])
"""A command function, as the decorators here take and return it."""


def say(text: str, err: bool = False) -> None:
    """Print one line of human-readable text with every control character escaped (``model.printable``).

    Every line that can carry outside text (file names, rule meta, server or OS messages) is printed
    through here, ``fail`` or ``warn``; escaping is idempotent, so text escaped before is unchanged.
    """
    click.echo(printable(text), err=err)


def fail(message: str, code: int = ExitCode.ERROR) -> NoReturn:
    """Print a one-line error (control characters escaped) and exit."""
    say(f"scanner: error: {message}", err=True)
    sys.exit(code)


def warn(message: str) -> None:
    """Print a one-line warning (control characters escaped) to stderr."""
    say(f"scanner: warning: {message}", err=True)


def stdout_closed() -> bool:
    """Whether whoever read standard output has gone (a pipe whose reader exited, as ``head`` does)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (CliRunner's buffer): it cannot close
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _fd, events in poller.poll(0))


def stdout_to_devnull() -> None:
    """Point standard output at /dev/null, so later writes and the interpreter's final flush do not
    fail on a closed pipe."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def quiet_broken_pipe() -> NoReturn:
    """Leave quietly when standard output was closed early: no error message, exit 141."""
    stdout_to_devnull()
    sys.exit(ExitCode.BROKEN_PIPE)


def handle_errors(func: F) -> F:
    """Turn library errors into one-line messages and exit code 2; never show a traceback for them.

    Standard output closed early (EPIPE) ends the command quietly with ``ExitCode.BROKEN_PIPE``.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ScannerError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            fail("interrupted")
        except OSError as exc:
            if exc.errno == errno.EPIPE and stdout_closed():
                quiet_broken_pipe()
            where = f": {exc.filename}" if exc.filename else ""
            fail(f"{exc.strerror or exc}{where}")

    return wrapper  # type: ignore[return-value]


@dataclass(frozen=True)
class Env:
    """What every command needs: the state directory and the effective configuration."""

    state: StateDir
    config: Config


# --- logging: set up here only (scanner.logsetup); library modules just log -------------------------

LOG_FLAG = "scanner.log_level"
"""Key in ``click.Context.meta``: the level --verbose or --debug asked for (it wins over the config)."""


def _log_flag(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        level = logging.DEBUG if param.name == "debug" else logging.INFO
        ctx.meta[LOG_FLAG] = min(level, ctx.meta.get(LOG_FLAG, level))  # --debug wins over -v
        logsetup.set_level(ctx.meta[LOG_FLAG])
    return value


def log_options(func: F) -> F:
    """--verbose/-v and --debug, on every command (and on the group: ``scanner -v scan``)."""
    func = click.option(
        "--debug",
        is_flag=True,
        expose_value=False,
        callback=_log_flag,
        help="Also log every decision per file, with the logger's name.",
    )(func)
    return click.option(
        "--verbose",
        "-v",
        is_flag=True,
        expose_value=False,
        callback=_log_flag,
        help="Log what the command decides and why (info level).",
    )(func)


def apply_config_log_level(config: Config) -> None:
    """The config file's [logging] level, unless --verbose or --debug was given."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and LOG_FLAG in ctx.meta:
        return
    logsetup.set_level(config.logging_level)


def common_options(func: F) -> F:
    """--home, --config, --verbose and --debug, on every command."""
    func = log_options(func)
    func = click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Configuration file (default: config.toml in the state directory).",
    )(func)
    return click.option(
        "--home",
        type=click.Path(file_okay=False, path_type=Path),
        help=f"State directory (default: /var/lib/scanner as root, else the user data directory; env {ENV_HOME}).",
    )(func)


STRICT_HELP = (
    "Fail (exit 2) when a --rules file does not compile, instead of leaving it out with a warning "
    "[default: [rules] strict, else off]."
)


def strict_option(func: F) -> F:
    """--strict/--no-strict, on the commands that load --rules collections; None: the configuration decides."""
    return click.option("--strict/--no-strict", "strict", default=None, help=STRICT_HELP)(func)


def rules_options(database: bool = False) -> Callable[[F], F]:
    """--rules and --no-default-rules, on the commands that scan (``database``: clamscan's -d/--database too)."""

    def decorate(func: F) -> F:
        func = click.option("--no-default-rules", is_flag=True, help="Do not use the active signature set.")(func)
        names = ("--rules", "-d", "--database") if database else ("--rules",)
        return click.option(
            *names,
            "rules",
            multiple=True,
            type=click.Path(path_type=Path),
            help="Also use these rules: a .yar/.yara file or a directory of them (repeatable).",
        )(func)

    return decorate


MIN_SEVERITY_HELP = (
    "Act only on detections at least this severe; the rest are reported as not acted on "
    "[default: high for --rules collections, every severity for the scanner's own signatures]."
)


def min_severity_option(help_text: str = MIN_SEVERITY_HELP) -> Callable[[F], F]:
    """--action-min-severity, with the help of the command it is on."""
    return click.option("--action-min-severity", type=click.Choice([v.value for v in Severity]), help=help_text)


def fleet_options(func: F) -> F:
    """--events and --metrics-dir, on the commands that report to a fleet's pipelines (scan, monthly,
    update, signatures rollback, watch)."""
    func = click.option(
        "--metrics-dir",
        type=click.Path(file_okay=False, path_type=Path),
        metavar="DIR",
        help="Write Prometheus metrics into DIR, node_exporter's textfile-collector directory "
        "[default: [metrics] dir].",
    )(func)
    return click.option(
        "--events",
        "events",
        multiple=True,
        metavar="URL",
        help="Send events (ECS JSON) to syslog:, syslog:/SOCKET, udp://HOST:PORT, tcp://HOST:PORT "
        "(RFC 5424), file:///PATH.jsonl or - (standard output); repeatable, added to [events] sinks.",
    )(func)


def make_reporter(env: Env, events: tuple[str, ...], metrics_dir: Path | None) -> Reporter:
    """The fleet reporter of a command: the configuration's sinks and metrics directory, with the options'."""
    return Reporter(FleetSettings.of(env.config, events, metrics_dir.resolve() if metrics_dir else None))


def make_env(home: Path | None, config_file: Path | None) -> Env:
    """Resolve the state directory and load the configuration."""
    state = StateDir(home if home is not None else default_home())
    if config_file is not None:
        config = load_config(config_file, required=True)
    else:
        config = load_config(state.config_file, required=False)
    apply_config_log_level(config)
    return Env(state, config)


class FiniteFloatRange(click.FloatRange):
    """A FloatRange that also refuses ``nan`` (which every range comparison lets through)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a number in the range {self._describe_range()}", param, ctx)
        return rv


_NO_ARGS_IS_HELP: tuple[type[Exception], ...] = tuple(
    t for t in [getattr(click.exceptions, "NoArgsIsHelpError", None)] if isinstance(t, type)
)


class OneLineErrors(click.Group):
    """The command group: a usage error (bad option value, unknown option) is one line, exit 2."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            _one_line(exc, ctx)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            _one_line(exc, ctx)


def _one_line(exc: click.UsageError, ctx: click.Context) -> NoReturn:
    if isinstance(exc, _NO_ARGS_IS_HELP):  # a group given no command: its help, as click shows it
        raise exc
    where = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
    fail(f"{exc.format_message().rstrip('.')} (see '{where} --help')", exc.exit_code)


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="scanner")
@log_options
@click.pass_context
def main(ctx: click.Context) -> None:
    """Find malicious software with YARA rules, name its family, and remove it restorably."""
    logsetup.set_level(ctx.meta.get(LOG_FLAG, logging.WARNING))
    ctx.call_on_close(logsetup.stop)
