"""The settings UI's saves of the daemon's config (``services/daemon/configedit.py``): each edit changes
only its own lines of a heavily commented file; a stale ``base_sha``, a bad key or value, a hostile value
and a concurrent saver never leave a clobbered or broken file; random edit sequences stay equal to the
same edits applied to plain data."""

from __future__ import annotations

import contextlib
import copy
import difflib
import errno
import fcntl
import os
import signal
import tempfile
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncline.core.errors import BusyError, UsageError
from syncline.services.config import load_daemon_config
from syncline.services.daemon import configfile, read_status
from syncline.services.daemon.configedit import (
    EDITABLE,
    AddFolder,
    Edit,
    RemoveFolder,
    SetFolderValue,
    SetValue,
    edits_from_json,
    read_for_edit,
    save_edits,
)
from syncline.services.daemon.configfile import ConfigChanged, sha256

from .test_daemon_process import _daemon
from .test_daemon_run import DEADLINE, wait_for

HEAVY = """\
# syncline daemon settings, kept by hand
# (two lines of header)

lock_makes_readonly = false   # top-level: before any table

[server]
url = "https://nas.local:8765"   # the NAS in the hall

[defaults]
# how often a full run happens
check_every = "2h"  # enough for us
exclude = [
    "*.tmp",   # editor files
    ".cache/",
]
# closing note of defaults

# the documents, most precious
[[folder]]
local = "/srv/docs"     # on the big disk
remote = "Documents"
# trailing note of docs

# pictures: many and big
[[folder]]
local = "/srv/pics"
remote = "Pictures"
paused = false
max_delete = 10

  # an indented note at the very end
"""


def _write(tmp_path: Path, text: str = HEAVY) -> Path:
    path = tmp_path / "daemon.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _save(path: Path, *edits: Edit) -> str:
    return save_edits(path, read_for_edit(path).base_sha, list(edits))


