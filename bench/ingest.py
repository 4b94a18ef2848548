"""Ingest benchmark: how many signed Slack message events per second `incident-bot serve` stores and acknowledges,
in a fresh incident and again once the incident holds 30,000 messages, with the root-cause engine on.

The load generator POSTs prebuilt `event_callback` message events (unique `ts` and `event_id`, signed at send time)
straight to a running bot with one shared aiohttp session, and the same load to a bare aiohttp endpoint that only
verifies the Slack signature: the ceiling for one Python process. The messages are ordinary responder chat with
the shipped runbooks' vocabulary (log strings, pool/connection/deploy words; `--vocabulary plain`: one fixed
sentence). For the ceiling, and for the bot in each phase (1: the incident fresh; 2: once it holds
`--phase2-size` messages, filled by sending events through the bot at full speed, or `--fill insert`: rows
written straight into the database), it runs

1. warm-up: a few hundred events, not counted (opens the keep-alive connections; the bot's one `auth.test`);
2. burst: N events with `--concurrency` in flight (closed loop): events/s, p50/p99 ack latency;
3. steady: open loop at a fixed rate (`--rate`, default half the ceiling's burst throughput): p50/p99 at that load;

and for the bot, then

4. suggestion: once the bot is idle, a short scripted sequence of messages whose last one makes a root cause of a
   shipped runbook strong enough to be posted (phase 1: Zombie Connections, phase 2: Database Maintenance); the
   time from sending that message until the bot's `incident_suggestion` message is in the channel (polled in the
   in-process Slack emulator, every millisecond).

The bot's event-loop lag comes from its /metrics (`incident_bot_event_loop_lag_max_seconds`: the longest stall
since the previous scrape), read at the start and end of every measured window. At the end it checks that every
event sent to the bot is stored exactly once (the set of `ts` in `messages` for the incident is the set sent).
The Slack emulator runs in this process for setup (opening the incident, the bot's `auth.test`) and receives the
bot's posts; no event goes through it.

    python bench/ingest.py                          # SQLite and PostgreSQL (when reachable)
    python bench/ingest.py --database sqlite --events 2000 --json
    python bench/ingest.py --events 1000 --phase2-size 3000    # a quick run
    python bench/ingest.py --client raw             # a load generator that costs less CPU than aiohttp's
    python bench/ingest.py --profile /tmp/prof      # the bot under cProfile (slower; for where the time goes)
    python bench/ingest.py --transcript 2 | incident-bot suggest --json   # what the engine makes of phase 2

Targets (issue): durable ingest at >= 60% of the ceiling on SQLite and >= 50% on PostgreSQL, p99 ack <= 10 ms at
the steady rate, in both phases, phase 2 within 10% of phase 1; the event loop's longest stall <= 20 ms; a
suggestion posted within 2 s of the message that makes it strong enough.
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
import re
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
# The targets: stored-before-ack throughput as a share of the ceiling, the p99 ack at steady load, phase 2
# (the incident holding --phase2-size messages) against phase 1, the event loop's longest stall, and the time
# from the message that makes a suggestion strong enough to the suggestion in the channel.
TARGET_RATIO = {"sqlite": 0.60, "postgresql": 0.50}
TARGET_P99_MS = 10.0
TARGET_PHASE2_DROP = 0.10
TARGET_STALL_MS = 20.0
TARGET_SUGGESTION_S = 2.0
# Never keep signatures around longer than this (Slack, and slack_sdk, refuse timestamps older than 5 minutes).
MAX_PHASE_SECONDS = 240.0
STARTUP_SECONDS = 30.0
FILL_CHUNK = 5000  # events per closed-loop round while filling the incident (progress is logged per round)
SUGGESTION_TIMEOUT = 30.0  # how long to wait for a suggestion to appear in the channel
# "Idle": the bot used at most QUIET_SHARE of a core in each of QUIET_WINDOWS windows of QUIET_WINDOW s in a row
# (its background re-ranking done), waited for at most QUIET_TIMEOUT s.
QUIET_WINDOW, QUIET_WINDOWS, QUIET_SHARE, QUIET_TIMEOUT = 0.2, 3, 0.05, 90.0
LAG_MAX = "incident_bot_event_loop_lag_max_seconds"
LAG_HISTOGRAM = "incident_bot_event_loop_lag_seconds"
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
# What responders say: the chat, and the scripted sequences that make a root cause strong enough
# ---------------------------------------------------------------------------------------------------------------

# Ordinary responder chat in the shipped runbooks' vocabulary: log strings and symptoms of
# runbooks/database-connections.md (`Timeout waiting for connection from pool`, HikariPool, pool metrics), 5xx and
# error rates, a deploy, dashboards. Symptoms only: the error is clear, but nothing tells its root causes apart,
# so by itself it makes no suggestion (checked with `--transcript 1 | incident-bot suggest --json` and by the
# engine check of every run).
RUNBOOK_CHAT = (
    "seeing `Timeout waiting for connection from pool` on checkout again, pod {pod}",
    "5xx at {pct}% on /api/v1/orders now, it was 0.2% an hour ago",
    "error rate on checkout is back to 0.{tenth}%, watching the p99 for another minute",
    "pool dashboard: active connections pinned at the max on {pod} pods, db_pool_waiting at {n}",
    "`HikariPool-1 - Connection is not available, request timed out after 30000ms` in the user-service logs too",
    "anything in #deploys? checkout-api went out at 14:0{minute}, and the request rate is up a bit too",
    "connection acquire time p99 is {n} ms, the pool timeout is 30 s",
    "latency on login climbing again, {n} ms p99; the 500s come after the pool timeout",
    "who has the db dashboards open? I'm looking at the pool graphs for orders-service",
    "ack, I'll keep the status page updated; customers see errors on checkout",
)


def chat_text(vocabulary: str, n: int) -> str:
    if vocabulary == "plain":
        return f"Bench message {n}: error rate on checkout is back to 0.2%, watching the p99 for another minute"
    k = n // len(RUNBOOK_CHAT)
    template = RUNBOOK_CHAT[n % len(RUNBOOK_CHAT)]
    return template.format(pod=k % 12 + 1, pct=k % 5 + 1, tenth=k % 9, n=100 + k % 900, minute=k % 10)


@dataclass(frozen=True)
class Script:
    """Messages that make one root cause of a shipped runbook strong enough to be posted: the last one decides
    (the ones before it do not, on top of the chat; `--transcript` and the engine check show it)."""

    runbook: str
    error: str
    cause: str
    messages: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.cause} ({self.error}, {self.runbook})"


# Phase 2 needs another root cause than phase 1 (the suggestion standing is then updated in place): the same
# error, the first hypothesis dropped for a database holding locks.
SCRIPTS = (
    Script(
        "Database Connection Issues",
        "ConnectionPoolTimeoutError",
        "Zombie Connections",
        (
            "orders-service logs: `Timeout waiting for connection from pool`",
            "ok, let's find out what is holding the connections",
            "looking at pg_stat_activity on pg-main now",
            "pg_stat_activity shows ~180 sessions from orders-service sitting `idle in transaction`, state_change "
            "from 2h ago",
        ),
    ),
    Script(
        "Database Connection Issues",
        "ConnectionPoolTimeoutError",
        "Database Maintenance",
        (
            "the pool timeouts are back on orders-service",
            "checking the database side now",
            "not zombie connections after all: nothing idle in transaction now; a `VACUUM FULL` on the sessions "
            "table holds an exclusive lock and lots of sessions are waiting with wait_event_type = Lock",
        ),
    ),
)


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
    """Slack-shaped `event_callback` bodies of user messages (platform-notes §2.2), each with its own ts/event_id.
    Remembers every (ts, text) it made per channel, in ts order: what the bot must have stored."""

    def __init__(self, vocabulary: str = "runbook") -> None:
        self._base = int(time.time()) - 3600
        self._next = 0
        self._vocabulary = vocabulary
        self.made: dict[str, list[tuple[str, str]]] = {}

    def _allocate(self, to: Addressing, text: str | None) -> tuple[int, str, str]:
        n = self._next
        self._next += 1
        ts = f"{self._base + n // 1_000_000}.{n % 1_000_000:06d}"
        text = chat_text(self._vocabulary, n) if text is None else text
        self.made.setdefault(to.channel_id, []).append((ts, text))
        return n, ts, text

    def bodies(self, to: Addressing, count: int) -> list[bytes]:
        return [self.body(to) for _ in range(count)]

    def body(self, to: Addressing, text: str | None = None) -> bytes:
        n, ts, text = self._allocate(to, text)
        return json.dumps(self._payload(to, n, ts, text), separators=(",", ":")).encode()

    def message(self, to: Addressing) -> tuple[str, str]:
        """(ts, text) of a chat message that is not sent (written straight into the database)."""
        _, ts, text = self._allocate(to, None)
        return ts, text

    def texts(self, to: Addressing) -> list[str]:
        return [text for _, text in self.made.get(to.channel_id, [])]

    @staticmethod
    def _payload(to: Addressing, n: int, ts: str, text: str) -> dict[str, Any]:
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
    phase: str  # burst | steady (warm-up and fill rounds are not reported as phases)
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
    stage: int = 1  # 1: the incident fresh; 2: once it holds --phase2-size messages
    incident_messages: int | None = None  # messages stored in the incident when the phase started (bots)
    loop_lag_max_ms: float | None = None  # the bot's longest event-loop stall during the phase (its /metrics)
    loop_stalls: int | None = None  # runs of the bot's loop watcher later than TARGET_STALL_MS during the phase


@dataclass
class Fill:
    """How the incident was brought to --phase2-size messages between the phases."""

    method: str  # send | insert
    events: int
    seconds: float
    events_per_s: float
    failed: int = 0
    incident_messages: int = 0  # after the fill
    loop_lag_max_ms: float | None = None


@dataclass
class SuggestionTiming:
    stage: int
    expected: str  # root cause (error, runbook) the scripted sequence makes strong enough
    incident_messages: int  # stored in the incident before the sequence
    posted: str | None = None  # what the bot's new incident_suggestion message names
    seconds: float | None = None  # from sending the deciding message to the bot's post in the channel
    ack_ms: float | None = None  # the deciding message's ack
    loop_lag_max_ms: float | None = None  # the bot's longest stall from that send until the post
    settle_seconds: float | None = None  # how long the bot took to go idle after the load, before the sequence
    engine_check: str | None = None  # what the engine of this checkout says of the sequence (before sending it)
    problem: str | None = None


@dataclass
class TargetCheck:
    name: str
    want: str
    got: str
    ok: bool | None  # None: not measured


@dataclass
class TargetReport:
    target: str
    phases: list[Phase] = field(default_factory=list)
    sent: int = 0  # every event sent, warm-up included (and rows written straight by --fill insert)
    stored: int | None = None  # rows in `messages` for the incident (bots only)
    check: str | None = None  # OK | MISMATCH
    skipped: str | None = None
    verdict: str | None = None
    missing: int | None = None  # events sent that are not stored
    unexpected: int | None = None  # rows stored that were never sent (or twice the same ts)
    fill: Fill | None = None
    suggestions: list[SuggestionTiming] = field(default_factory=list)
    unexpected_suggestions: list[str] = field(default_factory=list)  # posted by the chat alone, during the load
    loop_lag_windows_ms: dict[str, float] = field(default_factory=dict)  # other windows: settling, filling
    targets: list[TargetCheck] = field(default_factory=list)


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
        self.target = target
        self.sent = 0

    async def post(self, body: bytes) -> tuple[float, bool]:
        """Send one event: (seconds until its answer, answered 200)."""
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
                latency, ok = await self.post(body)
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
            latency, ok = await self.post(body)
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
            target=self.target,
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


class LagProbe:
    """The served bot's event-loop lag, from its /metrics. Every read resets the bot's maximum (it is the longest
    stall since the previous scrape), so reading at the start and at the end of a window gives that window's
    longest stall; the histogram's count above TARGET_STALL_MS, diffed between two reads, how many runs of the
    watcher were later than that."""

    def __init__(self, base_url: str) -> None:
        import aiohttp

        self._url = base_url + "/metrics"
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._within = f'{LAG_HISTOGRAM}_bucket{{le="{TARGET_STALL_MS / 1e3!r}"}} '
        self._late: float | None = None
        self.missing = False  # the bot exports no loop lag (an older bot)

    async def window(self) -> tuple[float | None, int | None]:
        """(longest stall in ms, watcher runs later than TARGET_STALL_MS) since the previous call."""
        async with self._session.get(self._url) as response:
            text = await response.text()
        longest = within = count = None
        for line in text.splitlines():
            if line.startswith(LAG_MAX + " "):
                longest = float(line.split()[-1])
            elif line.startswith(self._within):
                within = float(line.split()[-1])
            elif line.startswith(LAG_HISTOGRAM + "_count "):
                count = float(line.split()[-1])
        if longest is None:
            self.missing = True
            return None, None
        late_total = count - within if count is not None and within is not None else None
        late = None
        if late_total is not None and self._late is not None:
            late = round(late_total - self._late)
        self._late = late_total
        return 1e3 * longest, late

    async def close(self) -> None:
        await self._session.close()


@dataclass
class LoadSpec:
    events: int
    concurrency: int
    warmup: int
    steady_seconds: float
    rate: float | None
    client: str  # aiohttp | raw
    vocabulary: str = "runbook"  # runbook | plain
    phase2_size: int = 0  # messages in the incident before phase 2; 0: no phase 2
    fill: str = "send"  # send | insert


def new_client(spec: LoadSpec, base_url: str) -> Client:
    return (RawClient if spec.client == "raw" else AiohttpClient)(base_url, spec.concurrency)


async def measure_stage(
    generator: LoadGenerator,
    to: Addressing,
    factory: EventFactory,
    spec: LoadSpec,
    rate: float | None,
    stage: int = 1,
    probe: LagProbe | None = None,
    stored: int | None = None,
) -> tuple[list[Phase], float]:
    """Warm-up, burst, steady; `rate` None = half this burst's throughput; `stored` = messages in the incident
    before the warm-up. Returns the burst and steady phases and the steady rate used."""
    target = generator.target
    name = f"{target} phase {stage}" if probe is not None else target
    warm = await generator.closed_loop(factory.bodies(to, spec.warmup), spec.concurrency, "warm-up")
    if warm.failed:
        raise RuntimeError(f"{target}: {warm.failed} of {warm.events} warm-up events were not acknowledged")
    if probe is not None:
        await probe.window()  # from here on: the burst
    burst = await generator.closed_loop(factory.bodies(to, spec.events), spec.concurrency)
    if probe is not None:
        burst.loop_lag_max_ms, burst.loop_stalls = await probe.window()
    log(f"  {name} burst: {burst.events_per_s:,.0f}/s, p50 {burst.p50_ms:.1f} ms, p99 {burst.p99_ms:.1f} ms")
    steady_rate = rate if rate is not None else 0.5 * burst.events_per_s
    count = max(1, round(steady_rate * spec.steady_seconds))
    steady = await generator.open_loop(factory.bodies(to, count), steady_rate)
    if probe is not None:
        steady.loop_lag_max_ms, steady.loop_stalls = await probe.window()
    log(
        f"  {name} steady at {steady_rate:,.0f}/s: p50 {steady.p50_ms:.1f} ms, p99 {steady.p99_ms:.1f} ms"
        f" ({steady.failed} failed)"
    )
    for phase in (burst, steady):
        phase.stage = stage
    if stored is not None:
        burst.incident_messages = stored + spec.warmup
        steady.incident_messages = stored + spec.warmup + spec.events
    return [burst, steady], steady_rate


async def run_load(
    target: str, base_url: str, pid: int, to: Addressing, factory: EventFactory, spec: LoadSpec, rate: float | None
) -> tuple[TargetReport, float]:
    """Warm-up, burst, steady against one server (the ceiling). Returns the report and the steady rate used."""
    report = TargetReport(target)
    client = new_client(spec, base_url)
    try:
        generator = LoadGenerator(client, Signer(SIGNING_SECRET), pid, target)
        phases, steady_rate = await measure_stage(generator, to, factory, spec, rate)
        report.phases.extend(phases)
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


async def wait_idle(pid: int) -> float | None:
    """Wait until the server is idle (its background work, the root-cause re-ranking, done): at most QUIET_SHARE
    of a core in QUIET_WINDOWS windows in a row. Seconds waited, or None if it was still busy after QUIET_TIMEOUT."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    quiet = 0
    before = process_cpu_seconds(pid)
    while loop.time() - started < QUIET_TIMEOUT:
        await asyncio.sleep(QUIET_WINDOW)
        now = process_cpu_seconds(pid)
        quiet = quiet + 1 if now - before <= QUIET_SHARE * QUIET_WINDOW + 1e-9 else 0
        before = now
        if quiet >= QUIET_WINDOWS:
            return loop.time() - started - QUIET_WINDOWS * QUIET_WINDOW
    return None


