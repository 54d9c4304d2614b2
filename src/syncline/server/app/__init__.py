"""The HTTP side of ``syncline serve``: protocol v1 (``docs/protocol.md``) as a Starlette app."""

from __future__ import annotations

from .access import Authenticator, Caller
from .app import make_app

__all__ = ["Authenticator", "Caller", "make_app"]