def _replaced(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


# Each edit, and the one change of the text it must make (old fragment -> new fragment); every other line
# of HEAVY stays as it was.
GOLDEN: list[tuple[str, list[Edit], str, str]] = [
    ("replace a value, inline comment kept", [SetValue("defaults", "check_every", "30m")],
     'check_every = "2h"  # enough for us\n', 'check_every = "30m"  # enough for us\n'),
    ("new key after the table's last key, before its closing note", [SetValue("defaults", "trash", False)],
     '    ".cache/",\n]\n# closing note', '    ".cache/",\n]\ntrash = false\n# closing note'),
    ("replace a multi-line list", [SetValue("defaults", "exclude", ["*.bak"])],
     'exclude = [\n    "*.tmp",   # editor files\n    ".cache/",\n]\n', 'exclude = ["*.bak"]\n'),
    ("remove a key", [SetValue("defaults", "check_every", None)], 'check_every = "2h"  # enough for us\n', ""),
    ("top-level key", [SetValue("", "lock_makes_readonly", True)],
     "lock_makes_readonly = false   #", "lock_makes_readonly = true   #"),
    ("server url", [SetValue("server", "url", "https://other:1")],
     'url = "https://nas.local:8765"   #', 'url = "https://other:1"   #'),
    ("a new table goes before the folders and their comments", [SetValue("shares", "accept", "auto")],
     "# closing note of defaults\n\n", '# closing note of defaults\n\n[shares]\naccept = "auto"\n\n'),
    ("pause a folder: a new key in it", [SetFolderValue("/srv/docs", "paused", True)],
     'remote = "Documents"\n', 'remote = "Documents"\npaused = true\n'),
    ("resume a folder: a value replaced", [SetFolderValue("/srv/pics/", "paused", True)],
     "paused = false\n", "paused = true\n"),
    ("a folder's excludes", [SetFolderValue("/srv/pics", "exclude", ["raw/", "*.xmp"])],
     "max_delete = 10\n", 'max_delete = 10\nexclude = ["raw/", "*.xmp"]\n'),
    ("a folder's key removed", [SetFolderValue("/srv/pics", "max_delete", None)], "max_delete = 10\n", ""),
    ("add a folder at the end", [AddFolder("/srv/music", "Music", {"paused": True, "exclude": ["*.m3u"]})],
     "  # an indented note at the very end\n",
     '  # an indented note at the very end\n\n[[folder]]\nlocal = "/srv/music"\nremote = "Music"\n'
     'paused = true\nexclude = ["*.m3u"]\n'),
    ("remove the first folder with its own comment, the next one's comment stays", [RemoveFolder("/srv/docs")],
     '# the documents, most precious\n[[folder]]\nlocal = "/srv/docs"     # on the big disk\n'
     'remote = "Documents"\n# trailing note of docs\n\n', ""),
    ("remove the last folder", [RemoveFolder("/srv/pics")],
     '# pictures: many and big\n[[folder]]\nlocal = "/srv/pics"\nremote = "Pictures"\npaused = false\n'
     "max_delete = 10\n\n", ""),
]


@pytest.mark.parametrize(("edits", "old", "new"), [g[1:] for g in GOLDEN], ids=[g[0] for g in GOLDEN])
def test_each_edit_changes_only_its_own_lines(tmp_path: Path, edits: list[Edit], old: str, new: str) -> None:
    path = _write(tmp_path)
    written = save_edits(path, sha256(HEAVY.encode()), edits)
    want = _replaced(HEAVY, old, new)
    diff = "".join(difflib.unified_diff(want.splitlines(True), written.splitlines(True), "want", "written", n=1))
    assert written == want, diff
    assert path.read_text(encoding="utf-8") == written
    load_daemon_config(path)


@pytest.mark.parametrize(("text", "want"), [
    # A comment right under the table above (no blank line) may be that table's: it stays.
    ('[defaults]\ntrash = true\n# exclude = ["x"]\n[[folder]]\nlocal = "/a"\nremote = "A"\n',
     '[defaults]\ntrash = true\n# exclude = ["x"]\n'),
    # A note at the end, set apart, stays even when a folder was appended after it.
    ('[[folder]]\nlocal = "/a"\nremote = "A"\n\n# the end\n\n[[folder]]\nlocal = "/b"\nremote = "B"\n',
     '# the end\n\n[[folder]]\nlocal = "/b"\nremote = "B"\n'),
    # The file's own header comment, right above the first folder, stays.
    ('# my config\n[[folder]]\nlocal = "/a"\nremote = "A"\n# about a\n', "# my config\n"),
])
def test_removing_a_folder_takes_only_its_own_comments(tmp_path: Path, text: str, want: str) -> None:
    path = _write(tmp_path, text)
    assert _save(path, RemoveFolder("/a")) == want


def test_a_file_with_crlf_line_ends_keeps_them(tmp_path: Path) -> None:
    path = tmp_path / "daemon.toml"
    path.write_bytes(HEAVY.replace("\n", "\r\n").encode())
    _save(path, SetValue("defaults", "trash", False), AddFolder("/srv/x", "X"), SetValue("shares", "dir", "/s"))
    raw = path.read_bytes()
    assert raw.count(b"\n") == raw.count(b"\r\n") and b'trash = false\r\n' in raw
    assert raw.endswith(b'[[folder]]\r\nlocal = "/srv/x"\r\nremote = "X"\r\n')


def test_add_then_remove_gives_back_the_same_text(tmp_path: Path) -> None:
    for text in (HEAVY, "", "[defaults]\ntrash = true", "[defaults]\ntrash = true\n\n\n"):
        path = _write(tmp_path, text)
        _save(path, AddFolder("/srv/x", "X", {"paused": True}))
        assert _save(path, RemoveFolder("/srv/x")).rstrip("\n") == text.rstrip("\n")


def test_edits_in_one_save_apply_in_order(tmp_path: Path) -> None:
    path = _write(tmp_path)
    written = _save(path, AddFolder("~/Music", "Music"), SetFolderValue("~/Music", "check_every", "1d"),
                    RemoveFolder("/srv/docs"), SetFolderValue("/srv/pics", "paused", True),
                    SetValue("defaults", "max_delete", "10%"))
    folders = load_daemon_config(path).folders
    assert [(f.remote, f.paused) for f in folders] == [("Pictures", True), ("Music", False)]
    assert folders[1].local == str(Path.home() / "Music") and folders[1].check_every == 86400
    assert written.startswith(HEAVY[:HEAVY.index("[defaults]")])
    assert ']\nmax_delete = "10%"\n# closing note of defaults\n\n# pictures: many and big\n' in written
    assert "# pictures: many and big\n" in written and "  # an indented note at the very end\n" in written


def test_a_stale_base_is_refused_and_the_hand_edit_kept(tmp_path: Path) -> None:
    path = _write(tmp_path)
    loaded = read_for_edit(path)
    hand = HEAVY.replace('"2h"', '"3h"')
    path.write_text(hand, encoding="utf-8")
    with pytest.raises(ConfigChanged, match="changed since it was read") as caught:
        save_edits(path, loaded.base_sha, [SetValue("defaults", "trash", False)])
    assert "\n" not in str(caught.value)
    assert path.read_text(encoding="utf-8") == hand
    with pytest.raises(ConfigChanged):
        save_edits(tmp_path / "missing.toml", loaded.base_sha, [SetValue("defaults", "trash", False)])
    assert not (tmp_path / "missing.toml").exists()


def test_a_change_between_the_check_and_the_write_is_refused(tmp_path: Path) -> None:
    """The compare-and-swap under the lock: a file changed after the edits were made from it."""
    path = _write(tmp_path)
    new = _replaced(HEAVY, "paused = false", "paused = true")
    expected = tomllib.loads(new)
    path.write_text(HEAVY + "# a hand edit\n", encoding="utf-8")
    with pytest.raises(ConfigChanged):
        configfile.write_checked(str(path), new, expected, HEAVY.encode())
    assert path.read_text(encoding="utf-8") == HEAVY + "# a hand edit\n"


def test_a_text_that_would_not_read_back_as_asked_is_refused_naming_the_key(tmp_path: Path) -> None:
    path = _write(tmp_path)
    expected = tomllib.loads(HEAVY)
    expected["folder"][1]["paused"] = True
    with pytest.raises(UsageError, match=r"folder\[2\]\.paused would not read back as asked"):
        configfile.write_checked(str(path), HEAVY, expected, HEAVY.encode())
    with pytest.raises(UsageError, match="the file would not read back"):
        configfile.write_checked(str(path), "[x", expected, HEAVY.encode())
    assert path.read_text(encoding="utf-8") == HEAVY


def test_two_savers_from_one_version_one_wins_the_other_is_told(tmp_path: Path) -> None:
    path = _write(tmp_path)
    base = read_for_edit(path).base_sha
    start = threading.Barrier(2)
    outcomes: dict[str, str | Exception] = {}

    def saver(who: str, edit: Edit) -> None:
        start.wait()
        try:
            outcomes[who] = save_edits(path, base, [edit])
        except ConfigChanged as exc:
            outcomes[who] = exc

    threads = [threading.Thread(target=saver, args=("a", SetValue("defaults", "trash", False))),
               threading.Thread(target=saver, args=("b", SetFolderValue("/srv/docs", "paused", True)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    won = [text for text in outcomes.values() if isinstance(text, str)]
    assert len(outcomes) == 2 and len(won) == 1
    assert path.read_text(encoding="utf-8") == won[0]


def test_a_save_waits_for_the_lock_then_gives_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path)
    monkeypatch.setattr(configfile, "LOCK_WAIT", 0.2)
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(BusyError, match="still under way"):
            _save(path, SetValue("defaults", "trash", False))
    finally:
        os.close(fd)
    assert path.read_text(encoding="utf-8") == HEAVY
    _save(path, SetValue("defaults", "trash", False))
    assert "trash = false" in path.read_text(encoding="utf-8")


@pytest.mark.parametrize(("edit", "says"), [
    (SetValue("defaults", "check_every", "soon"), "check_every in defaults must be a duration"),
    (SetValue("defaults", "max_delete", "lots"), "max_delete in defaults must be"),
    (SetValue("defaults", "compare", "smell"), "compare in defaults must be mtime, size or hash"),
    (SetValue("shares", "accept", "always"), "accept in shares"),
    (SetValue("shares", "dir", "relative/dir"), "dir in shares must be an absolute"),
    (SetValue("server", "url", "nas.local"), "url in server must be an address"),
    (SetValue("defaults", "trash", "yes"), "trash in defaults must be true or false"),
    (SetValue("defaults", "exclude", "*.tmp"), "exclude in defaults must be a list of strings"),
    (SetValue("defaults", "exclude", [1, 2]), "exclude in defaults must be a list of strings"),
    (SetValue("defaults", "check_every", float("inf")), "check_every in defaults must be a duration"),
    (SetValue("defaults", "max_delete", 2**63), "max_delete in defaults must be"),
    (SetValue("server", "url", "https://x\ud800"), "url in server must be a string"),
    (SetValue("server", "url", "https://" + "x" * 5000), "url in server must be a string"),
    (SetValue("defaults", "delete", True), "'delete' is not a key of defaults"),
    (SetValue("defaults", 'x = 1\n[evil]\ny', 1), "is not a key of defaults"),
    (SetValue("server]\n[evil", "url", "https://x"), "is not a table the settings edit"),
    (SetValue("folder", "paused", True), "a folder's key is set on that folder"),
    (SetFolderValue("/srv/docs", "local", "/elsewhere"), "'local' is not a key of folder 1"),
    (SetFolderValue("/srv/docs", "paused", "yes"), "paused in folder 1 must be true or false"),
    (SetFolderValue("/srv/nowhere", "paused", True), "has no folder /srv/nowhere"),
    (SetFolderValue("/srv/pics", "check_every", -5), "check_every in folder 2 must be a duration"),
    (AddFolder("/srv/docs/inner", "Inner"), "folder 3 (/srv/docs/inner) is the same as or nested in /srv/docs"),
    (AddFolder("relative/dir", "R"), "local in folder 3 must be an absolute folder path"),
    (AddFolder("/srv/new", " "), "remote in folder 3 must be a folder name"),
    (AddFolder("/srv/new", "New", {"force": True}), "'force' is not a key of folder 3"),
    (AddFolder("/srv/new", "New", {"max_delete": "lots"}), "max_delete in folder 3 must be"),
    (RemoveFolder("/srv"), "has no folder /srv"),
])
def test_a_bad_edit_is_one_line_and_writes_nothing(tmp_path: Path, edit: Edit, says: str) -> None:
    path = _write(tmp_path)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    with pytest.raises(UsageError) as caught:
        _save(path, SetValue("defaults", "trash", False), edit)
    line = str(caught.value)
    assert "\n" not in line and says in line and str(path) in line
    assert path.read_text(encoding="utf-8") == HEAVY and path.stat().st_mtime_ns == 1_000_000_000
    assert [p.name for p in tmp_path.iterdir()] == ["daemon.toml"]  # no temp file left


HOSTILE = ['/srv/a"b', "/srv/new\nline", "/srv/]]x", "/srv/[[folder]]", "/srv/#not a comment", "/srv/back\\slash",
           "/srv/tab\tand\x7fdel", "/srv/é and 日本", "/srv/'single'", '/srv/"""triple"""', "/srv/\u2028sep"]


def test_hostile_values_are_written_as_strings_and_read_back_the_same(tmp_path: Path) -> None:
    path = _write(tmp_path)
    edits: list[Edit] = [AddFolder(local, f"R{n} = 1\n[[folder]]\nlocal='/'", {"exclude": [local, "]]\n[x]"]})
                         for n, local in enumerate(HOSTILE)]
    edits.append(SetValue("server", "url", 'https://x/"\n[evil]\nkey = "v'))
    edits.append(SetValue("defaults", "include", ["# no comment", "a = b", "\\", '"']))
    _save(path, *edits)
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    assert set(doc) == {"lock_makes_readonly", "server", "defaults", "folder"}
    assert doc["server"] == {"url": 'https://x/"\n[evil]\nkey = "v'}
    assert doc["defaults"]["include"] == ["# no comment", "a = b", "\\", '"']
    added = doc["folder"][2:]
    assert [t["local"] for t in added] == HOSTILE
    assert [t["remote"] for t in added] == [f"R{n} = 1\n[[folder]]\nlocal='/'" for n in range(len(HOSTILE))]
    assert all(t["exclude"] == [t["local"], "]]\n[x]"] for t in added)
    assert [f.local for f in load_daemon_config(path).folders][2:] == [os.path.normpath(x) for x in HOSTILE]
    for local in HOSTILE:  # each one found again by the path users see
        _save(path, RemoveFolder(local))
    assert len(load_daemon_config(path).folders) == 2


@pytest.mark.parametrize("fails", ["mkstemp", "replace"])
def test_a_failed_write_is_one_line_and_leaves_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        fails: str) -> None:
    path = _write(tmp_path)

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    target = configfile.tempfile if fails == "mkstemp" else configfile.os
    monkeypatch.setattr(target, fails, full)
    with pytest.raises(UsageError) as caught:
        _save(path, SetValue("defaults", "trash", False))
    assert str(caught.value).startswith(f"cannot write {path}: No space left on device (")
    monkeypatch.undo()
    assert path.read_text(encoding="utf-8") == HEAVY
    assert [p.name for p in tmp_path.iterdir()] == ["daemon.toml"]


def test_the_file_keeps_its_mode_and_a_symlink_stays_a_link(tmp_path: Path) -> None:
    real = _write(tmp_path)
    real.chmod(0o640)
    link = tmp_path / "link.toml"
    link.symlink_to(real)
    _save(link, SetValue("defaults", "trash", False))
    assert link.is_symlink() and real.stat().st_mode & 0o777 == 0o640
    assert "trash = false" in real.read_text(encoding="utf-8")


def test_a_new_file_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "daemon.toml"
    loaded = read_for_edit(path)
    assert loaded == (("", sha256(b""), {}, None))
    save_edits(path, loaded.base_sha, [SetValue("shares", "accept", "auto"), AddFolder("/srv/x", "X")])
    assert path.stat().st_mode & 0o777 == 0o600
    want = '[shares]\naccept = "auto"\n\n[[folder]]\nlocal = "/srv/x"\nremote = "X"\n'
    assert path.read_text(encoding="utf-8") == want


def test_read_for_edit(tmp_path: Path) -> None:
    path = _write(tmp_path)
    loaded = read_for_edit(path)
    assert loaded.text == HEAVY and loaded.base_sha == sha256(path.read_bytes()) and loaded.problem is None
    assert loaded.document == tomllib.loads(HEAVY)
    path.write_text("when = 2026-12-07T10:00:00Z\n[defaults]\ncheck_every = 'never'\n", encoding="utf-8")
    broken = read_for_edit(path)
    assert broken.document == {"when": "2026-12-07T10:00:00+00:00", "defaults": {"check_every": "never"}}
    assert broken.problem is not None and "unknown table or key 'when'" in broken.problem
    with pytest.raises(UsageError) as caught:  # a save must make a file that loads: the problem is said
        save_edits(path, broken.base_sha, [SetValue("defaults", "check_every", "1h")])
    assert "'when'" in str(caught.value)
    path.write_text("[defaults\n", encoding="utf-8")
    with pytest.raises(UsageError, match="cannot read"):
        read_for_edit(path)
    path.write_bytes(b"# \xff\n")
    with pytest.raises(UsageError, match="not UTF-8"):
        read_for_edit(path)


@pytest.mark.parametrize(("table", "text"), [
    ("defaults", "[defaults]\nzz = 1\n"),
    ("folder", '[[folder]]\nlocal = "/a"\nremote = "A"\nzz = 1\n'),
    ("shares", "[shares]\nzz = 1\n"),
    ("server", "[server]\nzz = 1\n"),
])
def test_every_key_the_daemon_reads_is_editable(tmp_path: Path, table: str, text: str) -> None:
    """A key the daemon's loader learns is added to EDITABLE too (one entry there): the loader's own list
    of known keys, as its error names them, is compared with it."""
    with pytest.raises(UsageError) as caught:
        load_daemon_config(_write(tmp_path, text))
    known = set(caught.value.hint.split(": ", 1)[1].split(", "))
    assert set(EDITABLE[table]) == known - {"local", "remote"}


def test_edits_from_json() -> None:
    assert edits_from_json([
        {"op": "set", "table": "defaults", "key": "check_every", "value": "1h"},
        {"op": "set", "table": "", "key": "lock_makes_readonly", "value": None},
        {"op": "set", "folder": "/srv/docs", "key": "paused", "value": True},
        {"op": "add_folder", "local": "/srv/x", "remote": "X", "settings": {"exclude": ["a"]}},
        {"op": "add_folder", "local": "/srv/y", "remote": "Y"},
        {"op": "remove_folder", "local": "/srv/x"},
    ]) == [SetValue("defaults", "check_every", "1h"), SetValue("", "lock_makes_readonly", None),
           SetFolderValue("/srv/docs", "paused", True), AddFolder("/srv/x", "X", {"exclude": ["a"]}),
           AddFolder("/srv/y", "Y"), RemoveFolder("/srv/x")]
    for bad, says in [
        ({"op": "set"}, "must be a list"),
        ([1], "edit 1 is not an object with an op"),
        ([{"op": "drop"}], "edit 1 is not an object"),
        ([{"op": "set", "key": "k", "value": 1}], "edit 1 (set) has the wrong fields"),
        ([{"op": "set", "table": "t", "folder": "/f", "key": "k", "value": 1}], "wrong fields"),
        ([{"op": "remove_folder", "local": "/x", "extra": 1}], "wrong fields"),
        ([{"op": "remove_folder", "local": ["/x"]}], "names must be strings"),
        ([{"op": "set", "table": "defaults", "key": 3, "value": 1}], "names must be strings"),
        ([{"op": "add_folder", "local": "/x", "remote": "X", "settings": []}], "settings must be an object"),
        ([{"op": "remove_folder", "local": "/x"}] * 201, "must be a list"),
    ]:
        with pytest.raises(UsageError) as caught:
            edits_from_json(bad)
        assert says in str(caught.value) and "\n" not in str(caught.value)


# ---------------------------------------------------------------------------------------- random sequences

_NAMES = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="/\x00"), min_size=1,
                 max_size=8).filter(lambda name: name not in (".", ".."))
