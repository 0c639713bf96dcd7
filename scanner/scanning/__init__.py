"""Finding and matching what to scan: files and running processes.

``walk`` lists files safely (by directory descriptors, no symlink followed, no FIFO opened);
``locations`` says where quick and full scans look; ``facts`` computes the external variables
(file name, type, owner) rules may use; ``scan`` matches files and builds the
``ScanReport``; ``archives`` matches the members of archives (the only module that imports
``libarchive``); ``filecache`` spares unchanged files; ``processes`` enumerates, scans and
terminates processes (the only module that imports ``psutil``), and finds those tied to a file;
``interpreters`` reads which script an interpreter's command line runs.

Builds on ``scanner.engine`` and the shared modules; never on remediation, updates or the CLI.
"""

__all__ = ["archives", "facts", "filecache", "locations", "processes", "scan", "walk"]