async def run_ceiling(workdir: Path, factory: EventFactory, spec: LoadSpec) -> tuple[TargetReport, float]:
    port = free_port()
    command = [sys.executable, str(SCRIPT), "--serve-ceiling", str(port)]
    log_path = workdir / "ceiling.log"
    with subprocess_running(command, clean_environment({"BENCH_SIGNING_SECRET": SIGNING_SECRET}), log_path) as proc:
        base_url = f"http://127.0.0.1:{port}"
        await wait_healthy(base_url, proc, log_path)
        to = Addressing("T0CEILING", "A0CEILING", "U0CEILBOT", "U0CEILUSR", "C0CEILING")
        return await run_load("ceiling", base_url, proc.pid, to, factory, spec, spec.rate)


def runbooks_folder() -> Path:
    """The runbooks app.yaml names (relative to its folder), as the served bot reads them."""
    import yaml

    config = yaml.safe_load((ROOT / "app.yaml").read_text()) or {}
    folder = Path(str((config.get("suggestions") or {}).get("runbooks") or "runbooks"))
    return folder if folder.is_absolute() else ROOT / folder


def bench_config(workdir: Path) -> tuple[Path, str]:
    """app.yaml as it is, with the root-cause engine on, its runbooks by absolute path, and no minimum interval
    between two suggestions (app.yaml's 300 s would hold phase 2's root cause back for the rest of the run).
    Returns the file and a line saying what changed."""
    import yaml

    config = yaml.safe_load((ROOT / "app.yaml").read_text()) or {}
    suggestions = dict(config.get("suggestions") or {})
    was = (
        f"enabled: {suggestions.get('enabled', True)}, min_interval_seconds: {suggestions.get('min_interval_seconds')}"
    )
    suggestions.update(enabled=True, runbooks=str(runbooks_folder()), min_interval_seconds=0)
    config["suggestions"] = suggestions
    path = workdir / "app.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path, f"app.yaml's suggestions ({was}) served with enabled: true, min_interval_seconds: 0"


