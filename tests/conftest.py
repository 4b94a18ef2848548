"""Fixtures: a database (SQLite and PostgreSQL), the Slack emulator with a small workspace, and the bot."""

from __future__ import annotations

import os
import random
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.app import IncidentBot
from bot.config import Config, load_config
from bot.emulator import SlackEmulator
from bot.slack.manifest import COMMAND_SHOULD_ESCAPE, build_manifest

from .databases import PostgresTemplate, async_url, postgres_required, postgres_unavailable_reason

ROOT = Path(__file__).resolve().parents[1]
SIGNING_SECRET = "emulator-signing-secret"
BOT_TOKEN = "xoxb-emulator-token"
APP_TOKEN = "xapp-emulator-token"
WORKERS_PER_CORE = 1.5


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--emulator-seed",
        type=int,
        default=None,
        help="seed of the Slack emulator's delivery order (a failing test prints the one it ran with)",
    )


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """The workers of `-n auto` (pyproject.toml's addopts): WORKERS_PER_CORE a core, as tests also wait (on a bot
    process, the emulator, the database), but not more, as the bot processes they start compute, and a loaded
    machine makes their waits run out. PYTEST_XDIST_AUTO_NUM_WORKERS, where set, decides."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    return max(1, round(WORKERS_PER_CORE * len(os.sched_getaffinity(0))))


def emulator_seed(config: pytest.Config) -> int | None:
    seed = config.getoption("--emulator-seed")
    return int(seed) if seed is not None else None


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """slack_sdk sends every call through HTTP(S)_PROXY if set (it ignores NO_PROXY); the emulator is local."""
    for name in (
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "SLACK_CLIENT_ID",
        "SLACK_CLIENT_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[PostgresTemplate | None]:
    reason = postgres_unavailable_reason()
    if reason is not None:
        if postgres_required():
            pytest.fail(f"INCIDENT_BOT_REQUIRE_POSTGRES is set but {reason}")
        yield None
        return
    template = PostgresTemplate.create()
    yield template
    template.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_template: PostgresTemplate | None
) -> Iterator[str]:
    """Every test that asks for a database runs twice: on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'incident-bot.db'}"
        return
    yield from _fresh_postgres(postgres_template)


@pytest.fixture
def postgres_url(postgres_template: PostgresTemplate | None) -> Iterator[str]:
    """For what only PostgreSQL can do (several processes sharing one database)."""
    yield from _fresh_postgres(postgres_template)


def _fresh_postgres(template: PostgresTemplate | None) -> Iterator[str]:
    if template is None:
        pytest.skip(postgres_unavailable_reason() or "PostgreSQL unavailable")
    name = template.clone()
    yield async_url(name)
    PostgresTemplate.drop(name)


@dataclass(frozen=True)
class People:
    alice: str
    bob: str
    carol: str
    general: str  # a public channel everyone is in


@pytest.fixture
async def emulator(request: pytest.FixtureRequest) -> AsyncIterator[SlackEmulator]:
    # The workspace grants exactly the scopes and event subscriptions of our manifest (that of the app.yaml the bot
    # runs with, installed by `serving_at`): a Web API call the manifest does not cover fails with missing_scope, an
    # event it does not subscribe to is never delivered, and a command's text is escaped as the manifest asks. Events
    # come as Slack sends them: concurrently, out of order, retried when the bot fails or is slow (the seed, printed,
    # replays the order: SlackEmulator(seed=...)).
    emu = SlackEmulator(
        signing_secret=SIGNING_SECRET,
        bot_token=BOT_TOKEN,
        app_token=APP_TOKEN,
        should_escape=COMMAND_SHOULD_ESCAPE,
        seed=emulator_seed(request.config),
    )
    print(f"emulator seed: {emu.seed} (pytest --emulator-seed={emu.seed} replays its delivery order)")
    await emu.start()
    yield emu
    await emu.stop()


@pytest.fixture
def people(emulator: SlackEmulator) -> People:
    alice = emulator.add_user("alice", real_name="Alice Adams")
    bob = emulator.add_user("bob", real_name="Bob Brown")
    carol = emulator.add_user("carol", real_name="Carol Chen")
    general = emulator.add_channel("general", members=[alice, bob, carol])
    return People(alice=alice, bob=bob, carol=carol, general=general)


def environment(emulator: SlackEmulator, database_url: str, **extra: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": emulator.api_url,
        "DATABASE_URL": database_url,
        **extra,
    }


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def config_path() -> Path:
    """The app.yaml the bot runs with; tests that need other behaviour override this fixture."""
    return ROOT / "app.yaml"


@pytest.fixture
def config(config_path: Path, emulator: SlackEmulator, database_url: str) -> Config:
    return load_config(config_path, environment(emulator, database_url))


# Ports for the tests' servers are taken below the kernel's ephemeral range: a port found free, closed and then
# bound by a `serve` subprocess cannot meanwhile become the local port of some outgoing connection (to PostgreSQL,
# the emulator, ...), which is what port 0 hands out and what made such a bind fail with "address in use".
TEST_PORTS = range(20000, 32000)
_PORT_CHOICE = random.SystemRandom()  # never the seeded generator: parallel workers must not draw the same ports


def free_socket() -> socket.socket:
    """A socket bound to a free loopback port outside the ephemeral range (see TEST_PORTS)."""
    for _ in range(200):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", _PORT_CHOICE.choice(TEST_PORTS)))
        except OSError:
            sock.close()
            continue
        return sock
    raise RuntimeError(f"no free loopback port in {TEST_PORTS}")


@asynccontextmanager
async def serving_at(config: Config, emulator: SlackEmulator, **options: Any) -> AsyncIterator[tuple[IncidentBot, str]]:
    """The production app, served over HTTP on loopback: (the bot, its base URL). Where Slack delivers is left to
    the caller (`options`: those of IncidentBot, such as a shorter slack_timeout)."""
    emulator.install(build_manifest(config))  # the app as installed from the manifest of this app.yaml
    incident_bot = IncidentBot(config, **options)
    await incident_bot.start()
    runner = incident_bot.web_runner()
    await runner.setup()
    sock = free_socket()
    await web.SockSite(runner, sock).start()
    try:
        yield incident_bot, f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        await emulator.wait_idle()
        await runner.cleanup()
        await incident_bot.close()


@asynccontextmanager
async def serving(config: Config, emulator: SlackEmulator, **options: Any) -> AsyncIterator[IncidentBot]:
    """`serving_at`, with the emulator delivering to it."""
    async with serving_at(config, emulator, **options) as (incident_bot, url):
        emulator.set_request_url(f"{url}/slack/events")
        yield incident_bot


@pytest.fixture
async def bot(config: Config, emulator: SlackEmulator, people: People) -> AsyncIterator[IncidentBot]:
    async with serving(config, emulator) as incident_bot:
        yield incident_bot
