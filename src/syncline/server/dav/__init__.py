"""WebDAV on the server (issue 15; the plan is docs/webdav-plan.md), mounted by ``make_app`` through
:class:`.mount.DavMount`: ``/remote.php/webdav/``, ``/remote.php/dav/files/USER/``, ``/dav/`` (one
namespace: the caller's folders), ``/status.php`` and ``/ocs/`` (:mod:`.ocs`). Read side (piece 2):
Basic auth (:mod:`.auth`), URLs (:mod:`.paths`), XML (:mod:`.xmlio`), errors (:mod:`.errors`), live
properties (:mod:`.props`), OPTIONS/PROPFIND/GET/HEAD (:mod:`.read`). Writes and locks come later; the
``If`` header parser (:mod:`.ifheader`) is ready for them."""
