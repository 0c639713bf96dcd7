"""``python -m scanner``: the same as the ``scanner`` command."""

from scanner.cli import main

main(prog_name="scanner")
