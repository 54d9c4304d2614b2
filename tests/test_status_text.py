"""``syncline status``'s lines, as a person reads them."""

from __future__ import annotations

from syncline.cli.cmd_status import status_text


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
