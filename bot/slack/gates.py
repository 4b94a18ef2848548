"""Which workspace a verified request from Slack is served for, if any: the front door (bot/slack/http.py) asks its
gate before anything is done, and acts for the workspace the gate names (bot/acting.py).

- Single-workspace mode (`OneWorkspace`): the workspace of the bot token (auth.test at start); a request from any
  other is ignored, and nothing is done before the bot knows who it is.
- OAuth mode (`Installed`): every workspace the app is installed in (bot/slack/installations.py). A request from one
  where it is not installed (never, or no more) is ignored: a slash command is told so. `app_uninstalled`, and
  `tokens_revoked` naming the bot, remove the workspace's installation here: the bot stops acting there, and its
  incidents are deleted after `oauth.retention_days`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from bot.acting import Acting

from .installations import Installations
from .teams import enterprise_of, team_of

log = logging.getLogger(__name__)

NO_TEAM = frozenset({"url_verification", "ssl_check"})  # the only requests that name no workspace
LIFECYCLE = frozenset({"app_uninstalled", "tokens_revoked"})
CLOCKS_APART = 1.0  # event_time is in whole seconds (Slack's clock and ours agree to well within that)


@dataclass(frozen=True, slots=True)
class Admission:
    """`serve`: go on, acting for `acting` (None for a payload that names no workspace, such as url_verification);
    otherwise `refusal` says why not: `starting` (who the bot is is not known yet), `foreign` (a workspace not served),
    or `done` (the gate itself dealt with it: answer 200)."""

    acting: Acting | None = None
    refusal: str | None = None
    text: str | None = None  # what a slash command is told when refused

    @property
    def serve(self) -> bool:
        return self.refusal is None


class Gate(Protocol):
    async def admit(self, payload: dict[str, Any]) -> Admission: ...


def names_a_workspace(payload: dict[str, Any]) -> bool:
    return payload.get("type") in NO_TEAM or "ssl_check" in payload


FOREIGN_TEXT = "This bot serves another Slack workspace; nothing was done."
NOT_INSTALLED_TEXT = (
    "incident-bot is not installed in this workspace (any more), so nothing was done. Ask a Slack admin to install it."
)


class OneWorkspace:
    """Single-workspace mode: `served_team()` is the bot token's workspace, None until auth.test answered."""

    def __init__(self, served_team: Callable[[], str | None]) -> None:
        self._served_team = served_team

    async def admit(self, payload: dict[str, Any]) -> Admission:
        team = team_of(payload)
        served = self._served_team() if team is not None else None
        if team is not None and served is None:
            return Admission(refusal="starting")
        if (team is None and not names_a_workspace(payload)) or (team is not None and team != served):
            log.warning("ignored a request from workspace %s, which this bot does not serve", team or "(none)")
            return Admission(refusal="foreign", text=FOREIGN_TEXT)
        return Admission(acting=Acting(team) if team is not None else None)


class InstalledWorkspaces:
    """OAuth mode: the workspaces the app is installed in."""

    def __init__(self, installations: Installations, on_uninstalled: Callable[[Acting], Awaitable[None]]) -> None:
        self._installations = installations
        self._on_uninstalled = on_uninstalled

    async def admit(self, payload: dict[str, Any]) -> Admission:
        team = team_of(payload)
        if team is None:
            if names_a_workspace(payload):
                return Admission()
            log.warning("ignored a request that names no workspace")
            return Admission(refusal="foreign", text=NOT_INSTALLED_TEXT)
        enterprise, org_wide = enterprise_of(payload)
        acting = Acting(team, enterprise, org_wide)
        event = payload.get("event") if payload.get("type") == "event_callback" else None
        kind = event.get("type") if isinstance(event, dict) else None
        if kind in LIFECYCLE:
            assert isinstance(event, dict)
            await self._lifecycle(acting, kind, event, payload.get("event_time"))
            return Admission(refusal="done")
        if await self._installations.find(acting) is None:
            log.info("ignored a request from workspace %s, where the app is not installed", team)
            return Admission(refusal="foreign", text=NOT_INSTALLED_TEXT)
        return Admission(acting=acting)

    async def _lifecycle(self, acting: Acting, kind: str | None, event: dict[str, Any], event_time: Any) -> None:
        installed = await self._installations.find(acting)
        if installed is None:
            return  # removed already (app_uninstalled and tokens_revoked come both, in any order)
        if (
            isinstance(event_time, int | float)
            and installed.installed_at is not None
            and event_time < installed.installed_at - CLOCKS_APART
        ):
            # Said of an earlier installation (Slack delivering it again late): the workspace installed the app since.
            log.info("ignored %s of workspace %s from before its latest install", kind, acting.team_id)
            return
        if kind == "tokens_revoked":
            tokens = event.get("tokens")
            bots = tokens.get("bot") if isinstance(tokens, dict) else None
            if not isinstance(bots, list) or installed.identity.user_id not in [b for b in bots if isinstance(b, str)]:
                log.info("Slack revoked tokens in workspace %s that are not the bot's", acting.team_id)
                return
        # Its data's deletion is scheduled first, then the installation removed: a failure in between makes Slack
        # deliver the event again (the front door answers 500), and both are done again (a second deletion job is
        # harmless).
        await self._on_uninstalled(acting)
        await self._installations.forget(acting, installed)
