"""The container recipe (Dockerfile, .dockerignore, compose.yaml), checked without Docker.

No image is built here. What can be checked is: the image's HEALTHCHECK command, taken from the Dockerfile and run
with this Python against real servers; that compose.yaml and the Dockerfile agree with each other (database
credentials, ports, user); and that the build context keeps what the wheel is built from and little else.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from aiohttp import web

from bot.config import load_config
from bot.emulator import SlackEmulator
from tests.conftest import ROOT, environment, free_socket
from tests.scenarios.test_serve_process import serve, wait_healthy

# -- reading the recipe --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str  # FROM, RUN, HEALTHCHECK, ... (upper case)
    arguments: str  # the rest, continuation lines joined


def dockerfile_stages() -> list[list[Instruction]]:
    """The Dockerfile's instructions, one list per stage (each starts at a FROM); comments dropped, lines ending
    in a backslash joined with the next, as Docker reads them."""
    stages: list[list[Instruction]] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("#"):  # a comment, even between continuation lines
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        if not text:
            continue
        keyword, _, arguments = text.partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        stages[-1].append(Instruction(keyword.upper(), arguments.strip()))
    return stages


def final_stage(keyword: str) -> list[str]:
    """The arguments of every `keyword` instruction of the image's (last) stage, in order."""
    return [i.arguments for i in dockerfile_stages()[-1] if i.keyword == keyword]


def exec_or_shell_form(arguments: str) -> list[str]:
    """`["a", "b"]` (exec form, JSON) or `a b` (shell form, split as the shell would split plain words)."""
    if arguments.startswith("["):
        command = json.loads(arguments)
        assert isinstance(command, list)
        return [str(part) for part in command]
    return shlex.split(arguments)


def healthcheck_command() -> list[str]:
    """The command of the final stage's `HEALTHCHECK [--option=value ...] CMD command`."""
    (healthcheck,) = final_stage("HEALTHCHECK")
    words = healthcheck.split(" ")
    while words[0].startswith("--") or not words[0]:
        words.pop(0)
    assert words[0].upper() == "CMD", f"expected HEALTHCHECK [options] CMD ..., got {healthcheck}"
    return exec_or_shell_form(" ".join(words[1:]).strip())


def served_port() -> int:
    """The port the image's default command serves on (`serve ... --port N`)."""
    *_, cmd = final_stage("CMD")
    command = exec_or_shell_form(cmd)
    return int(command[command.index("--port") + 1])


def compose() -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert name in services, f"compose.yaml has no service {name!r}"
    return dict(services[name])


def container_port(mapping: str) -> int:
    """The container's side of a port mapping: "3000:3000", "127.0.0.1:8080:3000/tcp" -> 3000."""
    return int(mapping.rsplit(":", 1)[-1].split("/")[0])


# -- running the healthcheck -------------------------------------------------------------------------------------


async def run_healthcheck(port: int) -> int:
    """The image's healthcheck, aimed at 127.0.0.1:`port`; its exit status.

    The command probes the port the image serves (3000); here each server listens on a free port, so that port is
    put in its place. It runs with this Python started with -S (no site-packages), as it must run in the image:
    with nothing but the standard library."""
    command = healthcheck_command()
    address = f"127.0.0.1:{served_port()}"
    assert sum(address in part for part in command) == 1, f"the healthcheck should probe {address}: {command}"
    assert command[0] in ("python", "python3"), f"slim images have Python and no curl: {command}"
    arguments = [part.replace(address, f"127.0.0.1:{port}") for part in command[1:]]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-S", *arguments, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    return await asyncio.wait_for(process.wait(), timeout=60)  # a guard against a hang, not a measured time


