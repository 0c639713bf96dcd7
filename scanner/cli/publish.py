"""``scanner feed``: the publisher's commands (init, publish, refresh, rotate-key, renew-root,
status), a skin over ``scanner.updates.publish`` (imported per command: it needs the [publish] extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from scanner.cli.app import handle_errors, log_options, main, warn


@main.group("feed")
def feed_group() -> None:
    """Publish signature sets as a TUF feed (needs the [publish] extra)."""


def _show_feed(status: Any) -> None:
    click.echo(f"feed {status.directory}: serve {status.public}; give clients {status.root_file}")
    for r in status.roles:
        click.echo(f"  {r.role:<9} version {r.version:<4} expires {r.expires:%Y-%m-%d %H:%M} UTC")
    if status.signatures_version:
        click.echo(f"  signatures {status.signatures_version} (sha256 {status.bundle_sha256})")
    for w in status.warnings:
        warn(w)


_keys_option = click.option(
    "--keys",
    "keys",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory holding role keys (repeatable) [default: DIR/keys].",
)


@feed_group.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--keys",
    "keys_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the four private keys [default: DIR/keys].",
)
@log_options
@handle_errors
def feed_init(directory: Path, keys_dir: Path | None) -> None:
    """Create a feed in DIRECTORY: Ed25519 keys for root, targets, snapshot, timestamp, and signed metadata."""
    from scanner.updates import publish

    _show_feed(publish.init(directory, keys_dir=keys_dir))


@feed_group.command("publish")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--signatures",
    "source",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The signature set directory (rules/, samples/, families.toml).",
)
@click.option("--version", "version", required=True, help="Version YYYY.MM.N, higher than the last published.")
@_keys_option
@log_options
@handle_errors
def feed_publish(directory: Path, source: Path, version: str, keys: tuple[Path, ...]) -> None:
    """Test the set as clients will, then sign and publish it."""
    from scanner.updates import publish

    _show_feed(publish.publish(directory, source, version, keys=list(keys) or None))


@feed_group.command("refresh")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_keys_option
@log_options
@handle_errors
def feed_refresh(directory: Path, keys: tuple[Path, ...]) -> None:
    """Re-sign the timestamp (weekly; needs only the timestamp key)."""
    from scanner.updates import publish

    _show_feed(publish.refresh(directory, keys=list(keys) or None))


@feed_group.command("rotate-key")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("role", type=click.Choice(["root", "targets", "snapshot", "timestamp"]))
@_keys_option
@log_options
@handle_errors
def feed_rotate_key(directory: Path, role: str, keys: tuple[Path, ...]) -> None:
    """Replace ROLE's key, sign a new root and re-sign what that key signs."""
    from scanner.updates import publish

    _show_feed(publish.rotate_key(directory, role, keys=list(keys) or None))


@feed_group.command("renew-root")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_keys_option
@log_options
@handle_errors
def feed_renew_root(directory: Path, keys: tuple[Path, ...]) -> None:
    """Sign a new root version with a fresh expiry (yearly; needs the root key)."""
    from scanner.updates import publish

    _show_feed(publish.renew_root(directory, keys=list(keys) or None))


@feed_group.command("status")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@log_options
@handle_errors
def feed_status(directory: Path) -> None:
    """Versions and expiry of every role, and the published set."""
    from scanner.updates import publish

    _show_feed(publish.status(directory))
