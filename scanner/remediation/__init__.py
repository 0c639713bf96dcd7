"""Acting on detections, and undoing it: plan, apply, undo, the quarantine vault, persistence.

``remediate`` plans actions from detections (a pure function of detections and policy), applies
them and undoes them; ``quarantine`` is the restorable vault (``Vault``, decision 0001), whose
items are described in ``vault_records`` (``QuarantineItem``, ``ScannedFile``, ``ItemKind``)
and whose batched quarantine is ``vault_batch`` (``VaultBatch``, decision 0007); ``vault_files``
and ``vault_journal`` are the vault's internals; ``threshold`` is the action threshold ``plan``
applies (decision 0010); ``tied`` finds the processes that run or read a file the plan moves
(decision 0014). ``persistence`` finds and reverses cron lines,
units, autostart entries and rc lines (decision 0002); ``packages`` asks the OS package database
who owns a file.

This is where the disk is changed on the user's behalf. Builds on ``scanner.scanning`` (process
termination, locations) and the shared modules (``scanner.safefs`` for every file it touches).
"""

__all__ = ["packages", "persistence", "quarantine", "remediate", "vault_batch", "vault_records"]
