"""Acting on detections, and undoing it: plan, apply, undo, the quarantine vault, persistence.

``remediate`` plans actions from detections (a pure function of detections and policy), applies
them and undoes them; ``quarantine`` is the restorable vault (decision 0001); ``persistence``
finds and reverses cron lines, units, autostart entries and rc lines (decision 0002);
``packages`` asks the OS package database who owns a file.

This is where the disk is changed on the user's behalf. Builds on ``scanner.scanning`` (process
termination, locations) and the shared modules.
"""

__all__ = ["packages", "persistence", "quarantine", "remediate"]
