"""A whole :class:`Index` as one compact, columnar byte string, for handing a scan from one process to
another on the same machine (a forked scanner sends its result back this way).

Not a file format: nothing here is stored or sent over a network, and the two ends are the same syncline.
It is not pickle either (never pickle across a process boundary): a msgpack map whose big values are
columns, so that both ends do a few C-speed calls per column instead of Python work per field.

- ``paths``: every path, UTF-8 with surrogate escapes (``os.fsencode``), joined by NUL (which no path
  holds), in the index's byte order;
- ``kinds``: one byte per entry (0 file, 1 dir, 2 symlink); ``modes``, ``sizes``, ``mtimes``, ``inodes``,
  ``ctimes``: one msgpack array of ints each (packed and unpacked in C, faster than ``array`` here); when
  a time does not fit 64 bits (``core/times.py``), ``wide`` is true and the time columns hold such times as
  ``[seconds, nanoseconds]`` pairs;
- ``digests``: 32 bytes per entry (zeros where ``has_digest`` is 0), only when some entry has one;
- ``targets``: ``[position, target bytes]`` per symlink; ``chunks`` per file that has a chunk list;
- ``attrs``: per entry a position in ``attrs_table`` (-1: none), only when some entry has :class:`Attrs`
  (each distinct value is packed once); ``hard_links``: ``[path, first path]`` pairs;
- the header, problems, unreadable paths, temp files and the root's entry as small msgpack values.

:func:`unpack_index` raises :class:`ValueError` when the bytes are not a complete, consistent packing; a
caller falls back to scanning itself.
"""

from __future__ import annotations

import os
from functools import partial
from itertools import compress, repeat
from operator import is_not, itemgetter
from typing import Any

import msgpack

from ..core.entry import DIGEST_SIZE, KINDS, Attrs, Chunk, Entry
from ..core.errors import Problem
from ..core.index import Index, IndexHeader
from ..core.times import NS, any_wide, pack_time

_KIND_CODE = {k: i for i, k in enumerate(KINDS)}
_NO_DIGEST = bytes(DIGEST_SIZE)
_FIELDS = {name: itemgetter(i) for i, name in enumerate(Entry._fields)}


def pack_index(index: Index) -> bytes:
    """``index`` as bytes for :func:`unpack_index` (in another process of the same syncline)."""
    # One C-level pass per column (map and itemgetter): no Python statement runs per entry.
    paths = list(index.entries)
    es = list(index.entries.values())
    n = len(es)
    field = _FIELDS
    has_digest = bytes(map(is_not, map(field["digest"], es), repeat(None)))
    any_digest = any(has_digest)
    with_target = list(compress(range(n), map(field["target"], es)))
    with_chunks = list(compress(range(n), map(is_not, map(field["chunks"], es), repeat(None))))
    targets = [[i, os.fsencode(es[i].target or "")] for i in with_target]
    chunks = [[i, [[c.length, c.digest] for c in es[i].chunks or ()]] for i in with_chunks]
    attrs_refs: list[int] | None = None
    attrs_table: list[list[Any]] = []
    if any(map(is_not, map(field["attrs"], es), repeat(None))):
        seen: dict[Attrs, int] = {}
        attrs_refs = [-1 if a is None else seen.setdefault(a, len(seen)) for a in map(field["attrs"], es)]
        attrs_table = [[a.uid, a.gid, [list(x) for x in a.xattrs]] for a in seen]
    h = index.header
    root = index.root
    mtimes, ctimes = list(map(field["mtime_ns"], es)), list(map(field["ctime_ns"], es))
    wide = any_wide(mtimes) or any_wide(ctimes)  # rare: only then a Python step per entry
    if wide:
        mtimes, ctimes = list(map(pack_time, mtimes)), list(map(pack_time, ctimes))
    doc = {
        "n": len(paths),
        "paths": "\0".join(paths).encode("utf-8", "surrogateescape"),
        "kinds": bytes(map(_KIND_CODE.__getitem__, map(field["kind"], es))),
        "modes": list(map(field["mode"], es)),
        "sizes": list(map(field["size"], es)),
        "mtimes": mtimes,
        "inodes": list(map(field["file_id"], es)),
        "ctimes": ctimes,
        "wide": wide,
        "has_digest": has_digest if any_digest else None,
        "digests": b"".join([d or _NO_DIGEST for d in map(field["digest"], es)]) if any_digest else None,
        "targets": targets,
        "chunks": chunks,
        "header": [os.fsencode(h.root), os.fsencode(h.host), h.scanned_ns, h.digests, h.hash,
                   dict(h.chunker) if h.chunker is not None else None, h.tool],
        "problems": [[os.fsencode(p.path), os.fsencode(p.message), os.fsencode(p.side), p.error]
                     for p in index.problems],
        "unreadable": [os.fsencode(p) for p in sorted(index.unreadable)],
        "temp_files": [os.fsencode(p) for p in index.temp_files],
        "root": [_KIND_CODE[root.kind], root.size, pack_time(root.mtime_ns), root.mode, root.file_id,
                 pack_time(root.ctime_ns),
                 None if root.attrs is None else [root.attrs.uid, root.attrs.gid, [list(x) for x in root.attrs.xattrs]]]
        if root is not None else None,
        "attrs": attrs_refs,
        "attrs_table": attrs_table,
        "hard_links": [[os.fsencode(a), os.fsencode(b)] for a, b in index.hard_links.items()],
    }
    packed: bytes = msgpack.packb(doc, use_bin_type=True)
    return packed


