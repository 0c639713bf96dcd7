"""The sources of a release: signature directories (ours, community collections) gathered into one set.

A source is a local directory with a licence file at its top (``LICENSE``, ``LICENCE``, ``COPYING``, any
case, optionally ``.txt``/``.md``/``.rst``); one without is refused. Two layouts are read:

- a signature set (it has ``rules/``): ``rules/**/*.yar|yara``, ``samples/<RULE>/*.inert``,
  ``nearmiss/<RULE>/*.inert`` (a missing one is empty) and ``families.toml``;
- a collection (no ``rules/``): every ``.yar``/``.yara`` below it (signature-base's ``yara/``, say).

An optional ``source.toml`` at its top names it: ``name``, ``licence`` (an SPDX identifier),
``attribution``, ``url``. Otherwise the name is the directory's, the licence is read from the licence
file's SPDX line or title, and the attribution is the rules' ``author`` meta.

The gathered set (``gather``) puts each source's rules under ``rules/<name>/``, its licence under
``licences/<name>/`` and one ``[[source]]`` table per source in ``sources.toml``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import stat
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scanner.errors import FeedError
from scanner.safefs import describe_mode, read_regular
from scanner.updates import signatures

logger = logging.getLogger(__name__)

SOURCES_FILE = "sources.toml"
"""The manifest of a gathered set's sources (licence and attribution of each)."""
NEARMISS_DIR = "nearmiss"
"""Near-miss samples: ``nearmiss/<RULE>/<name>.inert``, clean files that must hit no rule."""
MAX_FILE = 64 * 1024 * 1024
"""Largest file a source may hand to a release (the bundle's own per-file limit)."""
MAX_LICENCE = 1024 * 1024
"""Largest licence file read."""

_LICENCE_NAME = re.compile(r"^(licen[cs]e|copying|unlicense)(\.(txt|md|rst))?$", re.IGNORECASE)
_NAME_OK = re.compile(r"[^A-Za-z0-9._-]+")
_SPDX = re.compile(r"SPDX-License-Identifier:\s*([A-Za-z0-9.+-]+(?:\s+(?:OR|AND|WITH)\s+[A-Za-z0-9.+-]+)*)")
_TITLES = (  # (words every one of which the licence's first lines hold, identifier); first that fits wins
    (("detection rule license", "1.1"), "DRL-1.1"),
    (("apache license", "version 2.0"), "Apache-2.0"),
    (("gnu general public license", "version 3"), "GPL-3.0"),
    (("gnu general public license", "version 2"), "GPL-2.0"),
    (("gnu lesser general public license",), "LGPL"),
    (("mit license",), "MIT"),
    (("bsd 3-clause",), "BSD-3-Clause"),
    (("bsd 2-clause",), "BSD-2-Clause"),
    (("creative commons", "attribution-noncommercial"), "CC-BY-NC-4.0"),
    (("creative commons", "attribution"), "CC-BY-4.0"),
)


class SourceError(FeedError):
    """A source cannot go into a release (no licence, unreadable, a collision with another source)."""


@dataclass(frozen=True)
class Source:
    """One source as it goes into a release (a ``[[source]]`` table of ``sources.toml``)."""

    name: str
    """Its name in the bundle (``rules/<name>/``, ``licences/<name>/``)."""
    path: Path
    """The directory it was read from."""
    licence: str
    """SPDX identifier, from source.toml, the licence file's SPDX line or its title ("unknown" if none)."""
    licence_file: str
    """The licence file's name, copied to ``licences/<name>/``."""
    licence_sha256: str
    """SHA-256 of the licence file."""
    attribution: str
    """Who must be named: source.toml's ``attribution``, else the rules' ``author`` meta."""
    url: str = ""
    """Where it comes from (source.toml's ``url``)."""
    rule_files: int = 0
    """Rule files it contributes."""
    samples: int = 0
    """Samples it ships (a source that ships any must have one for each of its rules)."""
    nearmisses: int = 0
    """Near-miss samples it ships."""
    rules: int = 0
    """Rules it contributes (set by the compile gate)."""
    authors: tuple[str, ...] = field(default=())
    """The ``author`` meta of its rules, most frequent first (set by the compile gate)."""


