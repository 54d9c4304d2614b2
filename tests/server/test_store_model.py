"""The expect rules of the server folder against the model replica: random steps (another hand's edits,
then the replica's commits, deletes, folders, moves, metadata with expects that are current, stale or
absent) on a ``ServerFolderReplica`` and a ``MemoryReplica`` side by side give the same outcomes, the same
tree and the same trash."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncline.core.entry import DIR, Entry
from syncline.core.ignore import Rules
from syncline.engine.replicas.replica import Replica, WritePolicy
from syncline.server.replica import ServerFolderReplica
from syncline.testing import MemoryReplica
from syncline.testing.trees import MemoryTree, Tree

from .storetree import ServerTree, make_store

NAMES = ["a", "b", "d/x", "d/y", "e"]
T0 = 1_700_000_000_000_000_000
STEP = st.tuples(st.sampled_from(["edit", "commit", "delete", "mkdir", "move", "meta"]),
                 st.sampled_from(NAMES), st.sampled_from(NAMES), st.sampled_from(["seen", "stale", "none"]),
                 st.integers(0, 3))


def snapshot(replica: Replica, tree: Tree) -> tuple[dict[str, object], list[tuple[str, bytes]]]:
    index = replica.scan(Rules(), False, "destination")
    seen: dict[str, object] = {}
    for path, e in index.items():
        if e.kind == DIR:
            seen[path] = "dir"
        else:
            seen[path] = (e.kind, tree.read(path) if e.kind == "file" else e.target, e.mtime_ns)
    return seen, sorted(tree.trashed())


def run(steps: list[tuple[str, str, str, str, int]], server: tuple[Replica, Tree],
        memory: tuple[Replica, Tree]) -> None:
    stale: dict[int, dict[str, Entry | None]] = {0: {}, 1: {}}
    for side in (0, 1):
        replica, tree = (server, memory)[side]
        tree.write("a", b"first a", T0)
        tree.write("d/x", b"first x", T0)
        stale[side] = {p: replica.stat(p) for p in NAMES}
    for n, (what, path, other, expect_kind, k) in enumerate(steps):
        outcomes = []
        for side in (0, 1):
            replica, tree = (server, memory)[side]
            try:
                current = replica.stat(path)
            except NotADirectoryError:
                outcomes.append("not a dir")
                continue
            expect = current if expect_kind == "seen" else stale[side][path] if expect_kind == "stale" else None
            try:
                if what == "edit":  # another hand; the next stale view is taken before it
                    stale[side] = {p: _stat(replica, p) for p in NAMES}
                    tree.write(path, b"edit %d %d" % (n, k), T0 + n)
                    outcomes.append("edited")
                elif what == "commit":
                    tree.write(".source", b"ours %d %d" % (n, k), T0 + 10 * n)
                    with replica.open_file(".source") as source:
                        staged = replica.stage_file(path, source)
                    tree.remove(".source")
                    outcomes.append(replica.commit(staged, expect).done)
                elif what == "delete" and expect is not None:
                    outcomes.append(replica.delete(path, expect).done)
                elif what == "mkdir":
                    outcomes.append(replica.make_dir(path, Entry(DIR, 0, T0, 0o755), expect).done)
                elif what == "move" and expect is not None and replica.move(path, other, expect).done:  # type: ignore[attr-defined]
                    outcomes.append(True)
                elif what == "meta" and current is not None:
                    outcomes.append(replica.set_meta(path, current._replace(mtime_ns=T0 + k), expect).done)
                else:
                    outcomes.append(None)
            except OSError as exc:
                outcomes.append(f"error {exc.errno}")
        assert outcomes[0] == outcomes[1], (n, what, path, other, expect_kind, outcomes)
        assert snapshot(*server)[0].keys() == snapshot(*memory)[0].keys(), (n, what, path)
    s, m = snapshot(*server), snapshot(*memory)
    files = {p: v for p, v in s[0].items() if v != "dir"}
    assert files == {p: v for p, v in m[0].items() if v != "dir"}
    assert s[1] == m[1], "the same versions in the trash"


def _stat(replica: Replica, path: str) -> Entry | None:
    try:
        return replica.stat(path)
    except NotADirectoryError:
        return None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=1, max_size=12), trash=st.booleans(), keep_changed=st.booleans())
def test_the_server_folder_keeps_the_rules_of_the_model(tmp_path_factory: object, steps: list[
        tuple[str, str, str, str, int]], trash: bool, keep_changed: bool) -> None:
    policy = WritePolicy(trash=trash, keep_changed=keep_changed)
    base: Path = tmp_path_factory.mktemp("model")  # type: ignore[attr-defined]
    store, owner = make_store(base / "data")
    try:
        store.folders.create(owner, "Docs")
        server = ServerFolderReplica(store, owner, "Docs", "Dsync", policy=policy)
        memory = MemoryReplica(policy=policy)
        run(steps, (server, ServerTree(store, owner, "Docs")), (memory, MemoryTree(memory)))
    finally:
        store.close()

