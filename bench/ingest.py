"""Ingest benchmark: how many signed Slack message events per second `incident-bot serve` stores and acknowledges.

The load generator POSTs prebuilt `event_callback` message events (unique `ts` and `event_id`, signed at send time)
straight to a running bot with one shared aiohttp session, and the same load to a bare aiohttp endpoint that only
verifies the Slack signature: the ceiling for one Python process. For each target it runs

1. warm-up: a few hundred events, not counted (opens the keep-alive connections; the bot's one `auth.test`);
2. burst: N events with `--concurrency` in flight (closed loop): events/s, p50/p99 ack latency;
3. steady: open loop at a fixed rate (`--rate`, default half the ceiling's burst throughput): p50/p99 at that load.

Then it counts the rows stored in `messages` for the incident and checks that every event sent to the bot is there.
The Slack emulator runs in this process for setup only (opening the incident, the bot's `auth.test`); no event goes
through it.

    python bench/ingest.py                          # SQLite and PostgreSQL (when reachable)
    python bench/ingest.py --database sqlite --events 2000 --json
    python bench/ingest.py --client raw             # a load generator that costs less CPU than aiohttp's
    python bench/ingest.py --profile /tmp/prof      # the bot under cProfile (slower; for where the time goes)

Targets (issue): durable ingest at >= 60% of the ceiling on SQLite and >= 50% on PostgreSQL, p99 ack <= 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parents[1]
SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-bench-token"
EVENTS_PATH = "/slack/events"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
# The targets: stored-before-ack throughput as a share of the ceiling, and the p99 ack at steady load.
TARGET_RATIO = {"sqlite": 0.60, "postgresql": 0.50}
TARGET_P99_MS = 10.0
# Never keep signatures around longer than this (Slack, and slack_sdk, refuse timestamps older than 5 minutes).
MAX_PHASE_SECONDS = 240.0
STARTUP_SECONDS = 30.0
# Variables that must not reach the served bot: slack_sdk sends every call through a proxy if one is set, and an
# app token would switch it to Socket Mode.
UNWANTED_ENV = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "SLACK_APP_TOKEN")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------------
# The ceiling: a bare aiohttp endpoint that verifies the signature and answers 200
# ---------------------------------------------------------------------------------------------------------------


def serve_ceiling(port: int) -> None:
    """`--serve-ceiling PORT`: run in its own process, like the bot (default event loop, no access log)."""
    from aiohttp import web
    from slack_sdk.signature import SignatureVerifier

    verifier = SignatureVerifier(os.environ.get("BENCH_SIGNING_SECRET", SIGNING_SECRET))

    async def events(request: web.Request) -> web.Response:
        raw = await request.read()
        headers = request.headers
        if not verifier.is_valid(raw, headers.get("X-Slack-Request-Timestamp"), headers.get("X-Slack-Signature")):
            return web.Response(status=401)
        return web.Response(status=200)

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post(EVENTS_PATH, events)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# ---------------------------------------------------------------------------------------------------------------
# Events and signatures
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Addressing:
    """Who sends the events, and where (the ceiling gets the same shape with made-up ids)."""

    team_id: str
    app_id: str
    bot_user_id: str
    user_id: str
    channel_id: str


class EventFactory:
    """Slack-shaped `event_callback` bodies of user messages (platform-notes §2.2), each with its own ts/event_id."""

    def __init__(self) -> None:
        self._base = int(time.time()) - 3600
        self._next = 0

    def bodies(self, to: Addressing, count: int) -> list[bytes]:
        out = []
        for _ in range(count):
            n = self._next
            self._next += 1
            ts = f"{self._base + n // 1_000_000}.{n % 1_000_000:06d}"
            out.append(json.dumps(self._payload(to, n, ts), separators=(",", ":")).encode())
        return out

    @staticmethod
    def _payload(to: Addressing, n: int, ts: str) -> dict[str, Any]:
        text = f"Bench message {n}: error rate on checkout is back to 0.2%, watching the p99 for another minute"
        return {
            "token": "verification-token",
            "team_id": to.team_id,
            "api_app_id": to.app_id,
            "event": {
                "client_msg_id": str(uuid.uuid4()),
                "type": "message",
                "text": text,
                "user": to.user_id,
                "ts": ts,
                "team": to.team_id,
                "blocks": [
                    {
                        "type": "rich_text",
                        "block_id": f"b{n % 997}",
                        "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}],
                    }
                ],
                "channel": to.channel_id,
                "event_ts": ts,
                "channel_type": "channel",
            },
            "type": "event_callback",
            "event_id": f"Ev{n:09d}BNCH",
            "event_time": int(float(ts)),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": to.team_id,
                    "user_id": to.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-message-{to.team_id}-{to.channel_id}",
        }


class Signer:
    """Slack's v0 request signature, with the timestamp of the moment the request is sent."""

    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def headers(self, body: bytes) -> dict[str, str]:
        timestamp = str(int(time.time()))
        digest = hmac.new(self._key, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        return {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": f"v0={digest}",
        }


# ---------------------------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (Linux /proc); 0 where unavailable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds over all cores since boot, from /proc/stat."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0, 0.0
    ticks = [int(v) for v in first]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / hz, sum(ticks) / hz


class CpuWatch:
    """CPU used by the generator (this process), the server, and the whole machine during a phase."""

    def __init__(self, server_pid: int) -> None:
        self._pid = server_pid
        self._wall = time.perf_counter()
        self._mine = time.process_time()
        self._server = process_cpu_seconds(server_pid)
        self._busy, self._total = machine_busy_seconds()

    def read(self) -> tuple[float, float, float, float]:
        """(wall s, generator share of a core, server share of a core, machine busy share of all cores)."""
        wall = time.perf_counter() - self._wall
        busy, total = machine_busy_seconds()
        machine = (busy - self._busy) / (total - self._total) if total > self._total else 0.0
        server = process_cpu_seconds(self._pid) - self._server
        return wall, (time.process_time() - self._mine) / wall, server / wall, machine


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class Phase:
    target: str
    phase: str  # burst | steady
    events: int
    acked: int  # answered 200
    failed: int  # any other answer, or none
    seconds: float
    events_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    offered_rate: float | None = None  # steady: events/s asked for
    schedule_lag_p99_ms: float | None = None  # steady: how late the generator sent (its own saturation)
    generator_cpu: float = 0.0  # share of one core
    server_cpu: float = 0.0  # share of one core
    other_cpu: float = 0.0  # cores used by everything else: PostgreSQL, other work on the machine, VM steal
    server_cpu_us_per_event: float = 0.0
    ratio_to_ceiling: float | None = None


@dataclass
class TargetReport:
    target: str
    phases: list[Phase] = field(default_factory=list)
    sent: int = 0  # every event sent, warm-up included
    stored: int | None = None  # rows in `messages` for the incident (bots only)
    check: str | None = None  # OK | MISMATCH
    skipped: str | None = None
    verdict: str | None = None


class AiohttpClient:
    """The brief's generator: one shared aiohttp session, keep-alive, at most `concurrency` connections."""

    def __init__(self, base_url: str, concurrency: int) -> None:
        import aiohttp

        self._url = base_url + EVENTS_PATH
        self._errors: tuple[type[BaseException], ...] = (aiohttp.ClientError, TimeoutError)
        connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
        self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30))

    async def post(self, body: bytes, headers: dict[str, str]) -> int:
        try:
            async with self._session.post(self._url, data=body, headers=headers) as response:
                await response.read()
                return response.status
        except self._errors:
            return 0

    async def close(self) -> None:
        await self._session.close()


