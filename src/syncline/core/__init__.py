"""Pure core of syncline: entries, indexes, scanning, index files, diffs and plans.

Nothing here writes to a tree; ``scan`` is the only code that reads one. Imports never reach
``syncline.engine`` or ``syncline.cli`` (checked by import-linter in ``make test``).
"""
