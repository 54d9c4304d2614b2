"""The click groups of the command line, and how a usage error becomes one line.

``syncline index DIR -o FILE`` and ``syncline archive SRC ...`` are groups whose first argument, when it is
not a sub-command (``show``), goes to a hidden default command. The user never sees that command's name:
``--help`` on the group lists its options, and usage errors name the group.
"""

from __future__ import annotations

import click


class TourGroup(click.Group):
    """The top-level group: its help text is the command tour, so click's own command list (a second,
    cut-off copy of it) is left out."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        pass


class DefaultGroup(click.Group):
    """A group whose first argument, when it is not a sub-command, goes to the ``default_cmd`` command.

    ``--help`` shows ``usage_lines``, the group's text, the default command's options, and the other
    sub-commands.
    """

    default_cmd = "create"
    usage_lines: tuple[str, ...] = ()

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args.insert(0, self.default_cmd)
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        first, *rest = self.usage_lines or (ctx.command_path,)
        formatter.write(f"Usage: {first}\n")
        for line in rest:
            formatter.write(f"       {line}\n")

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self.commands[self.default_cmd].format_options(ctx, formatter)
        self.format_commands(ctx, formatter)


def command_path(ctx: click.Context | None) -> str:
    """The command as the user typed it (``syncline index``), without a hidden default command."""
    names: list[str] = []
    while ctx is not None:
        if not ctx.command.hidden and ctx.info_name:
            names.append(ctx.info_name)
        ctx = ctx.parent
    return " ".join(reversed(names)) or "syncline"


def one_line(exc: click.ClickException) -> str:
    """A click error as syncline's one line: ``<what happened> (see `syncline CMD --help`)``.

    Click's messages are sentences ("Missing argument 'DIR'."); they are made to read like syncline's own
    (lower-case, no full stop, never more than one line).
    """
    message = " ".join(exc.format_message().split())
    message = message[:1].lower() + message[1:]
    message = message.rstrip(".").replace(". Did you mean", "; did you mean")
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError):
        return f"{message} (see `{command_path(ctx)} --help`)"
    return message
