"""The per-destination trash: ``<root>/.syncline/trash/<YYYYmmdd-HHMMSS>/<path>``.

Files a destination loses (deleted, overwritten, or found changed right before they would be touched) are
moved or hard-linked here instead of being destroyed. The ``.syncline`` folder is never scanned, so the
trash is never synced. Empty it with ``rm -r <root>/.syncline/trash`` when you no longer need it.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

from ..core.paths import META_DIR
from .marker import ensure_meta_dir

TRASH_DIR = "trash"


class Trash:
    """One run's trash folder under a root; created on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.base = root / META_DIR / TRASH_DIR / stamp
        self._base = str(self.base)
        self._made: set[str] = set()  # trash folders known to exist: no stat per file for them

    def _place(self, path: str) -> Path:
        dest = f"{self._base}/{path}"
        folder = dest.rpartition("/")[0]
        if folder not in self._made:
            if not os.path.isdir(folder):
                ensure_meta_dir(self.root)  # keeps the root's mtime, which the plan may not touch again
                os.makedirs(folder, exist_ok=True)
            self._made.add(folder)
        if os.path.lexists(dest):
            # A second version of the same path in one run: keep both.
            n = 1
            while os.path.lexists(f"{dest}.{n}"):
                n += 1
            dest = f"{dest}.{n}"
        return Path(dest)

    def move_in(self, path: str) -> Path:
        """Move ``<root>/<path>`` (a file or symlink) into the trash; returns where it went."""
        return self.adopt(self.root / path, path)

    def adopt(self, current: str | Path, path: str) -> Path:
        """Move the file now at ``current`` (in the same file system) into the trash as ``path``."""
        dest = self._place(path)
        try:
            os.rename(current, dest)
        except FileNotFoundError:
            if not os.path.lexists(current):
                raise
            self._made.clear()  # a trash folder went away during the run: make it again
            dest = self._place(path)
            os.rename(current, dest)
        return dest

    def link_in(self, path: str) -> Path:
        """Hard-link ``<root>/<path>`` into the trash, so it can then be replaced atomically.

        Falls back to a move when hard links are not possible (the caller's rename then fills the gap).
        """
        dest = self._place(path)
        try:
            os.link(self.root / path, dest, follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EMLINK, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            os.rename(self.root / path, dest)
        return dest
