"""The Slack app manifest, built from app.yaml and from the Web API methods the gateway calls."""

from __future__ import annotations

from typing import Any

from bot.config import Config

from .gateway import WEB_API_METHODS
from .ids import CallbackId

# What the bot subscribes to. Each needs a scope: message.channels -> channels:history, message.groups ->
# groups:history, member_joined_channel / member_left_channel -> channels:read + groups:read.
BOT_EVENTS: dict[str, tuple[str, ...]] = {
    "message.channels": ("channels:history",),
    "message.groups": ("groups:history",),
    "member_joined_channel": ("channels:read", "groups:read"),
    "member_left_channel": ("channels:read", "groups:read"),
    "reaction_added": ("reactions:read",),
    "reaction_removed": ("reactions:read",),
}

# Escaped text turns @mentions into <@U123|name>, which is how `commander @person` knows who is meant.
COMMAND_SHOULD_ESCAPE = True

SHORTCUTS = [
    {
        "name": "Add to incident timeline",
        "type": "message",
        "callback_id": CallbackId.ADD_TO_TIMELINE.value,
        "description": "Put this message on an open incident's timeline",
    }
]


def bot_scopes() -> list[str]:
    scopes = {"commands"}  # slash commands and shortcuts
    for needed in WEB_API_METHODS.values():
        scopes.update(needed)
    for needed in BOT_EVENTS.values():
        scopes.update(needed)
    return sorted(scopes)


def build_manifest(
    config: Config, *, request_url: str | None = None, socket_mode: bool | None = None
) -> dict[str, Any]:
    """`request_url` is the public https URL of `/slack/events` (HTTP mode); without it, Socket Mode."""
    socket = socket_mode if socket_mode is not None else request_url is None
    command: dict[str, Any] = {
        "command": config.command,
        "description": "Open and run incidents",
        "usage_hint": "open [severity] <title> | status | severity <level> | commander @person | resolve | help",
        "should_escape": COMMAND_SHOULD_ESCAPE,
    }
    settings: dict[str, Any] = {
        "event_subscriptions": {"bot_events": sorted(BOT_EVENTS)},
        "interactivity": {"is_enabled": True},
        "org_deploy_enabled": False,
        "socket_mode_enabled": socket,
        "token_rotation_enabled": False,
    }
    if not socket and request_url:
        command["url"] = request_url
        settings["event_subscriptions"]["request_url"] = request_url
        settings["interactivity"]["request_url"] = request_url
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": config.app_name,
            "description": "Runs incident response in Slack: channels, cards, timeline, reports.",
            "background_color": "#b22222",
        },
        "features": {
            "bot_user": {"display_name": config.app_name, "always_online": True},
            "slash_commands": [command],
            "shortcuts": SHORTCUTS,
        },
        "oauth_config": {"scopes": {"bot": bot_scopes()}},
        "settings": settings,
    }