def async_url(url: str) -> str:
    from bot.config import normalise_database_url

    return normalise_database_url(url)


@contextlib.asynccontextmanager
async def connected(database_url: str) -> AsyncIterator[Any]:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.connect() as conn:
            yield conn
    finally:
        await engine.dispose()


INCIDENT_MESSAGES = "FROM messages WHERE incident_id IN (SELECT id FROM incidents WHERE channel_id = :channel)"


async def count_messages(database_url: str, channel_id: str) -> int:
    from sqlalchemy import text

    async with connected(database_url) as conn:
        found = await conn.execute(text(f"SELECT count(*) {INCIDENT_MESSAGES}"), {"channel": channel_id})
        return int(found.scalar_one())


async def stored_ts(database_url: str, channel_id: str) -> list[str]:
    """The ts of every row stored for the incident of the channel (a ts twice would be listed twice)."""
    from sqlalchemy import text

    async with connected(database_url) as conn:
        found = await conn.execute(text(f"SELECT ts {INCIDENT_MESSAGES}"), {"channel": channel_id})
        return [str(ts) for ts in found.scalars()]


async def incident_id(database_url: str, channel_id: str) -> int:
    from sqlalchemy import text

    async with connected(database_url) as conn:
        found = await conn.execute(text("SELECT id FROM incidents WHERE channel_id = :c"), {"c": channel_id})
        return int(found.scalar_one())


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
    # From here on the emulator delivers nothing: the measured requests come from the generator alone. (It still
    # answers the bot's Web API calls: the suggestions are posted to it.)
    emulator.set_request_url(None)
    channel = next(c for c in incident_channels() if c.pins)
    return Addressing(emulator.team_id, emulator.app_id, emulator.bot_user_id, alice, channel.id)


