"""Which addresses are WebDAV, their canonical form, and the hostile ones refused; the mapping of tree
paths to URLs and of ``href`` s back to paths, never outside the collection."""

from __future__ import annotations

import pytest

from syncline.core.errors import UsageError
from syncline.engine.replicas.address import parse_address
from syncline.engine.replicas.webdav import parse_dav
from syncline.engine.replicas.webdav.address import split_path


@pytest.mark.parametrize(("text", "canonical", "base"), [
    ("webdav://NAS.local/share/Docs", "webdav://nas.local:80/share/Docs", "http://nas.local:80/share/Docs/"),
    ("webdavs://nas.local:8443/a%20b/", "webdavs://nas.local:8443/a%20b", "https://nas.local:8443/a%20b/"),
    ("webdavs://[::1]/x", "webdavs://[::1]:443/x", "https://[::1]:443/x/"),
    ("webdav://127.0.0.1:8080", "webdav://127.0.0.1:8080", "http://127.0.0.1:8080/"),
    ("https://cloud.example/remote.php/dav/files/anna/Photos",
     "https://cloud.example:443/remote.php/dav/files/anna/Photos",
     "https://cloud.example:443/remote.php/dav/files/anna/Photos/"),
    ("https://cloud.example/nc/remote.php/webdav/", "https://cloud.example:443/nc/remote.php/webdav",
     "https://cloud.example:443/nc/remote.php/webdav/"),
])
def test_webdav_addresses_and_their_canonical_form(text: str, canonical: str, base: str) -> None:
    where = parse_address(text)
    assert (where.kind, where.url) == ("webdav", canonical)
    dav = parse_dav(text)
    assert dav.base_url == base and parse_dav(dav.text()) == dav, "the canonical form names the same collection"


@pytest.mark.parametrize("text", ["https://box:8765/Docs", "http://127.0.0.1:8765/Docs",
                                  "https://box/remote.php.bak"])
def test_other_https_addresses_stay_syncline_servers(text: str) -> None:
    assert parse_address(text).kind == "remote"


@pytest.mark.parametrize(("text", "words"), [
    ("webdavs://anna:secret@cloud.example/x", "user name or password inside the address"),
    ("webdavs://anna@cloud.example/x", "user name or password inside the address"),
    ("https://anna:pw@cloud.example/remote.php/webdav/x", "user name or password inside the address"),
    ("webdavs://cloud.example/a/../b", ". or .."),
    ("webdavs://cloud.example/a/%2e%2e/b", ". or .."),
    ("webdavs://cloud.example/a%2Fb", "encoded slash"),
    ("webdavs://cloud.example/a%00b", "encoded slash"),
    ("webdavs://cloud.example/a%5c..", "encoded slash"),
    ("webdavs://cloud.example/a?x=1", "query or fragment"),
    ("webdavs://cloud.example/a#frag", "query or fragment"),
    ("webdavs://cloud.example/share/.syncline", "syncline's own folder"),
    ("webdavs://cloud.example/%ff", "not UTF-8"),
    ("webdavs://cloud.example:99999/a", "not a WebDAV address"),
    ("webdavs:///a", "not a WebDAV address"),
])
def test_hostile_addresses_are_refused_in_one_line(text: str, words: str) -> None:
    with pytest.raises(UsageError, match=words) as refused:
        parse_address(text)
    assert "secret" not in str(refused.value) and "pw@" not in str(refused.value), "a password is never echoed"


def test_tree_paths_become_encoded_urls_inside_the_collection() -> None:
    dav = parse_dav("webdav://h:80/share")
    assert dav.url("a b/c#1%.txt") == "http://h:80/share/a%20b/c%231%25.txt"
    assert dav.url("sub", folder=True) == "http://h:80/share/sub/"
    assert dav.url("") == "http://h:80/share/"
    for bad in ("../x", "a/../../x", "/etc/passwd", "a//b", "a/./b", "a\0b"):
        with pytest.raises(ValueError):
            split_path(bad)
        with pytest.raises(ValueError):
            dav.url(bad)


@pytest.mark.parametrize(("href", "path"), [
    ("/share/", ""),
    ("/share", ""),
    ("/share/a%20b/c", "a b/c"),
    ("http://h:80/share/x/", "x"),
    ("http://H/share/x", "x"),
    ("/share/%C3%A9t%C3%A9", "été"),
    ("/other/x", None),
    ("/sharex/y", None),
    ("/share/../etc/passwd", None),
    ("/share/a/%2e%2e/b", None),
    ("/share/a%2Fb", None),
    ("/share/a%00b", None),
    ("/share//x", None),
    ("http://evil.example/share/x", None),
    ("https://h:80/share/x", None),
    ("http://h:81/share/x", None),
    ("/share/x?y", None),
    ("share/x", None),
])
def test_hrefs_map_back_only_inside_the_collection(href: str, path: str | None) -> None:
    assert parse_dav("webdav://h/share").relative(href) == path


def test_a_missing_server_program_skips_locally_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from .davhelp import need

    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        need("no-such-webdav-server")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="not installed"):
        need("no-such-webdav-server")
