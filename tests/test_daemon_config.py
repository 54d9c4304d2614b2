"""The daemon's config file: what it reads, its one-line errors, and the edits of `syncline folder`."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncline.core.errors import UsageError
from syncline.core.units import parse_duration, parse_rate
from syncline.services.config import DEFAULT_CHECK_EVERY, load_daemon_config
from syncline.services.daemon.configfile import add_folder, remove_folder


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "daemon.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_server_defaults_and_folders(tmp_path: Path) -> None:
    path = _write(tmp_path, """
[server]
url = "https://nas.local:8765"
[defaults]
check_every = "30m"
max_delete = "10%"
exclude = ["*.tmp"]
[[folder]]
local = "~/Documents"
remote = "Documents"
[[folder]]
local = "/srv/photos"
remote = "Photos"
paused = true
check_every = 90
max_delete = 5
""")
    config = load_daemon_config(path)
    assert config.server_url == "https://nas.local:8765"
    docs, photos = config.folders
    assert docs.local == str(Path.home() / "Documents") and docs.remote == "Documents" and not docs.paused
    assert docs.check_every == 1800 and docs.options.max_delete == 0.1
    assert docs.options.rules.excludes == ("*.tmp",)
    assert photos.paused and photos.check_every == 90 and photos.options.max_delete == 5
    assert photos.options.rules.excludes == ("*.tmp",)


def test_an_empty_file_is_a_daemon_without_folders(tmp_path: Path) -> None:
    config = load_daemon_config(_write(tmp_path, "# nothing yet\n"))
    assert config.folders == () and config.server_url is None
    assert config.shares.accept == "ask" and config.shares.dir == str(Path.home() / "Shared")


def test_the_shares_table(tmp_path: Path) -> None:
    config = load_daemon_config(_write(tmp_path, "[shares]\naccept = 'auto'\ndir = '~/From others'\n"))
    assert (config.shares.accept, config.shares.dir) == ("auto", str(Path.home() / "From others"))


@pytest.mark.parametrize(("text", "names"), [
    ("[serve]\nurl='x'\n", ["'serve'"]),
    ("[server]\nurl = 3\n", ["url in server"]),
    ("[server]\nuser = 'me'\n", ["'user' in server"]),
    ("[defaults]\ncheck_every = 'soon'\n", ["check_every in defaults"]),
    ("[defaults]\ncheck_every = -5\n", ["check_every in defaults"]),
    ("[defaults]\ndelete = true\n", ["'delete' in defaults"]),
    ("[defaults]\nforce = true\n", ["'force' in defaults"]),
    ("[defaults]\nmax_delete = 'lots'\n", ["max_delete in defaults"]),
    ("[defaults]\nmax_upload_rate = 'fast'\n", ["max_upload_rate in defaults", "2MB/s", "0 for no limit"]),
    ("[defaults]\nmax_download_rate = '-1MB/s'\n", ["max_download_rate in defaults", "KiB/s"]),
    ("[defaults]\nmax_download_rate = '2Mbit/s'\n", ["max_download_rate in defaults"]),
    ("[defaults]\nmax_upload_rate = '100B/s'\n", ["max_upload_rate in defaults"]),
    ("[defaults]\nmax_upload_rate = true\n", ["max_upload_rate in defaults"]),
    ("[[folder]]\nlocal = '/x'\nremote = 'R'\nmax_upload_rate = '1MB/s'\n",
     ["max_upload_rate in folder 1", "[defaults]"]),
    ("[[folder]]\nremote = 'R'\n", ["local in folder 1"]),
    ("[[folder]]\nlocal = '/x'\n", ["remote in folder 1"]),
    ("[[folder]]\nlocal = 'rel/dir'\nremote = 'R'\n", ["local in folder 1", "absolute"]),
    ("[[folder]]\nlocal = '/x'\nremote = 'R'\npaused = 'yes'\n", ["paused in folder 1"]),
    ("[[folder]]\nlocal = '/x'\nremote = 'R'\ncompare = 'smell'\n", ["compare in folder 1"]),
    ("[[folder]]\nlocal = '/x'\nremote = 'R'\nremotes = 'R'\n", ["'remotes' in folder 1"]),
    ("[[folder]]\nlocal = '/x'\nremote = 'R'\n[[folder]]\nlocal = '/x/y'\nremote = 'S'\n", ["folder 2", "nested"]),
    ("folder = 3\n", ["folder must be [[folder]]"]),
    ("[shares]\naccept = 'always'\n", ["accept in shares", "auto"]),
    ("[shares]\ndir = 'Shared'\n", ["dir in shares", "absolute"]),
    ("[shares]\ndir = ''\n", ["dir in shares"]),
    ("[shares]\nwhere = '/x'\n", ["'where' in shares"]),
    ("shares = 'auto'\n", ["shares is not a table"]),
    ("[[folder]\n", ["cannot read"]),
])
def test_each_bad_key_is_one_line_naming_file_table_and_key(tmp_path: Path, text: str, names: list[str]) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(UsageError) as caught:
        load_daemon_config(path)
    line = str(caught.value)
    assert "\n" not in line and str(path) in line
    for name in names:
        assert name in line


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such config file"):
        load_daemon_config(tmp_path / "nope.toml")


def test_durations() -> None:
    assert parse_duration("1h") == 3600 and parse_duration("30m") == 1800 and parse_duration("90s") == 90
    assert parse_duration("1d") == 86400 and parse_duration(2.5) == 2.5
    assert parse_duration("1") is None and parse_duration(True) is None and parse_duration("0s") is None
    assert DEFAULT_CHECK_EVERY == 3600


@pytest.mark.parametrize(("value", "rate"), [
    ("2MB/s", 2 << 20), ("500KB/s", 500 << 10), ("1.5MiB/s", 1.5 * (1 << 20)), ("2M", 2 << 20),
    ("2 mb/s", 2 << 20), ("64KiB", 64 << 10), ("1G/s", 1 << 30), ("2048B/s", 2048), (".5MB/s", 1 << 19),
    (500, 500 << 10), ("500", 500 << 10), (1.5, 1536), ("0", 0), (0, 0), ("0MB/s", 0),
])
def test_rates_as_people_write_them(value: object, rate: float) -> None:
    assert parse_rate(value) == rate


@pytest.mark.parametrize("value", ["", "fast", "-1", "-1MB/s", "2Mbit/s", "2Mi", "2iB", "MB/s", "1e9", "2MB/h",
                                   "1023B/s", "0.5", True, None, [1], float("inf"), float("nan")])
def test_what_is_not_a_rate(value: object) -> None:
    assert parse_rate(value) is None


def test_bandwidth_limits_are_in_defaults_and_none_by_default(tmp_path: Path) -> None:
    config = load_daemon_config(_write(tmp_path, "[defaults]\nmax_upload_rate = '2MB/s'\nmax_download_rate = 512\n"))
    assert (config.max_upload_rate, config.max_download_rate) == (2 << 20, 512 << 10)
    config = load_daemon_config(_write(tmp_path, "[defaults]\nmax_upload_rate = '0'\n"))
    assert (config.max_upload_rate, config.max_download_rate) == (0, 0)


KEPT = """# my sync settings
[server]
url = "https://nas.local:8765"   # the NAS

