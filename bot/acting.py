"""Which Slack workspace the code running now acts for.

In OAuth mode one process serves many workspaces, and every Web API call must carry the token of the workspace it
acts for. Rather than thread a workspace through every service, the front door (bot/slack/http.py) sets it for each
request it admits, the scheduler for each job (the workspace that scheduled it), and work started from either
inherits it (asyncio tasks copy the context they are created in). The gateway reads it for each call. In
single-workspace mode nothing need be set: the one token from the environment is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Acting:
    """A workspace (`team_id`), and the Enterprise Grid org it belongs to when Slack said so."""

    team_id: str
    enterprise_id: str | None = None
    is_enterprise_install: bool = False


_acting: ContextVar[Acting | None] = ContextVar("incident_bot_acting_for", default=None)


def acting() -> Acting | None:
    """The workspace the running code acts for, if one was set."""
    return _acting.get()


def acting_team() -> str | None:
    found = _acting.get()
    return None if found is None else found.team_id


@contextmanager
def acting_for(workspace: Acting | str | None) -> Iterator[None]:
    """Act for `workspace` (a team id will do) inside the block; None leaves things as they are."""
    if workspace is None:
        yield
        return
    token = _acting.set(Acting(workspace) if isinstance(workspace, str) else workspace)
    try:
        yield
    finally:
        _acting.reset(token)
