"""The emulated workspace: users, channels, messages, views, files, and how Slack serialises them."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

JSON = dict[str, Any]


@dataclass
class User:
    id: str
    name: str
    real_name: str
    team_id: str
    is_bot: bool = False
    bot_id: str | None = None
    email: str | None = None
    deleted: bool = False
    tz: str = "UTC"
    app_id: str | None = None  # bot users: the app they belong to
    is_restricted: bool = False  # a guest (multi-channel guest account)
    is_admin: bool = False  # a workspace admin (may install apps)

    def to_api(self) -> JSON:
        profile: JSON = {
            "real_name": self.real_name,
            "real_name_normalized": self.real_name,
            "display_name": self.name,
            "display_name_normalized": self.name,
            "team": self.team_id,
            "avatar_hash": "g0000emulator",
            "image_48": "https://a.slack-edge.com/emulator/avatar_48.png",
        }
        if self.email:
            profile["email"] = self.email
        if self.bot_id:
            profile["bot_id"] = self.bot_id
            if self.app_id:
                profile["api_app_id"] = self.app_id
        return {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "deleted": self.deleted,
            "color": "9f69e7",
            "real_name": self.real_name,
            "tz": self.tz,
            "tz_label": "Coordinated Universal Time",
            "tz_offset": 0,
            "profile": profile,
            "is_admin": self.is_admin,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": self.is_restricted,
            "is_ultra_restricted": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "updated": 1700000000,
        }


def bot_app_id(bot_id: str) -> str:
    """The app id of another integration's bot user (derived from its bot id, so no workspace id is used up)."""
    return "A" + bot_id.removeprefix("B")


@dataclass(frozen=True)
class BotIdentity:
    """The app under test: its bot user, bot id and app id (what auth.test answers)."""

    user_id: str
    bot_id: str
    app_id: str
    name: str

    def profile(self, team_id: str) -> JSON:
        return {
            "id": self.bot_id,
            "deleted": False,
            "name": self.name,
            "updated": 1700000000,
            "app_id": self.app_id,
            "icons": {"image_36": "https://a.slack-edge.com/emulator/bot_36.png"},
            "team_id": team_id,
        }


@dataclass
class Message:
    ts: str
    channel: str
    user: str | None
    text: str = ""
    blocks: list[JSON] = field(default_factory=list)
    bot_id: str | None = None
    thread_ts: str | None = None
    reactions: dict[str, list[str]] = field(default_factory=dict)
    edited: dict[str, str] | None = None
    subtype: str | None = None
    attachments: list[JSON] = field(default_factory=list)
    files: list[JSON] = field(default_factory=list)
    metadata: JSON | None = None
    app_id: str | None = None
    team: str | None = None
    client_msg_id: str | None = None
    inviter: str | None = None
    upload: bool = False  # a file a person uploaded (file_share from a client), not an app's files.* upload

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool
    created: int
    creator: str
    members: set[str] = field(default_factory=set)
    topic: str = ""
    purpose: str = ""
    is_archived: bool = False
    pins: list[str] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    is_im: bool = False
    bookmarks: list[JSON] = field(default_factory=list)
    topic_set_by: str = ""
    topic_set_at: int = 0
    purpose_set_by: str = ""
    purpose_set_at: int = 0

    @property
    def channel_type(self) -> str:
        """The `channel_type` of message events: channel / group / im."""
        if self.is_im:
            return "im"
        return "group" if self.is_private else "channel"

    def find(self, ts: str) -> Message | None:
        for message in self.messages:
            if message.ts == ts:
                return message
        return None

    def replies(self, thread_ts: str) -> list[Message]:
        return [m for m in self.messages if m.thread_ts == thread_ts and m.ts != thread_ts]

    def top_level(self) -> list[Message]:
        return [m for m in self.messages if not m.is_reply or m.subtype == "thread_broadcast"]