def unpack_index(data: bytes) -> Index:
    """The Index that :func:`pack_index` packed. Raises ``ValueError`` for anything else."""
    try:
        doc = msgpack.unpackb(data, raw=False, strict_map_key=True)
        return _unpack(doc)
    except (ValueError, KeyError, TypeError, IndexError, msgpack.UnpackException) as exc:
        raise ValueError(f"not a packed index: {exc}") from None


def _time(v: int | list[int]) -> int:
    """A time of a packed column: the int, or the ``[seconds, nanoseconds]`` of a wide one."""
    return v if type(v) is int else v[0] * NS + v[1]  # type: ignore[index]


def _column(doc: dict[str, Any], key: str, n: int) -> list[int]:
    col = doc[key]
    if type(col) is not list or len(col) != n:
        raise ValueError(f"column {key} does not have {n} values")
    return col


def _unpack(doc: dict[str, Any]) -> Index:
    n = doc["n"]
    paths = doc["paths"].decode("utf-8", "surrogateescape").split("\0") if n else []
    kinds = doc["kinds"]
    if len(paths) != n or len(kinds) != n:
        raise ValueError("paths or kinds do not match the count")
    modes = _column(doc, "modes", n)
    sizes = _column(doc, "sizes", n)
    mtimes = _column(doc, "mtimes", n)
    inodes = _column(doc, "inodes", n)
    ctimes = _column(doc, "ctimes", n)
    if doc["wide"]:
        mtimes, ctimes = list(map(_time, mtimes)), list(map(_time, ctimes))
    # Equal modes share one int object, as in a scan (a million entries are ~30 MB smaller).
    shared: dict[int, int] = {}
    modes_shared = map(shared.setdefault, modes, modes)
    # tuple.__new__ bound to Entry makes an Entry without running NamedTuple's Python-level __new__.
    make = partial(tuple.__new__, Entry)
    nones = repeat(None)
    attrs: Any = nones
    if doc["attrs"] is not None:
        # -1 (no attributes) picks the None at the end of the table.
        table: list[Attrs | None] = [Attrs(uid, gid, tuple((name, value) for name, value in xs))
                                     for uid, gid, xs in doc["attrs_table"]]
        table.append(None)
        attrs = map(table.__getitem__, _column(doc, "attrs", n))
    fields = zip(map(KINDS.__getitem__, kinds), sizes, mtimes, modes_shared, nones, nones, inodes, ctimes, nones,
                 attrs, nones, strict=False)  # ``nones`` is endless; the columns were checked to have n values each
    entries = dict(zip(paths, map(make, fields), strict=True))
    if doc["has_digest"] is not None:
        has, blob = doc["has_digest"], doc["digests"]
        if len(has) != n or len(blob) != n * DIGEST_SIZE:
            raise ValueError("digests do not match the count")
        for pos, p in enumerate(paths):
            if has[pos]:
                entries[p] = entries[p]._replace(digest=blob[pos * DIGEST_SIZE : (pos + 1) * DIGEST_SIZE])
    for pos, target in doc["targets"]:
        p = paths[pos]
        entries[p] = entries[p]._replace(target=os.fsdecode(target))
    for pos, pairs in doc["chunks"]:
        p = paths[pos]
        entries[p] = entries[p]._replace(chunks=tuple(Chunk(length, digest) for length, digest in pairs))
    if len(entries) != n:
        raise ValueError("duplicate paths")
    root_s, host, scanned_ns, has_digests, hash_name, chunker, tool = doc["header"]
    header = IndexHeader(root=os.fsdecode(root_s), host=os.fsdecode(host), scanned_ns=scanned_ns,
                         digests=has_digests, hash=hash_name, chunker=chunker, tool=tool)
    problems = tuple(Problem(os.fsdecode(p), os.fsdecode(m), os.fsdecode(s), e) for p, m, s, e in doc["problems"])
    r = doc["root"]
    root = Entry(KINDS[r[0]], r[1], _time(r[2]), r[3], file_id=r[4], ctime_ns=_time(r[5])) if r is not None else None
    if root is not None and len(r) > 6 and r[6] is not None:
        uid, gid, xs = r[6]
        root = root._replace(attrs=Attrs(uid, gid, tuple((name, value) for name, value in xs)))
    return Index(
        entries,
        header,
        problems=problems,
        unreadable=frozenset(os.fsdecode(p) for p in doc["unreadable"]),
        temp_files=tuple(os.fsdecode(p) for p in doc["temp_files"]),
        root=root,
        hard_links={os.fsdecode(a): os.fsdecode(b) for a, b in doc["hard_links"]},
        presorted=True,
    )
