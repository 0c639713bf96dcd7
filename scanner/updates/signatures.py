"""Signature sets on disk: the bundled set, the active set, their family data and tests.

A set is a directory::

    manifest.toml        version = "YYYY.MM.N", released = "YYYY-MM-DD"
    families.toml        [[family]] tables (name, aliases, platforms, kind, persistence data)
    rules/**/*.yar|yara  the rules, one namespace per file
    samples/<RULE>/*.inert  inert positive samples for each rule (scanner.inert container)
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import sys
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanner import inert
from scanner.engine.compiler import CompiledRules, RuleSource, cache_state, compile_rules
from scanner.engine.loader import load_collection, user_sources
from scanner.errors import RuleError
from scanner.model import Family, RuleFileSkipped, SignatureSetInfo, json_path
from scanner.safefs import describe_mode
from scanner.scanning.scan import scan_files
from scanner.scanning.walk import WalkOptions, walk
from scanner.state import StateDir
from scanner.updates import store

logger = logging.getLogger(__name__)

RULE_SUFFIXES = (".yar", ".yara")
_VERSION_RE = re.compile(r"^\d{4}\.\d{1,2}\.\d{1,9}$")  # N bounded: int() of thousands of digits raises


@dataclass(frozen=True)
class SignatureSet:
    """A signature set directory and its manifest and family data."""

    root: Path
    """The set's directory."""
    source: str
    """``bundled`` or ``updated``."""
    version: str
    """``YYYY.MM.N``."""
    released: dt.date | None
    """Release date, when the manifest gives one."""
    families: tuple[Family, ...]
    """Family data."""

    @classmethod
    def load(cls, root: Path, source: str) -> SignatureSet:
        """Read the set at ``root``; RuleError if its manifest or family data is malformed."""
        manifest = _read_toml(root / "manifest.toml")
        version = str(manifest.get("version", "0.0.0"))
        released = manifest.get("released")
        if isinstance(released, str):
            try:
                released = dt.date.fromisoformat(released)
            except ValueError as exc:
                raise RuleError(f"{root / 'manifest.toml'}: released is not a date: {released!r}") from exc
        if not isinstance(released, dt.date):
            released = None
        fam_data = _read_toml(root / "families.toml")
        entries = fam_data.get("family", [])
        if not isinstance(entries, list):
            raise RuleError(f"{root / 'families.toml'}: 'family' must be an array of tables ([[family]])")
        families = tuple(_family(entry, root) for entry in entries)
        return cls(root, source, version, released, families)

    @property
    def rules_dir(self) -> Path:
        """Where the rules are."""
        return self.root / "rules"

    @property
    def samples_dir(self) -> Path:
        """Where the inert positive samples are."""
        return self.root / "samples"

    def rule_files(self) -> list[Path]:
        """Every rule file of the set, sorted."""
        return rule_files(self.rules_dir) if self.rules_dir.is_dir() else []

    def sources(self) -> list[RuleSource]:
        """The set's rule files, each in its own namespace (``<source>:<relative path>``)."""
        return [RuleSource(f"{self.source}:{p.relative_to(self.rules_dir).as_posix()}", p) for p in self.rule_files()]

    @property
    def nearmiss_dir(self) -> Path:
        """Where the inert near-miss samples are (clean files that must hit nothing)."""
        return self.root / "nearmiss"

    def samples(self) -> Iterator[tuple[str, Path]]:
        """(rule name, inert sample path) for every shipped sample."""
        return _filed(self.samples_dir)

    def nearmisses(self) -> Iterator[tuple[str, Path]]:
        """(rule name, inert near-miss path) for every shipped near-miss (none when the set has no such directory)."""
        return _filed(self.nearmiss_dir)

    def family(self, name: str) -> Family | None:
        """The family data for ``name`` (or one of its aliases), if any."""
        for fam in self.families:
            if name == fam.name or name in fam.aliases:
                return fam
        return None

    def age_days(self, today: dt.date) -> int | None:
        """Days since release."""
        return None if self.released is None else (today - self.released).days


