"""The path table of protocol.md section 4, folder names and meta keys."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncline.formats.wire import WireError, check_folder_name, check_meta_key, check_target, check_wire_path

REFUSED = [
    ("", "empty"),
    ("/abs", "leading slash"),
    ("a/", "trailing slash"),
    ("a//b", "empty component"),
    ("./a", "dot"),
    ("a/./b", "dot inside"),
    ("..", "dotdot"),
    ("a/../b", "dotdot inside"),
    ("a\0b", "NUL"),
    ("a\udc80b", "lone surrogate"),
    ("\ud800", "lone high surrogate"),
    (".syncline", "meta folder"),
    ("a/.syncline/b", "meta folder below"),
    (".SyncLine", "meta folder in another case"),
    ("x/.SYNCLINE", "meta folder upper case"),
    ("x" * 256, "component of 256 bytes"),
    ("é" * 128, "component of 256 UTF-8 bytes"),
    ("/".join(["a" * 200] * 20) + "/" + "b" * 77, "4097 bytes"),
    ("/".join(["a"] * 257), "257 components"),
]

KEPT = [
    "a",
    "a/b/c.txt",
    "back\\slash:colon",
    "ctl\x01\x7f",
    ".syncline-tmp-x",
    "x.syncline",
    "syncline",
    "caf\u00e9",  # NFC
    "cafe\u0301",  # NFD: kept byte-exact
    "x" * 255,
    "/".join(["a" * 200] * 20) + "/" + "b" * 76,
    "/".join(["a"] * 256),
    " spaces ",
    "...",
    "emoji \U0001f600",
]


@pytest.mark.parametrize(("path", "why"), REFUSED)
def test_refused(path: str, why: str) -> None:
    with pytest.raises(WireError) as info:
        check_wire_path(path)
    assert info.value.code == "bad_path", why
    assert info.value.status == 400
    assert len(info.value.message) < 400  # clipped: a hostile path never makes a huge answer


def test_4096_and_4097_bytes() -> None:
    ok = "/".join(["a" * 200] * 20) + "/" + "b" * 76
    assert len(ok.encode()) == 4096
    assert check_wire_path(ok) == ok
    with pytest.raises(WireError):
        check_wire_path(ok + "b")


@pytest.mark.parametrize("path", KEPT)
def test_kept_byte_exact(path: str) -> None:
    out = check_wire_path(path)
    assert out == path and out.encode() == path.encode()


def test_nfc_and_nfd_are_different_names() -> None:
    nfc, nfd = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
    assert nfc != nfd
    assert check_wire_path(nfc) == nfc and check_wire_path(nfd) == nfd


def test_root_only_where_allowed() -> None:
    assert check_wire_path("", root_ok=True) == ""
    with pytest.raises(WireError):
        check_wire_path("")


@pytest.mark.parametrize("value", [None, 3, b"a", ["a"], {"a": 1}, True])
def test_not_a_string(value: object) -> None:
    with pytest.raises(WireError) as info:
        check_wire_path(value)
    assert info.value.code == "bad_path"


def test_error_detail_is_valid_utf8_and_clipped() -> None:
    with pytest.raises(WireError) as info:
        check_wire_path("x" * 5000 + "\udcff")
    shown = info.value.details["path"]
    shown.encode("utf-8")  # no surrogate survives into an answer
    assert len(shown) < 300


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_text_is_checked_or_refused_never_crashes(text: str) -> None:
    try:
        out = check_wire_path(text)
    except WireError as e:
        assert e.code == "bad_path"
    else:
        assert out == text
        parts = text.split("/")
        assert all(p not in ("", ".", "..") and p.casefold() != ".syncline" for p in parts)
        assert "\0" not in text


@pytest.mark.parametrize("target", ["a", "../up/and/out", "/abs/ok", "x" * 4096])
def test_targets_kept(target: str) -> None:
    assert check_target(target) == target


@pytest.mark.parametrize("target", ["", "a\0", "x" * 4097, "\udc80", 5])
def test_targets_refused(target: object) -> None:
    with pytest.raises(WireError) as info:
        check_target(target)
    assert info.value.code == "bad_path"


@pytest.mark.parametrize("name", ["Photos", "a", "a.b-c_d", "0" * 64])
def test_folder_names_kept(name: str) -> None:
    assert check_folder_name(name) == name


@pytest.mark.parametrize("name", ["", ".hidden", "-x", "a/b", "a" * 65, "Photos\n", "é", 7])
def test_folder_names_refused(name: object) -> None:
    with pytest.raises(WireError) as info:
        check_folder_name(name)
    assert info.value.code == "bad_request"


@pytest.mark.parametrize(("key", "ok"), [("folder-id", True), ("a" * 64, True), ("A", False), ("", False),
                                         ("a" * 65, False), ("a_b", False), ("gen\n", False)])
def test_meta_keys(key: str, ok: bool) -> None:
    if ok:
        assert check_meta_key(key) == key
    else:
        with pytest.raises(WireError):
            check_meta_key(key)
