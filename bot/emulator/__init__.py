"""A local Slack for tests and demos: Web API, signed request delivery and Socket Mode on a loopback server.

Usage::

    async with SlackEmulator() as emu:
        client = AsyncWebClient(token=emu.bot_token, base_url=emu.api_url)
"""

from bot.emulator.acks import PrivateNotice
from bot.emulator.delivery import Delivery
from bot.emulator.methods import METHODS
from bot.emulator.server import DEFAULT_EVENTS, DEFAULT_SCOPES, SlackEmulator
from bot.emulator.workspace import (
    ApiCall,
    BotIdentity,
    Channel,
    EphemeralMessage,
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
    "File",
    "Message",
    "PrivateNotice",
    "ResponseUrlPost",
    "SlackEmulator",
    "User",
    "View",
    "Workspace",
]
