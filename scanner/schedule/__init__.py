"""The monthly run's schedule: the second Tuesday of each month, like MSRT (decision 0003).

``scheduler`` is the public API (install, remove, status; choosing the scheduler). Behind it,
``calendar`` computes when an ``OnCalendar=`` expression elapses, as systemd does; ``kinds`` says
where each scheduler keeps its definitions and ``definitions`` reads and writes those files and
their marker; ``systemd``, ``cron`` and ``windows`` write, remove and read a systemd timer, a cron
entry and a Windows task; ``results`` holds the typed values they return. It starts no process
itself: ``systemctl``, ``crontab`` and ``schtasks`` run through the shared ``scanner.programs``.

Builds on the shared modules only. No module here imports a Unix-only module, so the Windows task
code runs on Windows.
"""

__all__ = ["scheduler"]
