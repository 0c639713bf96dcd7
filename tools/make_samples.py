"""Build the inert positive samples and near-miss samples of the default signature set.

Each module in tools/sampledefs/ (one per rules file, named like it) defines ``SAMPLES`` and
``NEARMISS``: builders by rule name, each returning raw file contents by name. Every file is
synthesised from readable literals (see sample_blocks.py), never collected. Nothing is written
raw: each file holds ``scanner.inert.encode(raw)`` and is named ``samples/<RULE>/<name>.inert``
(must hit that rule) or ``nearmiss/<RULE>/<name>.inert`` (shares that rule's surface features,
must hit nothing). Output is deterministic.

    python tools/make_samples.py            # (re)write every sample
    python tools/make_samples.py --check    # exit 1 if a sample is missing or stale
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
REPO = TOOLS.parent
HERE = REPO / "signatures"
sys.path[:0] = [str(REPO), str(TOOLS), str(TOOLS / "sampledefs")]

from sample_blocks import Builders  # noqa: E402

from scanner.inert import SUFFIX, encode  # noqa: E402

KINDS = {"samples": "SAMPLES", "nearmiss": "NEARMISS"}
"""Output directory under signatures/ -> the name of the builders in each sampledefs module."""


def builders(kind: str) -> Builders:
    """Every module's builders of one kind, by rule name (a rule named twice is an error)."""
    out: Builders = {}
    for module_path in sorted((TOOLS / "sampledefs").glob("*.py")):
        module = importlib.import_module(module_path.stem)
        for rule, builder in getattr(module, KINDS[kind]).items():
            if rule in out:
                raise SystemExit(f"{module_path.name}: {kind} for {rule} defined twice")
            out[rule] = builder
    return out


def build() -> dict[Path, bytes]:
    """Every sample file's path and inert content."""
    out: dict[Path, bytes] = {}
    for kind in KINDS:
        for rule, builder in builders(kind).items():
            for name, raw in builder().items():
                out[HERE / kind / rule / f"{name}{SUFFIX}"] = encode(raw)
    return out


def main(argv: list[str]) -> int:
    wanted = build()
    present = [p for kind in KINDS for p in (HERE / kind).rglob(f"*{SUFFIX}")]
    if "--check" in argv:
        stale = [p for p, blob in wanted.items() if not p.is_file() or p.read_bytes() != blob]
        extra = [p for p in present if p not in wanted]
        for p in stale:
            sys.stderr.write(f"stale or missing: {p.relative_to(HERE)}\n")
        for p in extra:
            sys.stderr.write(f"not produced by this script: {p.relative_to(HERE)}\n")
        return 1 if stale or extra else 0
    for p in present:
        if p not in wanted:
            p.unlink()
    for path, blob in wanted.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)
    sys.stdout.write(f"wrote {len(wanted)} samples and near-misses under {HERE}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
