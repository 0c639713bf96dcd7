"""The monthly run's schedule: the second Tuesday of each month, like MSRT (decision 0003).

``scheduler`` computes the calendar and writes, removes and inspects systemd timers, cron lines
and Windows tasks. It starts no process itself: ``systemctl``, ``crontab`` and ``schtasks`` run
through the shared ``scanner.programs``.

Builds on the shared modules only.
"""

__all__ = ["scheduler"]
