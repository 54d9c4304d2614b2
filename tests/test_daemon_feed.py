"""``feed.changed_folders``: what a server's change feed tells becomes the folders of the next run, each
narrowed to the children that changed."""

from __future__ import annotations

from syncline.services.daemon.feed import Change, ChangeBatch, changed_folders


def _batch(*changes: tuple[str, str, str | None, str]) -> ChangeBatch:
    return ChangeBatch(len(changes), tuple(Change(i + 1, *c) for i, c in enumerate(changes)))


def test_each_change_names_its_child_of_its_parent_folder() -> None:
    folders, names = changed_folders(_batch(("put", "docs/a.txt", None, "desk"), ("delete", "docs/b.txt", None, "desk"),
                                            ("put", "top.txt", None, "desk")), "laptop")
    assert sorted(set(folders)) == [("", False), ("docs", False)]
    assert names == {"docs": {"a.txt", "b.txt"}, "": {"top.txt"}}


def test_a_made_or_moved_folder_is_taken_whole_and_a_move_names_both_ends() -> None:
    folders, names = changed_folders(_batch(("mkdir", "new", None, "desk"),
                                            ("move", "to/there", "from/here", "desk")), "laptop")
    assert set(folders) == {("", False), ("new", True), ("to", False), ("from", False), ("to/there", True)}
    assert names == {"": {"new"}, "to": {"there"}, "from": {"here"}}


def test_this_devices_own_changes_are_left_out() -> None:
    assert changed_folders(_batch(("put", "mine.txt", None, "laptop")), "laptop") == ([], {})
