"""``syncline apply FILE DIR``: bring DIR to the state an archive describes, losing nothing made there.

Two passes:

1. **Verify and stage** (:mod:`.staging`). The whole archive is read and checked (format, paths, sizes,
   checksum). Each file it brings is rebuilt into ``DIR/.syncline/apply-<random>/`` (a delta from the
   file's current version in DIR) and checked against its digest. Any failure stops here, the staging
   folder is removed, and DIR is as it was.
2. **Plan** (:mod:`.planner`, pure) against DIR as scanned right then, and **run** (:mod:`.running`). Each
   path is compared with the state the archive expects there (the far index's entry):

   - already what the archive brings: nothing to do (so applying twice changes nothing, and an
     interrupted apply resumes where it stopped);
   - as expected (kind, size, mtime, mode, target): the change is made through the executor (atomic
     renames, the old version to the trash);
   - changed here since the index was taken: the local version stays; an incoming file, symlink or folder
     lands beside it under a conflict name (``name.sync-conflict-<mtime>-<host>.ext``); a delete is not
     done; a folder holding something added here is not deleted or replaced. A file deleted here that the
     archive updates comes back (a change beats a delete).

   ``delete=False`` (``--no-delete``) adds and updates only. More file deletions than ``max_delete`` stop
   the run before anything changes, unless ``force``.

Writes never go through a symlink: the target replica checks, right before each write, that every parent
of the path is a real directory. An archive made against an index older than one a previous apply was made
against is refused (the folder has moved past it) unless ``force``. Setuid and setgid bits are not applied.
"""

from .running import ApplyOptions, ApplyReport, apply_archive

__all__ = ["ApplyOptions", "ApplyReport", "apply_archive"]
