"""``scanner signatures`` (info, test, rollback) and ``scanner update``: the active signature set
and the feed it is updated from (which mirrors, from where, with what HTTP limits)."""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from scanner import logsetup, report
from scanner.cli.app import (
    Env,
    FiniteFloatRange,
    common_options,
    fail,
    fleet_options,
    handle_errors,
    main,
    make_env,
    make_reporter,
    say,
    warn,
)
from scanner.config import MAX_SECONDS
from scanner.engine import prepare
from scanner.errors import ScannerError
from scanner.model import printable
from scanner.updates import signatures

if TYPE_CHECKING:  # imported where used: a scan that never updates starts faster without the feed client
    from scanner.updates import feed as feed_mod

logger = logging.getLogger(__name__)

UPDATE_EXIT_CODES_HELP = """\b
Exit codes:
  0  done: updated, already up to date, or the newer set is held back (with --check: newer or not)
  2  error: no feed, a feed that cannot be reached or verified, or a set that failed its tests
     (the active set is then unchanged)
"""


@main.group("signatures")
def signatures_group() -> None:
    """Inspect and test the active signature set."""


@signatures_group.command("info")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--rules",
    "rules",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Also describe these rule collections (repeatable; [monthly] rules are described too): rule "
    "count and the files a scan leaves out because they do not compile.",
)
@common_options
@handle_errors
def signatures_info(fmt: str, rules: tuple[Path, ...], home: Path | None, config_file: Path | None) -> None:
    """Version, age, rule count, families, source and compiled-cache state of the active set."""
    from scanner.updates import release, update

    env = make_env(home, config_file)
    mirrors, mirrors_source = feed_mirrors(env, ())
    info = signatures.describe(env.state, today=dt.datetime.now(dt.UTC).date())
    info["changelog"] = release.read_changelog(Path(info["path"]))
    extra = (*env.config.monthly_rules, *rules)
    user = signatures.describe_custom(env.state, extra) if extra else None
    st = update.status(env.state)
    anchor = st.trusted_root
    info.update(
        previous_version=st.previous_version,
        held_version=st.held_version,
        trusted_root=None
        if anchor is None
        else {
            "path": str(anchor.path),
            "version": anchor.version,
            "sha256": anchor.sha256,
            "expires": anchor.expires.isoformat(),
        },
        feeds=list(mirrors),
        feeds_source=mirrors_source,
        user_rules=user,
    )
    if fmt == "json":
        click.echo(report.dumps(info), nl=False)
        return
    age = f" ({info['age_days']} days old)" if info["age_days"] is not None else ""
    say(f"Version:        {info['version']}{age}")
    say(f"Released:       {info['released'] or 'unknown'}")
    say(f"Source:         {info['source']} ({info['path']})")
    say(f"Rules:          {info['rule_count']} in {info['rule_files']} files")
    say(f"Compiled cache: {info['compiled_cache']}")
    say(f"Families ({len(info['families'])}): {', '.join(info['families'])}")
    for line in release.summary(info["changelog"]):
        say(line)
    say(f"Previous set:   {info['previous_version'] or 'none'} (scanner signatures rollback)")
    if info["held_version"]:
        say(f"Held back:      {info['held_version']} (rolled back from; 'scanner update --force' reinstalls)")
    anchor_text = (
        f"root v{anchor.version}, sha256 {anchor.sha256[:16]}..., {anchor.path}"
        if anchor
        else "none (give the feed's root.json once with 'scanner update --trusted-root')"
    )
    say(f"Trust anchor:   {anchor_text}")
    feed_text = (
        f"{' '.join(mirrors)} ({FEED_SOURCES[mirrors_source]})"
        if mirrors
        else "none (give it once with 'scanner update --feed URL')"
    )
    say(f"Update feed:    {feed_text}")
    if user is not None:
        say_user_rules(user)


def say_user_rules(user: dict[str, object]) -> None:
    """The text form of ``signatures info``'s ``user_rules``."""
    skipped = user["skipped_rule_files"]
    assert isinstance(skipped, list)
    say(f"User rules:     {user['rule_count']} in {user['rule_files']} files, {user['namespaces']} namespaces")
    say(f"Skipped files:  {len(skipped)}" + (" (they do not compile; --strict makes this an error)" if skipped else ""))
    for s in skipped:
        where = f"{s['path']}:{s['line']}" if s["line"] is not None else s["path"]
        say(printable(f"  {where}: {s['reason']}"))


@signatures_group.command("test")
@click.option(
    "--clean",
    "clean",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Also require no hit on files under PATH (repeatable).",
)
@click.option(
    "--corpus",
    is_flag=True,
    help="Use the full clean corpus: /usr/bin, /usr/lib, /usr/share and the Python installation.",
)
@common_options
@handle_errors
def signatures_test(clean: tuple[Path, ...], corpus: bool, home: Path | None, config_file: Path | None) -> None:
    """Compile the active set; check each rule hits its samples and no rule hits clean files.

    Without --corpus the clean files are the host's core binaries and the scanner's own files.
    """
    env = make_env(home, config_file)
    sigset = signatures.active_set(env.state)
    clean_paths = [*signatures.core_binaries(), *clean]
    if corpus:
        clean_paths += signatures.clean_corpus()
    problems = signatures.verify_set(sigset, clean_paths, env.state.rule_cache)
    for p in problems:
        say(f"FAIL: {p}")
    samples = sum(1 for _ in sigset.samples())
    if problems:
        fail(f"signature set {sigset.version} failed {len(problems)} check(s)")
    say(
        f"OK: signature set {sigset.version}: {len(sigset.rule_files())} rule files compile, "
        f"{samples} samples hit their rules, no hit on {len(clean_paths)} clean paths"
    )


