"""The real-time folder watch: watchdog's inotify observer, debounced scans of complete files,
overflow rescans, signature reload, and restorable quarantine of what is found.

``watcher`` is the only module that imports ``watchdog``. Builds on remediation, updates,
scanning, the engine and the shared modules.
"""

__all__ = ["watcher"]
