"""Rendering for the terminal and report files: the progress line, the report as text or JSON, and
writing a report to standard output or atomically to a file."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from scanner import report
from scanner.cli.app import fail
from scanner.model import OutputFormat, ScanReport, display_path
from scanner.safefs import write_atomic
from scanner.scanning.scan import Progress


class ProgressLine:
    """A one-line progress display on stderr (only when stderr is a terminal)."""

    def __init__(self) -> None:
        self.width = shutil.get_terminal_size((80, 20)).columns
        self.shown = False

    def __call__(self, p: Progress) -> None:
        rate = report.human_bytes(p.bytes / p.elapsed) + "/s" if p.elapsed > 0 else ""
        head = f"{p.files} files, {report.human_bytes(p.bytes)}, {rate}, {p.detections} found  "
        room = max(0, self.width - len(head) - 1)
        cur = display_path(p.current)
        cur = cur if len(cur) <= room else "..." + cur[-(room - 3) :] if room > 3 else ""
        click.echo(f"\r\x1b[K{head}{cur}", nl=False, err=True)
        self.shown = True

    def close(self) -> None:
        if self.shown:
            click.echo("\r\x1b[K", nl=False, err=True)


def emit(text: str, output: Path | None) -> None:
    """Print ``text``, or write it to ``output``."""
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        write_atomic(output, text.encode("utf-8"))  # a partial report never replaces a good one
    except OSError as exc:
        fail(f"cannot write report to {output}: {exc.strerror}")


def render(result: ScanReport, fmt: OutputFormat) -> str:
    """The report as text or JSON."""
    if fmt is OutputFormat.TEXT:
        return report.render_text(result)
    return report.dumps(report.report_json(result))
