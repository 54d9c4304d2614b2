"""WebDAV on the server (issue 15; the plan is docs/webdav-plan.md). Built piece by piece: what is here is
used by nothing yet but its tests, and no route serves it until the piece that mounts it lands."""