def _licence_file(directory: Path) -> Path:
    try:
        entries = sorted(directory.iterdir())
    except OSError as exc:
        raise SourceError(f"source {directory} cannot be read: {exc.strerror or exc}") from exc
    for entry in entries:
        if _LICENCE_NAME.match(entry.name):
            mode = entry.lstat().st_mode
            if stat.S_ISREG(mode):
                return entry
            logger.info("%s is %s, not taken as the source's licence", entry, describe_mode(mode))
    raise SourceError(
        f"source {directory} has no licence file (LICENSE, LICENCE or COPYING at its top): "
        "a release ships only rules whose licence it can name"
    )


def licence_id(text: str) -> str:
    """The SPDX identifier a licence text declares (its ``SPDX-License-Identifier`` line, else its title)."""
    if m := _SPDX.search(text):
        return m.group(1)
    head = " ".join(text[:2000].lower().split())
    for words, ident in _TITLES:
        if all(w in head for w in words):
            return ident
    return "unknown"


def _safe_name(raw: str, taken: set[str]) -> str:
    base = _NAME_OK.sub("-", raw).strip(".-")[:64] or "source"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name)
    return name


def _source_toml(directory: Path) -> dict[str, object]:
    path = directory / "source.toml"
    if not path.exists() and not path.is_symlink():
        return {}
    try:
        return tomllib.loads(read_regular(path, MAX_LICENCE).decode("utf-8"))
    except (OSError, ValueError) as exc:  # TOMLDecodeError and UnicodeDecodeError are ValueErrors
        raise SourceError(f"{path} cannot be read: {exc}") from exc


def read_source(directory: Path, taken: set[str]) -> Source:
    """The source at ``directory``; SourceError when it is not a directory or has no licence file."""
    if not directory.is_dir():
        raise SourceError(f"source {directory} is not a directory")
    lic = _licence_file(directory)
    try:
        lic_bytes = read_regular(lic, MAX_LICENCE)
    except (OSError, ValueError) as exc:
        raise SourceError(f"licence file {lic} cannot be read: {exc}") from exc
    if not lic_bytes.strip():
        raise SourceError(f"licence file {lic} is empty")
    meta = _source_toml(directory)
    text = lic_bytes.decode("utf-8", "replace")
    declared = meta.get("licence", meta.get("license"))
    name = _safe_name(str(meta.get("name") or directory.resolve().name), taken)
    source = Source(
        name=name,
        path=directory,
        licence=str(declared) if isinstance(declared, str) and declared else licence_id(text),
        licence_file=lic.name,
        licence_sha256=hashlib.sha256(lic_bytes).hexdigest(),
        attribution=str(meta.get("attribution", "")),
        url=str(meta.get("url", "")),
    )
    logger.info("source %s: %s, licence %s (%s)", name, directory, source.licence, lic.name)
    return source


def _rule_root(directory: Path) -> Path:
    return directory / "rules" if (directory / "rules").is_dir() else directory


def _files(root: Path, wanted: Iterator[Path]) -> Iterator[tuple[Path, Path]]:
    """(path, path relative to ``root``) of each of ``wanted``, refusing anything but a regular file."""
    for path in wanted:
        mode = path.lstat().st_mode
        if stat.S_ISDIR(mode):
            continue
        if not stat.S_ISREG(mode):
            raise SourceError(f"{path} is {describe_mode(mode)}; a release takes only regular files")
        yield path, path.relative_to(root)


def _copy(src: Path, dest: Path) -> None:
    try:
        data = read_regular(src, MAX_FILE)
    except (OSError, ValueError) as exc:
        raise SourceError(f"{src} cannot be read: {exc}") from exc
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("xb") as f:  # a second source's file of the same name is a collision, never overwritten
        f.write(data)


def _copy_samples(source: Source, kind: str, staged: Path) -> int:
    top = source.path / kind
    if not (source.path / "rules").is_dir() or not top.is_dir():
        logger.debug("source %s has no %s/", source.name, kind)
        return 0
    count = 0
    for path, rel in _files(top, iter(sorted(top.glob("*/*")))):
        dest = staged / kind / rel
        if dest.exists():
            raise SourceError(f"{kind}/{rel} comes from two sources (the second is {source.name})")
        _copy(path, dest)
        count += 1
    return count