class _RawConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time; understands Content-Length answers only."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if len(self._buffer) < end + 4 + length:
            return
        del self._buffer[: end + 4 + length]
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(int(head[0].split()[1]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(0)

    async def request(self, data: bytes) -> int:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self._waiter


class RawClient:
    """`--client raw`: a minimal keep-alive HTTP/1.1 client on asyncio protocols, several times cheaper per
    request than aiohttp's, for when the aiohttp generator (not the server) is what limits the ceiling."""

    def __init__(self, base_url: str, concurrency: int) -> None:
        host, _, port = base_url.removeprefix("http://").partition(":")
        self._host, self._port = host, int(port)
        self._idle: asyncio.Queue[_RawConnection] = asyncio.Queue()
        self._all: list[_RawConnection] = []
        self._slots = asyncio.Semaphore(concurrency)
        self._prefix = f"POST {EVENTS_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\n".encode()

    async def _connection(self) -> _RawConnection:
        if not self._idle.empty():
            return self._idle.get_nowait()
        _, connection = await asyncio.get_running_loop().create_connection(_RawConnection, self._host, self._port)
        self._all.append(connection)
        return connection

    async def post(self, body: bytes, headers: dict[str, str]) -> int:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        data = b"".join((self._prefix, head.encode(), f"Content-Length: {len(body)}\r\n\r\n".encode(), body))
        async with self._slots:
            try:
                connection = await self._connection()
                status = await asyncio.wait_for(connection.request(data), 30)
            except (OSError, TimeoutError):
                return 0
            if connection.transport is not None:
                self._idle.put_nowait(connection)
            return status

    async def close(self) -> None:
        for connection in self._all:
            if connection.transport is not None:
                connection.transport.close()


Client = AiohttpClient | RawClient


class LoadGenerator:
    def __init__(self, client: Client, signer: Signer, server_pid: int, target: str) -> None:
        self._client = client
        self._signer = signer
        self._pid = server_pid
        self._target = target
        self.sent = 0

    async def _post(self, body: bytes) -> tuple[float, bool]:
        headers = self._signer.headers(body)
        started = time.perf_counter()
        self.sent += 1
        status = await self._client.post(body, headers)
        return time.perf_counter() - started, status == 200

    async def closed_loop(self, bodies: list[bytes], concurrency: int, phase: str = "burst") -> Phase:
        latencies: list[float] = []
        failed = 0
        queue = iter(bodies)

        async def worker() -> None:
            nonlocal failed
            for body in queue:  # shared: each body goes to exactly one worker
                latency, ok = await self._post(body)
                latencies.append(latency)
                failed += not ok

        watch = CpuWatch(self._pid)
        async with asyncio.timeout(MAX_PHASE_SECONDS):
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        return self._phase(phase, len(bodies), latencies, failed, watch)

    async def open_loop(self, bodies: list[bytes], rate: float) -> Phase:
        """Send at `rate` events/s whatever the answers (open loop); latency from the moment each is sent."""
        latencies: list[float] = []
        lags: list[float] = []
        failed = 0

        async def one(body: bytes) -> None:
            nonlocal failed
            latency, ok = await self._post(body)
            latencies.append(latency)
            failed += not ok

        tasks: list[asyncio.Task[None]] = []
        watch = CpuWatch(self._pid)
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.01
        async with asyncio.timeout(MAX_PHASE_SECONDS):
            for i, body in enumerate(bodies):
                due = start + i / rate
                now = loop.time()
                if due > now:
                    await asyncio.sleep(due - now)
                    now = loop.time()
                lags.append(now - due)
                tasks.append(asyncio.create_task(one(body)))
            await asyncio.gather(*tasks)
        result = self._phase("steady", len(bodies), latencies, failed, watch)
        result.offered_rate = rate
        result.schedule_lag_p99_ms = 1e3 * percentile(sorted(lags), 0.99)
        return result

    def _phase(self, phase: str, events: int, latencies: list[float], failed: int, watch: CpuWatch) -> Phase:
        wall, generator, server, machine = watch.read()
        ordered = sorted(latencies)
        return Phase(
            target=self._target,
            phase=phase,
            events=events,
            acked=events - failed,
            failed=failed,
            seconds=wall,
            events_per_s=(events - failed) / wall,
            p50_ms=1e3 * percentile(ordered, 0.50),
            p99_ms=1e3 * percentile(ordered, 0.99),
            max_ms=1e3 * ordered[-1] if ordered else math.nan,
            generator_cpu=generator,
            server_cpu=server,
            other_cpu=max(0.0, machine * (os.cpu_count() or 1) - generator - server),
            server_cpu_us_per_event=1e6 * server * wall / events if events else 0.0,
        )


@dataclass
class LoadSpec:
    events: int
    concurrency: int
    warmup: int
    steady_seconds: float
    rate: float | None
    client: str  # aiohttp | raw


async def run_load(
    target: str, base_url: str, pid: int, to: Addressing, factory: EventFactory, spec: LoadSpec, rate: float | None
) -> tuple[TargetReport, float]:
    """Warm-up, burst, steady against one server; `rate` None = half this burst's throughput. Returns the report
    and the steady rate used."""
    report = TargetReport(target)
    client: Client = (RawClient if spec.client == "raw" else AiohttpClient)(base_url, spec.concurrency)
    try:
        generator = LoadGenerator(client, Signer(SIGNING_SECRET), pid, target)
        warm = await generator.closed_loop(factory.bodies(to, spec.warmup), spec.concurrency, "warm-up")
        if warm.failed:
            raise RuntimeError(f"{target}: {warm.failed} of {warm.events} warm-up events were not acknowledged")
        burst = await generator.closed_loop(factory.bodies(to, spec.events), spec.concurrency)
        report.phases.append(burst)
        log(f"  {target} burst: {burst.events_per_s:,.0f}/s, p50 {burst.p50_ms:.1f} ms, p99 {burst.p99_ms:.1f} ms")
        steady_rate = rate if rate is not None else 0.5 * burst.events_per_s
        count = max(1, round(steady_rate * spec.steady_seconds))
        steady = await generator.open_loop(factory.bodies(to, count), steady_rate)
        report.phases.append(steady)
        log(
            f"  {target} steady at {steady_rate:,.0f}/s: p50 {steady.p50_ms:.1f} ms, p99 {steady.p99_ms:.1f} ms"
            f" ({steady.failed} failed)"
        )
        report.sent = generator.sent
    finally:
        await client.close()
    return report, steady_rate


# ---------------------------------------------------------------------------------------------------------------
# Processes: the ceiling, the bot, PostgreSQL databases
# ---------------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_environment(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNWANTED_ENV}
    return {**env, **extra}


@contextlib.contextmanager
def subprocess_running(command: list[str], env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server process in its own session (Ctrl-C reaches only us); SIGTERM, then SIGKILL, on the way out."""
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, cwd=log_path.parent, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


async def wait_healthy(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    import aiohttp

    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_SECONDS
    async with aiohttp.ClientSession() as session:
        while loop.time() < deadline and process.poll() is None:
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{base_url}/healthz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    said = (await asyncio.to_thread(log_path.read_text, errors="replace"))[-3000:]
    raise RuntimeError(f"{base_url}/healthz never answered 200 (exit code {process.poll()}); it said:\n{said}")


async def run_ceiling(workdir: Path, factory: EventFactory, spec: LoadSpec) -> tuple[TargetReport, float]:
    port = free_port()
    command = [sys.executable, str(SCRIPT), "--serve-ceiling", str(port)]
    log_path = workdir / "ceiling.log"
    with subprocess_running(command, clean_environment({"BENCH_SIGNING_SECRET": SIGNING_SECRET}), log_path) as proc:
        base_url = f"http://127.0.0.1:{port}"
        await wait_healthy(base_url, proc, log_path)
        to = Addressing("T0CEILING", "A0CEILING", "U0CEILBOT", "U0CEILUSR", "C0CEILING")
        return await run_load("ceiling", base_url, proc.pid, to, factory, spec, spec.rate)


def async_url(url: str) -> str:
    from bot.config import normalise_database_url

    return normalise_database_url(url)


async def count_messages(database_url: str, channel_id: str) -> int:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.connect() as conn:
            found = await conn.execute(
                text(
                    "SELECT count(*) FROM messages WHERE incident_id IN "
                    "(SELECT id FROM incidents WHERE channel_id = :channel)"
                ),
                {"channel": channel_id},
            )
            return int(found.scalar_one())
    finally:
        await engine.dispose()


async def open_incident(emulator: Any, events_url: str) -> Addressing:
    """`/incident open` through the emulator; returns where (and as whom) to send the benchmark's messages."""
    alice = emulator.add_user("bench-alice", real_name="Alice Bench")
    general = emulator.add_channel("general", members=[alice])
    emulator.set_request_url(events_url)
    delivery = await emulator.send_command(alice, general, "/incident", "open Ingest benchmark")
    if delivery.status != 200:
        raise RuntimeError(f"/incident open was answered {delivery.status}: {delivery.body[:300]}")

    def incident_channels() -> list[Any]:
        return [c for c in emulator.workspace.channels.values() if c.name.startswith("inc-")]

    await emulator.wait_for(lambda: any(c.pins for c in incident_channels()), timeout=15, what="the incident channel")
    await emulator.wait_idle()
    # From here on the emulator delivers nothing: the measured requests come from the generator alone.
    emulator.set_request_url(None)
    channel = next(c for c in incident_channels() if c.pins)
    return Addressing(emulator.team_id, emulator.app_id, emulator.bot_user_id, alice, channel.id)


async def run_bot(
    name: str, database_url: str, workdir: Path, factory: EventFactory, spec: LoadSpec, rate: float, profile: str | None
) -> TargetReport:
    from bot.emulator import SlackEmulator

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    serve = ["-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if profile is not None:
        serve = ["-m", "cProfile", "-o", os.path.join(profile, f"serve-{name}.prof"), *serve]
    log_path = workdir / f"serve-{name}.log"
    emulator = SlackEmulator(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
    await emulator.start()
    try:
        env = clean_environment(
            {
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": emulator.api_url,
                "DATABASE_URL": database_url,
                "INCIDENT_BOT_CONFIG": str(ROOT / "app.yaml"),
            }
        )
        with subprocess_running([sys.executable, *serve], env, log_path) as proc:
            await wait_healthy(base_url, proc, log_path)
            to = await open_incident(emulator, base_url + EVENTS_PATH)
            before = await count_messages(database_url, to.channel_id)
            report, _ = await run_load(name, base_url, proc.pid, to, factory, spec, rate)
            stored = await count_messages(database_url, to.channel_id) - before
            report.stored = stored
            report.check = "OK" if stored == report.sent else "MISMATCH"
            log(f"  {name}: {stored} rows stored for {report.sent} events sent: {report.check}")
            return report
    finally:
        await emulator.stop()


@contextlib.asynccontextmanager
async def postgres_database(admin_url: str) -> AsyncIterator[str]:
    """A fresh database `bench_<random>` on the server of `admin_url`, dropped afterwards."""
    import asyncpg
    from sqlalchemy.engine import make_url

    plain = make_url(admin_url).set(drivername="postgresql")
    connect_to = plain.render_as_string(hide_password=False)
    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(connect_to, timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield plain.set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(connect_to, timeout=5)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def postgres_unreachable(admin_url: str) -> str | None:
    import asyncpg
    from sqlalchemy.engine import make_url

    try:
        url = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(url, timeout=5)
        await conn.close()
    except (OSError, asyncpg.PostgresError, TimeoutError, ValueError) as e:
        return f"PostgreSQL at {admin_url} is not reachable ({type(e).__name__}: {e})"
    return None


# ---------------------------------------------------------------------------------------------------------------
# The run and its report
# ---------------------------------------------------------------------------------------------------------------


def judge(report: TargetReport, ceiling_burst: float) -> None:
    burst = next(p for p in report.phases if p.phase == "burst")
    steady = next(p for p in report.phases if p.phase == "steady")
    for phase in report.phases:
        if phase.phase == "burst":
            phase.ratio_to_ceiling = phase.events_per_s / ceiling_burst if ceiling_burst else None
    if report.target not in TARGET_RATIO:
        return
    want = TARGET_RATIO[report.target]
    ratio = burst.ratio_to_ceiling or 0.0
    misses = []
    if ratio < want:
        misses.append(f"throughput {ratio:.0%} of ceiling, {100 * (want - ratio):.0f} points short of {want:.0%}")
    if steady.p99_ms > TARGET_P99_MS:
        misses.append(f"steady p99 {steady.p99_ms:.1f} ms > {TARGET_P99_MS:.0f} ms")
    if report.check != "OK":
        misses.append("stored rows do not match the events sent")
    if steady.failed or burst.failed:
        misses.append(f"{steady.failed + burst.failed} events not acknowledged")
    ok = f">= {want:.0%} of ceiling and steady p99 <= {TARGET_P99_MS:.0f} ms"
    report.verdict = "PASS (" + ok + ")" if not misses else "FAIL: " + "; ".join(misses)


def table(reports: list[TargetReport], spec: LoadSpec, rate: float) -> str:
    head = (
        f"{'target':<11}{'phase':<8}{'events':>7}{'events/s':>10}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
        f"{'ratio':>7}{'srv CPU':>8}{'gen CPU':>8}{'other':>7}{'srv µs/ev':>10}  stored"
    )
    lines = [
        f"ingest benchmark: {spec.events} burst events, concurrency {spec.concurrency}, steady {rate:,.0f}/s for "
        f"{spec.steady_seconds:g} s, {os.cpu_count()} CPUs",
        head,
        "-" * len(head),
    ]
    for report in reports:
        if report.skipped:
            lines.append(f"{report.target:<11}skipped: {report.skipped}")
            continue
        for phase in report.phases:
            ratio = f"{phase.ratio_to_ceiling:.0%}" if phase.ratio_to_ceiling is not None else ""
            stored = ""
            if phase.phase == "burst" and report.check is not None:
                stored = f"{report.stored}/{report.sent} {report.check}"
            failed = f" ({phase.failed} failed)" if phase.failed else ""
            lines.append(
                f"{report.target:<11}{phase.phase:<8}{phase.events:>7}{phase.events_per_s:>10,.0f}"
                f"{phase.p50_ms:>8.1f}{phase.p99_ms:>8.1f}{phase.max_ms:>8.1f}{ratio:>7}"
                f"{phase.server_cpu:>8.0%}{phase.generator_cpu:>8.0%}{phase.other_cpu:>7.0%}"
                f"{phase.server_cpu_us_per_event:>10.0f}  {stored}"
                f"{failed}"
            )
    lines.append("")
    for report in reports:
        if report.verdict:
            lines.append(f"{report.target}: {report.verdict}")
    ceiling = next((p for r in reports if r.target == "ceiling" for p in r.phases if p.phase == "burst"), None)
    if ceiling is not None and ceiling.generator_cpu >= 0.85 and ceiling.server_cpu < 0.8:
        lines.append(
            f"note: the ceiling was limited by the generator (gen CPU {ceiling.generator_cpu:.0%}, server "
            f"{ceiling.server_cpu:.0%}), so the ratios are flattering; --client raw costs the generator less"
        )
    for report in reports:
        noisy = [p for p in report.phases if p.other_cpu > 0.3 and report.target != "postgresql"]
        if noisy:
            worst = max(p.other_cpu for p in noisy)
            lines.append(f"note: other work used up to {worst:.0%} of a core during {report.target}: figures are noisy")
    for report in reports:
        steady = next((p for p in report.phases if p.phase == "steady"), None)
        if steady is not None and steady.schedule_lag_p99_ms is not None and steady.schedule_lag_p99_ms > 5.0:
            lines.append(
                f"note: {report.target} steady phase sent late (p99 {steady.schedule_lag_p99_ms:.1f} ms behind "
                "schedule): the rate was not held (generator busy, or the server fell behind)"
            )
    lines.append(
        "srv/gen CPU: share of one core used by the server / this generator (near 100% = the bottleneck); other: "
        "the rest of the machine (PostgreSQL, other work, VM steal); srv µs/ev: server CPU per event"
    )
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    spec = LoadSpec(
        events=args.events,
        concurrency=args.concurrency,
        warmup=args.warmup,
        steady_seconds=args.steady_seconds,
        rate=args.rate,
        client=args.client,
    )
    databases = {"both": ["sqlite", "postgresql"], "none": []}.get(args.database, [args.database])
    profile: str | None = args.profile
    factory = EventFactory()
    reports: list[TargetReport] = []
    with tempfile.TemporaryDirectory(prefix="incident-bot-bench-") as tmp:
        workdir = Path(tmp)
        log("ceiling: bare aiohttp + SignatureVerifier")
        ceiling, rate = await run_ceiling(workdir, factory, spec)
        reports.append(ceiling)
        ceiling_burst = ceiling.phases[0].events_per_s
        for name in databases:
            log(f"{name}: incident-bot serve")
            if name == "sqlite":
                url = f"sqlite:///{workdir / 'bench.db'}"
                report = await run_bot(name, url, workdir, factory, spec, rate, profile)
            else:
                reason = await postgres_unreachable(args.postgres_url)
                if reason is not None:
                    log(f"  skipping PostgreSQL: {reason}; set --postgres-url or TEST_POSTGRES_URL")
                    reports.append(TargetReport(name, skipped=reason))
                    continue
                async with postgres_database(args.postgres_url) as url:
                    report = await run_bot(name, url, workdir, factory, spec, rate, profile)
            reports.append(report)
        for report in reports:
            if not report.skipped:
                judge(report, ceiling_burst)
    return {
        "config": {**asdict(spec), "steady_rate": rate, "cpus": os.cpu_count()},
        "table": table(reports, spec, rate),
        "results": [asdict(r) for r in reports],
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgresql", "both", "none"],
        default="both",
        help="which bot(s) to measure against the ceiling; none = the ceiling alone (default both)",
    )
    parser.add_argument("--events", type=int, default=5000, help="events in the burst phase (default 5000)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight in the burst (default 32)")
    parser.add_argument(
        "--rate", type=float, help="steady phase events/s (default: 50%% of the ceiling's burst throughput)"
    )
    parser.add_argument("--steady-seconds", type=float, default=5.0, help="length of the steady phase (default 5)")
    parser.add_argument("--warmup", type=int, default=300, help="warm-up events per target, not counted (300)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="server (and a database to connect to) where a fresh bench_<random> database is created",
    )
    parser.add_argument(
        "--client",
        choices=["aiohttp", "raw"],
        default="aiohttp",
        help="load generator: one aiohttp ClientSession (default) or a minimal asyncio HTTP/1.1 client that costs "
        "the generator less CPU (use it when the ceiling is generator-bound: gen CPU near 100%%)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead of the table")
    parser.add_argument("--profile", metavar="DIR", help="run the bot under cProfile; writes DIR/serve-<db>.prof")
    parser.add_argument("--serve-ceiling", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.events < 1 or args.concurrency < 1 or args.warmup < 1 or args.steady_seconds <= 0:
        parser.error("--events, --concurrency and --warmup must be >= 1 and --steady-seconds > 0")
    if args.steady_seconds > MAX_PHASE_SECONDS / 2:
        parser.error(f"--steady-seconds must be at most {MAX_PHASE_SECONDS / 2:g}")
    if args.rate is not None and args.rate <= 0:
        parser.error("--rate must be > 0")
    if args.profile:
        args.profile = str(Path(args.profile).resolve())
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    return args


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    # SIGTERM ends the run like Ctrl-C does: the servers are stopped and the PostgreSQL database dropped.
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await run(args)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_ceiling is not None:
        serve_ceiling(args.serve_ceiling)
        return 0
    sys.path.insert(0, str(ROOT))  # `bot` without installing it, when run from a checkout
    try:
        figures = asyncio.run(_main(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted; servers stopped")
        return 130
    if args.json:
        print(json.dumps({k: v for k, v in figures.items() if k != "table"}, indent=2))
    else:
        print(figures["table"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
