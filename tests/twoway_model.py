"""An in-memory model of two replicas, to run a :class:`Reconciled` plan without I/O in planner tests.

Each replica is a dict path -> Entry. Every action is checked against what it expects to find, as the
real executor does; a mismatch is collected in ``errors`` (a planner bug in these tests).
"""

from __future__ import annotations

from syncline.core.entry import DIR, Entry
from syncline.core.index import Index
from syncline.core.reconcile import Base, BaseEntry, Reconciled

Tree = dict[str, Entry]


def index_of(tree: Tree) -> Index:
    return Index(dict(tree))


def _same(x: Entry | None, y: Entry | None) -> bool:
    if x is None or y is None:
        return x is y
    return (x.kind, x.size, x.mtime_ns, x.target) == (y.kind, y.size, y.mtime_ns, y.target)


def apply(r: Reconciled, a: Tree, b: Tree, base: dict[str, BaseEntry] | None = None) -> list[str]:
    """Carry out ``r`` on the two trees (and the base, when given); returns the expectation errors."""
    errors: list[str] = []
    sides = {"a": a, "b": b}
    for m in r.moves:
        tree = sides[m.side]
        if not _same(tree.get(m.src), m.expect) or m.dst in tree:
            errors.append(f"move {m.side}:{m.src}->{m.dst}: found {tree.get(m.src)}")
            continue
        prefix = m.src + "/"
        for k in [k for k in tree if k == m.src or k.startswith(prefix)]:
            tree[m.dst + k[len(m.src):]] = tree.pop(k)
        if base is not None:
            for k in [k for k in base if k == m.src or k.startswith(prefix)]:
                del base[k]
            base.update(m.base_rows)
    for name, plan in (("b", r.to_b), ("a", r.to_a)):
        tree = sides[name]
        for act in plan.actions:
            cur = tree.get(act.path)
            if act.op == "meta":
                if act.entry is not None and act.entry.kind == DIR:
                    if cur is None or cur.kind != DIR:
                        errors.append(f"{name}: meta of missing dir {act.path}")
                        continue
                elif not _same(cur, act.expect):
                    errors.append(f"{name}: meta {act.path}: expected {act.expect}, found {cur}")
                    continue
                assert act.entry is not None
                tree[act.path] = act.entry
                continue
            if act.op == "mkdir" and cur is not None and cur.kind == DIR:
                continue
            if not _same(cur, act.expect):
                errors.append(f"{name}: {act.op} {act.path}: expected {act.expect}, found {cur}")
                continue
            if act.op == "delete":
                if cur is not None and cur.kind == DIR and any(k.startswith(act.path + "/") for k in tree):
                    errors.append(f"{name}: delete of non-empty dir {act.path}")
                    continue
                tree.pop(act.path, None)
            else:
                assert act.entry is not None
                par = act.path.rpartition("/")[0]
                if par and (par not in tree or tree[par].kind != DIR):
                    errors.append(f"{name}: {act.op} {act.path} without its parent directory")
                    continue
                tree[act.path] = act.entry
    if base is not None:
        for p, row in list(r.final.items()) + list(r.adopt.items()):
            if row is None:
                base.pop(p, None)
            else:
                base[p] = row
    return errors


def base_of(tree: Tree) -> Base:
    return {p: BaseEntry(e, e.file_id, e.file_id) for p, e in tree.items()}
