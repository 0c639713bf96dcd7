"""``scanner feed``: the publisher's commands (init, build, publish, refresh, rotate-key, renew-root,
status), a skin over ``scanner.updates.publish`` (imported per command: it needs the [publish] extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from scanner import report
from scanner.cli.app import FiniteFloatRange, fail, handle_errors, log_options, main, say, warn


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
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A signature set directory (rules/, samples/, families.toml).",
)
@click.option(
    "--bundle",
    "bundle_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A bundle made by 'scanner feed build' (instead of --signatures).",
)
@click.option(
    "--version",
    "version",
    help="Version YYYY.MM.N, higher than the last published [default with --bundle: the bundle's own].",
)
@_keys_option
@log_options
@handle_errors
def feed_publish(
    directory: Path, source: Path | None, bundle_file: Path | None, version: str | None, keys: tuple[Path, ...]
) -> None:
    """Test the set as clients will, then sign and publish it."""
    from scanner.updates import publish, release

    if (source is None) == (bundle_file is None):
        fail("give the set to publish: either --signatures DIR or --bundle FILE (from 'scanner feed build')")
    if bundle_file is not None and version is None:
        version = release.bundle_version(bundle_file)
    if version is None:
        fail("--version YYYY.MM.N is required with --signatures")
    _show_feed(publish.publish(directory, source, version, keys=list(keys) or None, bundle_file=bundle_file))


@feed_group.command("build")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--source",
    "sources",
    multiple=True,
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A signature directory with a licence file: our signatures/, a community collection (repeatable).",
)
@click.option(
    "--clean-corpus",
    "corpus",
    multiple=True,
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Files no rule may hit (repeatable); the cost gate times the rules on a sample of them.",
)
@click.option(
    "--previous",
    type=click.Path(exists=True, path_type=Path),
    help="The previous release (its bundle or set directory): the changelog says what changed since.",
)
@click.option("--version", "version", help="Version YYYY.MM.N [default: this month's .0, or previous +1].")
@click.option(
    "--max-rule-share",
    type=FiniteFloatRange(0.1, 100.0),
    default=5.0,
    show_default=True,
    help="Cost budget: percent of the set's scan time one rule may take ...",
)
@click.option(
    "--rule-floor-ms",
    type=FiniteFloatRange(0.0, 1e6),
    default=100.0,
    show_default=True,
    help="... unless it takes at most this many ms on the timing sample (16 MiB of the corpus).",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@log_options
@handle_errors
def feed_build(
    out: Path,
    sources: tuple[Path, ...],
    corpus: tuple[Path, ...],
    previous: Path | None,
    version: str | None,
    max_rule_share: float,
    rule_floor_ms: float,
    fmt: str,
) -> None:
    """Gather the --source directories, test them as a release (the gates) and write the bundle OUT for
    'feed publish'.

    \b
    Gates (each names what failed, with its figures; OUT is written only when all pass):
      compile       every rule file compiles alone and the set together, strictly
      samples       every sample hits its rule and no rule of another family
      near-misses   every near-miss (nearmiss/<RULE>/*.inert) hits nothing
      clean corpus  no rule hits a file under --clean-corpus
      cost          no rule over --max-rule-share of the set's time (and --rule-floor-ms),
                    no string libyara warns is slow
      agreement     routed scan == plain yara-python on samples and near-misses
      activation    the tests 'scanner update' runs before a set becomes active

    \b
    Exit codes: 0 built; 2 refused (a gate failed, a source without a licence, bad input).
    """
    from scanner.updates import release

    budget = release.CostBudget(max_share=max_rule_share / 100, floor_ms=rule_floor_ms)
    try:
        built = release.build(out, list(sources), list(corpus), previous=previous, version=version, budget=budget)
    except release.ReleaseRefused as exc:
        for g in exc.gates:
            say(f"gate {g.name}: {'passed' if g.passed else 'FAILED'}: {g.figures}", err=True)
            for f in g.failures:
                say(f"  {f}", err=True)
        raise
    if fmt == "json":
        click.echo(report.dumps(built.data), nl=False)
        return
    for line in built.changelog.splitlines():
        say(line)
    say(f"bundle {built.bundle} (sha256 {built.sha256})")
    say(f"publish it with: scanner feed publish FEED --bundle {built.bundle}")


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
