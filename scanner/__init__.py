"""An endpoint malicious-software scanner and removal tool built on YARA."""

__version__ = "0.1.0"

DISTRIBUTION = "yara-msrt-scanner"
"""The name on the package index (``scanner`` there is another project); package and command are ``scanner``."""
