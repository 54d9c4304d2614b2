"""``syncline status``'s lines, as a person reads them, and the status the daemon folds from its events."""

from __future__ import annotations

from syncline.cli.cmd_status import status_text
from syncline.services.daemon.events import FolderItemFailed, FolderOffline, FolderStarted, FolderSynced
from syncline.services.daemon.status import DaemonStatus, FolderStatus, vars_of
from syncline.services.watch.events import Event


def _folder(**kw: object) -> dict[str, object]:
    return {"local": "/home/anna/Documents", "remote": "Documents", "state": "in sync", "conflicts": 0, **kw}


def test_counts_are_worded_for_one_and_for_many() -> None:
    lines = status_text({"pid": 7, "config": "daemon.toml", "folders": [
        _folder(conflicts=1), _folder(conflicts=3),
        _folder(state="syncing", files=1, bytes=2048, eta_s=None), _folder(state="syncing", files=12, bytes=0)]})
    assert lines[1].endswith("Documents: in sync, 1 conflict")
    assert lines[2].endswith("Documents: in sync, 3 conflicts")
    assert lines[3].endswith("Documents: syncing 1 file, 2.0 kB")
    assert lines[4].endswith("Documents: syncing 12 files, 0 B")


def _folded(*events: Event) -> FolderStatus:
    status = DaemonStatus("daemon.toml")
    for e in (FolderStarted("Documents", source="/d"), *events):
        status(e)
    return status.folders["/d"]


def _synced(full: bool = False, errors: int = 0) -> FolderSynced:
    return FolderSynced(full, 0, 0, errors, 0.1, source="/d")


def _failed(path: str, retried: bool = True) -> FolderItemFailed:
    return FolderItemFailed(path, "b: over quota", retried, source="/d")


def test_items_not_synced_are_listed_until_a_run_takes_them() -> None:
    listed = _folded(_failed("big.bin"), _synced(errors=1))
    assert [(f.path, f.retried) for f in listed.not_synced] == [("big.bin", True)]
    assert vars_of(listed)["not_synced"] == [{"path": "big.bin", "why": "b: over quota", "retried": True}]
    # A retried item is in the next run: a run that ends without it took it.
    assert _folded(_failed("big.bin"), _synced(errors=1), _synced()).not_synced == ()
    # One not retried waits for a change of it: a scoped run over other folders keeps it, a full run decides.
    kept = _folded(_failed("bad:name", retried=False), _synced(errors=1), _synced())
    assert [f.path for f in kept.not_synced] == ["bad:name"]
    assert _folded(_failed("bad:name", retried=False), _synced(errors=1), _synced(full=True)).not_synced == ()
    # A scoped run that looked at it (its folder deep, or its folder shallow naming it) and did not fail it
    # again took it; one over a sibling folder, or naming other children, did not.
    for scope, gone in (((("", True, None),), True), ((("sub", True, None),), True), ((("sub", False, None),), True),
                        ((("sub", False, ("x.txt",)),), True), ((("sub", False, ("y.txt",)),), False),
                        ((("other", True, None),), False), ((("su", True, None),), False)):
        held = _folded(_failed("sub/x.txt", retried=False), _synced(errors=1),
                       FolderSynced(False, 0, 0, 0, 0.1, scope, source="/d"))
        assert (held.not_synced == ()) is gone, scope
    # A run that failed as a whole (offline) leaves the list as it was; its partial failures are not kept.
    after = _folded(_failed("big.bin"), _synced(errors=1), _failed("other"), FolderOffline("gone", 1.0, source="/d"))
    assert [f.path for f in after.not_synced] == ["big.bin"]


def test_status_lines_show_what_is_not_synced() -> None:
    held = [{"path": f"f{i}", "why": "b: over quota", "retried": True} for i in range(7)]
    lines = status_text({"pid": 7, "config": "daemon.toml", "folders": [_folder(not_synced=held)]})
    assert lines[2] == "    not synced, kept here: f0: b: over quota"
    assert lines[-1] == "    and 2 more items not synced (`syncline status --json` lists them)"
    assert len(lines) == 2 + 5 + 1