# ---------------------------------------------------------------------------------------------------------------
# Suggestions: the bot's posts in the emulator, and what the engine says of the scripted sequences
# ---------------------------------------------------------------------------------------------------------------

POSTED = re.compile(r"Likely root cause: (?P<cause>.+?) \((?P<error>[^,()]+), (?P<runbook>.+)\), confidence")


def suggestion_posts(channel: Any) -> list[Any]:
    """The bot's incident_suggestion messages in an emulator channel (see bot/slack/gateway.py Tag)."""
    return [m for m in list(channel.messages) if (m.metadata or {}).get("event_type") == "incident_suggestion"]


def named_cause(message: Any) -> str:
    found = POSTED.search(message.text or "")
    return found.group("cause") if found else (message.text or "")[:80]


class EngineCheck:
    """What the root-cause engine of this checkout makes of the conversation the bench sent, with the bot's rule
    for posting (bot/suggestions/decision.py: how likely the top suggestion is to be right): does the scripted
    sequence decide at its last message? Run before the sequence is sent, so that a suggestion that does not come
    is known to be the bot's doing or the script's."""

    def __init__(self) -> None:
        self._engine: Any = None

    def verdict(self, chat: list[str], script: Script, posted: set[str]) -> str:
        try:
            return self._verdict(chat, script, posted)
        except Exception as e:  # the engine is not this benchmark's subject: say so and go on
            return f"engine check failed: {type(e).__name__}: {e}"

    def _verdict(self, chat: list[str], script: Script, posted: set[str]) -> str:
        from bot.suggestions.decision import POST_AT, likelihood
        from bot.suggestions.engine import RunbookLibrary

        if self._engine is None:
            self._engine = RunbookLibrary(runbooks_folder()).engine()
        engine = self._engine
        conversation = list(chat)
        for k in range(len(script.messages) + 1):
            if k:
                conversation.append(script.messages[k - 1])
            ranked = engine.rank(conversation, top=10)
            best = ranked[0] if ranked else None
            p = likelihood(best) if best is not None else 0.0
            strong = best is not None and p >= POST_AT
            cause = best.cause.name if best is not None else "nothing"
            if k < len(script.messages):
                if strong and cause not in posted:
                    where = f"after its message {k}" if k else "before it (the chat alone)"
                    return f"NOT OK: {cause} is strong enough {where}, not at its last message"
                continue
            if not strong:
                return f"NOT OK: the last message leaves {cause} below the bar (likely right {p:.2f})"
            if cause != script.cause:
                return f"NOT OK: the last message makes {cause} strong enough, not {script.cause}"
            assert best is not None
            return f"OK: decides at its last message ({cause}, likely right {p:.2f}; bar {POST_AT:g})"
        raise AssertionError("unreachable")


