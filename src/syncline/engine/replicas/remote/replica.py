"""RemoteReplica: a folder on a syncline server (protocol v1, ``docs/protocol.md``) as a replica.

Every call is one or a few HTTP requests (section 13 of the protocol names them); the required core plus
``Mover`` (the server's move), ``Hasher`` (the digest is in every row), ``BatchStat``, ``BatchCommit``,
``Locker`` (a device lease, renewed by a thread), ``Markers`` and ``CheckedMarkers`` (``meta/{key}``,
conditional with ``If-None-Match``/``If-Match``), ``Prefetcher`` (small files in packs), ``BatchWrite``
(folders and metadata in ``ops`` batches). No ``Linker``: a copy
on the server costs no upload, every chunk is already there.

- ``scan`` reads the folder from the listing cache (``cache.py``) brought up to date with
  ``entries?since=<seq>``, and applies the ignore rules itself (``core/listing.py``), so a scan of an
  unchanged folder is two small requests whatever its size.
- Writing is conditional: every ``ops`` item carries the ``expect`` the plan saw, and the server applies
  the rule table of ``docs/replicas.md`` in the same transaction as the write. Items keep their op ids,
  so a batch resent after a cut connection is replayed, never applied twice.
- Staging and barrier: ``staging.py``; downloads, verified as they are read: ``basis.py``; small files
  read ahead in packs: ``prefetch.py``.
- Errors: ``client.py`` maps every failure to the family, in one place.
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import blake3

from ....core.entry import DIR, FILE, Entry, FileId
from ....core.errors import BusyError, Problem, UsageError
from ....core.ignore import Rules
from ....core.index import Index, IndexHeader
from ....core.listing import Listing, index_of_listing
from ....core.paths import parent
from ....formats.wire import Expect, ItemResult, Op, OpEntry, WireError, WirePolicy, check_folder_name, new_op_id
from ....formats.wire.entries import COLUMNS, RowReader, entries_page_of_json, stat_items_of_json
from ....formats.wire.errors import clip
from ....formats.wire.fields import boolean, dump_json, integer, lease_id, lst, obj, parse_json, text
from ....formats.wire.filelocks import locks_of_json
from ....formats.wire.limits import MAX_INLINE_CHUNKS, MAX_JSON_BODY, MAX_META_BYTES, MAX_OPS, MAX_PAGE, MAX_STAT_PATHS
from ....formats.wire.ops import ChunkRef
from ....formats.wire.opsjson import op_to_json, ops_to_json, results_of_json
from ....formats.wire.paths import check_target, check_wire_path, meta_etag
from ..errors import Changed, Locked, NotFound, ReplicaError, Unreachable
from ..replica import Features, Outcome, SourceFile, Staged, WritePolicy
from .basis import ChunkBasis, ChunkedSource, StreamSource, delta_chunks, verified_chunks
from .cache import ListingCache, cache_path
from .client import Client, code_of, replica_error
from .credentials import Credentials, server_url
from .lease import LeaseRecord
from .prefetch import HeldSource, Prefetch
from .staging import SPOOL_BOUND, RemoteStaged, Spool, ask_missing, client_manifest, mend, stage, upload

LOCK_TTL = 60  # seconds; renewed every third of it
INFO_FRESH_S = 1.0  # how long the folder's own answer (exists, empty, root) is reused, unless written since
MAX_IGNORE_FILE = 1 << 20
FEATURES = Features(mtime_ns_precision=1, case_sensitive=True, symlinks=True, permissions=True, owner=False,
                    hash_kinds=("blake3",), max_connections=8, round_trips=True, scan_in_child=False)


@dataclass
class Transfers:
    """What went over the wire: ``pack_bytes`` uploaded (pack bodies), ``fetched_bytes`` of chunks
    downloaded with ``chunks/read``, ``whole_bytes`` of files downloaded whole."""

    pack_bytes: int = 0
    fetched_bytes: int = 0
    whole_bytes: int = 0


def meta_key(name: str) -> str:
    """The server's key for the replica's own file ``name`` (``[a-z0-9-]{1,64}``: ``made-dirs.json`` is
    ``made-dirs-json``)."""
    key = "".join(c if c in "abcdefghijklmnopqrstuvwxyz0123456789-" else "-" for c in name.lower())
    if not 1 <= len(key) <= 64:
        raise ValueError(f"no server key for the replica file {name!r}")
    return key


class RemoteReplica:
    """The server folder ``folder`` (a name in the token's user's namespace) at the server ``url``, as
    ``credentials`` (``syncline connect``) allow. ``state_dir`` holds the listing cache (None: in memory,
    for this object's life); ``basis`` lets downloads of big files reuse local chunks; ``http`` replaces
    the HTTP client (tests: a ``TestClient`` on the app). See the module for what each call sends."""

    def __init__(self, url: str, folder: str, credentials: Credentials, policy: WritePolicy | None = None,
                 state_dir: Path | None = None, basis: ChunkBasis | None = None, *, http: Any = None,
                 spool_bound: int = SPOOL_BOUND) -> None:
        try:
            self.folder = check_folder_name(folder)
        except WireError as err:
            raise UsageError(f"not a server folder name: {folder!r}", err.hint or err.message) from None
        self.url = server_url(url)
        self.policy = policy or WritePolicy()
        self.basis = basis
        self.state_dir = state_dir
        self.transfers = Transfers()
        self._client = Client(credentials, http=http, max_connections=FEATURES.max_connections)
        self._spool = Spool(self._send, spool_bound)
        self._prefetch = Prefetch(self._client, self.folder)
        self._cache: ListingCache | None = None
        self._mutex = threading.Lock()
        self._info: tuple[float, dict[str, Any] | None] | None = None  # (when, the folder's GET answer)
        self._info_kept = False  # answers are kept only while this replica holds its lease (a run)
        self._writable = True  # the user's right to the folder as last read (True until read: the server decides)
        self._lock_lost: ReplicaError | None = None
        self.renew_every = LOCK_TTL / 3  # seconds between renewals of the lock's lease
        self.inline_chunks = MAX_INLINE_CHUNKS  # chunks a put lists; more: a manifest (tests lower it)

    # -- what it is ----------------------------------------------------------------------------------------
    def features(self) -> Features:
        """What the server keeps; ``writable`` as the user's right to the folder said when last read (a
        run reads it before it plans: a share made read-only takes effect at the next run)."""
        with self._mutex:
            writable = self._writable
        return FEATURES if writable else replace(FEATURES, writable=False)

    def describe(self) -> str:
        return self.address()

    def address(self) -> str:
        """``https://host:port/NAME`` (host lower-cased, the port written out)."""
        return f"{self.url}/{self.folder}"

    def _at(self, rest: str = "") -> str:
        return f"folders/{self.folder}{rest}"

    # -- the root ------------------------------------------------------------------------------------------
    def _folder_info(self) -> dict[str, Any] | None:
        """The folder's ``GET`` answer (None: no such folder). A run asks twice within milliseconds while it
        holds the lease (is the folder empty, the root's entry for the scan): inside :meth:`lock`, an
        answer is reused for ``INFO_FRESH_S`` unless this replica wrote since (any ``ops``). Never across
        runs: other devices write between them."""
        with self._mutex:
            cached = self._info if self._info_kept else None
        if cached is not None and time.monotonic() - cached[0] < INFO_FRESH_S:
            return cached[1]
        try:
            value = self._client.call("GET", self._at())
        except NotFound:
            info = None
        else:
            try:
                o = obj(value, "folder", "bad_response")
                root = obj(o.get("root"), "root", "bad_response")
                rights = o.get("rights", "rw")
                if rights not in ("rw", "ro"):
                    raise WireError("bad_response", f"rights {clip(str(rights))!r} are neither rw nor ro")
                info = {"uid": text(o.get("uid"), "uid", "bad_response", 128),
                        "empty": boolean(o.get("empty"), "empty", "bad_response"), "writable": rights == "rw",
                        "lock_seq": integer(o.get("lock_seq", -1), "lock_seq", "bad_response", -1),
                        "damaged": integer(o.get("damaged", 0), "damaged", "bad_response", 0),
                        "mode": integer(root.get("mode"), "root.mode", "bad_response", 0, 0o7777),
                        "mtime_ns": integer(root.get("mtime_ns"), "root.mtime_ns", "bad_response")}
            except WireError as err:
                raise replica_error(err) from None
        with self._mutex:
            self._info = (time.monotonic(), info) if self._info_kept else None
            if info is not None:
                self._writable = bool(info["writable"])
        return info

    def _forget_info(self, keep: bool | None = None) -> None:
        """Drop the folder's answer; ``keep``: whether answers are kept from now on (inside the lease)."""
        with self._mutex:
            self._info = None
            if keep is not None:
                self._info_kept = keep

    def exists(self) -> bool:
        """Whether the folder is on the server for this user. An unreachable server is raised
        (``Unreachable``), not taken for a missing folder."""
        return self._folder_info() is not None

    def is_empty(self) -> bool:
        info = self._folder_info()
        return True if info is None else bool(info["empty"])

    def create_root(self) -> None:
        self._forget_info()
        self._client.request("PUT", self._at(), ok=(200, 201))

    @contextmanager
    def session(self) -> Iterator[None]:
        """The HTTP connections are pooled for the replica's life: nothing more to hold."""
        yield

    def close(self) -> None:
        """End the run: staged chunks not sent are dropped, connections and the cache closed (the next
        call opens them again). The basis stays open: it is its opener's, and may outlive many runs."""
        self._spool.clear()
        self._prefetch.hint([], 0)
        self._forget_info()
        self._client.close()
        with self._mutex:
            if self._cache is not None:
                self._cache.close()
                self._cache = None

    # -- reading -------------------------------------------------------------------------------------------
    def _listing_cache(self) -> ListingCache:
        with self._mutex:
            if self._cache is None:
                where = cache_path(self.state_dir, self.address()) if self.state_dir is not None else None
                self._cache = ListingCache(where)
            return self._cache

    def _listing(self) -> tuple[Listing, Entry]:
        """The whole folder as the server holds it now: the cached listing brought up to date (read it,
        never change it: it is the cache's own)."""
        info = self._folder_info()
        if info is None:
            raise replica_error(WireError("not_found", f"no folder {self.folder} on {self.url}",
                                          "check the name, or make it (syncline folder add)"), self.folder)
        root = Entry(DIR, 0, info["mtime_ns"], info["mode"], file_id="", etag=None)
        cache = self._listing_cache()
        owner = f"{self._client.info().server_id}/{info['uid']}"
        start = since = cache.seq(owner)
        after: str | None = None  # with since: the cursor, which may be inside a version (a big move)
        while True:
            params: dict[str, Any] = {"since": since, "limit": MAX_PAGE}
            if after is not None:
                params["after"] = after
            try:
                value = self._client.call("GET", self._at("/entries"), params=params)
            except ReplicaError as exc:
                if code_of(exc) != "history_gone" or start == 0:
                    raise
                cache.reset(owner)  # the server forgot the delta: list everything again
                start = since = 0
                after = None
                continue
            try:
                page = entries_page_of_json(value, since, after)
            except WireError as err:
                raise replica_error(err) from None
            if page.seq < start:  # the folder went back in time (a restore): the cache is ahead of it
                cache.reset(owner)
                start = since = 0
                after = None
                continue
            cache.apply(page.rows, page.seq, complete=not page.more)
            if not page.more:
                break
            since, after = page.next, page.next_path
        return cache.listing(), root

    def _read_ignore(self, path: str) -> str:
        _, raw = self._client.request("GET", self._at("/file"), params={"path": path}, where=path,
                                      limit=MAX_IGNORE_FILE)
        return raw.decode("utf-8", "surrogateescape")

    def _index(self, rules: Rules, digests: bool, side: str, dirs: Sequence[tuple[str, bool]] | None) -> Index:
        started = time.time_ns()
        # The listing's digests are kept even when none were asked for: the server verified each at commit
        # and they cost nothing here, where asking for them later costs two round trips per file.
        listing, root = self._listing()
        entries = listing.entries
        header = IndexHeader(root=self.describe(), scanned_ns=started, digests=digests)
        index = index_of_listing(listing, rules, self._read_ignore, root, dirs=dirs, header=header,
                                 side=side)
        if dirs is None or side != "destination":
            return index
        # A folder asked for below a file or symlink: nothing can be said below it (as a local ENOTDIR).
        blocked = [d for d, _ in dirs if _below_a_non_folder(d, entries)]
        if not blocked:
            return index
        problems = tuple(Problem(d, "a parent folder is a symlink or a file here", side) for d in blocked)
        return Index(dict(index.items()), index.header, problems=index.problems + problems,
                     unreadable=index.unreadable | frozenset(blocked), root=index.root)

    def scan(self, rules: Rules, digests: bool, side: str) -> Index:
        return self._index(rules, digests, side, None)

    def catch_up(self) -> None:
        """Page what changed on the server since the listing was last brought up to date
        (:class:`~..replica.CatchUp`): after a run that committed 100,000 files, 2 s the next edit's run
        would otherwise wait for."""
        self._listing()

    def locked_by_others(self) -> Mapping[str, str]:
        """The folder's files locked by another user or device (:class:`~..replica.LockedPaths`), from
        ``GET .../file-locks`` (protocol 1.1; none on a server without the feature)."""
        if "file-locks" not in self._client.info().features:
            return {}
        # The folder's answer (read by every run) carries its lock_seq: a folder never locked costs no request.
        info = self._folder_info()
        if info is not None and info["lock_seq"] == 0:
            return {}
        value = self._client.call("GET", self._at("/file-locks"))
        try:
            locks = locks_of_json(value)
        except WireError as err:
            raise replica_error(err) from None
        now = time.time_ns()
        return {lk.path: (f"locked by {lk.user}" + (f" on {lk.device_name}" if lk.device_name else "")
                          + f" for {max(1, (lk.expires_ns - now) // 60_000_000_000)} min more"
                          + (f" ({lk.note})" if lk.note else "")) for lk in locks
                if not lk.mine}

    def find_file_ids(self, file_ids: Collection[FileId]) -> dict[FileId, list[str]]:
        """Where the folder holds entries with these ids (:class:`~..replica.FileIdFinder`): its listing
        brought up to date, which this process keeps in memory, with no index built of it."""
        wanted = set(file_ids)
        found: dict[FileId, list[str]] = {}
        for path, e in self._listing()[0].entries.items():
            if e.file_id in wanted:
                found.setdefault(e.file_id, []).append(path)
        return found

    def scan_dirs(self, dirs: Sequence[tuple[str, bool]], rules: Rules, side: str, digests: bool = False) -> Index:
        return self._index(rules, digests, side, dirs)

    def stat(self, path: str) -> Entry | None:
        return self.stat_many([path])[0]

    def stat_many(self, paths: Sequence[str]) -> list[Entry | None]:
        out: list[Entry | None] = []
        for start in range(0, len(paths), MAX_STAT_PATHS):
            asked = [_wire_path(p, root_ok=True) for p in paths[start:start + MAX_STAT_PATHS]]
            value = self._client.call("POST", self._at("/stat"), json={"paths": asked})
            try:
                _, items = stat_items_of_json(value, len(asked))
            except WireError as err:
                raise replica_error(err) from None
            for p, item in zip(asked, items, strict=True):
                if isinstance(item, WireError):
                    raise replica_error(item, p)
                if item is not None and item.path != p:
                    raise self._client.bad(f"stat of {p} answered {item.path}", p)
                out.append(None if item is None else item.entry)
        return out

    def digest(self, path: str, kind: str = "blake3") -> bytes:
        """The file's BLAKE3 digest, as the server verified it at commit (no content is transferred)."""
        if kind != "blake3":
            raise ValueError(f"no {kind} digests here (only blake3)")
        e = self.stat(path)
        if e is None:
            raise replica_error(WireError("not_found", f"{path} is not there", "sync again"), path)
        if e.kind != FILE or e.digest is None:
            raise replica_error(WireError("changed", f"{path} is not a file any more", "sync again"), path)
        return e.digest

    @contextmanager
    def open_file(self, path: str) -> Iterator[SourceFile]:
        """The file's committed version as a stream, checked as it is read. With a basis and a big file:
        its chunk list, the chunks the basis holds read locally (verified), only the others fetched. When
        the basis records a big list for ``path`` (past ``inline_chunks``), only the pieces of the new
        list it lacks are read (:func:`delta_chunks`)."""
        path = _wire_path(path)
        taken = self._prefetch.take(path)
        if taken is not None:
            with self._mutex:
                self.transfers.fetched_bytes += len(taken[1])
            yield HeldSource(*taken)
            return
        if self.basis is not None:
            entry = self.stat(path)
            chunker = self._client.info().chunker
            if entry is not None and entry.kind == FILE and entry.size >= chunker.min_file_size:
                self.basis.learn(path, chunker)  # a copy made before the folder was bound: cut it once
                old = self.basis.chunks_of(path)
                if len(old) > self.inline_chunks:  # a big list: read only its pieces that changed
                    chunks = delta_chunks(self._client, self._at("/file"), path, entry, old)
                else:
                    chunks = verified_chunks(self._client, self._at("/file/chunks"), path, entry)
                source = ChunkedSource(self._client, self.folder, path, entry, chunks, self.basis)
                try:
                    yield source
                finally:
                    with self._mutex:
                        self.transfers.fetched_bytes += source.fetched
                if source.complete:
                    self.basis.record(path, entry, chunks)
                return
        with self._client.stream("GET", self._at("/file"), params={"path": path}, where=path) as response:
            try:
                row = parse_json(response.headers.get("syncline-entry", "").encode("utf-8", "replace"),
                                 "bad_response", 64 << 10)
                read = RowReader(list(COLUMNS))
                got, entry, _ = read(row, "Syncline-Entry")
            except WireError as err:
                raise replica_error(err, path) from None
            if got != path or entry is None or entry.kind != FILE:
                raise self._client.bad(f"the download of {path} is described as another file", path)
            stream = StreamSource(self._client, path, entry, response.iter_bytes(1 << 20))
            yield stream
            if stream.complete:
                with self._mutex:
                    self.transfers.whole_bytes += entry.size

    def prefetch(self, files: Sequence[tuple[str, Entry]]) -> None:
        """Small files (one chunk each) are fetched ahead in groups, one ``chunks/read`` per group
        (:mod:`.prefetch`): ``open_file`` of one of them answers the hinted version."""
        wire: list[tuple[str, Entry]] = []
        for path, entry in files:
            try:
                wire.append((_wire_path(path), entry))
            except ReplicaError:
                continue  # refused when it is opened, with the server's own error
        self._prefetch.hint(wire, self._client.info().chunker.min_file_size if wire else 0)

    def damaged_files(self) -> dict[str, Entry]:
        """The live files whose version lost a chunk on the server (``syncline server check --repair``),
        by path: a device that has one whole heals it by staging it (its chunks go up; the server makes the
        version whole with them). No request beyond the folder's answer when that says none."""
        info = self._folder_info()
        if info is None or not info.get("damaged"):
            return {}
        value = self._client.call("GET", self._at("/damaged"))
        try:
            o = obj(value, "damaged", "bad_response")
            read = RowReader(o.get("columns"))
            rows = [read(r, "damaged") for r in lst(o.get("rows"), "rows", "bad_response", 10_000)]
        except WireError as err:
            raise replica_error(err) from None
        return {path: entry for path, entry, _ in rows if entry is not None and entry.kind == FILE}

    # -- staging and committing ----------------------------------------------------------------------------
    def _send(self, frames: dict[bytes, bytes], ask: bool = True, where: str = "") -> int:
        sent = upload(self._client, self.folder, frames, where, ask)
        with self._mutex:
            self.transfers.pack_bytes += sent
        return sent

    def stage_file(self, path: str, source: SourceFile) -> Staged:
        """Stage ``path`` (``staging.py``). With a basis, a big file's chunks it records (this device
        sent or received them) and the manifest pieces of the version it records at ``path`` are not
        asked about: a commit that finds one collected since is mended (:meth:`commit_many`)."""
        path = _wire_path(path)
        basis = self.basis
        pieces: set[bytes] = set()
        if basis is not None:
            before = [ChunkRef(i, n) for i, n in basis.chunks_of(path)]
            if len(before) > self.inline_chunks:
                pieces = {blake3.blake3(p).digest() for p in client_manifest(before)}

        def send(frames: dict[bytes, bytes]) -> int:
            if basis is not None:
                held = basis.known([i for i in frames if i not in pieces])
                frames = {i: d for i, d in frames.items() if i not in pieces and i not in held}
            return self._send(frames, True, path) if frames else 0

        staged = stage(source, path, self._client.info().chunker, self._spool, send, self.inline_chunks)
        if self.basis is not None and len(staged.chunks) > 1:
            self.basis.record(path, source.entry, [(c.id, c.length) for c in staged.chunks])
        return staged

    def send_chunks(self, path: str, source: SourceFile) -> bytes:
        """Send the chunks of ``source`` the server lacks, asked of it whatever the basis says (the server
        may have lost one this device sent or received), and commit nothing; the content's digest. What a
        device does to heal a damaged file (``services/daemon/heal.py``)."""
        path = _wire_path(path)
        staged = stage(source, path, self._client.info().chunker, self._spool,
                       lambda frames: self._send(frames, True, path), self.inline_chunks)
        try:
            self._spool.flush()
        finally:
            staged.discard()
        return staged.digest

    def barrier(self) -> None:
        """Send every staged chunk the server lacks: after it, every staged copy can be committed."""
        self._spool.flush()

    def commit(self, staged: Staged, expect: Entry | None) -> Outcome:
        result = self.commit_many([(staged, expect)])[0]
        if isinstance(result, ReplicaError):
            raise result
        return result

    def commit_many(self, items: Sequence[tuple[Staged, Entry | None]]) -> list[Outcome | ReplicaError]:
        """One ``put`` per staged copy, in batches; a ``missing_chunks`` item is sent again once (its
        chunks re-sent from the spool when it still holds them; for a big file, what the server lacks
        read from the basis and verified), else stays a ``Changed``. Every staged
        copy is discarded when this returns or raises."""
        staged = [s for s, _ in items]
        try:
            ops: list[Op | ReplicaError] = []
            for s, expect in items:
                if not isinstance(s, RemoteStaged) or s.spool is not self._spool:
                    raise TypeError("a staged copy of another replica")
                if s.discarded:
                    ops.append(replica_error(WireError("not_found", "the staged copy was discarded", ""), s.path))
                    continue
                ops.append(Op(s.op_id, "put", s.path, _expect(expect), OpEntry(s.mtime_ns, s.mode, s.size, s.digest),
                              () if s.manifest else s.chunks, manifest=s.manifest))
            results = self._apply_each(ops)
            again = [i for i, r in enumerate(results) if isinstance(r, ItemResult) and r.error is not None
                     and r.error.code == "missing_chunks"
                     and (self._spool.resend(_missing(r.error)) or self._mend(staged[i]))]
            if again:
                retried = self._apply([_renamed(ops[i]) for i in again])  # type: ignore[arg-type]
                for i, r in zip(again, retried, strict=True):
                    results[i] = r
            return [r if isinstance(r, ReplicaError) else self._outcome(r, s.path)
                    for r, s in zip(results, staged, strict=True)]
        finally:
            for s in staged:
                s.discard()

    def _mend(self, staged: Staged) -> bool:
        """Send again what the server lacks of a big staged file, read from the basis (:func:`mend`);
        False without a basis, for a small file, or when it cannot be done (the item then fails)."""
        assert isinstance(staged, RemoteStaged)
        basis, path = self.basis, staged.path
        if basis is None or len(staged.chunks) < 2:
            return False
        try:
            return mend(staged, lambda ids: ask_missing(self._client, self.folder, ids, path), basis.read,
                        lambda frames: self._send(frames, False, path))
        except ReplicaError:
            return False

    def _apply_each(self, ops: Sequence[Op | ReplicaError]) -> list[ItemResult | ReplicaError]:
        """``_apply`` of the ops among ``ops``, the errors left in their places."""
        todo = [op for op in ops if isinstance(op, Op)]
        done = iter(self._apply(todo) if todo else [])
        return [op if isinstance(op, ReplicaError) else next(done) for op in ops]

    def _apply(self, ops: Sequence[Op]) -> list[ItemResult | ReplicaError]:
        """Send ``ops`` in batches of at most 1,000 items and 8 MiB; one result per op, in order. A batch
        whose answer was lost (a cut connection) is sent once more with the same op ids, which the
        server replays; failing again, each of its items gets that error."""
        if self._lock_lost is not None:
            raise self._lock_lost
        self._forget_info()  # the folder's emptiness and root may change
        policy = WirePolicy(self.policy.trash, self.policy.keep_changed)
        out: list[ItemResult | ReplicaError] = []
        for batch in _batches(ops):
            body = ops_to_json(policy, batch)
            for attempt in (1, 2):
                try:
                    value = self._client.call("POST", self._at("/ops"), json=body,
                                              where=batch[0].path if len(batch) == 1 else "")
                    break
                except Unreachable as exc:
                    if attempt == 2:
                        out.extend([exc] * len(batch))
                        value = None
            if value is None:
                continue
            try:
                _, results = results_of_json(value, len(batch))
            except WireError as err:
                raise replica_error(err) from None
            for op, r in zip(batch, results, strict=True):
                out.append(replica_error(r.error, op.path) if r.error is not None and r.error.code != "missing_chunks"
                           else r)
        return out

    def _outcome(self, r: ItemResult, path: str) -> Outcome | ReplicaError:
        if r.error is not None:
            return replica_error(r.error, path)
        if not r.done:
            return Outcome(False, r.note or f"not done: {r.code or 'refused'}")
        return Outcome(True, r.note, r.trashed, r.file_id if self.policy.report_ids else 0, r.notice)

    def _one(self, op: Op) -> Outcome:
        [result] = self._apply([op])
        outcome = result if isinstance(result, ReplicaError) else self._outcome(result, op.path)
        if isinstance(outcome, ReplicaError):
            raise outcome
        return outcome

    def make_dir(self, path: str, entry: Entry, expect: Entry | None) -> Outcome:
        return self._one(_small_op("mkdir", path, entry, expect))

    def make_symlink(self, path: str, entry: Entry, expect: Entry | None) -> Outcome:
        return self._one(_small_op("symlink", path, entry, expect))

    def delete(self, path: str, expect: Entry) -> Outcome:
        return self._one(_small_op("delete", path, None, expect))

    def set_meta(self, path: str, entry: Entry, expect: Entry | None) -> Outcome:
        """A ``meta`` item; for the root (``""``) too: the folder's own mode and mtime."""
        return self._one(_small_op("meta", path, entry, expect))

    def write_many(self, items: Sequence[tuple[str, str, Entry | None, Entry | None]]) -> list[Outcome | ReplicaError]:
        """The ``mkdir``, ``symlink``, ``meta`` and ``delete`` items in ``ops`` batches (1,000 a request)."""
        ops: list[Op | ReplicaError] = []
        for op, path, entry, expect in items:
            try:
                ops.append(_small_op(op, path, entry, expect))
            except ReplicaError as exc:
                ops.append(exc)
        results = self._apply_each(ops)
        return [r if isinstance(r, ReplicaError) else self._outcome(r, item[1])
                for r, item in zip(results, items, strict=True)]

    def move(self, src: str, dst: str, expect: Entry) -> Outcome:
        """The server's move: one rename of a file, symlink or whole folder, nothing sent again."""
        return self._one(Op(new_op_id(), "move", _wire_path(src), _expect(expect), to=_wire_path(dst)))

    # -- the lock and the markers --------------------------------------------------------------------------
    @contextmanager
    def lock(self) -> Iterator[None]:
        """This device's lease on the folder, renewed every ``renew_every`` s (a third of its TTL) by a
        thread, released on exit. ``BusyError`` while another run of this device (or the server's
        maintenance) holds it. A renewal that fails makes every later write of this run fail with
        ``Locked``: without the lease, another run may be writing.

        With a state directory the lease is recorded there (``lease.py``): a run whose record names a
        process gone (killed while holding the lease, or ended while the server was unreachable) takes that
        lease over (protocol section 10) instead of waiting for it to lapse; one whose record names a
        process still running asks for a lease as any run does, refused while that run holds its own.
        Without a state directory, a killed run's lease lapses by itself."""
        record = LeaseRecord(self.state_dir, self.address()) if self.state_dir is not None else None
        left = record.find() if record is not None else None
        proposed = "L" + secrets.token_urlsafe(15)  # its id known before the answer (protocol 1.1)
        body: dict[str, Any] = {"ttl": LOCK_TTL, "lock": proposed}
        if left is not None and left.holder is None:
            body["replaces"] = left.lease
        if record is not None and (left is None or left.holder is None):  # not over a live run's record
            record.proposing(proposed)
        try:
            value = self._client.call("POST", self._at("/locks"), json=body, ok=(200, 201))
        except Locked as exc:
            which = f" (pid {left.holder.pid})" if left is not None and left.holder is not None else ""
            raise BusyError(f"another syncline run of this device{which} is writing into {self.describe()}",
                            "wait for it to finish, then run again (or the server is under maintenance)") from exc
        try:
            lease = lease_id(obj(value, "lock", "bad_response").get("lock"), "lock", "bad_response")
        except WireError as err:
            raise replica_error(err) from None
        if record is not None:
            record.holding(lease)
        stop = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(lease, stop), name="syncline-lock", daemon=True)
        self._lock_lost = None
        renewer.start()
        self._forget_info(keep=True)
        try:
            with self.session():
                yield
        finally:
            self._forget_info(keep=False)
            stop.set()
            renewer.join()
            self._lock_lost = None
            try:
                self._client.request("DELETE", self._at(f"/locks/{lease}"), ok=(200, 204))
                released = True
            except ReplicaError:
                released = False  # the next run takes it over (or it lapses within LOCK_TTL)
            if record is not None:
                record.released(lease, released)

    def _renew(self, lease: str, stop: threading.Event) -> None:
        while not stop.wait(self.renew_every):
            try:
                self._client.request("PUT", self._at(f"/locks/{lease}"), json={"ttl": LOCK_TTL}, ok=(200, 204))
            except ReplicaError as exc:
                self._lock_lost = replica_error(WireError(
                    "locked", f"the lease on {self.describe()} could not be renewed ({exc})", "run again"))
                return

    def read_meta(self, name: str) -> str | None:
        try:
            _, raw = self._client.request("GET", self._at(f"/meta/{meta_key(name)}"), limit=MAX_META_BYTES)
        except NotFound:
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self._client.bad(f"the replica file {name} is not UTF-8") from None

    def write_meta(self, name: str, text: str) -> None:
        data = text.encode("utf-8")
        if len(data) > MAX_META_BYTES:
            raise replica_error(WireError("too_large", f"{name}: over {MAX_META_BYTES} bytes", ""), name)
        self._client.request("PUT", self._at(f"/meta/{meta_key(name)}"), content=data, ok=(200, 204),
                             headers={"Content-Type": "text/plain; charset=utf-8"})

    def write_meta_if(self, name: str, text: str, expect: str | None) -> bool:
        """Write ``name`` only if it holds ``expect`` (None: ``If-None-Match: *``, else ``If-Match`` with
        the etag of ``expect``); the server compares and sets at once: ``412 changed`` is False."""
        data = text.encode("utf-8")
        if len(data) > MAX_META_BYTES:
            raise replica_error(WireError("too_large", f"{name}: over {MAX_META_BYTES} bytes", ""), name)
        condition = {"If-None-Match": "*"} if expect is None else {"If-Match": meta_etag(expect)}
        try:
            self._client.request("PUT", self._at(f"/meta/{meta_key(name)}"), content=data, ok=(200, 204),
                                 headers={"Content-Type": "text/plain; charset=utf-8", **condition})
        except Changed as exc:
            if code_of(exc) == "changed":
                return False
            raise
        return True


