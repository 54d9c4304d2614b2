"""WebDAV on the server (issue 15; the plan is docs/webdav-plan.md), mounted by ``make_app`` through
:class:`.mount.DavMount`: ``/remote.php/webdav/``, ``/remote.php/dav/files/USER/``, ``/dav/`` (one
namespace: the caller's folders), ``/remote.php/dav/uploads/USER/`` (:mod:`.uploads`), ``/status.php``
and ``/ocs/`` (:mod:`.ocs`). Basic auth (:mod:`.auth`), URLs (:mod:`.paths`), XML (:mod:`.xmlio`),
errors (:mod:`.errors`), properties (:mod:`.props`), reads (:mod:`.read`), conditions (:mod:`.conditions`,
:mod:`.ifheader`), writes (:mod:`.write`, :mod:`.copymove`, :mod:`.proppatch`), locks (:mod:`.locks`,
:mod:`.lockxml`). The wire rules are docs/webdav.md."""
