"""Slack listeners only: each acks, turns the payload into a typed request and calls one service."""

from slack_bolt.async_app import AsyncApp

from bot.config import Config
from bot.services import Services

from . import actions, commands, errors, events, shortcuts, views


def register_all(app: AsyncApp, config: Config, services: Services) -> None:
    for module in (commands, actions, views, shortcuts, events, errors):
        module.register(app, config, services)
