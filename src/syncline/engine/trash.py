"""The per-destination trash: ``<root>/.syncline/trash/<YYYYmmdd-HHMMSS>[-N]/<path>``.

Files a destination loses (deleted, overwritten, or found changed right before they would be touched) are
moved or hard-linked here instead of being destroyed. The ``.syncline`` folder is never scanned, so the
trash is never synced. Empty it with ``rm -r <root>/.syncline/trash`` when you no longer need it.

Each run (each replica object: a whole ``watch`` is one run) gets a trash folder of its own, made with an
exclusive ``mkdir``: two runs in the same second never share one, so what one run put there (a symlink,
say) can never be a path the next run's moves go through. Every move goes through the tree's confined
descriptors (:class:`~syncline.engine.replicas.confined.Confined`): nothing in the trash is ever followed.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable

from ..core.paths import META_DIR
from .replicas.confined import Confined

TRASH_DIR = "trash"
TRASH = f"{META_DIR}/{TRASH_DIR}"


class Trash:
    """One run's trash folder in a tree, made on first use. ``ensure_meta_dir`` makes ``.syncline`` (the
    tree knows how to do that without touching the root's mtime)."""

    def __init__(self, tree: Confined, ensure_meta_dir: Callable[[], None]) -> None:
        self.tree = tree
        self._ensure_meta_dir = ensure_meta_dir
        self.base = ""  # relative to the root; "" until made
        self._made: set[str] = set()  # folders of ours in the trash known to exist: no stat per file

    def _new_base(self) -> str:
        self._ensure_meta_dir()
        try:
            self.tree.mkdir(TRASH, 0o700)
        except FileExistsError:
            pass
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for n in range(1, 10_000):
            base = f"{TRASH}/{stamp}" if n == 1 else f"{TRASH}/{stamp}-{n}"
            try:
                self.tree.mkdir(base, 0o700)
            except FileExistsError:
                continue  # another run's (or one this run gave up): never shared
            self.base = base
            self._made = {base}
            return base
        raise OSError(errno.EEXIST, "no free trash folder name", f"{TRASH}/{stamp}")

    def _place(self, path: str) -> str:
        base = self.base or self._new_base()
        dest = f"{base}/{path}"
        folder = dest.rpartition("/")[0]
        if folder not in self._made:
            self.tree.makedirs(folder)
            self._made.add(folder)
        if self._exists(dest):
            # A second version of the same path in one run: keep both.
            n = 1
            while self._exists(f"{dest}.{n}"):
                n += 1
            dest = f"{dest}.{n}"
        return dest

    def _exists(self, path: str) -> bool:
        try:
            self.tree.lstat(path)
        except FileNotFoundError:
            return False
        return True

    def _into(self, put: Callable[[str], None], path: str) -> str:
        """Find ``path`` a place in the trash and ``put`` it there. A place that something in the trash
        blocks (a file or symlink this run trashed where a folder is needed now, or a trash folder that
        went away) makes this run start a fresh trash folder and try once more."""
        try:
            dest = self._place(path)
            put(dest)
            return dest
        except (NotADirectoryError, FileNotFoundError):
            self._new_base()
            dest = self._place(path)
            put(dest)
            return dest

    def move_in(self, path: str) -> str:
        """Move the file or symlink at ``path`` into the trash; returns where it went."""
        return self.adopt(path, path)

    def adopt(self, current: str, path: str) -> str:
        """Move what is now at ``current`` (a path in the tree) into the trash as ``path``."""
        self.tree.lstat(current)  # FileNotFoundError for a missing source, before any trash folder is made
        return self._into(lambda dest: self.tree.rename(current, dest), path)

    def link_in(self, path: str) -> str:
        """Hard-link the file at ``path`` into the trash, so it can then be replaced atomically.

        Falls back to a move when hard links are not possible (the caller's rename then fills the gap).
        """
        self.tree.lstat(path)

        def put(dest: str) -> None:
            try:
                self.tree.link(path, dest)
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EMLINK, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                self.tree.rename(path, dest)
        return self._into(put, path)