_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "check_every": st.sampled_from(["1h", "30m", 90, 2.5, "1d"]),
    "max_delete": st.sampled_from([5, "10%", 0]),
    "max_upload_rate": st.sampled_from(["2MB/s", 500, 0, "1.5MiB/s"]),
    "max_download_rate": st.sampled_from(["500KB/s", 1.5, "0"]),
    "compare": st.sampled_from(["mtime", "size", "hash"]),
    "trash": st.booleans(), "ignore_files": st.booleans(), "paused": st.booleans(),
    "exclude": st.lists(st.text(max_size=6), max_size=3), "include": st.lists(st.text(max_size=6), max_size=3),
}


@st.composite
def _edit(draw: st.DrawFn) -> tuple[str, Any, Any]:
    """An edit as (kind, target, value): kept abstract so the folder it names is picked from the model."""
    kind = draw(st.sampled_from(["set", "set_folder", "add", "remove", "bad"]))
    if kind in ("set", "set_folder"):
        table = "defaults" if kind == "set" else "folder"
        key = draw(st.sampled_from(sorted(k for k in EDITABLE[table] if k in _VALUES)))
        value = draw(st.none() | _VALUES[key])
        return kind, (draw(st.integers(0, 10)), key), value
    if kind == "add":
        return kind, draw(_NAMES), draw(st.fixed_dictionaries({}, optional={"paused": st.booleans(),
                                                                             "exclude": _VALUES["exclude"]}))
    if kind == "bad":
        return kind, draw(st.sampled_from(["check_every", "compare", "max_delete"])), "nonsense"
    return kind, draw(st.integers(0, 10)), None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_edit(), max_size=8))