def _wire_path(path: str, root_ok: bool = False) -> str:
    """``path`` checked as the server will (a non-UTF-8 name, a ``.syncline`` component): refused here
    with the server's own error, never sent."""
    try:
        return check_wire_path(path, root_ok=root_ok)
    except WireError as err:
        raise replica_error(err, path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")) from None


def _small_op(op: str, path: str, entry: Entry | None, expect: Entry | None) -> Op:
    """The ``mkdir``, ``symlink``, ``meta`` (of the root too) or ``delete`` item (``entry`` None only for a
    ``delete``, ``expect`` None never for one): refused here, with the server's own error, for a path or a
    symlink target the server would refuse."""
    if op == "delete":
        assert expect is not None
        return Op(new_op_id(), "delete", _wire_path(path), _expect(expect))
    assert entry is not None
    if op == "symlink":
        try:
            target = check_target(entry.target)
        except WireError as err:
            raise replica_error(err, path) from None
        return Op(new_op_id(), "symlink", _wire_path(path), _expect(expect),
                  OpEntry(entry.mtime_ns, entry.mode & 0o7777, len(target.encode()), None, target))
    if op == "mkdir":
        return Op(new_op_id(), "mkdir", _wire_path(path), _expect(expect), OpEntry(entry.mtime_ns, entry.mode & 0o7777))
    if op == "meta":
        return Op(new_op_id(), "meta", _wire_path(path, root_ok=True), _expect(expect),
                  OpEntry(entry.mtime_ns, entry.mode & 0o7777))
    raise ValueError(f"not a small write: {op}")


def _expect(entry: Entry | None) -> Expect | None:
    return None if entry is None else Expect.of(entry)


def _missing(err: WireError) -> list[bytes]:
    ids = err.details.get("missing")
    if not isinstance(ids, list):
        return []
    try:
        return [bytes.fromhex(i) for i in ids[:MAX_OPS * 16] if isinstance(i, str) and len(i) == 64]
    except ValueError:
        return []


def _renamed(op: Op) -> Op:
    """``op`` under a new id: its first try failed (an error is not applied), so a new name is safe."""
    return dataclasses.replace(op, id=new_op_id())


def _batches(ops: Sequence[Op]) -> Iterator[list[Op]]:
    batch: list[Op] = []
    size = 64
    for op in ops:
        n = len(dump_json(op_to_json(op))) + 1
        if batch and (len(batch) == MAX_OPS or size + n > MAX_JSON_BODY):
            yield batch
            batch, size = [], 64
        batch.append(op)
        size += n
    if batch:
        yield batch


def _below_a_non_folder(path: str, entries: dict[str, Entry]) -> bool:
    p = parent(path) if path else ""
    while p:
        e = entries.get(p)
        if e is not None and e.kind != DIR:
            return True
        p = parent(p)
    return False
