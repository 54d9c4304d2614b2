"""Conflict copy names: parseable, never nested, stable for one version, always a valid file name."""

from __future__ import annotations

import calendar
import os

import pytest

from syncline.core.conflicts import (
    NAME_MAX,
    ConflictName,
    conflict_name,
    device_label,
    is_conflict_name,
    original_name,
    parse_conflict_name,
)

T = calendar.timegm((2026, 11, 17, 9, 46, 40)) * 10**9


def test_the_name_has_the_stem_time_device_and_extension() -> None:
    assert conflict_name("docs/report.txt", T, "laptop") == "docs/report.sync-conflict-20261117-094640-laptop.txt"
    assert conflict_name("Makefile", T, "pc") == "Makefile.sync-conflict-20261117-094640-pc"
    assert conflict_name(".bashrc", T, "pc") == ".bashrc.sync-conflict-20261117-094640-pc"
    assert conflict_name("a.tar.gz", T, "pc") == "a.tar.sync-conflict-20261117-094640-pc.gz"


def test_the_same_version_always_gets_the_same_name_and_alternatives_differ() -> None:
    assert conflict_name("x.txt", T, "h") == conflict_name("x.txt", T + 999_999, "h")  # same second
    names = {conflict_name("x.txt", T, "h", n) for n in range(4)}
    assert len(names) == 4 and all(is_conflict_name(n) for n in names)


def test_names_never_nest() -> None:
    first = conflict_name("report.txt", T, "laptop")
    again = conflict_name(first, T + 60 * 10**9, "desktop")
    assert again == "report.sync-conflict-20261117-094740-desktop.txt"
    assert original_name(again) == original_name(first) == "report.txt"
    assert original_name("plain.txt") == "plain.txt" and not is_conflict_name("plain.txt")


def test_device_labels_are_safe_in_a_file_name() -> None:
    assert device_label("laptop.home.arpa") == "laptop"
    assert device_label("my box/with:odd*chars") == "my-box-with-odd-chars"
    assert device_label("...") == "device"
    assert len(device_label("x" * 100)) == 32


@pytest.mark.parametrize("stem", ["n" * 250, "é" * 125, "日本" * 42])
def test_a_long_name_is_shortened_to_fit(stem: str) -> None:
    name = conflict_name(f"dir/{stem}.txt", T, "laptop")
    base = name.rpartition("/")[2]
    assert len(os.fsencode(base)) <= NAME_MAX
    assert base.endswith(".sync-conflict-20261117-094640-laptop.txt") and is_conflict_name(base)


def test_a_conflict_name_parses_into_its_parts() -> None:
    parsed = parse_conflict_name("a.tar.sync-conflict-20261117-094640-2-pc.gz")
    assert parsed == ConflictName("a.tar.gz", "20261117-094640", 2, "pc")
    assert parse_conflict_name(conflict_name("x.txt", T, "laptop.home")) == ConflictName("x.txt", "20261117-094640",
                                                                                          0, "laptop")
    assert parse_conflict_name("x.txt") is None and parse_conflict_name("x.sync-conflict-2026-pc.txt") is None