async def time_suggestion(
    stage: int,
    script: Script,
    channel: Any,
    generator: LoadGenerator,
    to: Addressing,
    factory: EventFactory,
    probe: LagProbe,
    pid: int,
    engine: EngineCheck,
    seen: dict[str, str],
    report: TargetReport,
    stored: int,
) -> SuggestionTiming:
    """Wait for the bot to be idle, send the script's messages but the last, wait again, then send the last and time
    it until the channel's incident_suggestion message names the new root cause (a new post, or the standing one
    updated in place)."""
    timing = SuggestionTiming(stage=stage, expected=script.label, incident_messages=stored)
    posted = suggestion_posts(channel)
    for message in posted:
        if seen.get(message.ts) != named_cause(message):
            report.unexpected_suggestions.append(f"phase {stage} load: {named_cause(message)}")
            seen[message.ts] = named_cause(message)
    timing.settle_seconds = await wait_idle(pid)
    # What the engine makes of it (in a thread of this process, while the bot is idle).
    causes = {named_cause(m) for m in posted}
    timing.engine_check = await asyncio.to_thread(engine.verdict, factory.texts(to), script, causes)
    log(f"  {report.target} phase {stage} engine check of the sequence: {timing.engine_check}")
    for text in script.messages[:-1]:
        _, ok = await generator.post(factory.body(to, text))
        if not ok:
            timing.problem = "a message of the sequence was not acknowledged"
    await wait_idle(pid)
    early = [m for m in suggestion_posts(channel) if seen.get(m.ts) != named_cause(m)]
    if early:
        timing.problem = f"posted before the deciding message: {', '.join(named_cause(m) for m in early)}"
        seen.update((m.ts, named_cause(m)) for m in early)
    settle_lag, _ = await probe.window()  # the settling after the load, and the sequence's first messages
    if settle_lag is not None:
        report.loop_lag_windows_ms[f"phase {stage} settling"] = settle_lag
    body = factory.body(to, script.messages[-1])
    started = time.perf_counter()
    send = asyncio.create_task(generator.post(body))
    found: Any = None
    while time.perf_counter() - started < SUGGESTION_TIMEOUT:
        new = [m for m in suggestion_posts(channel) if seen.get(m.ts) != named_cause(m)]
        if new:
            found = new[0]
            break
        await asyncio.sleep(0.001)
    elapsed = time.perf_counter() - started
    ack, ok = await send
    timing.ack_ms = 1e3 * ack
    timing.loop_lag_max_ms, _ = await probe.window()
    if not ok:
        timing.problem = "the deciding message was not acknowledged"
    if found is None:
        timing.problem = timing.problem or f"no suggestion within {SUGGESTION_TIMEOUT:g} s"
    else:
        seen[found.ts] = named_cause(found)
        timing.seconds = elapsed
        timing.posted = named_cause(found)
        if timing.posted != script.cause:
            timing.problem = timing.problem or f"posted {timing.posted}, not {script.cause}"
    said = f"{timing.seconds:.2f} s" if timing.seconds is not None else "not posted"
    if timing.problem:
        said += f"; {timing.problem}"
    log(f"  {report.target} phase {stage} suggestion ({script.cause}): {said}")
    return timing


# ---------------------------------------------------------------------------------------------------------------
# Filling the incident between the phases
# ---------------------------------------------------------------------------------------------------------------


async def fill_by_sending(
    generator: LoadGenerator, to: Addressing, factory: EventFactory, spec: LoadSpec, count: int
) -> Fill:
    """`count` events through the bot, closed loop at --concurrency (the fastest honest way: every one stored by
    the bot, with its re-ranking, as in production)."""
    started = time.perf_counter()
    failed = done = 0
    while done < count:
        chunk = min(FILL_CHUNK, count - done)
        round_ = await generator.closed_loop(factory.bodies(to, chunk), spec.concurrency, "fill")
        failed += round_.failed
        done += chunk
        log(f"  {generator.target} fill: {done:,}/{count:,} sent ({round_.events_per_s:,.0f}/s)")
    seconds = time.perf_counter() - started
    return Fill("send", count, seconds, count / seconds, failed)


async def fill_by_inserting(database_url: str, to: Addressing, factory: EventFactory, count: int) -> Fill:
    """`count` rows written straight into `messages` with the bot's own row format and message sink (no event,
    no re-ranking): faster, but the bot never sees them arrive."""
    from bot.slack.events import channel_message
    from bot.storage.sink import open_sink
    from bot.storage.writer import message_values

    incident = await incident_id(database_url, to.channel_id)
    sink = open_sink(async_url(database_url))
    started = time.perf_counter()
    try:
        for start in range(0, count, 1000):
            rows = []
            for _ in range(min(1000, count - start)):
                ts, text = factory.message(to)
                event = {"type": "message", "user": to.user_id, "ts": ts, "text": text}
                rows.append(message_values(channel_message(to.team_id, incident, to.channel_id, event)))
            await sink.insert(rows)
    finally:
        await sink.close()
    seconds = time.perf_counter() - started
    return Fill("insert", count, seconds, count / seconds)


