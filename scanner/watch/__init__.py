"""The real-time folder watch: watchdog's inotify observer, debounced scans of complete files,
overflow rescans, signature reload, and restorable quarantine of what is found.

Others import ``service`` (``run_watch``), ``config`` (``WatchConfig``) and ``events``
(``WatchEvent``, ``event_json``, ``event_text``). Inside: ``adapter`` (the only module that
imports ``watchdog``), ``intake`` (events to the work queue), ``queues``, ``workers`` (the
scanning threads), ``rescanner``, ``remediator`` (quarantine and persistence clean-up, one
history record per batch), ``folders``, ``rules``, ``scope`` and ``backlog`` (unfinished work
saved at a stop). Builds on remediation, updates, scanning, the engine and the shared modules.
"""

__all__ = ["config", "events", "service"]
