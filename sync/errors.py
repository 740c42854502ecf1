"""The sync layer's own errors.

:class:`SyncError` is a request sync cannot carry out as asked, with a message for the person
who made it: an unknown shop or re-fetch request, a shop registered without an endpoint or
credentials, a bad shop description (URL, credentials, a fake platform line). Sync raises it
instead of the CLI's :class:`bangfu.errors.UserError`, so sync does not speak for the command
line; the CLI (``bangfu.cli``, the composition root) turns it into its user error, one line on
stderr and exit code 2, as it always showed these messages.

Errors of the core that sync only passes on (a secrets file that cannot be read, no credentials
stored under a reference) stay the core's :class:`~bangfu.errors.UserError`, except where sync
builds a shop's connector config: there a missing credential is the shop's problem and raised
as :class:`SyncError` like the other ones.
"""

from __future__ import annotations

__all__ = ["SyncError"]


class SyncError(Exception):
    """Something asked of sync cannot be done as asked; the message says why."""