[defaults]
check_every = "2h"  # enough
"""


def test_add_and_remove_keep_comments_and_order(tmp_path: Path) -> None:
    path = _write(tmp_path, KEPT)
    add_folder(path, str(tmp_path / "docs"), "Documents")
    add_folder(path, str(tmp_path / "pics"), "Pictures")
    text = path.read_text(encoding="utf-8")
    assert text.startswith(KEPT)
    assert [f.remote for f in load_daemon_config(path).folders] == ["Documents", "Pictures"]
    text = text.replace('remote = "Pictures"\n', 'remote = "Pictures"\n# keep this note\n')
    path.write_text(text + "# the end\n", encoding="utf-8")
    remove_folder(path, str(tmp_path / "docs"))
    after = path.read_text(encoding="utf-8")
    assert after.startswith(KEPT) and "# keep this note\n" in after and after.endswith("# the end\n")
    assert "Documents" not in after
    assert [f.remote for f in load_daemon_config(path).folders] == ["Pictures"]
    assert load_daemon_config(path).folders[0].check_every == 7200


def test_add_creates_the_file_and_refuses_a_folder_bound_twice(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "daemon.toml"
    add_folder(path, str(tmp_path / "docs"), "/srv/docs")
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(UsageError, match="nested") as caught:
        add_folder(path, str(tmp_path / "docs"), "Other")
    assert "\n" not in str(caught.value)
    assert len(load_daemon_config(path).folders) == 1


def test_edits_refuse_a_broken_file_and_an_unknown_folder(tmp_path: Path) -> None:
    path = _write(tmp_path, "[defaults]\ncheck_every = 'never'\n")
    with pytest.raises(UsageError, match="check_every in defaults"):
        add_folder(path, str(tmp_path / "docs"), "Documents")
    assert path.read_text(encoding="utf-8") == "[defaults]\ncheck_every = 'never'\n"
    path = _write(tmp_path, "")
    add_folder(path, str(tmp_path / "docs"), "Documents")
    with pytest.raises(UsageError, match="has no folder"):
        remove_folder(path, str(tmp_path / "elsewhere"))


def test_a_name_with_quotes_is_written_as_toml(tmp_path: Path) -> None:
    path = tmp_path / "daemon.toml"
    odd = str(tmp_path / 'say "hi" \\ back')
    add_folder(path, odd, 'Name "x"')
    (folder,) = load_daemon_config(path).folders
    assert folder.local == odd and folder.remote == 'Name "x"'