@dataclass
class View:
    id: str
    user: str
    view: JSON
    callback_id: str
    private_metadata: str
    hash: str
    trigger_id: str | None
    type: str = "modal"
    external_id: str = ""
    root_view_id: str = ""
    previous_view_id: str | None = None
    is_open: bool = True
    blocks: list[JSON] = field(default_factory=list)
    state_values: JSON = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class File:
    id: str
    filename: str
    length: int
    title: str = ""
    content: bytes | None = None
    channels: list[str] = field(default_factory=list)
    user: str = ""


# A scripted fault that changed how a call was answered although Slack had run it (see SlackEmulator):
# "failed_after_performing" - performed, then answered with a 5xx and a non-JSON body;
# "delayed_after_performing" - performed, answer sent late;
# "held" - answer held until released (performed on arrival, or at release with perform=False);
# "dropped" - a hold(perform=False) call never released before the emulator stopped: never performed.
Fault = Literal["failed_after_performing", "delayed_after_performing", "held", "dropped"]


@dataclass(frozen=True)
class ApiCall:
    """One Web API request the emulator received.

    `ok`, `error` and `response` are what the method did and would have answered (ok=True: the call took effect);
    `http_status` is the status actually sent. With a `fault`, they can disagree: ok=True with http_status=500
    means the channel was created / the message posted, but the client saw a server error.
    """

    method: str
    args: JSON
    ok: bool
    error: str | None
    http_status: int
    response: JSON
    fault: Fault | None = None


@dataclass(frozen=True)
class EphemeralMessage:
    channel: str
    user: str
    text: str
    blocks: list[JSON]
    message_ts: str
    thread_ts: str | None = None


@dataclass(frozen=True)
class ResponseUrlPost:
    """A POST the bot made to a response_url (from a command, action or message shortcut)."""

    user: str
    channel: str | None
    payload: JSON
    url: str


# Methods a workspace admin can restrict for apps (each documents `restricted_action`).
RESTRICTABLE = frozenset({"conversations.create", "chat.postMessage", "chat.postEphemeral", "pins.add"})
# What conversations.invite answers for one person it will not add (each documented for the method).
INVITE_REFUSALS = frozenset(
    {
        "cant_invite",
        "user_is_restricted",
        "ura_max_channels",
        "invitee_cant_see_channel",
        "org_user_not_in_team",
        "no_external_invite_permission",
    }
)
MAX_PINS = 100  # Slack's limit of pinned items in one channel


@dataclass
class Policy:
    """What this workspace's admins (and plan) let apps do. Slack refuses the rest with the errors real workspaces
    return; a fresh workspace allows everything."""

    restricted: set[str] = field(default_factory=set)  # methods admins restricted for apps: restricted_action
    file_uploads: bool = True  # False: an admin disabled uploads (files.getUploadURLExternal: file_uploads_disabled)
    max_pins: int = MAX_PINS  # pins.add beyond this many pins in a channel: too_many_pins
    uninvitable: dict[str, str] = field(default_factory=dict)  # person -> what conversations.invite answers for them

    def restrict(self, method: str) -> None:
        """An admin restricts what `method` does for apps (creating channels, posting, pinning): restricted_action."""
        if method not in RESTRICTABLE:
            raise ValueError(f"Slack does not answer restricted_action for {method}; one of {sorted(RESTRICTABLE)}")
        self.restricted.add(method)

    def refuse_invites(self, user_id: str, error: str = "cant_invite") -> None:
        """conversations.invite will not add this person (a guest kept out of the channel, a user of another
        organisation...): it answers `error` for them."""
        if error not in INVITE_REFUSALS:
            raise ValueError(f"conversations.invite does not answer {error!r} for a person; one of {INVITE_REFUSALS}")
        self.uninvitable[user_id] = error


@dataclass(frozen=True)
class Allowance:
    """A rate limit as a token bucket: up to `burst` calls at once, refilled at `per_minute` calls a minute."""

    per_minute: float
    burst: float


# Slack's Web API tiers ("per API method per workspace per app"); Tier 2: "20+ per minute ... occasional bursts".
TIER_2 = Allowance(per_minute=20, burst=20)
# chat.postMessage: "one message per second per channel ... Short bursts >1 allowed".
CHANNEL_POSTS = Allowance(per_minute=60, burst=6)


