"""Sub-commands of ``bangfu`` imported only when they run.

Importing every command module to start the CLI cost ~1.8 s per process (``bangfu.cli.demo``
pulls the importers and the models, ``bangfu.cli.webhooks`` aiohttp, ...), for each of the
hundreds of ``bangfu`` subprocesses the tests start and for every operator's command. Here the
root group knows each sub-command by name, ``module:attribute`` and the first paragraph of its
help: ``bangfu --help`` lists them all without importing any, and ``bangfu <cmd> ...`` imports
``<cmd>``'s module alone.

The help text is written twice, here and on the command (its ``typer.Typer(help=...)`` or its
docstring); tests/bangfu/test_cli.py checks that the listing is the one the loaded commands give.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
from typer import _click
from typer.core import TyperCommand, TyperGroup
from typer.main import get_command_from_info, get_group_from_info
from typer.models import CommandInfo, TyperInfo


@dataclass(frozen=True)
class Lazy:
    """A sub-command of the root group, imported when it runs.

    ``target`` is ``"module:attribute"``: a :class:`typer.Typer` (a group, as ``app.add_typer``)
    or a command function (as ``app.command``). ``help`` is what ``bangfu --help`` lists: the
    first paragraph of the command's help. ``needs`` is a module that must be importable for the
    command to be listed at all (an optional package)."""

    name: str
    target: str
    help: str
    needs: str | None = None

    def available(self) -> bool:
        if self.needs is None:
            return True
        try:
            return importlib.util.find_spec(self.needs) is not None
        except ModuleNotFoundError:  # its parent package is missing
            return False


class _Unloaded(TyperCommand):
    """What the root group lists before a sub-command is imported: its name and help only.
    :meth:`LazyGroup.resolve_command` swaps in the real command before anything runs."""

    def __init__(self, entry: Lazy) -> None:
        super().__init__(name=entry.name, help=entry.help)
        self.entry = entry

    def invoke(self, ctx: _click.Context) -> Any:  # pragma: no cover - resolve_command loads first
        raise RuntimeError(f"bangfu {self.entry.name} was not loaded")


class LazyGroup(TyperGroup):
    """A root group whose :attr:`lazy` sub-commands are imported on first use. Commands added
    the usual way (``app.command``, ``app.add_typer``) work as before, listed after these."""

    lazy: ClassVar[tuple[Lazy, ...]] = ()
    #: as typer's ``Typer(pretty_exceptions_short=...)`` (the default); the root's own setting
    pretty_exceptions_short: ClassVar[bool] = True

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        eager = dict(self.commands)
        self.commands = {entry.name: _Unloaded(entry) for entry in self.lazy if entry.available()}
        self.commands.update(eager)

    def load(self, name: str) -> _click.Command:
        """The sub-command ``name``, imported (once per group) if it was not."""
        command = self.commands[name]
        if isinstance(command, _Unloaded):
            command = self.commands[name] = self._build(command.entry)
        return command

    def load_all(self) -> None:
        for name in list(self.commands):
            self.load(name)

    def resolve_command(
        self, ctx: _click.Context, args: list[str]
    ) -> tuple[str | None, _click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name is not None and isinstance(command, _Unloaded):
            command = self.load(name)
        return name, command, rest

    def _build(self, entry: Lazy) -> _click.Command:
        module_name, _, attribute = entry.target.partition(":")
        target = getattr(importlib.import_module(module_name), attribute)
        if isinstance(target, typer.Typer):
            return get_group_from_info(
                TyperInfo(target, name=entry.name),
                pretty_exceptions_short=self.pretty_exceptions_short,
                rich_markup_mode=self.rich_markup_mode,
                suggest_commands=self.suggest_commands,
            )
        function: Callable[..., Any] = target
        return get_command_from_info(
            CommandInfo(name=entry.name, callback=function),
            pretty_exceptions_short=self.pretty_exceptions_short,
            rich_markup_mode=self.rich_markup_mode,
        )