def _filed(where: Path) -> Iterator[tuple[str, Path]]:
    """(rule name, file) for each file under ``where/<rule name>/``, sorted."""
    if not where.is_dir():
        return
    for rule_dir in sorted(where.iterdir()):
        if rule_dir.is_dir():
            for sample in sorted(rule_dir.iterdir()):
                if sample.is_file():
                    yield rule_dir.name, sample


def _read_toml(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RuleError(f"{path}: cannot be read: {exc}") from exc


def _strs(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return ()


def _family(entry: object, root: Path) -> Family:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise RuleError(f"{root / 'families.toml'}: every [[family]] needs a name")
    return Family(
        name=entry["name"],
        aliases=_strs(entry.get("aliases")),
        platforms=_strs(entry.get("platforms")),
        kind=str(entry.get("kind", "")),
        description=str(entry.get("description", "")),
        references=_strs(entry.get("references")),
        persistence_paths=_strs(entry.get("persistence_paths")),
        persistence_markers=_strs(entry.get("persistence_markers")),
    )


def valid_version(version: str) -> bool:
    """Whether ``version`` has the ``YYYY.MM.N`` form."""
    return bool(_VERSION_RE.match(version))


def version_key(version: str) -> tuple[int, ...]:
    """Sort key of a ``YYYY.MM.N`` version."""
    return tuple(int(part) for part in version.split(".")) if valid_version(version) else (0,)


def bundled_dir() -> Path:
    """The signature set shipped with the package (installed beside it, or the checkout's ``signatures/``)."""
    here = Path(__file__).resolve().parent.parent  # the scanner package
    installed = here / "_signatures"
    if (installed / "rules").is_dir():
        return installed
    logger.debug("no signature set installed beside the package: using the checkout's %s", here.parent / "signatures")
    return here.parent / "signatures"


def bundled_set() -> SignatureSet:
    """The set shipped with the package."""
    return SignatureSet.load(bundled_dir(), "bundled")


def active_set(state: StateDir) -> SignatureSet:
    """The set scans use: the installed update if there is one, else the bundled set."""
    installed = store.active_dir(state)
    if installed is not None:
        return SignatureSet.load(installed, "updated")
    logger.debug("no updated signature set in %s: using the bundled set", state.root)
    return bundled_set()


def rule_files(path: Path) -> list[Path]:
    """The rule files at ``path``: the file itself, or every .yar/.yara below a directory (sorted)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        try:
            mode = path.stat().st_mode
        except OSError:
            raise RuleError(f"rules not found: {path}") from None
        raise RuleError(f"rules {path} is {describe_mode(mode)}, not a rule file or a directory of them")
    found = []
    for p in path.rglob("*"):
        if p.suffix.lower() not in RULE_SUFFIXES:
            continue
        if p.is_file():
            found.append(p)
        elif not p.is_dir():  # a FIFO or a device named like a rule file is never read
            logger.warning("skipping %s in the rules directory: not a regular file", p)
    return sorted(found)


def custom_sources(paths: Sequence[Path]) -> tuple[list[RuleSource], list[RuleFileSkipped]]:
    """Sources for ``--rules`` paths, in namespaces as ``yara`` users expect (decision 0011: the files of one
    directory, or of one index of includes, share a namespace named after it), and the includes of their
    index files that cannot be followed."""
    given: list[tuple[Path, list[Path]]] = []
    for path in paths:
        files = rule_files(path)
        if not files:
            raise RuleError(f"no .yar or .yara files in rules directory: {path}")
        given.append((path, files))
    return user_sources(given)


def core_binaries() -> list[Path]:
    """Files no rule may ever hit: the host's core system binaries and the scanner's own installed files."""
    names = [
        "sh",
        "bash",
        "dash",
        "ls",
        "cp",
        "mv",
        "cat",
        "ps",
        "top",
        "ssh",
        "sshd",
        "sudo",
        "su",
        "login",
        "passwd",
        "systemctl",
        "crontab",
        "cron",
        "python3",
        "tar",
        "gzip",
        "curl",
        "wget",
        "mount",
        "init",
        "systemd",
        "ld.so",
        "busybox",
    ]
    found: list[Path] = []
    for d in ("/usr/bin", "/bin", "/usr/sbin", "/sbin", "/lib/systemd"):
        for n in names:
            p = Path(d) / n
            if p.is_file() and p.resolve() not in found:
                found.append(p.resolve())
    found.append(Path(sys.executable).resolve())
    pkg = Path(__file__).resolve().parent.parent  # the whole scanner package
    found.extend(p for p in sorted(pkg.rglob("*")) if p.is_file())
    return found


def verify_set(sigset: SignatureSet, clean_paths: Sequence[Path], cache_dir: Path | None = None) -> list[str]:
    """Test a set: it compiles, every sample hits its rule, no near-miss and no clean file hits a rule.

    Returns one-line problems (empty means it passed). Raises RuleError when it does not compile.
    """
    compiled = compile_rules(sigset.sources(), cache_dir)
    problems: list[str] = []
    if not sigset.rule_files():
        problems.append("the set has no rules")
    problems.extend(check_samples(sigset, compiled))
    problems.extend(check_nearmisses(sigset, compiled))
    problems.extend(check_clean(compiled, clean_paths))
    return problems


def check_samples(sigset: SignatureSet, compiled: CompiledRules) -> list[str]:
    """Every sample must hit the rule it is filed under."""
    problems = []
    for rule, sample in sigset.samples():
        try:
            data = inert.decode(sample.read_bytes())
        except (OSError, ValueError) as exc:
            problems.append(f"sample {sample.relative_to(sigset.root)} cannot be read: {exc}")
            continue
        ext = {"filename": sample.stem, "extension": Path(sample.stem).suffix.lower()}
        hits = {m.hit.rule for m in compiled.match_data(data, ext)}
        if rule not in hits:
            problems.append(f"sample {sample.relative_to(sigset.root)} does not hit rule {rule}")
    return problems


def check_nearmisses(sigset: SignatureSet, compiled: CompiledRules) -> list[str]:
    """No near-miss may hit any rule."""
    problems = []
    for rule, sample in sigset.nearmisses():
        where = sample.relative_to(sigset.root)
        try:
            data = inert.decode(sample.read_bytes())
        except (OSError, ValueError) as exc:
            problems.append(f"near-miss {where} cannot be read: {exc}")
            continue
        ext = {"filename": sample.stem, "extension": Path(sample.stem).suffix.lower()}
        hits = sorted({m.hit.rule for m in compiled.match_data(data, ext)})
        if hits:
            problems.append(f"near-miss {where} (for {rule}) hits {', '.join(hits)}")
    return problems


def check_clean(compiled: CompiledRules, clean_paths: Sequence[Path], timeout: int = 30) -> list[str]:
    """No rule may hit any regular file under ``clean_paths`` (symlinks and special files are passed over)."""
    roots = [os.fspath(p) for p in clean_paths]
    hits, _skipped, _files, _bytes = scan_files(
        walk(roots, WalkOptions()), compiled, jobs=os.cpu_count() or 1, timeout=timeout, max_filesize=None
    )
    return [f"rule {m.hit.rule} hits clean file {r.path}" for r in hits for m in r.matches]


def clean_corpus() -> list[Path]:
    """The full clean corpus: /usr/bin, /usr/lib, /usr/share and the Python installation."""
    paths = [Path("/usr/bin"), Path("/usr/lib"), Path("/usr/share")]
    for prefix in {sys.base_prefix, sys.prefix}:
        p = Path(prefix)
        if not any(p == q or q in p.parents for q in paths):
            paths.append(p)
    return [p for p in paths if p.exists()]


@dataclass(frozen=True)
class LoadedRules:
    """Compiled rules ready for a scan, and what describes them in a report."""

    rules: CompiledRules
    """The compiled rules."""
    info: SignatureSetInfo
    """Version, count and source for the report."""
    sigset: SignatureSet | None
    """The active set, unless --no-default-rules."""
    warnings: tuple[str, ...]
    """Freshness warnings."""


def load_rules(
    state: StateDir,
    extra: Sequence[Path],
    use_default: bool,
    *,
    today: dt.date,
    max_age_days: int,
    strict: bool = False,
) -> LoadedRules:
    """Compile the active set (unless not ``use_default``) plus ``extra`` rule paths, through the cache.

    A file of ``extra`` that does not compile is left out with a warning, unless ``strict``; the active
    set's files never are (an error in one fails the load).
    """
    sigset = active_set(state) if use_default else None
    own = sigset.sources() if sigset else []
    custom, cannot = custom_sources(extra)
    sources = own + custom
    if not sources:
        raise RuleError("no rules to scan with: give --rules PATH or drop --no-default-rules")
    if sigset is not None:
        logger.info("rules: signature set %s (%s) from %s", sigset.version, sigset.source, sigset.root)
    for given in extra:
        logger.info("rules: %s (--rules)", given)
    loaded = load_collection(
        sources, state.rule_cache, strict=strict, fixed=[s.path for s in own], skipped=cannot, background=True
    )
    compiled = loaded.rules
    logger.info("%d rule(s) from %d file(s) ready", compiled.rule_count, len(sources) - len(loaded.skipped))
    warnings: list[str] = [s.describe() for s in loaded.skipped]
    if sigset is None:
        info = SignatureSetInfo("custom", compiled.rule_count, "custom", skipped_rule_files=loaded.skipped)
    else:
        age = sigset.age_days(today)
        info = SignatureSetInfo(
            version=sigset.version + ("+custom" if extra else ""),
            rule_count=compiled.rule_count,
            source=sigset.source,
            released=sigset.released.isoformat() if sigset.released else None,
            age_days=age,
            families=tuple(f.name for f in sigset.families),
            skipped_rule_files=loaded.skipped,
        )
        if age is not None and age > max_age_days:
            warnings.append(
                f"signatures {sigset.version} are {age} days old (more than {max_age_days}); run 'scanner update'"
            )
    return LoadedRules(compiled, info, sigset, tuple(warnings))


def skipped_json(skipped: Sequence[RuleFileSkipped]) -> list[dict[str, Any]]:
    """JSON form of skipped rule files (as in the scan report's ``signatures.skipped_rule_files``)."""
    return [{"path": json_path(s.path), "line": s.line, "reason": s.reason} for s in skipped]


def describe_custom(state: StateDir, paths: Sequence[Path]) -> dict[str, Any]:
    """What ``signatures info --rules`` shows about user rule collections: counts and the files a scan
    leaves out (compiled through the cache, as a scan would)."""
    custom, cannot = custom_sources(paths)
    loaded = load_collection(custom, state.rule_cache, strict=False, skipped=cannot)
    return {
        "paths": [json_path(os.fsdecode(p)) for p in paths],
        "rule_files": len({s.path for s in custom}) - len({s.path for s in loaded.skipped}),
        "rule_count": loaded.rules.rule_count,
        "namespaces": len({s.namespace for s in custom}),
        "skipped_rule_files": skipped_json(loaded.skipped),
    }


def describe(state: StateDir, *, today: dt.date) -> dict[str, Any]:
    """What ``signatures info`` shows about the active set (compiles it through the cache if needed)."""
    sigset = active_set(state)
    sources = sigset.sources()
    cached = cache_state(state.rule_cache, sources)
    compiled = compile_rules(sources, state.rule_cache)
    return {
        "version": sigset.version,
        "released": sigset.released.isoformat() if sigset.released else None,
        "age_days": sigset.age_days(today),
        "source": sigset.source,
        "path": str(sigset.root),
        "rule_files": len(sources),
        "rule_count": compiled.rule_count,
        "families": sorted({f.name for f in sigset.families}),
        "samples": sum(1 for _ in sigset.samples()),
        "compiled_cache": "warm" if cached else "cold (compiled now and cached)",
    }
