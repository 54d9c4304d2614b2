"""Named crash points, for the tests that kill syncline at chosen moments (``SYNCLINE_CRASH_AT``).

``SYNCLINE_CRASH_AT=commit:25`` makes the process kill itself with SIGKILL (as ``kill -9`` would) the
25th time it passes the point named ``commit``. Unset, a crash point costs one global lookup. Points:

- ``commit``: right after a file was renamed into place;
- ``swapped``: right after a file was swapped into place, before the version it replaced goes to the trash;
- ``direct``: right after a mkdir, symlink, delete or metadata change;
- ``barrier``: right after a durability barrier, before the base hears of what it made durable;
- ``base``: right after a base transaction committed (two-way sync);
- ``move``: right after a rename on one side (two-way sync);
- ``stage``: right after ``apply`` staged one file from an archive.
- ``output``: when the temp file of an ``index -o``, ``archive -o`` or ``snapshot`` output is written in
  full, before it is renamed into place.
- ``server-chunks-temp``: an upload's chunks are written in the chunk store's transaction, not committed;
- ``server-chunks-renamed``: that transaction is committed (durable, visible in the chunk store), their
  metadata rows not written;
- ``server-chunks-rows``: their rows are committed, before the answer;
- ``server-commit``: an ``ops`` batch is committed, before the answer (and the notification);
- ``server-gc-rows``: the collector's row deletions are committed, their chunks not yet removed;
- ``server-repair-rows``: ``server check --repair`` kept the evidence of a folder's bad chunks, before the
  transaction that deletes their rows and marks the versions damaged;
- ``server-chunks-migrated``: a batch of chunk files of the first layout is committed into its chunk
  database, the files not yet unlinked.
"""

from __future__ import annotations

import os
import signal

_SPEC = os.environ.get("SYNCLINE_CRASH_AT")
_NAME, _, _COUNT = (_SPEC or "").partition(":")
_AT = int(_COUNT) if _COUNT.isdigit() else 1
_seen = 0


def crash_point(name: str) -> None:
    """Die here, now, if ``SYNCLINE_CRASH_AT`` names this point and its count is reached."""
    global _seen
    if _SPEC is None or name != _NAME:
        return
    _seen += 1
    if _seen >= _AT:
        os.kill(os.getpid(), signal.SIGKILL)
