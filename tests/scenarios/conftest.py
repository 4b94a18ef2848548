"""Fixtures of the scenarios (beside those of tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.app import IncidentBot
from bot.clock import ManualClock
from bot.emulator import Channel, SlackEmulator
from tests.conftest import People
from tests.fakes.trackers import FakeGitHub

from .steps import EXAMPLE, GITHUB_TOKEN, REPOSITORY, open_incident


@pytest.fixture
async def incident(emulator: SlackEmulator, bot: IncidentBot, people: People) -> Channel:
    """Alice has opened an incident from #general; its channel has its card (modules that need another override
    this)."""
    return await open_incident(emulator, people.alice, people.general, EXAMPLE)


@pytest.fixture
def clock() -> ManualClock:
    """The time of a bot that runs on the test's clock (a module's `bot` fixture passes it to `serving`)."""
    return ManualClock()


@pytest.fixture
async def github() -> AsyncIterator[FakeGitHub]:
    """The GitHub fake, holding REPOSITORY and accepting GITHUB_TOKEN."""
    fake = FakeGitHub(token=GITHUB_TOKEN, repository=REPOSITORY)
    await fake.start()
    yield fake
    await fake.stop()
