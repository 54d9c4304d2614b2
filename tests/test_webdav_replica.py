"""The WebDAV replica against a real WebDAV server (wsgidav on 127.0.0.1, served by cheroot in a
thread, HTTP Basic): the conformance suite, syncs through it, and the data-safety cases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncline.testing import CHECKS, Check

from .davhelp import DavServer, wsgidav

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def dav(tmp_path: Path) -> Iterator[DavServer]:
    with wsgidav(tmp_path) as server:
        yield server


@pytest.mark.parametrize("check", CHECKS, ids=str)
def test_the_webdav_replica_conforms(check: Check, dav: DavServer) -> None:
    check.run(dav.factory())
