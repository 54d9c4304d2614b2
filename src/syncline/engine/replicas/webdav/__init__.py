"""A WebDAV collection as a replica (docs/webdav-plan.md section 4): :class:`WebdavReplica`, its
addresses (:func:`parse_dav`), and the credentials ``syncline connect`` keeps for a WebDAV server."""

from .address import DavAddress, is_dav, parse_dav
from .credentials import DavCredentials, load_credentials, save_credentials
from .replica import WebdavReplica

__all__ = ["DavAddress", "DavCredentials", "WebdavReplica", "is_dav", "load_credentials", "parse_dav",
           "save_credentials"]
