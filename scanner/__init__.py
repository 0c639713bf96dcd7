"""An endpoint malicious-software scanner and removal tool built on YARA."""

__version__ = "0.1.0"