# ---------------------------------------------------------------------------------------------------------------
# The bot: phase 1, the fill, phase 2, the checks
# ---------------------------------------------------------------------------------------------------------------


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
    config_path, _ = bench_config(workdir)
    emulator = SlackEmulator(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
    await emulator.start()
    try:
        env = clean_environment(
            {
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": emulator.api_url,
                "DATABASE_URL": database_url,
                "INCIDENT_BOT_CONFIG": str(config_path),
            }
        )
        with subprocess_running([sys.executable, *serve], env, log_path) as proc:
            await wait_healthy(base_url, proc, log_path)
            to = await open_incident(emulator, base_url + EVENTS_PATH)
            factory.made.pop(to.channel_id, None)  # each emulator names its channels alike: this bot's own record
            before = await stored_ts(database_url, to.channel_id)
            client = new_client(spec, base_url)
            probe = LagProbe(base_url)
            try:
                generator = LoadGenerator(client, Signer(SIGNING_SECRET), proc.pid, name)
                report = await run_stages(
                    name, database_url, emulator, generator, probe, proc.pid, to, factory, spec, rate
                )
            finally:
                await probe.close()
                await client.close()
            stored = await stored_ts(database_url, to.channel_id)
    finally:
        await emulator.stop()
    made = [ts for ts, _ in factory.made.get(to.channel_id, [])]
    report.stored = len(stored) - len(before)
    report.missing = len(set(made) - set(stored))
    report.unexpected = len(stored) - len(set(stored)) + len(set(stored) - set(made) - set(before))
    exact = report.missing == 0 and report.unexpected == 0 and len(made) == report.sent
    report.check = "OK" if exact else "MISMATCH"
    log(
        f"  {name}: {report.stored} rows stored for {report.sent} events sent: {report.check}"
        f" ({report.missing} missing, {report.unexpected} unexpected)"
    )
    return report


async def fill_incident(
    name: str,
    database_url: str,
    generator: LoadGenerator,
    probe: LagProbe,
    pid: int,
    to: Addressing,
    factory: EventFactory,
    spec: LoadSpec,
) -> Fill | None:
    """Bring the incident to --phase2-size messages (None: it already holds as many)."""
    stored = await count_messages(database_url, to.channel_id)
    need = spec.phase2_size - stored
    if need <= 0:
        log(f"  {name}: the incident already holds {stored:,} messages (>= {spec.phase2_size:,}): no fill")
        return None
    log(f"  {name}: filling the incident from {stored:,} to {spec.phase2_size:,} messages ({spec.fill})")
    await wait_idle(pid)
    await probe.window()
    if spec.fill == "insert":
        fill = await fill_by_inserting(database_url, to, factory, need)
    else:
        fill = await fill_by_sending(generator, to, factory, spec, need)
    fill.loop_lag_max_ms, _ = await probe.window()
    fill.incident_messages = await count_messages(database_url, to.channel_id)
    log(f"  {name}: {fill.events:,} messages ({fill.method}) in {fill.seconds:.1f} s; {fill.incident_messages:,} now")
    return fill


async def run_stages(
    name: str,
    database_url: str,
    emulator: Any,
    generator: LoadGenerator,
    probe: LagProbe,
    pid: int,
    to: Addressing,
    factory: EventFactory,
    spec: LoadSpec,
    rate: float,
) -> TargetReport:
    """Phase 1, the fill, phase 2: each one burst, steady, then the suggestion's timing."""
    report = TargetReport(name)
    channel = emulator.workspace.channels[to.channel_id]
    engine = EngineCheck()
    seen: dict[str, str] = {}  # suggestion message ts -> the root cause it named when last accounted for
    for stage in (1, 2) if spec.phase2_size else (1,):
        if stage == 2:
            report.fill = await fill_incident(name, database_url, generator, probe, pid, to, factory, spec)
        await wait_idle(pid)
        stored = await count_messages(database_url, to.channel_id)
        phases, _ = await measure_stage(generator, to, factory, spec, rate, stage, probe, stored)
        report.phases.extend(phases)
        stored = await count_messages(database_url, to.channel_id)
        timing = await time_suggestion(
            stage, SCRIPTS[stage - 1], channel, generator, to, factory, probe, pid, engine, seen, report, stored
        )
        report.suggestions.append(timing)
    for message in suggestion_posts(channel):
        if seen.get(message.ts) != named_cause(message):
            report.unexpected_suggestions.append(f"after the last sequence: {named_cause(message)}")
    inserted = report.fill.events if report.fill is not None and report.fill.method == "insert" else 0
    report.sent = generator.sent + inserted
    return report


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


def _stages(report: TargetReport, kind: str) -> list[Phase]:
    return [p for p in report.phases if p.phase == kind]


def _both(values: list[str]) -> str:
    return ", ".join(f"phase {n} {v}" for n, v in enumerate(values, start=1)) if len(values) > 1 else values[0]


def judge(report: TargetReport, ceiling_burst: float) -> None:
    for phase in report.phases:
        if phase.phase == "burst":
            phase.ratio_to_ceiling = phase.events_per_s / ceiling_burst if ceiling_burst else None
    if report.target not in TARGET_RATIO:
        return
    bursts, steadies = _stages(report, "burst"), _stages(report, "steady")
    want = TARGET_RATIO[report.target]
    ratios = [p.ratio_to_ceiling or 0.0 for p in bursts]
    checks = [
        TargetCheck(
            "durable ingest (burst)",
            f">= {want:.0%} of the ceiling",
            _both([f"{r:.0%}" for r in ratios]),
            all(r >= want for r in ratios),
        ),
        TargetCheck(
            "p99 ack at the steady rate",
            f"<= {TARGET_P99_MS:g} ms",
            _both([f"{p.p99_ms:.1f} ms" for p in steadies]),
            all(p.p99_ms <= TARGET_P99_MS for p in steadies),
        ),
    ]
    if len(bursts) > 1:
        first, second = bursts[0], bursts[1]
        change = second.events_per_s / first.events_per_s - 1 if first.events_per_s else math.nan
        p99 = f"; steady p99 {steadies[0].p99_ms:.1f} -> {steadies[1].p99_ms:.1f} ms" if len(steadies) > 1 else ""
        checks.append(
            TargetCheck(
                f"phase 2 ({second.incident_messages or 0:,} messages) vs phase 1",
                f"burst events/s within {TARGET_PHASE2_DROP:.0%}",
                f"{change:+.0%} ({first.events_per_s:,.0f} -> {second.events_per_s:,.0f}/s){p99}",
                change >= -TARGET_PHASE2_DROP,
            )
        )
    windows = {f"phase {p.stage} {p.phase}": p.loop_lag_max_ms for p in report.phases}
    windows |= {f"phase {s.stage} suggestion": s.loop_lag_max_ms for s in report.suggestions}
    windows |= report.loop_lag_windows_ms
    if report.fill is not None:
        windows[f"fill ({report.fill.method})"] = report.fill.loop_lag_max_ms
    measured = {k: v for k, v in windows.items() if v is not None}
    if measured:
        where = max(measured, key=lambda k: measured[k])
        stall = TargetCheck(
            "event loop's longest stall",
            f"<= {TARGET_STALL_MS:g} ms",
            f"{measured[where]:.0f} ms ({where})",
            measured[where] <= TARGET_STALL_MS,
        )
    else:
        stall = TargetCheck("event loop's longest stall", f"<= {TARGET_STALL_MS:g} ms", "not exported", None)
    checks.append(stall)
    if report.suggestions:
        said = [f"{s.seconds:.2f} s" if s.seconds is not None else "none" for s in report.suggestions]
        checks.append(
            TargetCheck(
                "suggestion after the deciding message",
                f"<= {TARGET_SUGGESTION_S:g} s",
                _both(said),
                all(
                    s.seconds is not None and s.seconds <= TARGET_SUGGESTION_S and not s.problem
                    for s in report.suggestions
                ),
            )
        )
    failed = sum(p.failed for p in report.phases)
    checks.append(
        TargetCheck(
            "every event stored exactly once",
            "stored = sent, all acknowledged",
            f"{report.stored:,}/{report.sent:,} {report.check}, {failed} not acknowledged",
            report.check == "OK" and not failed,
        )
    )
    report.targets = checks
    misses = [f"{c.name} {c.got} (target {c.want})" for c in checks if c.ok is False]
    if misses:
        report.verdict = "FAIL: " + "; ".join(misses)
    else:
        report.verdict = "PASS (" + "; ".join(f"{c.name} {c.want}" for c in checks if c.ok) + ")"


def table(reports: list[TargetReport], spec: LoadSpec, rate: float) -> str:
    head = (
        f"{'target':<11}{'ph':<3}{'phase':<7}{'in inc.':>8}{'events':>7}{'events/s':>10}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'max ms':>8}{'ratio':>7}{'srv CPU':>8}{'gen CPU':>8}{'other':>7}{'srv µs/ev':>10}{'loop ms':>8}"
    )
    phase2 = f", phase 2 at {spec.phase2_size:,} messages ({spec.fill})" if spec.phase2_size else ", no phase 2"
    lines = [
        f"ingest benchmark: {spec.events} burst events, concurrency {spec.concurrency}, steady {rate:,.0f}/s for "
        f"{spec.steady_seconds:g} s, {spec.vocabulary} vocabulary{phase2}, {os.cpu_count()} CPUs",
        head,
        "-" * len(head),
    ]
    for report in reports:
        if report.skipped:
            lines.append(f"{report.target:<11}skipped: {report.skipped}")
            continue
        for phase in report.phases:
            ratio = f"{phase.ratio_to_ceiling:.0%}" if phase.ratio_to_ceiling is not None else ""
            size = f"{phase.incident_messages:,}" if phase.incident_messages is not None else ""
            lag = f"{phase.loop_lag_max_ms:.0f}" if phase.loop_lag_max_ms is not None else ""
            failed = f" ({phase.failed} failed)" if phase.failed else ""
            lines.append(
                f"{report.target:<11}{phase.stage:<3}{phase.phase:<7}{size:>8}{phase.events:>7}"
                f"{phase.events_per_s:>10,.0f}{phase.p50_ms:>8.1f}{phase.p99_ms:>8.1f}{phase.max_ms:>8.1f}{ratio:>7}"
                f"{phase.server_cpu:>8.0%}{phase.generator_cpu:>8.0%}{phase.other_cpu:>7.0%}"
                f"{phase.server_cpu_us_per_event:>10.0f}{lag:>8}{failed}"
            )
    for report in reports:
        if report.skipped or report.target not in TARGET_RATIO:
            continue
        lines.append("")
        if report.fill is not None:
            fill = report.fill
            how = "sent through the bot" if fill.method == "send" else "inserted straight into the database"
            lag = f", loop stall max {fill.loop_lag_max_ms:.0f} ms" if fill.loop_lag_max_ms is not None else ""
            failed = f", {fill.failed} not acknowledged" if fill.failed else ""
            lines.append(
                f"{report.target}: fill: {fill.events:,} messages {how} in {fill.seconds:.1f} s "
                f"({fill.events_per_s:,.0f}/s{failed}{lag}); the incident then held {fill.incident_messages:,}"
            )
        for s in report.suggestions:
            when = f"posted {s.seconds:.2f} s after the deciding message" if s.seconds is not None else "NOT posted"
            extra = []
            if s.ack_ms is not None:
                extra.append(f"its ack {s.ack_ms:.1f} ms")
            if s.loop_lag_max_ms is not None:
                extra.append(f"loop stall max {s.loop_lag_max_ms:.0f} ms")
            if s.settle_seconds is not None:
                extra.append(f"bot idle {s.settle_seconds:.1f} s after the load")
            lines.append(
                f"{report.target}: phase {s.stage} suggestion at {s.incident_messages:,} messages: {s.expected} "
                f"{when} ({', '.join(extra)})"
            )
            if s.problem:
                lines.append(f"    problem: {s.problem}")
            lines.append(f"    engine check: {s.engine_check}")
        for unexpected in report.unexpected_suggestions:
            lines.append(f"{report.target}: a suggestion the chat alone made ({unexpected})")
        if report.loop_lag_windows_ms:
            windows = ", ".join(f"{k} {v:.0f} ms" for k, v in report.loop_lag_windows_ms.items())
            lines.append(f"{report.target}: loop stall max between the measurements: {windows}")
        lines.append(
            f"{report.target}: stored {report.stored:,} rows for {report.sent:,} events sent: {report.check} "
            f"({report.missing} missing, {report.unexpected} unexpected or twice)"
        )
        lines.append(f"{report.target} targets:")
        for c in report.targets:
            mark = {True: "PASS", False: "FAIL", None: "n/a"}[c.ok]
            lines.append(f"  {mark:<5}{c.name:<40}{c.got}  (target {c.want})")
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
        for steady in _stages(report, "steady"):
            if steady.schedule_lag_p99_ms is not None and steady.schedule_lag_p99_ms > 5.0:
                lines.append(
                    f"note: {report.target} phase {steady.stage} steady sent late (p99 {steady.schedule_lag_p99_ms:.1f}"
                    " ms behind schedule): the rate was not held (generator busy, or the server fell behind)"
                )
    lines.append(
        "in inc.: messages in the incident when the phase started; srv/gen CPU: share of one core used by the server /"
        " this generator (near 100% = the bottleneck); other: the rest of the machine (PostgreSQL, other work, VM "
        "steal); srv µs/ev: server CPU per event; loop ms: the bot's longest event-loop stall during the phase"
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
        vocabulary=args.vocabulary,
        phase2_size=args.phase2_size,
        fill=args.fill,
    )
    databases = {"both": ["sqlite", "postgresql"], "none": []}.get(args.database, [args.database])
    profile: str | None = args.profile
    factory = EventFactory(args.vocabulary)
    reports: list[TargetReport] = []
    with tempfile.TemporaryDirectory(prefix="incident-bot-bench-") as tmp:
        workdir = Path(tmp)
        _, served = bench_config(workdir)
        log("ceiling: bare aiohttp + SignatureVerifier")
        ceiling, rate = await run_ceiling(workdir, factory, spec)
        reports.append(ceiling)
        ceiling_burst = ceiling.phases[0].events_per_s
        for name in databases:
            log(f"{name}: incident-bot serve ({served})")
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
    targets = {
        "ratio_to_ceiling": TARGET_RATIO,
        "steady_p99_ms": TARGET_P99_MS,
        "phase2_drop": TARGET_PHASE2_DROP,
        "loop_stall_ms": TARGET_STALL_MS,
        "suggestion_s": TARGET_SUGGESTION_S,
    }
    return {
        "config": {**asdict(spec), "steady_rate": rate, "cpus": os.cpu_count(), "served_config": served},
        "targets": targets,
        "table": table(reports, spec, rate),
        "results": [asdict(r) for r in reports],
    }


def transcript(stage: int, spec: LoadSpec) -> list[str]:
    """The conversation the bot holds when the phase's deciding message arrives (sizes from the options; the
    steady phase's count depends on the rate and is taken as --rate or 1,000/s): chat, then the sequences."""
    factory = EventFactory(spec.vocabulary)
    to = Addressing("T", "A", "B", "U", "C")
    per_stage = spec.warmup + spec.events + round((spec.rate or 1000.0) * spec.steady_seconds)
    lines: list[str] = []
    for n in range(1, stage + 1):
        chat = per_stage if n == 1 else max(0, spec.phase2_size - len(lines)) + per_stage
        lines += [factory.message(to)[1] for _ in range(chat)]
        lines += SCRIPTS[n - 1].messages
    return lines


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
        "--phase2-size",
        type=int,
        default=30000,
        metavar="N",
        help="phase 2 runs once the incident holds N messages (default 30000; 0: phase 1 only)",
    )
    parser.add_argument(
        "--fill",
        choices=["send", "insert"],
        default="send",
        help="how the incident gets to --phase2-size messages: events sent through the bot at full speed "
        "(default), or rows inserted straight into the database with the bot's row format (faster)",
    )
    parser.add_argument(
        "--vocabulary",
        choices=["runbook", "plain"],
        default="runbook",
        help="the messages: responder chat in the shipped runbooks' vocabulary (default), or one fixed sentence",
    )
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
    parser.add_argument(
        "--transcript",
        type=int,
        choices=[1, 2],
        metavar="PHASE",
        help="print the conversation up to phase PHASE's deciding message, one message a line, and exit "
        "(for `incident-bot suggest --json`; drop the last line to see that it is the one that decides)",
    )
    parser.add_argument("--serve-ceiling", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.events < 1 or args.concurrency < 1 or args.warmup < 1 or args.steady_seconds <= 0:
        parser.error("--events, --concurrency and --warmup must be >= 1 and --steady-seconds > 0")
    if args.steady_seconds > MAX_PHASE_SECONDS / 2:
        parser.error(f"--steady-seconds must be at most {MAX_PHASE_SECONDS / 2:g}")
    if args.rate is not None and args.rate <= 0:
        parser.error("--rate must be > 0")
    if args.phase2_size < 0:
        parser.error("--phase2-size must be >= 0")
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
    if args.transcript is not None:
        spec = LoadSpec(
            args.events,
            args.concurrency,
            args.warmup,
            args.steady_seconds,
            args.rate,
            args.client,
            args.vocabulary,
            args.phase2_size or 30000,
            args.fill,
        )
        print("\n".join(transcript(args.transcript, spec)))
        return 0
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
