"""WebdavReplica: a WebDAV collection (Apache mod_dav, wsgidav, ``rclone serve webdav``, ownCloud,
Nextcloud, our server) as a replica: the required core plus ``Mover`` (the server's ``MOVE``),
``BatchCommit`` (commits four at once),
``FileIdFinder`` (on OC servers, by ``oc:fileid``), ``Locker``
(a local lock file per address), ``Markers`` and ``CheckedMarkers`` (files in ``.syncline/meta/`` at the
root; on an OC server dead properties of the root, ``oc.py``).

- **Reading**: ``listing.py`` (PROPFIND Depth 1 per folder, unchanged subtrees skipped on OC servers); each
  entry's mtime and digest come through the shadow (``statedb.py``): a file whose tag and size are the ones
  our upload left is reported with the mtime we gave and the digest we computed, so a server that cannot
  keep mtimes never makes the planner copy it again, and a foreign change (a new tag) shows as it is.
  Files are streamed with ``GET``; ``changed()`` asks again (Depth 0) and compares tag and size.
- **Writing on a plain server** never puts bytes under a real name before they are complete:
  ``stage_file`` uploads into ``.syncline/tmp/<owner>-<random>`` (never scanned), ``commit`` re-checks the
  destination (Depth 0), moves what is there to ``.syncline/trash/<run>/<path>`` with ``If-Match`` on the
  tag it just saw, then moves the staged copy into place with ``Overwrite: F``: a destination that changed
  in between is never overwritten, it stays (kept, or in the trash, as the policy says). ``delete`` of a
  file is a ``MOVE`` into the trash (or ``DELETE``) with ``If-Match``; of a folder, see
  :meth:`DavOps.remove_empty_folder`.
- **Writing on an OC server** (ours, Nextcloud, ownCloud) puts nothing under ``.syncline`` there: one
  conditional ``PUT`` (or chunked upload) to the real name, conditional ``DELETE`` s, the server's own
  versions as the trash (``Features.keeps_versions``): see ``oc.py``.
- **Declared honestly**: 1 s mtimes (``getlastmodified``), no symlinks, no permissions, no owners,
  UTF-8 names, case-sensitive (``case_sensitive=False`` for a server that is not).
- Errors: ``client.py`` maps every HTTP status and transport failure, in one place.
"""

from __future__ import annotations

import errno as E
import fcntl
import hashlib
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import blake3
import httpx

from ....core.entry import DIR, FILE, Entry, FileId
from ....core.errors import BusyError, Problem, UsageError
from ....core.ignore import Rules
from ....core.index import Index, IndexHeader
from ....core.listing import Listing, Scope, index_of_listing
from ....core.paths import is_name, parent
from ..errors import NotFound, ReplicaError, error_class
from ..replica import Features, Outcome, SourceFile, WritePolicy
from .address import DavAddress
from .client import DavClient
from .credentials import DavCredentials
from .files import DavSource, DavStaged
from .listing import Walk, list_folder, walk
from .multistatus import etag_key, strong
from .oc import Landed, OcWrites
from .ops import META, TMP, DavOps, item_path, tree_path
from .probe import Dialect, probe
from .statedb import DavState, Item, Shadow, state_path

SECOND = 10**9
MODES = {FILE: 0o644, DIR: 0o755}  # what every entry shows: the server keeps no modes
FEATURES = Features(mtime_ns_precision=SECOND, case_sensitive=True, symlinks=False, permissions=False,
                    owner=False, utf8_names=True, hash_kinds=(), max_connections=4, round_trips=True,
                    scan_in_child=False)
MAX_SMALL = 1 << 20  # an ignore file, a marker
BLOCK = 1 << 20
_held: set[str] = set()  # addresses locked in this process without a state directory
_held_mutex = threading.Lock()


