"""Which workspace (and Enterprise Grid org) a payload from Slack is for: one rule for the front door and for every
parser of payloads."""

from __future__ import annotations

from typing import Any


def _first_authorization(payload: dict[str, Any]) -> dict[str, Any] | None:
    """An event's `authorizations[0]`: the installation the event is delivered for (in a channel shared with another
    organisation, the envelope's `team_id` may be the other side's)."""
    if payload.get("type") != "event_callback":
        return None
    found = payload.get("authorizations")
    if isinstance(found, list) and found and isinstance(found[0], dict):
        return found[0]
    return None


def team_of(payload: dict[str, Any]) -> str | None:
    """The workspace a payload is for. One rule, used by the front door to pick the token and by every parser of
    payloads (bot/slack/payloads.py, the capture) to pick the data, so that the two can never disagree whatever
    team fields a payload carries. An event: its authorization's workspace (as Bolt reads it), else its `team_id`;
    a command: `team_id`; an interaction: `team.id`, else `user.team_id`, else `view.team_id`."""
    authorization = _first_authorization(payload)
    if authorization is not None:
        team = authorization.get("team_id")
        if isinstance(team, str) and team:
            return team
    team = payload.get("team_id")
    if isinstance(team, str) and team:
        return team
    for holder in ("team", "user", "view"):
        value = payload.get(holder)
        if isinstance(value, dict):
            found = value.get("id") if holder == "team" else value.get("team_id")
            if isinstance(found, str) and found:
                return found
    return None


def enterprise_of(payload: dict[str, Any]) -> tuple[str | None, bool]:
    """(the Enterprise Grid org, whether the app is installed org-wide), as the payload says (an event: as its
    authorization says). Only a hint for finding a new installation: a workspace's org, once recorded, is what counts
    (bot/slack/installations.py)."""
    authorization = _first_authorization(payload)
    if authorization is not None:
        enterprise, org_wide = authorization.get("enterprise_id"), authorization.get("is_enterprise_install")
    else:
        enterprise = payload.get("enterprise_id")
        if not isinstance(enterprise, str):
            value = payload.get("enterprise")
            enterprise = value.get("id") if isinstance(value, dict) else value if isinstance(value, str) else None
        org_wide = payload.get("is_enterprise_install")
    return (enterprise if isinstance(enterprise, str) and enterprise else None), org_wide in (True, "true")