@signatures_group.command("prepare-job", hidden=True)
@click.argument("job", type=click.Path(path_type=Path))
def signatures_prepare_job(job: Path) -> None:
    """Build the routed sets a scan left to the background (``scanner.engine.prepare``; started by a scan,
    not by hand). Its standard error is the preparation's log."""
    logsetup.set_level(logging.WARNING)  # what it did and what went wrong, not every string without a gate
    for name in (prepare.logger.name, "scanner.engine.compiler", "scanner.engine.routing"):
        logging.getLogger(name).setLevel(logging.INFO)
    prepare.lower_priority()
    sys.exit(prepare.run(job))


@signatures_group.command("rollback")
@click.option("--force", is_flag=True, help="Also return to a set that was rolled back from (held back).")
@fleet_options
@common_options
@handle_errors
def signatures_rollback(
    force: bool, events: tuple[str, ...], metrics_dir: Path | None, home: Path | None, config_file: Path | None
) -> None:
    """Return to the signature set that was active before the last update (logged)."""
    from scanner.updates import update

    env = make_env(home, config_file)
    fleet = make_reporter(env, events, metrics_dir)
    out = update.rollback(env.state, force=force)
    fleet.rolled_back(env.state, out)
    for w in fleet.close():
        warn(w)
    to = f"{out.to_version} (bundled)" if out.to_bundled else out.to_version
    held = signatures.version_key(out.from_version) > signatures.version_key(out.to_version)
    say(
        f"rolled back from {out.from_version} to {to}"
        + (f"; {out.from_version} will not be reinstalled automatically (use 'scanner update --force')" if held else "")
    )


FEED_SOURCES = {"config": "from the config file", "remembered": "remembered from 'scanner update --feed'"}

NO_FEED_HELP = (
    "no update feed configured: run 'scanner update --feed URL --trusted-root root.json' once "
    "(the publisher's root.json is the trust anchor), or set feeds and trusted_root under [update] in {config}"
)


def feed_mirrors(env: Env, feeds: Sequence[str]) -> tuple[tuple[str, ...], str]:
    """The mirrors to use and where they come from (``feed.choose_mirrors``: flags, else config, else remembered)."""
    from scanner.updates import feed as feed_mod

    return feed_mod.choose_mirrors(feeds, env.config.feeds, env.state.feed)


def feed_settings(env: Env, feeds: Sequence[str], deadline: float | None) -> tuple[feed_mod.FeedSettings, Path | None]:
    """The mirrors to use, the HTTP limits (--deadline) and the configured trust anchor."""
    from scanner.updates import feed as feed_mod
    from scanner.updates.http import HttpSettings

    mirrors, _source = feed_mirrors(env, feeds)
    http = HttpSettings() if deadline is None else HttpSettings(deadline=deadline)
    return feed_mod.FeedSettings(mirrors=mirrors, http=http), env.config.trusted_root


@main.command("update", epilog=UPDATE_EXIT_CODES_HELP)
@click.option(
    "--feed",
    "feeds",
    multiple=True,
    metavar="URL",
    help="Feed base URL (https://, http://, file:// or a path); repeat for mirrors, tried in order. "
    "Remembered once it works, for runs that name no feed [default: config, else remembered].",
)
@click.option(
    "--trusted-root",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The feed's root.json: the trust anchor, kept in the state directory from then on.",
)
@click.option("--check", is_flag=True, help="Only say whether a newer signature set is available.")
@click.option("--force", is_flag=True, help="Install the feed's set even if it is not newer (or was rolled back).")
@click.option(
    "--deadline",
    type=FiniteFloatRange(1, MAX_SECONDS),
    metavar="SECONDS",
    help="Give up on the whole update after this long [default: 600].",
)
@fleet_options
@common_options
@handle_errors
def update_cmd(
    feeds: tuple[str, ...],
    trusted_root: Path | None,
    check: bool,
    force: bool,
    deadline: float | None,
    events: tuple[str, ...],
    metrics_dir: Path | None,
    home: Path | None,
    config_file: Path | None,
) -> None:
    """Fetch, verify (TUF), test and activate the latest signature set from the update feed."""
    from scanner.updates import feed as feed_mod
    from scanner.updates import update

    env = make_env(home, config_file)
    settings, configured_root = feed_settings(env, feeds, deadline)
    if not feed_mod.feed_available(settings):
        fail(NO_FEED_HELP.format(config=env.config.source or env.state.config_file))
    root = trusted_root or configured_root
    fleet = make_reporter(env, events, metrics_dir)
    try:
        if check:
            out = update.check(env.state, settings, trusted_root=root, remember=bool(feeds))
        else:
            out = update.update(env.state, settings, trusted_root=root, force=force, remember=bool(feeds))
    except ScannerError as exc:
        fleet.update_refused(env.state, exc)
        for w in fleet.close():
            warn(w)
        raise
    fleet.update_done(env.state, out)
    for w in (*out.warnings, *fleet.close()):
        warn(w)
    match out.status:
        case update.UpdateStatus.UPDATED:
            say(f"updated signatures {out.previous_version} -> {out.active_version} (from {out.mirror})")
        case update.UpdateStatus.AVAILABLE:
            say(f"a newer signature set is available: {out.feed_version} (active: {out.active_version})")
        case update.UpdateStatus.HELD:
            say(
                f"the feed offers {out.feed_version}, which was rolled back from and is held back "
                f"(active: {out.active_version}); 'scanner update --force' installs it"
            )
        case update.UpdateStatus.UP_TO_DATE:
            say(f"signatures are up to date: {out.active_version} (feed: {out.feed_version})")
