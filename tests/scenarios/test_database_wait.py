"""`incident-bot serve` started before its database is up (docker compose, systemd): it waits, says so, and serves
once the database answers; a database that will never answer as configured stops it at once, saying what to fix."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy.engine import make_url

from bot.emulator import SlackEmulator
from tests.conftest import People, environment, free_socket

from .steps import open_incident
from .test_serve_process import serve_process, wait_healthy


class PostgresComingUp:
    """A port on loopback where, at first, nothing listens (the connections are refused) and then, from `accept()`
    on, PostgreSQL answers: as a client sees a PostgreSQL that comes up after it."""

    def __init__(self, upstream: str) -> None:
        url = make_url(upstream)
        self._upstream = (url.host or "127.0.0.1", url.port or 5432)
        sock = free_socket()
        self.port = sock.getsockname()[1]
        sock.close()
        self.url = url.set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def accept(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()

    async def _forward(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(*self._upstream)
        self._writers += [client_writer, server_writer]
        await asyncio.gather(_pipe(client_reader, server_writer), _pipe(server_reader, client_writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def health_answers(url: str, seconds: float, *, waiting_within: float = 60.0) -> list[tuple[int, str]]:
    """Every answer of /healthz, asked every 0.2 s for at least `seconds`, and on until it has said it is waiting
    for the database (a loaded machine can take seconds to start the process; at most `waiting_within` s)."""
    answers: list[tuple[int, str]] = []
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with aiohttp.ClientSession() as session:
        while loop.time() - started < seconds or not _said_waiting(answers):
            if loop.time() - started > waiting_within:
                break
            try:
                async with session.get(f"{url}/healthz") as response:
                    answers.append((response.status, (await response.json())["status"]))
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.2)
    return answers


def _said_waiting(answers: list[tuple[int, str]]) -> bool:
    return any(said.startswith("waiting for the database") for _, said in answers)


def stopped(process: subprocess.Popen[bytes], within: float = 30) -> int:
    return process.wait(timeout=within)


@pytest.mark.postgres
async def test_serve_started_five_seconds_before_postgresql_accepts_connections_becomes_healthy_once_it_does(
    emulator: SlackEmulator, postgres_url: str, people: People, tmp_path: Path
) -> None:
    database = PostgresComingUp(postgres_url)
    log = tmp_path / "serve.log"
    try:
        with serve_process(environment(emulator, database.url), log) as (url, _process):
            while_down = await health_answers(url, 5.0)
            await database.accept()
            await wait_healthy(url, log, within=30)
            emulator.set_request_url(f"{url}/slack/events")
            channel = await open_incident(emulator, people.alice, people.general, "Started before its database")
    finally:
        await database.close()

    assert while_down, "the bot never answered /healthz while its database was down"
    assert all(status == 503 for status, _ in while_down)
    assert any(said.startswith("waiting for the database") for _, said in while_down), while_down
    said = log.read_text()
    assert "waiting for the database at 127.0.0.1" in said
    assert "ConnectionRefusedError" in said
    assert f"the database at 127.0.0.1:{database.port}/{make_url(postgres_url).database} answered after" in said
    assert channel.pins


async def test_serve_keeps_waiting_while_the_database_port_accepts_and_drops_connections(
    emulator: SlackEmulator, tmp_path: Path
) -> None:
    # A container's published port accepts connections and drops them until the server in it listens.
    async def drop(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.transport.abort()

    dropping = await asyncio.start_server(drop, "127.0.0.1", 0)
    port = dropping.sockets[0].getsockname()[1]
    log = tmp_path / "serve.log"  # in a folder without an app.yaml, and no INCIDENT_BOT_CONFIG: the packaged defaults
    try:
        env = environment(emulator, f"postgresql://postgres@127.0.0.1:{port}/test", INCIDENT_BOT_CONFIG="")
        with serve_process(env, log) as (url, process):
            answers = await health_answers(url, 3.0)
            still_running = process.poll() is None
    finally:
        dropping.close()

    assert still_running
    assert log.read_text().count("using the packaged defaults") == 1
    assert answers
    assert all(status == 503 for status, _ in answers)
    assert any(said.startswith("waiting for the database") for _, said in answers), answers


async def test_serve_keeps_waiting_while_postgresql_says_it_is_starting_up(
    emulator: SlackEmulator, tmp_path: Path
) -> None:
    # What PostgreSQL answers while it recovers or starts: SQLSTATE 57P03 to every connection (asyncpg:
    # CannotConnectNowError). The stand-in speaks just enough of the protocol to say it.
    async def starting_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            body = await _message(reader)
            if int.from_bytes(body[:4], "big") == SSL_REQUEST:
                writer.write(b"N")  # no TLS here; the client goes on with its startup message
                await _message(reader)
            fields = b"SFATAL\0VFATAL\0C57P03\0Mthe database system is starting up\0\0"
            writer.write(b"E" + (len(fields) + 4).to_bytes(4, "big") + fields)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(starting_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    log = tmp_path / "serve.log"
    try:
        env = environment(emulator, f"postgresql://postgres@127.0.0.1:{port}/test")
        with serve_process(env, log) as (url, process):
            answers = await health_answers(url, 3.0)
            still_running = process.poll() is None
    finally:
        server.close()

    assert still_running, log.read_text()
    assert answers
    assert all(status == 503 for status, _ in answers)
    assert any("CannotConnectNowError: the database system is starting up" in said for _, said in answers), answers


SSL_REQUEST = 80877103  # the code of PostgreSQL's SSLRequest message


async def _message(reader: asyncio.StreamReader) -> bytes:
    """One untyped startup-phase message from a PostgreSQL client: its length (4 bytes, itself included), then it."""
    length = int.from_bytes(await reader.readexactly(4), "big")
    return await reader.readexactly(length - 4)


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("change", "told"),
    [
        ({"username": "nobody"}, "refused DATABASE_URL's user or password"),
        ({"database": "no_such_database"}, "has no such database"),
    ],
)
async def test_serve_with_a_wrong_user_or_database_name_stops_at_once_saying_what_to_fix(
    emulator: SlackEmulator, postgres_url: str, tmp_path: Path, change: dict[str, str], told: str
) -> None:
    wrong = make_url(postgres_url).set(**change).render_as_string(hide_password=False)  # type: ignore[arg-type]
    log = tmp_path / "serve.log"

    with serve_process(environment(emulator, wrong), log) as (_url, process):
        status = await asyncio.to_thread(stopped, process)

    said = log.read_text()
    assert status == 2, said
    assert told in said
    assert "waiting for the database" not in said  # no try was made again


async def test_serve_with_a_database_host_that_does_not_exist_stops_at_once(
    emulator: SlackEmulator, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"

    env = environment(emulator, "postgresql://postgres@no-such-host.invalid:5432/test")
    with serve_process(env, log) as (_url, process):
        status = await asyncio.to_thread(stopped, process)

    said = log.read_text()
    assert status == 2, said
    assert "cannot find the database host in DATABASE_URL (no-such-host.invalid:5432/test)" in said
    assert "waiting for the database" not in said


async def test_serve_gives_up_after_the_time_it_was_given_to_wait_and_says_so(
    emulator: SlackEmulator, tmp_path: Path
) -> None:
    closed = free_socket()  # bound, never listening: connections to it are refused
    port = closed.getsockname()[1]
    log = tmp_path / "serve.log"
    try:
        env = environment(emulator, f"postgresql://postgres@127.0.0.1:{port}/test")
        with serve_process(env, log, "--wait-for-database", "2") as (_url, process):
            status = await asyncio.to_thread(stopped, process)
    finally:
        closed.close()

    said = log.read_text()
    assert status == 1, said
    assert "waiting for the database" in said
    assert f"the database at 127.0.0.1:{port}/test did not accept connections within 2 s" in said


async def test_serve_stops_at_sigterm_while_it_waits_for_its_database(emulator: SlackEmulator, tmp_path: Path) -> None:
    # As PID 1 in a container, a process that does not handle SIGTERM ignores it: `docker stop` would wait, then kill.
    closed = free_socket()
    port = closed.getsockname()[1]
    log = tmp_path / "serve.log"
    try:
        env = environment(emulator, f"postgresql://postgres@127.0.0.1:{port}/test")
        with serve_process(env, log) as (url, process):
            answers = await health_answers(url, 2.0)
            process.send_signal(signal.SIGTERM)
            status = await asyncio.to_thread(stopped, process)
    finally:
        closed.close()

    assert any(said.startswith("waiting for the database") for _, said in answers), answers
    assert status == 0, log.read_text()
    assert "stopped before the bot was ready" in log.read_text()


def test_a_free_socket_that_is_bound_but_not_listening_refuses_connections() -> None:
    # What the tests above rely on for "nothing listens there".
    closed = free_socket()
    try:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(closed.getsockname(), timeout=5).close()
    finally:
        closed.close()
