"""``python -m syncline``: the same as the ``syncline`` command."""

from .cli.main import main

main()
