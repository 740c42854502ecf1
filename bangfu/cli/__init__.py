"""The ``bangfu`` command line: one entry point, a sub-command per concern."""

from __future__ import annotations

from bangfu.cli.app import app, main

__all__ = ["app", "main"]
