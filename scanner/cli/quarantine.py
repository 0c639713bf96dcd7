"""``scanner quarantine`` (list, show, restore, delete, purge), ``scanner history`` and
``scanner undo``: the vault, the record of every scan, and reversing one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import click

from scanner import jobs as pipeline
from scanner import report
from scanner.cli.app import Env, common_options, fail, handle_errors, main, make_env, say, warn
from scanner.config import MAX_DAYS
from scanner.history import History
from scanner.model import display_path

if TYPE_CHECKING:  # imported where used: commands that never open the vault start faster without it
    from scanner.remediation.quarantine import Vault
    from scanner.remediation.vault_records import QuarantineItem


@main.group("quarantine")
def quarantine_group() -> None:
    """List, restore and delete quarantined files (and backups of cleaned persistence files)."""


def _item_lines(item: QuarantineItem) -> list[str]:
    data = item.to_json()
    lines = [f"{k + ':':<17} {v}" for k, v in data.items() if k not in ("original_path_b64",) and v is not None]
    return [line.replace(f"mode:{' ' * 13}{item.mode}", f"mode:{' ' * 13}{item.mode:o}") for line in lines]


@quarantine_group.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@common_options
@handle_errors
def quarantine_list(fmt: str, home: Path | None, config_file: Path | None) -> None:
    """Every item in the vault (and in vaults made by 'scan --move=DIR'), oldest first."""
    env = make_env(home, config_file)
    items = sorted(
        (i for root in pipeline.vault_roots(env.state) for i in open_vault(env, root).list()),
        key=lambda i: (i.quarantined_at, i.id),
    )
    if fmt == "json":
        click.echo(report.dumps([i.to_json() for i in items]), nl=False)
        return
    if not items:
        click.echo("The quarantine is empty.")
        return
    for i in items:
        when = i.quarantined_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")
        what = i.family or i.reason or ""
        say(f"{i.id}  {when}  {i.kind.value:<10}  {what:<18}  {i.display_path}")


@quarantine_group.command("show")
@click.argument("item_id")
@common_options
@handle_errors
def quarantine_show(item_id: str, home: Path | None, config_file: Path | None) -> None:
    """Everything recorded about one item."""
    vault = vault_of(make_env(home, config_file), item_id)
    for line in _item_lines(vault.get(item_id)):
        say(line)


@quarantine_group.command("restore")
@click.argument("item_id")
@click.option("--to", "to", type=click.Path(path_type=str), help="Restore to PATH instead of the original place.")
@common_options
@handle_errors
def quarantine_restore(item_id: str, to: str | None, home: Path | None, config_file: Path | None) -> None:
    """Put an item back (verified by SHA-256; never overwrites an existing file)."""
    vault = vault_of(make_env(home, config_file), item_id)
    note = vault.get(item_id).restore_note
    path = vault.restore(item_id, to=to)
    say(f"restored {display_path(path)}")
    if note:
        warn(note)


@quarantine_group.command("delete")
@click.argument("item_id")
@common_options
@handle_errors
def quarantine_delete(item_id: str, home: Path | None, config_file: Path | None) -> None:
    """Delete an item from the vault for good."""
    vault = vault_of(make_env(home, config_file), item_id)
    vault.delete(item_id)
    say(f"deleted {item_id}")


@quarantine_group.command("purge")
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(0, MAX_DAYS),
    metavar="DAYS",
    help="Delete items older than DAYS [default: the configured retention, 90].",
)
@common_options
@handle_errors
def quarantine_purge(days: int | None, home: Path | None, config_file: Path | None) -> None:
    """Delete items older than the retention period (in every vault, those of 'scan --move=DIR' too)."""
    env = make_env(home, config_file)
    keep = days if days is not None else env.config.quarantine_retention_days
    gone = [i for root in pipeline.vault_roots(env.state) for i in open_vault(env, root).purge(keep)]
    click.echo(f"purged {len(gone)} item(s)")


def open_vault(env: Env, root: Path | None = None) -> Vault:
    """The quarantine vault (or the one at ``root``), after finishing or rolling back anything a crash
    interrupted (said as warnings)."""
    vault, notices = pipeline.open_vault(env.state, root)
    for line in notices:
        warn(line)
    return vault


def vault_of(env: Env, item_id: str) -> Vault:
    """The vault that holds ``item_id`` (the state directory's when none does: its error then says so)."""
    return open_vault(env, pipeline.vault_holding(env.state, item_id=item_id))


@main.command("history")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@common_options
@handle_errors
def history_cmd(fmt: str, home: Path | None, config_file: Path | None) -> None:
    """Every recorded scan: id, time, type, counts, actions."""
    records = History(make_env(home, config_file).state.history).all()
    if fmt == "json":
        click.echo(report.dumps([r.to_json() for r in records]), nl=False)
        return
    if not records:
        click.echo("No scans recorded yet.")
        return
    for r in records:
        c = r.counts
        acts = sum(1 for o in r.outcomes if o.ok)
        state = (
            " (undone)"
            if r.undone_at
            else " (dry run)"
            if r.dry_run
            else " (INCOMPLETE: interrupted or still running; changes not listed are in the quarantine)"
            if r.incomplete
            else ""
        )
        say(
            f"{r.scan_id}  {r.command:<8} {r.scan_type or '':<7} "
            f"files {c.files_scanned:<7} found {c.detections:<4} "
            f"action {r.action or 'report'}: {acts} change(s){state}  exit {r.exit_code}"
        )


@main.command("undo")
@click.argument("scan_id")
@common_options
@handle_errors
def undo_cmd(scan_id: str, home: Path | None, config_file: Path | None) -> None:
    """Reverse everything scan SCAN_ID changed: restore its files and persistence entries.

    Processes it terminated are not restarted. A scan that was interrupted, or whose record could
    not be written, is undone from what the quarantine holds under its scan id.
    """
    done = pipeline.undo(make_env(home, config_file).state, scan_id)
    for line in done.notices:
        warn(line)
    match done.status:
        case pipeline.UndoStatus.ALREADY_UNDONE:
            say(f"scan {scan_id} was already undone at {done.record.undone_at}; nothing to do")
        case pipeline.UndoStatus.NOTHING_TO_UNDO:
            say(f"scan {scan_id} changed nothing; nothing to undo")
        case pipeline.UndoStatus.UNDONE:
            assert done.result is not None
            for line in done.result.restored:
                say(line)
            for line in done.result.notes:
                say(f"note: {line}")
            for line in done.result.problems:
                say(f"problem: {line}", err=True)
            if done.result.problems:
                fail(f"undo of {scan_id} was incomplete: {len(done.result.problems)} problem(s)", done.exit_code)
