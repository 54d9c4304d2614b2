"""Two-way sync with a server folder the user may only read (a read-only share), through the real remote
replica and server app: nothing is sent, and the folder-id marker, which only the owner's runs can write,
never stops the member's pair."""

from __future__ import annotations

from pathlib import Path

from syncline.engine.replicas.local import LocalReplica
from syncline.engine.replicas.remote import Credentials, RemoteReplica
from syncline.engine.replicas.replica import WritePolicy
from syncline.engine.twoway.run import sync_two_way_replicas

from .conftest import write
from .remotehelp import URL, Served, served


def _share(s: Served, name: str = "docs") -> None:
    anna, bob = s.owner("anna"), s.owner("bob")
    folder, _ = s.store.folders.create(anna, name)
    s.store.shares.offer(folder.id, anna, "bob", "ro")
    s.store.shares.accept(bob, folder.uid, None)


def _bob(s: Served, name: str = "docs") -> RemoteReplica:
    credentials = Credentials(URL, s.world.tokens["bob"], None, s.store.server_id)
    return RemoteReplica(URL, name, credentials, policy=WritePolicy.two_way(), state_dir=s.state, http=s.http)


def test_a_member_syncs_a_folder_its_owner_never_marked_and_adopts_the_owner_s_id_later(tmp_path: Path) -> None:
    with served(tmp_path) as s:
        _share(s)
        (tmp_path / "bob").mkdir()
        (tmp_path / "anna").mkdir()
        bob = LocalReplica(tmp_path / "bob", policy=WritePolicy.two_way())
        anna = LocalReplica(tmp_path / "anna", policy=WritePolicy.two_way())
        try:
            for _ in range(2):  # the server folder has no marker: each run goes on all the same
                report = sync_two_way_replicas(bob, _bob(s))
                assert not [p for p in report.problems if p.error], report.problems
            assert s.store.folder(s.store.folders.get(s.owner("anna"), "docs")).read_meta(  # type: ignore[arg-type]
                "folder-id") is None, "a read-only member writes no marker"
            write(tmp_path / "anna", "a.txt", "from anna", mtime=1_700_000_000)
            sync_two_way_replicas(anna, s.replica("docs", policy=WritePolicy.two_way()))  # anna marks it
            report = sync_two_way_replicas(bob, _bob(s))
            assert "given its folder id by its owner" in " ".join(report.notices), report.notices
            assert (tmp_path / "bob" / "a.txt").read_text() == "from anna"
            report = sync_two_way_replicas(bob, _bob(s))
            assert report.notices == [] and not report.problems
        finally:
            bob.close()
            anna.close()
