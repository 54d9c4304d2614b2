"""The typed config module (services/config.py): the watch's mirrors file, and a one-line error naming the
file, the key and what to write instead for every kind of bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncline.core.entry import CompareMode
from syncline.core.errors import UsageError
from syncline.core.ignore import Rules
from syncline.engine.oneway import SyncOptions
from syncline.services.config import WatchConfig, load_watch_config

MIRROR = '[[mirror]]\nsource = "/data/a"\ntargets = ["/backup/a"]\n'


def _load(tmp_path: Path, text: str, defaults: SyncOptions | None = None) -> tuple[Path, WatchConfig]:
    path = tmp_path / "mirrors.toml"
    path.write_text(text)
    return path, load_watch_config(path, defaults)


def test_mirror_options_win_over_defaults_which_win_over_the_command_line(tmp_path: Path) -> None:
    text = ('[defaults]\ndelete = true\nexclude = ["*.log"]\nmax_delete = "10%"\n' + MIRROR
            + '[[mirror]]\nsource = "/data/b"\ntargets = ["/backup/b", "/usb/b"]\ncompare = "hash"\n'
              'delete = false\nmax_delete = 7\nignore_files = false\n')
    cli = SyncOptions(trash=False, force=True, rules=Rules(includes=("keep.log",)))
    path, config = _load(tmp_path, text, cli)
    a, b = config.mirrors
    assert config.path == str(path)
    assert (a.source, a.targets) == ("/data/a", ("/backup/a",))
    assert (a.options.delete, a.options.max_delete, a.options.trash, a.options.force) == (True, 0.1, False, True)
    assert a.options.rules == Rules(excludes=("*.log",), includes=("keep.log",))
    assert b.targets == ("/backup/b", "/usb/b")
    assert (b.options.delete, b.options.max_delete, b.options.compare.mode) == (False, 7, CompareMode.CHECKSUM)
    assert a.options.compare.mode is CompareMode.MTIME and b.options.rules.ignore_files is False


@pytest.mark.parametrize("text, words", [
    # unknown keys
    (MIRROR + "speed = 3\n", ("unknown option 'speed' in mirror 1", "known options: compare")),
    ("[default]\n" + MIRROR, ("unknown table or key 'default'", "[defaults]")),
    # wrong types
    ("[defaults]\ndelete = \"yes\"\n" + MIRROR, ("delete in defaults must be true or false", "delete = true")),
    (MIRROR + "exclude = \"*.tmp\"\n", ("exclude in mirror 1 must be a list of strings", 'exclude = ["*.tmp"')),
    (MIRROR + "compare = \"fuzzy\"\n", ("compare in mirror 1 must be mtime, size or hash", 'compare = "hash"')),
    ("defaults = 3\n" + MIRROR, ("defaults is not a table", "[defaults]")),
    # bad paths
    ('[[mirror]]\nsource = "/data/a"\ntargets = ["sftp://host/a"]\n',
     ("targets in mirror 1", "sftp://", "local folder")),
    ('[[mirror]]\nsource = " "\ntargets = ["/b"]\n', ("source in mirror 1 holds an empty path", 'source = "/')),
    ('[[mirror]]\nsource = "/a"\ntargets = []\n', ("mirror 1 needs source", "targets = [")),
    # bad numbers
    (MIRROR + "max_delete = -1\n", ("max_delete in mirror 1 must be a file count or a percentage", "1000")),
    (MIRROR + "max_delete = \"150%\"\n", ("max_delete in mirror 1", '"50%"')),
    (MIRROR + "max_delete = 0.5\n", ("max_delete in mirror 1", '"50%"')),
    (MIRROR + "max_delete = true\n", ("max_delete in mirror 1",)),
])
def test_each_bad_value_is_one_line_naming_file_key_and_what_to_write(tmp_path: Path, text: str,
                                                                      words: tuple[str, ...]) -> None:
    with pytest.raises(UsageError) as caught:
        _load(tmp_path, text)
    said = str(caught.value)
    assert len(said.splitlines()) == 1 and str(tmp_path / "mirrors.toml") in said, said
    for w in words:
        assert w in said, (w, said)


def test_a_file_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such config file"):
        load_watch_config(tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text("[[mirror\n")
    with pytest.raises(UsageError, match="cannot read"):
        load_watch_config(tmp_path / "bad.toml")
    (tmp_path / "empty.toml").write_text("[defaults]\n")
    with pytest.raises(UsageError, match="no \\[\\[mirror\\]\\] tables"):
        load_watch_config(tmp_path / "empty.toml")