def test_random_edits_equal_the_same_edits_on_plain_data(steps: list[tuple[str, Any, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "daemon.toml"
        path.write_text(HEAVY, encoding="utf-8")
        model = tomllib.loads(HEAVY)
        for kind, target, value in steps:
            folders = model.get("folder", [])
            before = path.read_bytes()
            edit: Edit
            want = copy.deepcopy(model)
            if kind == "set":
                edit = SetValue("defaults", target[1], value)
                _plain_set(want["defaults"], target[1], value)
            elif kind in ("set_folder", "remove") and not folders:
                continue
            elif kind == "set_folder":
                index = target[0] % len(folders)
                edit = SetFolderValue(folders[index]["local"], target[1], value)
                _plain_set(want["folder"][index], target[1], value)
            elif kind == "remove":
                index = target % len(folders)
                edit = RemoveFolder(folders[index]["local"])
                del want["folder"][index]
                if not want["folder"]:
                    del want["folder"]
            elif kind == "add":
                local = f"/srv/new/{target}"
                edit = AddFolder(local, f"R{target}", value)
                if any(os.path.normpath(f["local"]) == os.path.normpath(local) for f in folders):
                    with pytest.raises(UsageError):
                        save_edits(path, sha256(before), [edit])
                    assert path.read_bytes() == before
                    continue
                want.setdefault("folder", []).append({"local": local, "remote": f"R{target}", **value})
            else:
                with pytest.raises(UsageError, match=target):
                    save_edits(path, sha256(before), [SetValue("defaults", target, value)])
                assert path.read_bytes() == before
                continue
            save_edits(path, sha256(before), [edit])
            model = want
            assert tomllib.loads(path.read_text(encoding="utf-8")) == model
            load_daemon_config(path)
        text = path.read_text(encoding="utf-8")
        # The lines no edit touches are all still there, in their order.
        for kept in ("# syncline daemon settings, kept by hand\n", "# (two lines of header)\n",
                     "[server]\n", 'url = "https://nas.local:8765"   # the NAS in the hall\n',
                     "# closing note of defaults\n", "  # an indented note at the very end\n"):
            assert kept in text
        assert text.index("[server]") < text.index("[defaults]") < text.index("# closing note of defaults")


def _plain_set(table: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        table.pop(key, None)
    else:
        table[key] = value


# ------------------------------------------------------------------------------- a running daemon applies it

def _states(state: Path) -> dict[str, str]:
    status = read_status(state)
    return {f["local"]: f["state"] for f in status["folders"]} if status else {}


@contextlib.contextmanager
def _running_daemon(tmp_path: Path) -> Iterator[tuple[Path, Path, Path]]:
    """A ``syncline daemon`` process syncing ``a`` with ``ra`` (both under ``tmp_path``), set up by a save;
    yields (config, a, ra) once the folder is in sync, and stops the daemon with SIGTERM."""
    a, ra, config = tmp_path / "a", tmp_path / "ra", tmp_path / "daemon.toml"
    for folder in (a, ra):
        folder.mkdir()
    (a / "first.txt").write_text("first", encoding="utf-8")
    save_edits(config, read_for_edit(config).base_sha, [AddFolder(str(a), str(ra))])
    proc = _daemon(tmp_path)
    try:
        wait_for(lambda: _states(tmp_path / "state").get(str(a)) == "in sync" and (ra / "first.txt").exists())
        yield config, a, ra
        assert proc.poll() is None, (tmp_path / "daemon.log").read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(DEADLINE)
    assert code == 0, (tmp_path / "daemon.log").read_text()


def test_a_running_daemon_starts_a_folder_added_by_a_save(tmp_path: Path) -> None:
    with _running_daemon(tmp_path) as (config, a, _):
        b, rb = tmp_path / "b", tmp_path / "rb"
        b.mkdir()
        rb.mkdir()
        (b / "new.txt").write_text("from b", encoding="utf-8")
        loaded = read_for_edit(config)
        save_edits(config, loaded.base_sha, [AddFolder(str(b), str(rb), {"exclude": ["*.skip"]}),
                                             SetFolderValue(str(a), "check_every", "30m")])
        wait_for(lambda: (rb / "new.txt").read_text(encoding="utf-8") == "from b")
        assert wait_for(lambda: _states(tmp_path / "state") == {str(a): "in sync", str(b): "in sync"})
        (b / "left.skip").write_text("not synced", encoding="utf-8")
        (b / "two.txt").write_text("two", encoding="utf-8")
        wait_for(lambda: (rb / "two.txt").exists())
        assert not (rb / "left.skip").exists()


def test_a_refused_save_leaves_the_file_and_the_running_folders_as_they_were(tmp_path: Path) -> None:
    with _running_daemon(tmp_path) as (config, a, ra):
        before = config.read_bytes()
        with pytest.raises(UsageError, match="check_every in folder 1"):
            save_edits(config, sha256(before), [SetValue("defaults", "trash", False),
                                                SetFolderValue(str(a), "check_every", "soon")])
        with pytest.raises(ConfigChanged):
            save_edits(config, sha256(b"an older version"), [SetFolderValue(str(a), "paused", True)])
        assert config.read_bytes() == before
        (a / "after.txt").write_text("still syncing", encoding="utf-8")
        wait_for(lambda: (ra / "after.txt").read_text(encoding="utf-8") == "still syncing")
        status = read_status(tmp_path / "state")
        assert status is not None and status["config_error"] is None
