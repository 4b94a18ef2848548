"""The Slack app manifest, built from app.yaml: only the scopes and events the configured behaviour needs.

What the bot does depends on app.yaml, and so do the permissions it asks for:

- `channel.private`: incident channels are public (channels:*, message.channels) or private (groups:*,
  message.groups); never both.
- `timeline.confirm: reaction`: the bot adds a reaction to confirm a mark (reactions:write); otherwise it never reacts.
- `announcement_channel`: the bot posts there without being a member (chat:write.public) and reads it back after a
  crash so that an announcement is never posted twice (channels:history).

A change to any of these asks for other scopes: reinstall the app from the new manifest (`incident-bot manifest`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.config import Config

from .ids import CallbackId

# Every event the bot can subscribe to, with the scope Slack requires for it. The configured behaviour picks from
# these (`bot_events`): messages and reactions in incident channels are the timeline; a rename or an archive of an
# incident channel is noted on it; tokens_revoked and app_uninstalled need no scope. (app_rate_limited and
# url_verification come without a subscription.)
EVENT_SCOPES: dict[str, tuple[str, ...]] = {
    "message.channels": ("channels:history",),
    "message.groups": ("groups:history",),
    "reaction_added": ("reactions:read",),
    "reaction_removed": ("reactions:read",),
    "channel_rename": ("channels:read",),
    "group_rename": ("groups:read",),
    "channel_archive": ("channels:read",),
    "group_archive": ("groups:read",),
    "tokens_revoked": (),
    "app_uninstalled": (),
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

# The behaviour app.yaml documents as the default (public channels, ephemeral confirmations, no announcements).
DEFAULT_BEHAVIOUR = Config(path=Path("app.yaml"))


def method_scopes(config: Config) -> dict[str, tuple[str, ...]]:
    """Each Web API method the configured bot calls, with the bot scopes the manifest grants for it (Slack accepts
    any one of a method's scopes; these are the ones for the kind of channel the bot works in)."""
    kind = "groups" if config.channel.private else "channels"
    scopes: dict[str, tuple[str, ...]] = {
        "auth.test": (),
        "conversations.create": ("groups:write",) if config.channel.private else ("channels:manage",),
        # Archiving a resolved incident's channel (app.yaml `archive`): the scope that creates the channel.
        "conversations.archive": ("groups:write",) if config.channel.private else ("channels:manage",),
        "conversations.invite": (f"{kind}:write.invites",),
        "conversations.setTopic": (f"{kind}:write.topic",),
        "chat.postMessage": ("chat:write",),
        "chat.postEphemeral": ("chat:write",),
        "chat.update": ("chat:write",),
        "chat.getPermalink": (),
        "pins.add": ("pins:write",),
        # The incident channels' messages (a reaction's message, the bot's own tagged posts).
        "conversations.history": (f"{kind}:history",),
        "conversations.replies": (f"{kind}:history",),
        "users.info": ("users:read",),
        "files.getUploadURLExternal": ("files:write",),  # both made by files_upload_v2 (the report file)
        "files.completeUploadExternal": ("files:write",),
        "views.open": (),
        "views.update": (),
        # Which private incident channels a person is in; the bot's own channels (to adopt one it created behind a
        # timeout).
        # With the web view on, which private channels a signed-in person is in (whatever `channel.private` says
        # now, an incident may have been opened in a private channel: only its members may see it).
        "users.conversations": (f"{'groups' if config.channel.private else 'channels'}:read",)
        + (("groups:read",) if config.web.enabled and not config.channel.private else ()),
        # Whether an incident channel is archived, when an incident is reopened after its archiving.
        "conversations.info": (f"{kind}:read",),
    }
    if config.timeline.confirm == "reaction":
        scopes["reactions.add"] = ("reactions:write",)
    if config.announcement_channel:
        scopes["chat.postMessage"] = ("chat:write", "chat:write.public")  # posting without being a member
        scopes["conversations.history"] = tuple(dict.fromkeys((*scopes["conversations.history"], "channels:history")))
    return scopes


def bot_events(config: Config) -> list[str]:
    """The events the configured bot handles: messages of its kind of incident channel, reactions, renames and
    archives of its kind of channel, and the app's own lifecycle (tokens revoked, uninstalled)."""
    kind = "group" if config.channel.private else "channel"
    message = "message.groups" if config.channel.private else "message.channels"
    lifecycle = (f"{kind}_rename", f"{kind}_archive", "tokens_revoked", "app_uninstalled")
    return sorted((message, "reaction_added", "reaction_removed", *lifecycle))


def bot_scopes(config: Config) -> list[str]:
    scopes = {"commands"}  # slash commands and shortcuts
    for needed in method_scopes(config).values():
        scopes.update(needed)
    for event in bot_events(config):
        scopes.update(EVENT_SCOPES[event])
    return sorted(scopes)


OPENID_SCOPES = ("openid", "profile", "email")  # Sign in with Slack, for the web view


def oauth_config(config: Config, oauth_redirect_url: str | None = None) -> dict[str, Any]:
    """The bot's scopes; with the web view on (app.yaml `web`), also its sign-in: the redirect URL Slack may send
    browsers back to and the OpenID Connect user scopes. `oauth_redirect_url`: OAuth mode's install redirect URL
    (`https://<host>/slack/oauth_redirect`), listed too."""
    oauth: dict[str, Any] = {"scopes": {"bot": bot_scopes(config)}}
    redirect_urls: list[str] = []
    if oauth_redirect_url:
        redirect_urls.append(oauth_redirect_url)
    if config.web.enabled and config.web.base_url:
        redirect_urls.append(config.web.redirect_url)
        oauth["scopes"]["user"] = list(OPENID_SCOPES)
    if redirect_urls:
        oauth["redirect_urls"] = redirect_urls
    return oauth


def build_manifest(
    config: Config,
    *,
    request_url: str | None = None,
    socket_mode: bool | None = None,
    oauth_redirect_url: str | None = None,
    token_rotation: bool = False,
) -> dict[str, Any]:
    """`request_url` is the public https URL of `/slack/events` (HTTP mode); without it, Socket Mode.
    `oauth_redirect_url`: the public URL of `/slack/oauth_redirect`, for OAuth mode (installs into many
    workspaces); `token_rotation`: bot tokens that expire and are refreshed (OAuth mode)."""
    socket = socket_mode if socket_mode is not None else request_url is None
    command: dict[str, Any] = {
        "command": config.command,
        "description": "Open and run incidents",
        "usage_hint": "open [severity] <title> | status | severity <level> | commander @person | resolve | help",
        "should_escape": COMMAND_SHOULD_ESCAPE,
    }
    settings: dict[str, Any] = {
        "event_subscriptions": {"bot_events": bot_events(config)},
        "interactivity": {"is_enabled": True},
        "org_deploy_enabled": False,
        "socket_mode_enabled": socket,
        "token_rotation_enabled": token_rotation,
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
        "oauth_config": oauth_config(config, oauth_redirect_url),
        "settings": settings,
    }
