"""Hypothesis, in the spirit of the QuickCheck work on Dropbox: three replicas on real directories, random
writes of unique content, deletes, moves and mkdirs on random replicas, and two-way syncs between random
pairs of a star. At the end every pair is synced until idle. Then all replicas are identical, and every value ever
written is still there (as the file or as a conflict copy) unless a replica that held it overwrote or
deleted it (the only way a user can mean to lose a value).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

import syncline
from syncline.core.errors import SafetyStop
from syncline.core.paths import META_DIR

PATHS = ["a", "b", "a/x", "a/y", "b/x", "a/x/z", "c"]
REPLICAS = 3
# A star around replica 1 (laptop <-> server <-> desktop). Pairs must form a tree: in a cycle of pairs
# (0-1, 1-2, 2-0) each pair's base can tell a delete from a create only for itself, and a deleted file
# can bounce around the cycle forever, as with Unison (see docs/reconcile.md).
PAIRS = [(0, 1), (1, 2)]


def _files(root: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root:
            dirnames[:] = [d for d in dirnames if d != META_DIR]
        for name in filenames:
            p = Path(dirpath, name)
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


def _shape(root: Path) -> set[str]:
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root:
            dirnames[:] = [d for d in dirnames if d != META_DIR]
        for name in dirnames + filenames:
            out.add(str(Path(dirpath, name).relative_to(root)) + ("/" if name in dirnames else ""))
    return out


class TwoWayReplicas(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="syncline-model-"))
        self.roots = [self.tmp / f"r{i}" for i in range(REPLICAS)]
        for r in self.roots:
            r.mkdir()
        self.old_state = os.environ.get("SYNCLINE_STATE_DIR")
        os.environ["SYNCLINE_STATE_DIR"] = str(self.tmp / "state")
        self.counter = 0
        self.written: set[bytes] = set()
        self.superseded: set[bytes] = set()

    def _value(self) -> bytes:
        # Unique content of a unique size: the quick check (size and mtime) sees every write, even two
        # writes within one mtime tick.
        self.counter += 1
        return f"v{self.counter}:".encode() + b"x" * self.counter

    def _supersede(self, p: Path) -> None:
        if p.is_symlink() or p.is_file():
            self.superseded.add(p.read_bytes())
        elif p.is_dir():
            self.superseded.update(_files(p).values())

    @rule(r=st.integers(0, REPLICAS - 1), path=st.sampled_from(PATHS))
    def write(self, r: int, path: str) -> None:
        p = self.roots[r] / path
        if p.is_dir() or any(q.exists() and not q.is_dir() for q in p.parents if self.roots[r] in q.parents):
            return
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.exists():
            self._supersede(p)
        value = self._value()
        p.write_bytes(value)
        self.written.add(value)

    @rule(r=st.integers(0, REPLICAS - 1), path=st.sampled_from(PATHS))
    def delete(self, r: int, path: str) -> None:
        p = self.roots[r] / path
        if not p.exists():
            return
        self._supersede(p)
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()

    @rule(r=st.integers(0, REPLICAS - 1), src=st.sampled_from(PATHS), dst=st.sampled_from(PATHS))
    def move(self, r: int, src: str, dst: str) -> None:
        s, d = self.roots[r] / src, self.roots[r] / dst
        if not s.exists() or d.exists() or not d.parent.is_dir() or dst == src or dst.startswith(src + "/"):
            return
        os.rename(s, d)

    @rule(r=st.integers(0, REPLICAS - 1), path=st.sampled_from(PATHS))
    def mkdir(self, r: int, path: str) -> None:
        p = self.roots[r] / path
        if not p.exists() and p.parent.is_dir():
            p.mkdir()

    @rule(pair=st.sampled_from(PAIRS), flip=st.booleans())
    def sync(self, pair: tuple[int, int], flip: bool) -> None:
        i, j = (pair[1], pair[0]) if flip else pair
        self._sync(i, j)

    def _sync(self, i: int, j: int) -> bool:
        """Sync two replicas as a user would (past a stop for a side they emptied); True if it changed
        anything."""
        a, b = self.roots[i], self.roots[j]
        try:
            report = syncline.sync(a, b, two_way=True, max_delete=1.0)
        except SafetyStop as exc:
            assert "is empty" in str(exc), exc
            report = syncline.sync(a, b, two_way=True, max_delete=1.0, force=True)
        assert report.exit_code == 0, report.problems
        return report.plan is not None and not report.plan.empty

    def teardown(self) -> None:
        try:
            for _ in range(8):
                busy = [self._sync(i, j) for i, j in PAIRS]
                if not any(busy):
                    break
            else:
                raise AssertionError("the replicas did not converge in 8 rounds")
            shapes = [_shape(r) for r in self.roots]
            assert shapes[0] == shapes[1] == shapes[2]
            contents = [_files(r) for r in self.roots]
            assert contents[0] == contents[1] == contents[2]
            present = set(contents[0].values())
            lost = self.written - self.superseded - present
            assert not lost, f"values lost: {sorted(lost)}"
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
            if self.old_state is None:
                os.environ.pop("SYNCLINE_STATE_DIR", None)
            else:
                os.environ["SYNCLINE_STATE_DIR"] = self.old_state


TwoWayReplicas.TestCase.settings = settings(
    max_examples=int(os.environ.get("SYNCLINE_MODEL_EXAMPLES", "200")),
    stateful_step_count=14,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_two_way_replicas = TwoWayReplicas.TestCase
