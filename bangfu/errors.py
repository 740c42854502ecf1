"""Errors a user can act on. The CLI prints them as one line, never a traceback."""

from __future__ import annotations


class UserError(Exception):
    """Something the user asked for cannot be done as asked; the message says why."""