def port_of(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


@pytest.fixture
def port_nothing_listens_on() -> Iterator[int]:
    """A port held (bound, never listening) so that no one else takes it meanwhile: connecting is refused."""
    sock = free_socket()
    yield port_of(sock)
    sock.close()


@pytest.fixture
async def server_answering_503() -> AsyncIterator[int]:
    """An HTTP server whose /healthz answers 503, as the bot does while it starts; its port."""

    async def starting(_: web.Request) -> web.Response:
        return web.json_response({"ok": False, "status": "starting"}, status=503)

    app = web.Application()
    app.router.add_get("/healthz", starting)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = free_socket()
    await web.SockSite(runner, sock).start()
    yield port_of(sock)
    await runner.cleanup()


async def test_the_image_healthcheck_passes_against_a_ready_bot(
    emulator: SlackEmulator, database_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    with serve(environment(emulator, database_url), log) as url:
        await wait_healthy(url, log)

        status = await run_healthcheck(int(urlsplit(url).port or 0))

    assert status == 0


async def test_the_image_healthcheck_fails_where_nothing_listens(port_nothing_listens_on: int) -> None:
    status = await run_healthcheck(port_nothing_listens_on)

    assert status != 0


async def test_the_image_healthcheck_fails_while_healthz_answers_503(server_answering_503: int) -> None:
    status = await run_healthcheck(server_answering_503)

    assert status != 0


# -- compose.yaml and the Dockerfile agree -----------------------------------------------------------------------


def test_compose_points_the_bot_at_the_db_service_with_the_credentials_it_creates() -> None:
    database = service("db")["environment"]
    url = urlsplit(service("bot")["environment"]["DATABASE_URL"])

    assert url.scheme in ("postgresql", "postgres")
    assert url.hostname == "db"
    assert url.port in (None, 5432)  # PostgreSQL's own port inside the network
    assert url.username == database["POSTGRES_USER"]
    assert url.password == database["POSTGRES_PASSWORD"]
    assert url.path == f"/{database['POSTGRES_DB']}"


def test_compose_publishes_the_port_the_image_serves_and_exposes() -> None:
    (mapping,) = service("bot")["ports"]
    exposed = [int(port.split("/")[0]) for ports in final_stage("EXPOSE") for port in ports.split()]

    assert container_port(str(mapping)) == served_port()
    assert exposed == [served_port()]


def test_the_image_healthcheck_probes_the_port_the_image_serves() -> None:
    command = " ".join(healthcheck_command())

    probed = re.findall(r"127\.0\.0\.1:(\d+)", command)

    assert probed == [str(served_port())]


def test_the_image_runs_as_a_user_other_than_root() -> None:
    *_, user = final_stage("USER")

    name = user.split(":")[0]

    assert name not in ("root", "0")


def test_compose_requires_the_bot_token_and_leaves_the_signing_secret_and_app_token_to_the_mode() -> None:
    # HTTP mode needs the signing secret, Socket Mode the app token: the bot itself says which one is missing.
    bot = service("bot")["environment"]

    assert bot["SLACK_BOT_TOKEN"].startswith("${SLACK_BOT_TOKEN:?")
    assert bot["SLACK_SIGNING_SECRET"] == "${SLACK_SIGNING_SECRET:-}"
    assert bot["SLACK_APP_TOKEN"] == "${SLACK_APP_TOKEN:-}"


def test_an_empty_app_token_as_compose_passes_it_means_http_mode() -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "secret", "SLACK_APP_TOKEN": ""}

    config = load_config(ROOT / "app.yaml", env)

    assert config.slack.app_token is None
    assert not config.slack.socket_mode


# -- the build context -------------------------------------------------------------------------------------------


def dockerignore_rules() -> list[tuple[re.Pattern[str], bool]]:
    """.dockerignore as (pattern, excludes?) pairs, in order: `*` and `?` stay within a folder, `**` crosses
    folders, `!` takes a path back in."""
    rules = []
    for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        excludes = not pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        regex = ""
        for token in re.findall(r"\*\*/|\*\*|\*|\?|\[[^]]*\]|.", pattern):
            regex += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(
                token, token if token.startswith("[") and len(token) > 1 else re.escape(token)
            )
        rules.append((re.compile(regex), excludes))
    return rules


def in_build_context(path: str) -> bool:
    """Whether the build context has `path` (relative, with /): the last rule matching it or a folder above it
    decides, as Docker does."""
    parts = path.split("/")
    excluded = False
    for regex, excludes in dockerignore_rules():
        if any(regex.fullmatch("/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            excluded = excludes
    return not excluded


def wheel_sources() -> list[str]:
    """What `pip wheel` builds the bot from: pyproject.toml, the README it names, the packages whole (Python
    caches aside), app.yaml and runbooks/ (which may link into bot/)."""
    files = ["pyproject.toml", "README.md", "app.yaml"]
    for folder in ("bot", "handlers", "migrations", "runbooks"):
        files += [
            path.relative_to(ROOT).as_posix()
            for path in sorted((ROOT / folder).rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts
        ]
    return files


def test_the_build_context_keeps_everything_the_wheel_is_built_from() -> None:
    sources = wheel_sources()

    left_out = [path for path in sources if not in_build_context(path)]

    assert len(sources) > 50  # the packages were found
    assert left_out == []


def test_the_build_context_leaves_out_history_secrets_environments_tests_and_local_databases() -> None:
    elsewhere = [
        ".git/HEAD",
        ".env",
        ".venv/bin/python",
        "bot/__pycache__/cli.cpython-311.pyc",
        ".mypy_cache/3.11/bot/cli.meta.json",
        "incident_bot.egg-info/PKG-INFO",
        "tests/eval/transcripts.yaml",
        "bench/ingest.py",
        "incident-bot.db",
        "incident-bot.db-wal",
        "config/app.yaml",
    ]

    kept = [path for path in elsewhere if in_build_context(path)]

    assert kept == []
