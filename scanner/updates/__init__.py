"""Signature sets and their monthly updates.

``signatures`` loads and tests sets on disk (bundled, active, ``--rules``); ``store`` keeps the
installed sets and which is active; ``feed`` is the TUF client (the only module that imports
``tuf.ngclient``); ``http`` downloads (the only module that imports ``requests``); ``bundle``
unpacks a bundle safely; ``update`` fetches, tests, activates and rolls back; ``publish`` is the
feed publisher (signing needs ``cryptography``). See decision 0004. ``release`` is the release
pipeline (``feed build``): ``release_sources`` gathers sources with their licences, ``release_gates``
and ``release_cost`` are its tests (decision 0016).

Builds on ``scanner.scanning`` (a set is tested by scanning its samples), ``scanner.engine`` and
the shared modules.
"""

__all__ = ["bundle", "feed", "http", "publish", "release", "signatures", "store", "update"]