def gather(paths: Sequence[Path], staged: Path) -> list[Source]:
    """Read every source (licence first) and copy its rules, samples, near-misses and families into the
    empty directory ``staged``; SourceError names the source that cannot go in."""
    taken: set[str] = set()
    sources = [read_source(p, taken) for p in paths]  # every licence checked before anything is copied
    if not sources:
        raise SourceError("no source given: pass --source DIR (our signatures/ and any community collection)")
    families: list[str] = []
    out = []
    for source in sources:
        root = _rule_root(source.path)
        count = 0
        for path, rel in _files(root, (p for p in sorted(root.rglob("*")) if p.suffix.lower() in (".yar", ".yara"))):
            _copy(path, staged / "rules" / source.name / rel)
            count += 1
        if not count:
            raise SourceError(f"source {source.path} has no .yar or .yara files")
        samples = _copy_samples(source, "samples", staged)
        misses = _copy_samples(source, NEARMISS_DIR, staged)
        fam = source.path / "families.toml"
        if (source.path / "rules").is_dir() and fam.is_file():
            try:
                families.append(read_regular(fam, MAX_FILE).decode("utf-8"))
            except (OSError, ValueError) as exc:
                raise SourceError(f"{fam} cannot be read: {exc}") from exc
        lic_dest = staged / "licences" / source.name / source.licence_file
        _copy(source.path / source.licence_file, lic_dest)
        out.append(dataclasses.replace(source, rule_files=count, samples=samples, nearmisses=misses))
    (staged / "families.toml").write_text("\n".join(families), encoding="utf-8")
    return out


def write_sources(staged: Path, sources: Sequence[Source]) -> None:
    """Write ``sources.toml``: one ``[[source]]`` table per source, its licence and attribution."""
    lines = ["# The sources of this signature set: the licence and attribution of each (scanner feed build).", ""]
    for s in sources:
        attribution = s.attribution or ", ".join(s.authors[:20])
        lines += [
            "[[source]]",
            f"name = {json.dumps(s.name)}",
            f"licence = {json.dumps(s.licence)}",
            f"licence_file = {json.dumps(f'licences/{s.name}/{s.licence_file}')}",
            f"licence_sha256 = {json.dumps(s.licence_sha256)}",
            f"attribution = {json.dumps(attribution)}",
            f"url = {json.dumps(s.url)}",
            f"rules_dir = {json.dumps(f'rules/{s.name}')}",
            f"rule_files = {s.rule_files}",
            f"samples = {s.samples}",
            f"nearmisses = {s.nearmisses}",
            f"rules = {s.rules}",
            "",
        ]
    (staged / SOURCES_FILE).write_text("\n".join(lines), encoding="utf-8")


def nearmisses(sigset: signatures.SignatureSet) -> Iterator[tuple[str, Path]]:
    """(rule name, near-miss sample) for every near-miss of a set (none when it has no ``nearmiss/``)."""
    top = sigset.root / NEARMISS_DIR
    if not top.is_dir():
        return
    for rule_dir in sorted(top.iterdir()):
        if rule_dir.is_dir() and not rule_dir.is_symlink():
            for sample in sorted(rule_dir.iterdir()):
                if sample.is_file() and not sample.is_symlink():
                    yield rule_dir.name, sample


def source_of(rule_file: Path, rules_dir: Path) -> str:
    """The source a gathered rule file came from (its first folder under ``rules/``)."""
    return rule_file.relative_to(rules_dir).parts[0]


def read_manifest(set_dir: Path) -> list[dict[str, object]]:
    """The ``[[source]]`` tables of a set's ``sources.toml`` (empty when it has none: a set not built by
    ``feed build``)."""
    path = set_dir / SOURCES_FILE
    if not path.is_file():
        return []
    try:
        entries = tomllib.loads(read_regular(path, MAX_LICENCE).decode("utf-8")).get("source", [])
    except (OSError, ValueError) as exc:
        logger.info("%s cannot be read (%s): no sources shown", path, exc)
        return []
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