class RateLimits:
    """Slack's rate limits: a call over its allowance is not performed and is answered HTTP 429, `Retry-After` (whole
    seconds) and `{"ok": false, "error": "ratelimited"}`. `methods` are limited per method, `per_channel` per method
    and channel. `enabled = False` lifts every limit; `clock` (seconds) may be replaced to step time in tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.enabled = True
        self.clock = clock
        self.methods: dict[str, Allowance] = {"conversations.create": TIER_2}
        self.per_channel: dict[str, Allowance] = {"chat.postMessage": CHANNEL_POSTS}
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # (method, channel) -> (tokens, when)

    def take(self, method: str, channel: str) -> int | None:
        """Count a call: None if it is within its allowance, else the seconds to wait (Retry-After)."""
        allowance = self.methods.get(method)
        key = (method, "")
        if allowance is None and method in self.per_channel:
            allowance, key = self.per_channel[method], (method, channel)
        if allowance is None or not self.enabled:
            return None
        now = self.clock()
        rate = allowance.per_minute / 60.0
        tokens, then = self._buckets.get(key, (allowance.burst, now))
        tokens = min(allowance.burst, tokens + (now - then) * rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return None
        self._buckets[key] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / rate))


class Workspace:
    """All mutable state of the emulated Slack team."""

    def __init__(
        self,
        team_id: str,
        team_domain: str,
        team_name: str,
        *,
        id_space: str = "0",
        enterprise_id: str | None = None,
        enterprise_name: str | None = None,
    ) -> None:
        """`id_space`: the character after each id's prefix (C0…, U0…): workspaces served side by side
        (bot/emulator/grid.py) each get their own, so no two of them hand out the same id.
        `enterprise_id`/`enterprise_name`: the Enterprise Grid organisation the workspace belongs to, if any."""
        self.team_id = team_id
        self.team_domain = team_domain
        self.team_name = team_name
        self.id_space = id_space
        self.enterprise_id = enterprise_id
        self.enterprise_name = enterprise_name
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.views: dict[str, View] = {}
        self.files: dict[str, File] = {}
        self.bot: BotIdentity | None = None
        self.modal_stacks: dict[str, list[str]] = {}
        self.policy = Policy()
        self.limits = RateLimits()
        self._counter = 0
        self._last_ts = 0.0

    # -- ids and timestamps -------------------------------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self.id_space}{self._counter:08X}"

    def next_ts(self) -> str:
        """A message timestamp: epoch seconds with 6 decimals, strictly increasing."""
        now = max(time.time(), self._last_ts + 0.000001)
        self._last_ts = round(now, 6)
        return f"{self._last_ts:.6f}"

    # -- lookups ------------------------------------------------------------------------------------------
    @property
    def identity(self) -> BotIdentity:
        if self.bot is None:
            raise RuntimeError("the workspace has no bot identity")
        return self.bot

    def channel_by_name(self, name: str) -> Channel | None:
        wanted = name.removeprefix("#")
        for channel in self.channels.values():
            if channel.name == wanted and not channel.is_im:
                return channel
        return None

    def im_with(self, user_id: str) -> Channel:
        """The bot's direct-message channel with a user, created on first use."""
        bot = self.identity.user_id
        for channel in self.channels.values():
            if channel.is_im and channel.members == {bot, user_id}:
                return channel
        channel = Channel(
            id=self.new_id("D"),
            name=user_id,
            is_private=True,
            created=int(time.time()),
            creator=bot,
            members={bot, user_id},
            is_im=True,
        )
        self.channels[channel.id] = channel
        return channel

    def bot_profile(self, bot_id: str) -> JSON | None:
        """The `bot_profile` of messages posted by a bot: the app under test, or a bot user made with add_user()."""
        if self.bot is not None and bot_id == self.bot.bot_id:
            return self.bot.profile(self.team_id)
        for user in self.users.values():
            if user.bot_id == bot_id:
                return BotIdentity(user.id, bot_id, bot_app_id(bot_id), user.name).profile(self.team_id)
        return None

    def display_name(self, user_id: str | None) -> str:
        if user_id is None:
            return "unknown"
        user = self.users.get(user_id)
        return user.name if user else user_id

    # -- serialisation (the shapes of Slack's API responses) ---------------------------------------------
    def channel_api(self, channel: Channel, *, num_members: bool = False) -> JSON:
        bot = self.identity.user_id
        data: JSON = {
            "id": channel.id,
            "name": channel.name,
            "is_channel": not channel.is_private and not channel.is_im,
            "is_group": channel.is_private and not channel.is_im,
            "is_im": channel.is_im,
            "is_mpim": False,
            "is_private": channel.is_private,
            "created": channel.created,
            "creator": channel.creator,
            "is_archived": channel.is_archived,
            "is_general": False,
            "unlinked": 0,
            "name_normalized": channel.name,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "pending_shared": [],
            "is_pending_ext_shared": False,
            "is_member": bot in channel.members,
            "context_team_id": self.team_id,
            "shared_team_ids": [self.team_id],
            "topic": {
                "value": channel.topic,
                "creator": channel.topic_set_by,
                "last_set": channel.topic_set_at,
            },
            "purpose": {
                "value": channel.purpose,
                "creator": channel.purpose_set_by,
                "last_set": channel.purpose_set_at,
            },
            "previous_names": [],
        }
        if channel.is_im:
            data["user"] = next((m for m in channel.members if m != bot), bot)
        if num_members:
            data["num_members"] = len(channel.members)
        return data

    def message_api(self, channel: Channel, message: Message) -> JSON:
        data: JSON = {"type": "message"}
        if message.subtype:
            data["subtype"] = message.subtype
        if message.subtype == "tombstone":
            data["hidden"] = True
        data["text"] = message.text
        if message.user:
            data["user"] = message.user
        if message.bot_id:
            data["bot_id"] = message.bot_id
            if message.app_id:
                data["app_id"] = message.app_id
            profile = self.bot_profile(message.bot_id)
            if profile is not None:
                data["bot_profile"] = profile
        if message.client_msg_id:
            data["client_msg_id"] = message.client_msg_id
        if message.inviter:
            data["inviter"] = message.inviter
        data["ts"] = message.ts
        if message.team:
            data["team"] = message.team
        if message.blocks:
            data["blocks"] = message.blocks
        if message.attachments:
            data["attachments"] = message.attachments
        if message.files:
            data["files"] = message.files
            data["upload"] = message.upload
            data["display_as_bot"] = False
        if message.metadata:
            data["metadata"] = message.metadata
        if message.edited:
            data["edited"] = dict(message.edited)
        if message.thread_ts:
            data["thread_ts"] = message.thread_ts
            replies = channel.replies(message.ts) if not message.is_reply else []
            if message.is_reply:
                parent = channel.find(message.thread_ts)
                if parent and parent.user:
                    data["parent_user_id"] = parent.user
            elif replies:
                data["reply_count"] = len(replies)
                data["reply_users_count"] = len({r.user for r in replies})
                data["latest_reply"] = replies[-1].ts
                data["reply_users"] = sorted({r.user for r in replies if r.user})
        if message.ts in channel.pins:
            data["pinned_to"] = [channel.id]
        if message.reactions:
            data["reactions"] = [
                {"name": name, "users": list(users), "count": len(users)} for name, users in message.reactions.items()
            ]
        return data

    def view_api(self, view: View) -> JSON:
        bot = self.identity
        spec = view.view
        data: JSON = {"id": view.id, "team_id": self.team_id, "type": view.type}
        for key in ("title", "submit", "close"):
            if view.type == "modal":
                data[key] = spec.get(key)
        data.update(
            {
                "blocks": view.blocks,
                "private_metadata": view.private_metadata,
                "callback_id": view.callback_id,
                "state": {"values": view.state_values},
                "hash": view.hash,
                "clear_on_close": bool(spec.get("clear_on_close", False)),
                "notify_on_close": bool(spec.get("notify_on_close", False)),
                "root_view_id": view.root_view_id,
                "previous_view_id": view.previous_view_id,
                "app_id": bot.app_id,
                "external_id": view.external_id,
                "app_installed_team_id": self.team_id,
                "bot_id": bot.bot_id,
            }
        )
        return data