class WebdavReplica:
    """The WebDAV collection at ``address`` as ``credentials``' user. ``state_dir`` holds the shadow and
    the listing cache (None: in memory, for this object's life); ``http`` replaces the HTTP client (tests)."""

    def __init__(self, address: DavAddress, credentials: DavCredentials, policy: WritePolicy | None = None,
                 state_dir: Path | None = None, *, http: httpx.Client | None = None,
                 case_sensitive: bool = True) -> None:
        self.dav = address
        self.policy = policy or WritePolicy()
        self.state_dir = state_dir
        self.client = DavClient(address, credentials, max_connections=FEATURES.max_connections, http=http)
        self.ops = DavOps(self.client)
        self._features = FEATURES if case_sensitive else replace(FEATURES, case_sensitive=False)
        self._mutex = threading.Lock()
        self._state: DavState | None = None
        self._dialect: Dialect | None = None
        self._oc: OcWrites | None = None
        self._writable = True  # until the root's oc:permissions say otherwise

    # -- what it is ----------------------------------------------------------------------------------------
    def features(self) -> Features:
        """What the server keeps (``keeps_versions`` on an OC server: its versions and trash bin keep what
        this replica replaces and deletes); ``writable`` False when the root's ``oc:permissions`` (as last read:
        a run reads them before it plans) let this user neither write nor add anything there (a
        read-only share). Servers without ``oc:permissions`` are taken as writable: they decide."""
        with self._mutex:
            writable, known = self._writable, self._dialect
        # keeps_versions once the probe (a run's first request) found an OC server: never a request here
        features = replace(self._features, keeps_versions=True) if known is not None and known.oc else self._features
        return features if writable else replace(features, writable=False)

    def _saw_root(self, root: Item | None) -> None:
        if root is not None and root.permissions is not None:
            with self._mutex:
                self._writable = bool(set(root.permissions) & set("WCK"))

    def describe(self) -> str:
        return self.address()

    def address(self) -> str:
        """The canonical address: ``webdav(s)://host:port/path``, or the ``https://`` one of an OC layout."""
        return self.dav.text()

    def dialect(self) -> Dialect:
        """The probe's answer, asked once per run. On an OC server (ours included) nothing is written under
        ``.syncline`` there: see ``oc.py``."""
        with self._mutex:
            known = self._dialect
        if known is None:
            known = probe(self.client)
            if known.product.lower() == "syncline" and not self._below_namespace():
                raise UsageError(f"{self.address()} is the list of your folders on a syncline server, not a folder",
                                 f"add the folder's name: {self.address()}/FOLDER")
            with self._mutex:
                self._dialect = known
        return known

    def _below_namespace(self) -> bool:
        """Whether the address names something below the OC namespace root (``remote.php/webdav/X``,
        ``remote.php/dav/files/USER/X``): our server keeps files only in folders there."""
        path = list(self.dav.path)
        after = path[path.index("remote.php") + 1:] if "remote.php" in path else path
        return len(after) > (3 if after[:2] == ["dav", "files"] else 1)

    def oc(self) -> OcWrites:
        """The OC dialect's writes (only on an OC server)."""
        with self._mutex:
            if self._oc is None:
                self._oc = OcWrites(self.client, self.client.credentials.user)
            return self._oc

    def _db(self) -> DavState:
        with self._mutex:
            if self._state is None:
                where = state_path(self.state_dir, self.address()) if self.state_dir is not None else None
                self._state = DavState(where)
            return self._state

    # -- the root ------------------------------------------------------------------------------------------
    def exists(self) -> bool:
        item = self.ops.lookup("")
        self._saw_root(item)
        return item is not None and item.folder

    def is_empty(self) -> bool:
        kids = self.ops.children("")
        return not kids

    def create_root(self) -> None:
        if not self.ops.mkcol("") and not self.exists():
            raise error_class(ReplicaError, FileExistsError)(E.EEXIST, "a file is where the folder should be",
                                                             self.address())

    @contextmanager
    def session(self) -> Iterator[None]:
        """The connections are pooled for the replica's life: nothing more to hold."""
        yield

    def close(self) -> None:
        """End the run: connections and the state file closed, the probe forgotten (the next call opens
        them again)."""
        self.client.close()
        self.ops.forget()
        with self._mutex:
            state, self._state, self._dialect = self._state, None, None
        if state is not None:
            state.close()

    # -- entries -------------------------------------------------------------------------------------------
    def _entry(self, item: Item, shadow: Shadow | None) -> Entry:
        kind = DIR if item.folder else FILE
        mtime_ns = (item.mtime_s or 0) * SECOND
        digest = None
        if shadow is not None and shadow.tag == item.tag and shadow.size == item.size:
            if shadow.mtime_ns is not None:
                mtime_ns = shadow.mtime_ns - shadow.mtime_ns % SECOND
            digest = shadow.digest if kind == FILE else None
        return Entry(kind, item.size, mtime_ns, MODES[kind], digest=digest, file_id=item.file_id or "",
                     etag=item.etag)

    def stat(self, path: str) -> Entry | None:
        item = self.ops.stat(tree_path(path))
        return None if item is None else self._entry(item, self._db().shadow(path))

    # -- reading -------------------------------------------------------------------------------------------
    def _walk(self, dirs: Sequence[tuple[str, bool]] | None = None) -> Walk:
        """The tree as the server has it: on an OC server the whole of it (unchanged subtrees from the
        cache); elsewhere only what ``dirs`` needs (all of it without ``dirs``)."""
        db = self._db()
        if not self.dialect().oc:
            enters = None if dirs is None else Scope(list(dirs)).enters
            return walk(self.client, FEATURES.max_connections, enters=enters)
        etags, children = db.listing()

        def cached(item: Item) -> list[Item] | None:
            if not item.etag or etags.get(item.path) != item.etag:
                return None
            out, stack = [], [item.path]
            while stack:
                for c in children.get(stack.pop(), []):
                    out.append(c)
                    if c.folder:
                        stack.append(c.path)
            return out

        found = walk(self.client, FEATURES.max_connections, cached)
        if not found.problems:
            db.save_listing(found.etags, found.items.values())
        return found

    def _index(self, rules: Rules, digests: bool, side: str, dirs: Sequence[tuple[str, bool]] | None) -> Index:
        started = time.time_ns()
        found = self._walk(dirs)
        self._saw_root(found.root)
        shadows = self._db().shadows()
        listing = Listing((p, self._entry(i, shadows.get(p))) for p, i in found.items.items())
        root = self._entry(found.root, shadows.get(""))
        header = IndexHeader(root=self.describe(), scanned_ns=started, digests=digests)
        index = index_of_listing(listing, rules, self._read_ignore, root, dirs=dirs, header=header, side=side)
        problems = [Problem(p, why, side, retryable=True) for p, why in found.problems.items()]
        unreadable = set(found.problems)
        for d, _ in dirs or ():  # a folder asked for below a file: nothing can be said below it
            p = parent(d) if d else ""
            while p and p in listing.entries and listing.entries[p].kind == DIR:
                p = parent(p)
            if p and p in listing.entries and side == "destination":
                problems.append(Problem(d, "a parent folder is a file here", side))
                unreadable.add(d)
        entries = dict(index.items())
        if digests:
            self._digests(entries, problems, unreadable, side)
        return Index(entries, index.header, problems=index.problems + tuple(problems),
                     unreadable=index.unreadable | frozenset(unreadable), root=index.root)

    def _digests(self, entries: dict[str, Entry], problems: list[Problem], unreadable: set[str], side: str) -> None:
        """BLAKE3 of every file not known from the shadow: downloaded (4 at once) and recorded."""
        todo = [p for p, e in entries.items() if e.kind == FILE and e.digest is None]
        with ThreadPoolExecutor(max_workers=FEATURES.max_connections, thread_name_prefix="syncline-dav") as pool:
            for path, digest in zip(todo, pool.map(self._hash, todo), strict=True):
                if digest is None:
                    problems.append(Problem(path, "changed while it was read: not compared", side, retryable=True))
                    unreadable.add(path)
                else:
                    entries[path] = entries[path]._replace(digest=digest)

    def _hash(self, path: str) -> bytes | None:
        for _ in range(2):
            hasher = blake3.blake3()
            with self.open_file(path) as source:
                assert isinstance(source, DavSource)
                buffer = memoryview(bytearray(BLOCK))
                while n := source.readinto(buffer):
                    hasher.update(buffer[:n])
                if source.changed():
                    continue
                item = source.item
            old = self._db().shadow(path)
            mtime = old.mtime_ns if old is not None and old.tag == item.tag and old.size == item.size else None
            digest = hasher.digest()
            self._db().record(path, Shadow(item.tag, item.size, mtime, digest))
            return digest
        return None

    def find_file_ids(self, file_ids: Collection[FileId]) -> dict[FileId, list[str]] | None:
        """Where entries with these ``oc:fileid`` s are now (:class:`~..replica.FileIdFinder`), from a
        listing brought up to date (one PROPFIND when nothing changed); None on a server without file
        ids (the caller then scans)."""
        if not self.dialect().oc:
            return None
        wanted = {str(i) for i in file_ids if i}
        out: dict[FileId, list[str]] = {}
        for path, item in self._walk().items.items():
            if item.file_id and item.file_id in wanted:
                out.setdefault(item.file_id, []).append(path)
        return out

    def _read_ignore(self, path: str) -> str:
        _, _, raw = self.client.request("GET", self.dav.url(path), where=path, limit=MAX_SMALL)
        return raw.decode("utf-8", "surrogateescape")

    def scan(self, rules: Rules, digests: bool, side: str) -> Index:
        return self._index(rules, digests, side, None)

    def scan_dirs(self, dirs: Sequence[tuple[str, bool]], rules: Rules, side: str, digests: bool = False) -> Index:
        """On an OC server the whole tree is listed (an unchanged subtree from the cache costs nothing), then
        cut to ``dirs``; elsewhere only the folders ``dirs`` needs (each, its ancestors, all below a deep
        one): an edit's run in a big tree on a plain server costs a few PROPFINDs, not one per folder."""
        return self._index(rules, digests, side, dirs)

    @contextmanager
    def open_file(self, path: str) -> Iterator[SourceFile]:
        item = self.ops.lookup(tree_path(path))  # no stat of its parents: a write re-checks with one request
        if item is None:
            raise error_class(NotFound, FileNotFoundError)(E.ENOENT, "not on the server", path)
        if item.folder:
            raise error_class(ReplicaError, IsADirectoryError)(E.EISDIR, "a folder, not a file", path)
        entry = self._entry(item, self._db().shadow(path))
        with self.client.stream("GET", self.dav.url(path), where=path, ok=(200,)) as response:
            yield DavSource(self, path, item, entry, response)

    # -- writing files -------------------------------------------------------------------------------------
    def stage_file(self, path: str, source: SourceFile) -> DavStaged:
        """Read ``source`` to its end (hashing it) into a local spool, then upload it whole into
        ``.syncline/tmp``: nothing is under a real name until :meth:`commit`."""
        item_path(path)
        if self.dialect().oc:
            return self._stage_oc(path, source)
        hasher = blake3.blake3()
        size = 0
        buffer = memoryview(bytearray(BLOCK))
        with tempfile.TemporaryFile(prefix="syncline-dav-") as spool:
            while n := source.readinto(buffer):
                hasher.update(buffer[:n])
                spool.write(buffer[:n])
                size += n
            spool.seek(0)
            self.ops.ensure_dir(TMP)
            tmp = f"{TMP}/{self._db().owner()}-{secrets.token_hex(8)}"
            headers = {"X-OC-Mtime": str(source.entry.mtime_ns // SECOND)} if self.dialect().oc else {}
            self.ops.put(tmp, iter(lambda: spool.read(BLOCK), b""), size, headers)
        staged = DavStaged(self, path, size, tmp, source.entry.mtime_ns, hasher.digest())
        # What the server kept must be what was sent (a proxy that cuts a body short and still answers
        # 201): never moved into place otherwise.
        kept = self.ops.lookup(tmp)
        if kept is None or kept.folder or kept.size != size:
            staged.discard()
            err = error_class(ReplicaError)(E.EIO, f"the server kept {kept.size if kept else 0} of the {size} bytes "
                                            "sent: not committed", path)
            err.retryable = True
            raise err
        return staged

    def _stage_oc(self, path: str, source: SourceFile) -> DavStaged:
        """On an OC server: read ``source`` into a local spool (BLAKE3 and SHA1 as read), which
        :meth:`commit` sends in one conditional PUT; a big file goes as chunks into an upload collection
        now (out of sight of every client), joined at commit."""
        hasher, sha1 = blake3.blake3(), hashlib.sha1(usedforsecurity=False)
        size = 0
        buffer = memoryview(bytearray(BLOCK))
        spool = tempfile.TemporaryFile(prefix="syncline-dav-")  # noqa: SIM115 (kept open until discarded)
        try:
            while n := source.readinto(buffer):
                hasher.update(buffer[:n])
                sha1.update(buffer[:n])
                spool.write(buffer[:n])
                size += n
            upload = ""
            if size > self.oc().chunked_above and self.dialect().chunking:
                upload = self.oc().start_chunks(spool, size)
        except BaseException:
            spool.close()
            raise
        return DavStaged(self, path, size, "", source.entry.mtime_ns, hasher.digest(), spool=spool,
                         sha1=sha1.hexdigest(), upload=upload)

    def commit(self, staged: Any, expect: Entry | None) -> Outcome:
        if not isinstance(staged, DavStaged) or staged.replica is not self:
            raise TypeError("a staged copy of another replica")
        if staged.discarded:
            raise error_class(NotFound, FileNotFoundError)(E.ENOENT, "the staged copy was discarded", staged.path)
        try:
            return self._commit_oc(staged, expect) if not staged.tmp else self._commit(staged, expect)
        finally:
            staged.discard()

    def commit_many(self, items: Sequence[tuple[Any, Entry | None]]) -> list[Outcome | ReplicaError]:
        """:meth:`commit` of each item, ``max_connections`` at once (each is a few round trips, and the
        items are different paths, each re-checked on its own); the outcomes in order, a per-item failure
        in its place. Every staged copy is discarded when this returns or raises."""
        def one(item: tuple[Any, Entry | None]) -> Outcome | ReplicaError:
            try:
                return self.commit(*item)
            except ReplicaError as exc:
                return exc

        try:
            with ThreadPoolExecutor(max_workers=FEATURES.max_connections, thread_name_prefix="syncline-dav") as pool:
                return list(pool.map(one, items))
        finally:
            for staged, _ in items:
                if isinstance(staged, DavStaged):
                    staged.discard()

    def _commit(self, staged: DavStaged, expect: Entry | None) -> Outcome:
        path = staged.path
        cleared = Outcome(True)
        for _ in range(3):  # each turn: something changed under us between a check and a move
            cur = self.ops.lookup(path)
            if cur is not None and cur.folder:
                if expect is None or expect.kind != DIR:
                    return Outcome(False, "not replaced: a folder is there that the plan did not expect")
                if not self.ops.remove_empty_folder(path, self._db().owner()):
                    return Outcome(False, "not replaced: the folder there has entries")
                continue
            if cur is not None:
                out = self._clear_file(path, cur, expect)
                if out is None:
                    continue
                if not out.done:
                    return out
                cleared = out
            if self.ops.move(staged.tmp, path, folder=False):
                return self._landed(staged, cleared)
            if self.ops.lookup(staged.tmp) is None:
                raise error_class(NotFound, FileNotFoundError)(E.ENOENT, "the staged upload is gone", path)
        return Outcome(False, "not replaced: it changed again and again while being replaced")

    def _commit_oc(self, staged: DavStaged, expect: Entry | None) -> Outcome:
        """One conditional request puts the file in place: ``If-Match`` on the etag seen now (after the
        rule on ``expect`` was checked against it), ``If-None-Match: *`` where nothing was; the server
        commits it whole and keeps the version it replaces. A ``412`` is asked again (at most three
        times): what changed in between is judged anew, never overwritten unseen.

        The first try needs no look: the scan's own view is the condition (``If-Match`` on ``expect``'s
        strong etag, ``If-None-Match: *`` for nothing), which the server checks as it commits: if it holds,
        the file there is the one the scan saw, which ``expect`` accepts; if not (``412``), the file there
        is looked at and judged as below."""
        path = staged.path
        fast = _scan_condition(expect)
        for turn in range(4):
            if turn == 0:
                if fast is None:
                    continue
                etag, note, replacing = fast[0], "", expect is not None
            else:
                cur = self.ops.lookup(path)
                if cur is not None and cur.folder:
                    if expect is None or expect.kind != DIR:
                        return Outcome(False, "not replaced: a folder is there that the plan did not expect")
                    if not self._remove_folder_oc(cur):
                        return Outcome(False, "not replaced: the folder there has entries")
                    continue
                note, etag, replacing = "", None, cur is not None
                if cur is not None:
                    same = _same(self._entry(cur, self._db().shadow(path)), expect)
                    if not same and self.policy.keep_changed:
                        return Outcome(False, "not replaced: changed since the scan")
                    etag = strong(cur.etag)
                    if etag is None:
                        return Outcome(False, "not replaced: the server gave no strong etag to replace it under")
                    note = "" if same else "changed since the scan: the server keeps that version"
            try:
                landed = self._upload_oc(staged, path, etag)
            except NotFound:
                if turn == 0:  # a folder where the scan saw nothing (409): looked at and judged below
                    continue
                raise
            if landed is None:
                continue
            number = _fileid_of(landed.file_id)
            if landed.etag and (number is not None or not self.policy.report_ids):  # what the next PROPFIND lists
                tag = etag_key(landed.etag) or ""
                self._db().record(path, Shadow(tag, staged.size, staged.mtime_ns, staged.digest))
                return Outcome(True, note, replacing, (number or "") if self.policy.report_ids else 0)
            item = self.ops.lookup(path)
            if item is not None and not item.folder and item.size == staged.size:
                self._db().record(path, Shadow(item.tag, item.size, staged.mtime_ns, staged.digest))
            return Outcome(True, note, replacing, self._file_id(item))
        return Outcome(False, "not replaced: it changed again and again while being replaced")

    def _upload_oc(self, staged: DavStaged, path: str, etag: str | None) -> Landed | None:
        """The staged file put at ``path`` only over ``etag`` (None: only onto nothing); None on ``412``."""
        if staged.upload:
            landed = self.oc().finish_chunks(staged.upload, path, staged.size, staged.mtime_ns // SECOND,
                                             staged.sha1, etag)
            if landed is not None:
                staged.upload = ""  # joined: nothing left to drop
            return landed
        assert staged.spool is not None
        condition = {"If-Match": etag} if etag is not None else {"If-None-Match": "*"}
        return self.oc().put(path, staged.spool, staged.size, staged.mtime_ns // SECOND, staged.sha1, condition)

    def _remove_folder_oc(self, cur: Item) -> bool:
        """Delete the folder ``cur`` when it is empty: a Depth-1 listing, then ``DELETE`` with ``If-Match``
        on its etag, which changes with anything added below (the server refuses it then: ``412``). True
        when removed or gone."""
        try:
            me, kids = list_folder(self.client, cur.path)
        except NotFound:
            return True
        if kids:
            return False
        done = self.oc().delete(me)
        if done is None:
            raise ReplicaError(f"{self.dav.server} gave the folder {cur.path} no strong etag: not deleted")
        if done:
            self._db().forget(cur.path)
        return done

    def _clear_file(self, path: str, cur: Item, expect: Entry | None) -> Outcome | None:
        """Take the file ``cur`` out of ``path`` before something is put there: into the trash (also
        without the trash when it is not ``expect``: a changed destination is never destroyed), or
        destroyed. An Outcome not done: left in place (``keep_changed``); done: cleared (``trashed``,
        ``note`` for the final outcome); None: it changed in between (ask again)."""
        same = _same(self._entry(cur, self._db().shadow(path)), expect)
        if not same and self.policy.keep_changed:
            return Outcome(False, "not replaced: changed since the scan")
        if self.dialect().oc:  # the server keeps the version it deletes
            done = self.oc().delete(cur)
            if done is None:
                return Outcome(False, "not replaced: the server gave no strong etag to delete it under")
            if not done:
                return None
            self._db().forget(path)
            return Outcome(True, "" if same else "changed since the scan: the server keeps that version",
                           trashed=True)
        aside = self.ops.trash_place(path)
        if not self.ops.move(path, aside, folder=False, if_match=cur.etag):
            return None
        self._db().forget(path)
        if same and not self.policy.trash:
            self.ops.delete(aside)
            return Outcome(True)
        return Outcome(True, "" if same else f"changed since the scan: that version was kept in {aside}", trashed=True)

    def _landed(self, staged: DavStaged, cleared: Outcome) -> Outcome:
        """The outcome of a file moved into place, its shadow recorded (the tag the server gives it now:
        a MOVE gives none, and on most servers the tag names the path)."""
        item = self.ops.lookup(staged.path)
        if item is not None and not item.folder and item.size == staged.size:
            self._db().record(staged.path, Shadow(item.tag, item.size, staged.mtime_ns, staged.digest))
        return Outcome(True, cleared.note, cleared.trashed, self._file_id(item))

    def _file_id(self, item: Item | None) -> str | int:
        if not self.policy.report_ids:
            return 0
        return (item.file_id or "") if item is not None else ""

    # -- writing everything else ---------------------------------------------------------------------------
    def make_dir(self, path: str, entry: Entry, expect: Entry | None) -> Outcome:
        item_path(path)
        cleared = Outcome(True)
        for _ in range(3):
            if self.ops.mkcol(path):
                return self._made_dir(path, cleared)
            cur = self.ops.lookup(path)
            if cur is None:
                continue
            if cur.folder:
                return self._made_dir(path, cleared)
            out = self._clear_file(path, cur, expect)
            if out is not None and not out.done:
                return out
            cleared = out or cleared
        return Outcome(False, "not made: it changed again and again")

    def _made_dir(self, path: str, cleared: Outcome) -> Outcome:
        item = self.ops.lookup(path) if self.policy.report_ids else None
        return Outcome(True, cleared.note, cleared.trashed, self._file_id(item))

    def make_symlink(self, path: str, entry: Entry, expect: Entry | None) -> Outcome:
        raise error_class(ReplicaError, PermissionError)(E.EPERM, "a WebDAV server keeps no symlinks", path)

    def delete(self, path: str, expect: Entry) -> Outcome:
        item_path(path)
        cur = self.ops.lookup(path)
        if cur is None:
            return Outcome(True)
        kind = DIR if cur.folder else FILE
        if kind != expect.kind:
            return Outcome(False, f"not deleted: it is a {'folder' if cur.folder else 'file'} now")
        oc = self.dialect().oc
        if cur.folder:
            removed = self._remove_folder_oc(cur) if oc else self.ops.remove_empty_folder(path, self._db().owner())
            if not removed:
                return Outcome(False, "not deleted: the folder has entries the scan did not see")
            self._db().forget(path)
            return Outcome(True)
        if not _same(self._entry(cur, self._db().shadow(path)), expect):
            return Outcome(False, "not deleted: changed since the scan")
        if oc:  # the server keeps the deleted version (its trash)
            gone = self.oc().delete(cur)
            if gone is None:
                return Outcome(False, "not deleted: the server gave no strong etag to delete it under")
            if not gone:
                return Outcome(False, "not deleted: changed since the scan")
            self._db().forget(path)
            return Outcome(True, trashed=True)
        if self.policy.trash:
            done = self.ops.move(path, self.ops.trash_place(path), folder=False, if_match=cur.etag)
        else:
            done = self.ops.delete(path, if_match=cur.etag)
        if not done:
            return Outcome(False, "not deleted: changed since the scan")
        self._db().forget(path)
        return Outcome(True, trashed=self.policy.trash)

    def set_meta(self, path: str, entry: Entry, expect: Entry | None) -> Outcome:
        """Only the mtime is kept: on an OC server also on the server (``PROPPATCH`` of
        ``{DAV:}lastmodified``, with ``If-Match``), and in the shadow everywhere (what a scan reports while
        the file is as it is now). A file that changed since the scan is left alone."""
        if path:
            tree_path(path)
        cur = self.ops.lookup(path) if path else self.ops.lookup("")
        if cur is None:
            return Outcome(False, "not there")
        if not cur.folder and expect is not None and not _same(self._entry(cur, self._db().shadow(path)), expect):
            return Outcome(False, "left alone: changed since the scan")
        if self.dialect().oc and self.ops.set_mtime(path, cur, entry.mtime_ns // SECOND):
            cur = self.ops.lookup(path) or cur  # a new mtime may be a new etag
        old = self._db().shadow(path)
        digest = old.digest if old is not None and old.tag == cur.tag and old.size == cur.size else None
        self._db().record(path, Shadow(cur.tag, cur.size, entry.mtime_ns, digest))
        return Outcome(True, file_id=self._file_id(cur))

    def barrier(self) -> None:
        """Nothing to wait for: each upload was complete on the server when ``stage_file`` returned."""

    def move(self, src: str, dst: str, expect: Entry) -> Outcome:
        """The server's ``MOVE`` of a file or a whole folder, ``Overwrite: F`` (nothing at ``dst`` is ever
        replaced) and ``If-Match`` on the file's etag; the shadow follows each file whose tag it still
        held (a server whose etags name the path gives it a new one)."""
        item_path(src)
        item_path(dst)
        cur = self.ops.lookup(src)
        if cur is None:
            return Outcome(False, "vanished since the scan; not moved")
        kind = DIR if cur.folder else FILE
        if kind != expect.kind or (kind == FILE and not _same(self._entry(cur, self._db().shadow(src)), expect)):
            return Outcome(False, "changed since the scan; not moved")
        if self.ops.lookup(dst) is not None:
            return Outcome(False, f"not moved: {dst} exists")
        before = {"": cur, **(self.ops.subtree(src) if cur.folder else {})}
        if not self.ops.move(src, dst, folder=cur.folder, if_match=None if cur.folder else cur.etag):
            return Outcome(False, f"not moved: {src} changed or {dst} was taken meanwhile")
        after = {"": self.ops.lookup(dst), **(self.ops.subtree(dst) if cur.folder else {})}
        self._carry(src, dst, before, after)
        return Outcome(True, file_id=self._file_id(after[""]))

    def _carry(self, src: str, dst: str, before: dict[str, Item], after: dict[str, Item | None]) -> None:
        """Move the shadow's records from ``src`` to ``dst``: each one whose tag and size were the item's
        right before the move, under the tag the item has after it."""
        db = self._db()
        shadows = db.shadows()
        for rel, old in before.items():
            path = f"{src}/{rel}" if rel else src
            row, new = shadows.get(path), after.get(rel)
            if row is None or new is None or row.tag != old.tag or row.size != old.size or new.size != old.size:
                continue
            db.record(f"{dst}/{rel}" if rel else dst, Shadow(new.tag, new.size, row.mtime_ns, row.digest))
        db.forget(src)

    # -- the lock and the markers --------------------------------------------------------------------------
    @contextmanager
    def lock(self) -> Iterator[None]:
        """This device's exclusive right to write here: an ``flock`` on a file per address in the state
        directory (other devices are not excluded: their writes meet ours through the conditions). Entering
        removes what a killed run of this owner left in ``.syncline/tmp``."""
        release = self._take_lock()
        try:
            if not self.dialect().oc:  # an OC server holds nothing of ours to clean
                self.ops.clean(self._db().owner())
            with self.session():
                yield
        finally:
            release()

    def _take_lock(self) -> Any:
        busy = BusyError(f"another syncline run of this device is writing into {self.describe()}",
                         "wait for it to finish, then run again")
        if self.state_dir is None:
            with _held_mutex:
                if self.address() in _held:
                    raise busy
                _held.add(self.address())
            return lambda: _held.discard(self.address())
        where = Path(self.state_dir) / "webdav-locks"
        where.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = hashlib.sha256(self.address().encode()).hexdigest()[:32]
        fd = os.open(where / f"{name}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise busy from None
        return lambda: os.close(fd)

    def _meta(self, name: str) -> str:
        if not is_name(name):
            raise ValueError(f"not a replica file name: {name!r}")
        return f"{META}/{name}"

    def read_meta(self, name: str) -> str | None:
        """The marker ``name``: on an OC server a dead property of the root (``oc.py``), elsewhere the file
        ``.syncline/meta/<name>``."""
        if self.dialect().oc:
            self._meta(name)
            return self.oc().read_marker(name)[0]
        try:
            _, _, raw = self.client.request("GET", self.dav.url(self._meta(name)), where=name, limit=MAX_SMALL)
        except NotFound:
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ReplicaError(f"the replica file {name} on {self.dav.server} is not UTF-8") from None

    def write_meta(self, name: str, text: str) -> None:
        if self.dialect().oc:
            self._meta(name)
            self.oc().write_marker(name, text)
            return
        data, where = text.encode("utf-8"), self._meta(name)
        self.ops.ensure_dir(META)
        self.ops.put(where, data, len(data))

    def write_meta_if(self, name: str, text: str, expect: str | None) -> bool:
        """Write ``name`` only if it holds ``expect`` (None: none there): read, compared, then a ``PUT``
        with ``If-Match`` on the etag read (``If-None-Match: *`` for none), so a write in between fails
        (``412``) on every server that honours the condition."""
        if self.dialect().oc:
            return self._write_meta_if_oc(name, text, expect)
        data, where = text.encode("utf-8"), self._meta(name)
        self.ops.ensure_dir(META)
        try:
            _, headers, raw = self.client.request("GET", self.dav.url(where), where=name, limit=MAX_SMALL)
        except NotFound:
            if expect is not None:
                return False
            return self.ops.put(where, data, len(data), {"If-None-Match": "*"})
        if expect is None or raw != expect.encode("utf-8"):
            return False
        etag = strong(headers.get("etag"))
        return self.ops.put(where, data, len(data), {"If-Match": etag} if etag else {})

    def _write_meta_if_oc(self, name: str, text: str, expect: str | None) -> bool:
        """On an OC server: read the marker and the root's etag (one PROPFIND), compare, ``PROPPATCH``
        with ``If-Match`` on that etag, then read it back: ours, or another writer's that came after.
        Not a true compare-and-swap: a dead property's write does not move the root's etag (ours, and
        Nextcloud's), so two writers whose read-compare-write overlap within one round trip may both
        succeed; the read back catches the one that wrote first. A ``412`` (a file changed below the
        root meanwhile) is asked again."""
        self._meta(name)
        for _ in range(8):
            now, etag = self.oc().read_marker(name)
            if now != expect:
                return False
            if self.oc().write_marker(name, text, strong(etag)):
                return self.oc().read_marker(name)[0] == text
        return False


def _same(now: Entry, expect: Entry | None) -> bool:
    """Whether the entry ``now`` is still the one the plan saw: its etag and size when both have an etag
    (the tag decides; the mtime may be the shadow's), else :meth:`Entry.unchanged_since`."""
    if expect is None or now.kind != expect.kind:
        return False
    if now.etag and expect.etag:
        return etag_key(now.etag) == etag_key(expect.etag) and now.size == expect.size
    return now.unchanged_since(expect)


def _scan_condition(expect: Entry | None) -> tuple[str | None] | None:
    """The condition that puts a file exactly where the scan saw ``expect``: (its strong etag,) or (None,)
    for nothing there; None when the scan's view gives none (a folder, or no strong etag)."""
    if expect is None:
        return (None,)
    if expect.kind != FILE or not isinstance(expect.etag, str):
        return None
    etag = strong(expect.etag)
    return (etag,) if etag is not None else None


def _fileid_of(header: str | None) -> str | None:
    """``oc:fileid`` from an ``OC-FileId`` answer (its leading digits: ``00000123oc...`` is ``123``)."""
    digits = ""
    for c in header or "":
        if not ("0" <= c <= "9"):
            break
        digits += c
    return str(int(digits)) if digits else None
