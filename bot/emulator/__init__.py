"""A local Slack for tests and demos: Web API, signed request delivery and Socket Mode on a loopback server.

Usage::

    async with SlackEmulator() as emu:
        client = AsyncWebClient(token=emu.bot_token, base_url=emu.api_url)

Scripted Web API failures: fail_next / rate_limit_next (refused, nothing happens) and fail_after_performing /
delay_after_performing / hold (the call takes effect, the answer is lost, late or held).

Delivery is as messy as Slack's (bot/emulator/courier.py): events concurrently, out of order, and retried when the
bot fails or is slow; `SlackEmulator(seed=N)` replays a run's choices, `ordered=True` delivers strictly in order.
What people type reaches the bot in Slack's markup (bot/emulator/composer.py).

Several workspaces with one app installed by OAuth, on one server: `SlackGrid` (bot/emulator/grid.py).
"""

from bot.emulator.acks import PrivateNotice
from bot.emulator.delivery import Delivery
from bot.emulator.grid import Installed, SlackGrid
from bot.emulator.methods import METHODS, Hold
from bot.emulator.server import DEFAULT_EVENTS, DEFAULT_SCOPES, SlackEmulator
from bot.emulator.workspace import (
    ApiCall,
    BotIdentity,
    Channel,
    EphemeralMessage,
    Fault,
    File,
    Message,
    ResponseUrlPost,
    User,
    View,
    Workspace,
)

__all__ = [
    "DEFAULT_EVENTS",
    "DEFAULT_SCOPES",
    "METHODS",
    "ApiCall",
    "BotIdentity",
    "Channel",
    "Delivery",
    "EphemeralMessage",
    "Fault",
    "File",
    "Hold",
    "Installed",
    "Message",
    "PrivateNotice",
    "ResponseUrlPost",
    "SlackEmulator",
    "SlackGrid",
    "User",
    "View",
    "Workspace",
]
