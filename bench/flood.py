"""Flood benchmark: the served bot's memory (RSS) under a flood of unsigned and oversized `POST /slack/events`.

An attacker does not need the signing secret to make the bot read, decode and parse whatever it is sent. This
starts `incident-bot serve` (SQLite in a temporary directory, the built-in Slack emulator as its Web API), then
sends `--requests` bodies of `--size-mb` with `--concurrency` in flight over a minimal asyncio HTTP/1.1 client,
cycling through the `--kinds` below, and reads the SERVER's resident memory from /proc/<pid>/status:

* before the flood;
* every 100 ms during it (peak), with the kernel's own high-water mark (VmHWM) beside it;
* 1, 5 and 10 s after the last answer: is the memory given back?

Kinds (default: all of them, in turn):

    json      JSON `event_callback` message event + 1 MB of padding, no signature headers
    badsig    the same, with a current timestamp and a wrong signature
    badts     the same, with `X-Slack-Request-Timestamp: abc` (and a signature)
    form      urlencoded form `payload=<1 MB of urlencoded JSON>`, no signature (Bolt's path)
    binary    random bytes (invalid UTF-8), no signature
    short     declares `Content-Length` of the size, sends half of it, then half-closes the connection
    oversize  a body of `--oversize-mb` (8 MB) with its `Content-Length`: does the server read all of it?
    chunked   a body of `--oversize-mb` sent `Transfer-Encoding: chunked` (no length to refuse up front)

    python bench/flood.py                                   # 6,000 requests, all kinds, 32 in flight
    python bench/flood.py --kinds json                      # unsigned JSON only
    python bench/flood.py --requests 2000 --kinds json,form,binary --json
    python bench/flood.py --server-env MALLOC_ARENA_MAX=2   # the same bot under other allocator settings

MB here is 2**20 bytes throughout (bodies and RSS); a 1 MB body is exactly aiohttp's default client_max_size,
the largest body the server accepts. Target: peak RSS under 300 MB.

Run by hand (Linux only: /proc); it is not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parents[1]
SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-bench-token"
EVENTS_PATH = "/slack/events"
MB = 1024 * 1024
TARGET_PEAK_MB = 300.0
SAMPLE_SECONDS = 0.1
AFTER_SECONDS = (1.0, 5.0, 10.0)
REQUEST_TIMEOUT = 30.0  # one request, connection included; then counted as "timeout"
STARTUP_SECONDS = 30.0
WRITE_CHUNK = 256 * 1024  # the client writes bodies in pieces, so that it sees an early answer (413) while sending
WIRE_CHUNK = 64 * 1024  # chunk size of the `chunked` kind's body
# Variables that must not reach the served bot: slack_sdk sends every call through a proxy if one is set, and an
# app token would switch it to Socket Mode.
UNWANTED_ENV = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "SLACK_APP_TOKEN")

KINDS: dict[str, str] = {
    "json": "JSON event_callback message event, no signature headers",
    "badsig": "the same JSON, current timestamp, wrong signature",
    "badts": "the same JSON, X-Slack-Request-Timestamp: abc",
    "form": "urlencoded form, payload=<urlencoded JSON>, no signature",
    "binary": "random bytes (invalid UTF-8), no signature",
    "short": "Content-Length of the size, half of it sent, then EOF",
    "oversize": "Content-Length body of --oversize-mb",
    "chunked": "Transfer-Encoding: chunked body of --oversize-mb",
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------------
# The requests
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """One kind of request: its headers (built at send time, for current timestamps) and its body."""

    kind: str
    headers: Callable[[], list[tuple[str, str]]]
    body: bytes  # as it goes on the wire (the `chunked` kind's is already framed)
    send: int  # how many bytes of `body` to send (`short`: half)
    half_close: bool = False  # shut the sending side after the body (`short`: the server sees EOF)
    fresh: bool = False  # a connection of its own, closed afterwards (the body may not all be read)

    def head(self, host: str) -> bytes:
        lines = [f"POST {EVENTS_PATH} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in self.headers())]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def padded_json(size: int) -> bytes:
    """A Slack-shaped `event_callback` message event padded to exactly `size` bytes (when size allows)."""
    event = {
        "type": "message",
        "channel": "C0FLOOD01",
        "user": "U0FLOOD01",
        "text": "flood",
        "ts": "1700000000.000100",
        "event_ts": "1700000000.000100",
        "channel_type": "channel",
    }
    envelope = {
        "token": "verification-token",
        "team_id": "T0FLOOD01",
        "api_app_id": "A0FLOOD01",
        "type": "event_callback",
        "event_id": "Ev0FLOOD0001",
        "event_time": 1700000000,
        "event": event,
    }
    prefix = json.dumps(envelope, separators=(",", ":"))[:-1].encode() + b',"pad":"'
    suffix = b'"}'
    return prefix + b"x" * max(0, size - len(prefix) - len(suffix)) + suffix


def form_body(size: int) -> bytes:
    """`payload=<urlencoded JSON of a block_actions payload>`, padded to exactly `size` bytes."""
    prefix = "payload=" + quote('{"type":"block_actions","team":{"id":"T0FLOOD01"},"pad":"', safe="")
    suffix = quote('"}', safe="")
    return (prefix + "x" * max(0, size - len(prefix) - len(suffix)) + suffix).encode()


def binary_body(size: int) -> bytes:
    """Random bytes; starts with 0xff, so neither `{` (the bot's JSON fast path) nor valid UTF-8."""
    return b"\xff" + os.urandom(max(0, size - 1))


def chunked_framing(body: bytes) -> bytes:
    parts = []
    for offset in range(0, len(body), WIRE_CHUNK):
        piece = body[offset : offset + WIRE_CHUNK]
        parts += [f"{len(piece):x}\r\n".encode(), piece, b"\r\n"]
    parts.append(b"0\r\n\r\n")
    return b"".join(parts)


def signature(body: bytes, timestamp: str) -> str:
    """A well-formed v0 signature of `body` with the WRONG secret."""
    message = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(b"not-the-signing-secret", message, hashlib.sha256).hexdigest()


def build_shapes(kinds: Sequence[str], size: int, oversize: int) -> list[Shape]:
    """One Shape per kind, bodies built once and shared by every request of that kind."""
    body = padded_json(size)
    big = padded_json(oversize)
    bad_sig = signature(body, str(int(time.time())))  # computed once: wrong whatever the timestamp
    json_type = [("Content-Type", "application/json")]

    def length(n: int) -> list[tuple[str, str]]:
        return [("Content-Length", str(n))]

    made: dict[str, Shape] = {}
    for kind in kinds:
        if kind == "json":
            made[kind] = Shape(kind, lambda: [*json_type, *length(len(body))], body, len(body))
        elif kind == "badsig":
            made[kind] = Shape(
                kind,
                lambda: [
                    *json_type,
                    *length(len(body)),
                    ("X-Slack-Request-Timestamp", str(int(time.time()))),
                    ("X-Slack-Signature", bad_sig),
                ],
                body,
                len(body),
            )
        elif kind == "badts":
            made[kind] = Shape(
                kind,
                lambda: [
                    *json_type,
                    *length(len(body)),
                    ("X-Slack-Request-Timestamp", "abc"),
                    ("X-Slack-Signature", bad_sig),
                ],
                body,
                len(body),
            )
        elif kind == "form":
            form = form_body(size)
            made[kind] = Shape(
                kind,
                lambda form=form: [("Content-Type", "application/x-www-form-urlencoded"), *length(len(form))],
                form,
                len(form),
            )
        elif kind == "binary":
            raw = binary_body(size)
            made[kind] = Shape(
                kind, lambda raw=raw: [("Content-Type", "application/json"), *length(len(raw))], raw, len(raw)
            )
        elif kind == "short":
            made[kind] = Shape(
                kind, lambda: [*json_type, *length(len(body))], body, len(body) // 2, half_close=True, fresh=True
            )
        elif kind == "oversize":
            made[kind] = Shape(kind, lambda: [*json_type, *length(len(big))], big, len(big), fresh=True)
        elif kind == "chunked":
            framed = chunked_framing(big)
            made[kind] = Shape(
                kind,
                lambda: [*json_type, ("Transfer-Encoding", "chunked")],
                framed,
                len(framed),
                fresh=True,
            )
        else:  # parse_args refuses unknown kinds
            raise ValueError(kind)
    return [made[kind] for kind in kinds]


# ---------------------------------------------------------------------------------------------------------------
# A minimal HTTP/1.1 client: keep-alive connections, bodies written in pieces, the answer read concurrently
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    # The status code ("401"); "closed" (no answer before the connection ended); "timeout" (none within 30 s);
    # "refused" (no connection).
    answer: str
    seconds: float
    sent: int  # body bytes written before the end (or the error)
    answered_after: int | None  # body bytes written when the answer's status line arrived (None: no answer)
    keep_alive: bool = False


class Closed(Exception):
    """The server closed the connection without a (complete) answer."""


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Status line, headers and body of one answer; returns (status, connection reusable)."""
    status_line = await reader.readline()
    if not status_line:
        raise Closed
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if not line:
            raise Closed
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    reusable = headers.get("connection", "").lower() != "close"
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:  # delimited by the end of the connection
        await reader.read()
        reusable = False
    return status, reusable


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.transport.abort()


class FloodClient:
    """One connection per worker, kept alive while the server keeps it; `fresh` kinds get one of their own."""

    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._port = port

    async def connect(self) -> Connection:
        reader, writer = await asyncio.open_connection(self._host, self._port, limit=1 << 20)
        return Connection(reader, writer)

    async def exchange(self, connection: Connection, shape: Shape) -> Outcome:
        started = time.perf_counter()
        sent = 0
        answered_after: list[int] = []

        def answered(_: asyncio.Future[tuple[int, bool]]) -> None:
            answered_after.append(sent)

        answer = asyncio.ensure_future(read_answer(connection.reader))
        answer.add_done_callback(answered)
        outcome = "closed"
        keep_alive = False
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                writer = connection.writer
                with contextlib.suppress(ConnectionError, OSError):
                    writer.write(shape.head(f"{self._host}:{self._port}"))
                    view = memoryview(shape.body)[: shape.send]
                    for offset in range(0, len(view), WRITE_CHUNK):
                        piece = view[offset : offset + WRITE_CHUNK]
                        writer.write(piece)
                        await writer.drain()
                        sent = offset + len(piece)
                    if shape.half_close:
                        writer.write_eof()
                with contextlib.suppress(Closed, ConnectionError, OSError, asyncio.IncompleteReadError, ValueError):
                    status, keep_alive = await answer
                    outcome = str(status)
        except TimeoutError:
            outcome = "timeout"
        finally:
            if not answer.done():
                answer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await answer
        return Outcome(
            answer=outcome,
            seconds=time.perf_counter() - started,
            sent=sent,
            answered_after=answered_after[0] if answered_after and outcome.isdigit() else None,
            keep_alive=keep_alive and sent == shape.send and not shape.fresh,
        )

    async def request(self, connection: Connection | None, shape: Shape) -> tuple[Outcome, Connection | None]:
        """One request, on `connection` if it is still usable; returns the connection to use next (or None)."""
        started = time.perf_counter()
        if connection is None or shape.fresh:
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    fresh = await self.connect()
            except (OSError, TimeoutError):
                return Outcome("refused", time.perf_counter() - started, 0, None), connection
            if shape.fresh:
                try:
                    return await self.exchange(fresh, shape), connection
                finally:
                    fresh.close()
            connection = fresh
        outcome = await self.exchange(connection, shape)
        if not outcome.keep_alive:
            connection.close()
            return outcome, None
        return outcome, connection


# ---------------------------------------------------------------------------------------------------------------
# The server's memory
# ---------------------------------------------------------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (Linux /proc); 0 where unavailable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status(pid: int) -> dict[str, int]:
    """Numeric fields of /proc/<pid>/status (kB for the Vm*/Rss* ones); empty once the process is gone."""
    fields: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return fields
    for line in text.splitlines():
        name, _, value = line.partition(":")
        parts = value.split()
        if parts and parts[0].isdigit():
            fields[name] = int(parts[0])
    return fields


def rss_mb(pid: int) -> float | None:
    kb = proc_status(pid).get("VmRSS")
    return kb / 1024 if kb is not None else None


class RssSampler:
    """Reads the server's VmRSS every 100 ms in a thread of its own (steady even when the event loop is busy)."""

    def __init__(self, pid: int, interval: float = SAMPLE_SECONDS) -> None:
        self._pid = pid
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._origin = time.perf_counter()
        self.samples: list[tuple[float, float]] = []  # (s since the sampler started, MB)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def now(self) -> float:
        return time.perf_counter() - self._origin

    def _run(self) -> None:
        while not self._stop.is_set():
            value = rss_mb(self._pid)
            if value is not None:
                self.samples.append((self.now(), value))
            self._stop.wait(self._interval)

    def peak(self, start: float, end: float) -> float | None:
        inside = [mb for t, mb in self.samples if start <= t <= end]
        return max(inside) if inside else None


# ---------------------------------------------------------------------------------------------------------------
# The server process
# ---------------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_environment(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNWANTED_ENV}
    return {**env, **extra}


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL when this benchmark dies, even by SIGKILL (Linux prctl)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group (its own session), SIGKILL after 10 s; always reaped."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def server_running(command: list[str], env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start the server in its own session (Ctrl-C reaches only us) and stop it on the way out, whatever happens."""
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=log_path.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        try:
            yield process
        finally:
            stop_process(process)


async def healthz(base_url: str) -> int:
    """The status of GET /healthz, 0 when there is no answer."""
    import aiohttp

    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
            session.get(f"{base_url}/healthz") as response,
        ):
            return response.status
    except (aiohttp.ClientError, TimeoutError):
        return 0


async def wait_healthy(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_SECONDS
    while loop.time() < deadline and process.poll() is None:
        if await healthz(base_url) == 200:
            return
        await asyncio.sleep(0.1)
    said = (await asyncio.to_thread(log_path.read_text, errors="replace"))[-3000:]
    raise RuntimeError(f"{base_url}/healthz never answered 200 (exit code {process.poll()}); it said:\n{said}")


# ---------------------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class KindReport:
    kind: str
    requests: int = 0
    answers: dict[str, int] = field(default_factory=dict)  # status code (or closed/timeout/refused) -> count
    body_mb: float = 0.0  # size of the body the request declares or carries
    sent_mb_median: float = 0.0  # body bytes written per request (median)
    answered_after_mb_median: float | None = None  # body bytes written when the answer came (median)
    p50_ms: float = 0.0
    p99_ms: float = 0.0


@dataclass
class Memory:
    before_mb: float
    peak_mb: float  # highest 100 ms sample from the first request to the last answer
    hwm_mb: float  # the kernel's high-water mark (VmHWM) at the end of the flood: the true peak
    after_mb: dict[str, float | None]  # "+1s" -> VmRSS
    threads_before: int
    threads_after: int


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def summarise(shapes: list[Shape], outcomes: dict[str, list[Outcome]], size: int, oversize: int) -> list[KindReport]:
    reports = []
    for shape in shapes:
        got = outcomes.get(shape.kind, [])
        declared = oversize if shape.kind in ("oversize", "chunked") else size
        answered = [o.answered_after for o in got if o.answered_after is not None]
        counts = Counter(o.answer for o in got)
        reports.append(
            KindReport(
                kind=shape.kind,
                requests=len(got),
                answers=dict(sorted(counts.items())),
                body_mb=declared / MB,
                sent_mb_median=statistics.median(o.sent for o in got) / MB if got else 0.0,
                answered_after_mb_median=statistics.median(answered) / MB if answered else None,
                p50_ms=1e3 * percentile([o.seconds for o in got], 0.50),
                p99_ms=1e3 * percentile([o.seconds for o in got], 0.99),
            )
        )
    return reports


async def flood(
    client: FloodClient, shapes: list[Shape], requests: int, concurrency: int
) -> tuple[dict[str, list[Outcome]], float]:
    """`requests` requests, kinds in turn, `concurrency` in flight (closed loop); returns outcomes and seconds."""
    outcomes: dict[str, list[Outcome]] = {shape.kind: [] for shape in shapes}
    numbers = iter(range(requests))
    done = 0
    last_report = time.perf_counter()

    async def worker() -> None:
        nonlocal done, last_report
        connection: Connection | None = None
        try:
            for n in numbers:  # shared: each number goes to exactly one worker
                shape = shapes[n % len(shapes)]
                outcome, connection = await client.request(connection, shape)
                outcomes[shape.kind].append(outcome)
                done += 1
                if time.perf_counter() - last_report >= 10:
                    last_report = time.perf_counter()
                    log(f"  {done}/{requests} requests answered")
        finally:
            if connection is not None:
                connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, requests))))
    return outcomes, time.perf_counter() - started


def verdict(memory: Memory) -> str:
    peak = max(memory.peak_mb, memory.hwm_mb)
    last = memory.after_mb.get(f"+{AFTER_SECONDS[-1]:g}s")
    kept = ""
    if last is not None:
        kept = f"; {last - memory.before_mb:,.0f} MB above the baseline {AFTER_SECONDS[-1]:g} s after"
    if peak < TARGET_PEAK_MB:
        return f"PASS: peak RSS {peak:,.0f} MB < {TARGET_PEAK_MB:.0f} MB{kept}"
    return f"FAIL: peak RSS {peak:,.0f} MB >= {TARGET_PEAK_MB:.0f} MB target{kept}"


def table(result: dict[str, Any]) -> str:
    config = result["config"]
    kinds: list[KindReport] = [KindReport(**k) for k in result["kinds"]]
    memory = Memory(**result["memory"])
    lines = [
        f"flood benchmark: {config['requests']:,} requests, {config['concurrency']} in flight, "
        f"{config['size_mb']:g} MB bodies ({config['oversize_mb']:g} MB for oversize/chunked), "
        f"{os.cpu_count()} CPUs",
    ]
    head = (
        f"{'kind':<10}{'reqs':>6}  {'answers':<28}{'body MB':>8}{'sent MB':>8}{'ans@MB':>8}{'p50 ms':>8}{'p99 ms':>8}"
    )
    lines += [head, "-" * len(head)]
    for k in kinds:
        answers = " ".join(f"{code}×{count}" for code, count in k.answers.items())
        at = f"{k.answered_after_mb_median:.2f}" if k.answered_after_mb_median is not None else "-"
        lines.append(
            f"{k.kind:<10}{k.requests:>6}  {answers:<28}{k.body_mb:>8.2f}{k.sent_mb_median:>8.2f}{at:>8}"
            f"{k.p50_ms:>8.0f}{k.p99_ms:>8.0f}"
        )
    flood_ = result["flood"]
    lines += [
        "",
        f"flood: {flood_['seconds']:.1f} s, {flood_['requests_per_s']:,.0f} requests/s, "
        f"{flood_['body_mb_per_s']:,.0f} MB/s of bodies written; CPU: server {flood_['server_cpu']:.0%}, "
        f"generator {flood_['generator_cpu']:.0%} of a core",
        "server RSS (MB): "
        + " | ".join(
            [
                f"before {memory.before_mb:,.0f}",
                f"peak {memory.peak_mb:,.0f} (VmHWM {memory.hwm_mb:,.0f})",
                *(f"{label} {'gone' if mb is None else f'{mb:,.0f}'}" for label, mb in memory.after_mb.items()),
            ]
        ),
        f"server threads: {memory.threads_before} before, {memory.threads_after} after; "
        f"/healthz after: {result['healthz_after'] or 'no answer'}; "
        f"server log: {result['server_log_bytes'] / 1024:,.0f} KiB",
        result["verdict"],
    ]
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from bot.emulator import SlackEmulator

    size = round(args.size_mb * MB)
    oversize = round(args.oversize_mb * MB)
    shapes = build_shapes(args.kinds, size, oversize)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="incident-bot-flood-") as tmp:
        workdir = Path(tmp)
        log_path = workdir / "serve.log"
        emulator = SlackEmulator(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
        await emulator.start()
        try:
            env = clean_environment(
                {
                    "SLACK_BOT_TOKEN": BOT_TOKEN,
                    "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                    "SLACK_API_URL": emulator.api_url,
                    "DATABASE_URL": f"sqlite:///{workdir / 'flood.db'}",
                    "INCIDENT_BOT_CONFIG": str(ROOT / "app.yaml"),
                    # The bot of this checkout, whichever one the virtualenv has installed.
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                    **dict(args.server_env),
                }
            )
            command = [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)]
            with server_running(command, env, log_path) as process:
                await wait_healthy(base_url, process, log_path)
                log(f"server pid {process.pid} ready on {base_url}")
                await asyncio.sleep(1.0)  # let the start-up settle before the baseline
                pid = process.pid
                status_before = proc_status(pid)
                with RssSampler(pid) as sampler:
                    before = rss_mb(pid) or 0.0
                    log(f"baseline RSS {before:.0f} MB; flooding ({args.requests:,} requests)")
                    t0 = sampler.now()
                    cpu0 = process_cpu_seconds(pid), time.process_time()
                    outcomes, seconds = await flood(
                        FloodClient("127.0.0.1", port), shapes, args.requests, args.concurrency
                    )
                    t1 = sampler.now()
                    server_cpu = (process_cpu_seconds(pid) - cpu0[0]) / seconds
                    generator_cpu = (time.process_time() - cpu0[1]) / seconds
                    hwm = proc_status(pid).get("VmHWM", 0) / 1024
                    peak = max(sampler.peak(t0, t1) or 0.0, rss_mb(pid) or 0.0)
                    log(f"flood done in {seconds:.1f} s; sampled peak {peak:.0f} MB, VmHWM {hwm:.0f} MB")
                    after: dict[str, float | None] = {}
                    for delay in AFTER_SECONDS:
                        await asyncio.sleep(max(0.0, t1 + delay - sampler.now()))
                        after[f"+{delay:g}s"] = rss_mb(pid)
                        log(f"  +{delay:g} s: {after[f'+{delay:g}s'] or 0:.0f} MB")
                    status_after = proc_status(pid)
                    health = await healthz(base_url) if process.poll() is None else 0
                    samples = [(round(t - t0, 2), round(mb, 1)) for t, mb in sampler.samples]
                exit_code = process.poll()
            log_bytes = log_path.stat().st_size
            if args.server_log:
                shutil.copyfile(log_path, args.server_log)
        finally:
            await emulator.stop()
    memory = Memory(
        before_mb=before,
        peak_mb=peak,
        hwm_mb=hwm,
        after_mb=after,
        threads_before=status_before.get("Threads", 0),
        threads_after=status_after.get("Threads", 0),
    )
    total = sum(len(v) for v in outcomes.values())
    written = sum(o.sent for v in outcomes.values() for o in v)
    result: dict[str, Any] = {
        "config": {
            "requests": args.requests,
            "concurrency": args.concurrency,
            "size_mb": args.size_mb,
            "oversize_mb": args.oversize_mb,
            "kinds": list(args.kinds),
            "server_env": dict(args.server_env),
            "cpus": os.cpu_count(),
            "target_peak_mb": TARGET_PEAK_MB,
        },
        "kinds": [asdict(k) for k in summarise(shapes, outcomes, size, oversize)],
        "flood": {
            "seconds": seconds,
            "requests_per_s": total / seconds,
            "body_mb_per_s": written / MB / seconds,
            "server_cpu": server_cpu,  # share of one core
            "generator_cpu": generator_cpu,  # share of one core (this process: generator and RSS sampler)
        },
        "memory": asdict(memory),
        "healthz_after": health,
        "server_exit_code": exit_code,
        "server_log_bytes": log_bytes,
        "verdict": verdict(memory) if exit_code is None else f"FAIL: the server exited ({exit_code})",
        "rss_samples": samples,  # (s from the first request, MB)
    }
    return result


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="kinds: " + "; ".join(f"{k}: {v}" for k, v in KINDS.items()),
    )
    parser.add_argument("--requests", type=int, default=6000, help="requests in the flood (default 6000)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight (default 32)")
    parser.add_argument("--size-mb", type=float, default=1.0, help="body size, MB of 2**20 bytes (default 1)")
    parser.add_argument(
        "--oversize-mb", type=float, default=8.0, help="body size of the oversize and chunked kinds (default 8)"
    )
    parser.add_argument(
        "--kinds",
        default=",".join(KINDS),
        help=f"comma-separated, sent in turn (default all: {','.join(KINDS)})",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the server (repeatable), e.g. MALLOC_ARENA_MAX=2 or PYTHONMALLOC=malloc",
    )
    parser.add_argument("--server-log", metavar="FILE", help="keep a copy of the server's output in FILE")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead of the table")
    args = parser.parse_args(argv)
    args.kinds = list(dict.fromkeys(k.strip() for k in args.kinds.split(",") if k.strip()))
    unknown = [k for k in args.kinds if k not in KINDS]
    if unknown or not args.kinds:
        parser.error(f"--kinds: unknown {','.join(unknown) or '(none given)'}; choose from {','.join(KINDS)}")
    if args.requests < 1 or args.concurrency < 1 or args.size_mb <= 0 or args.oversize_mb <= 0:
        parser.error("--requests and --concurrency must be >= 1, --size-mb and --oversize-mb > 0")
    pairs = []
    for item in args.server_env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--server-env wants NAME=VALUE, not {item!r}")
        pairs.append((name, value))
    args.server_env = pairs
    if not sys.platform.startswith("linux"):
        parser.error("reads the server's memory from /proc: Linux only")
    return args


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    # SIGTERM ends the run like Ctrl-C does: the server is stopped on the way out.
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await run(args)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))  # `bot` without installing it, when run from a checkout
    try:
        result = asyncio.run(_main(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted; server stopped")
        return 130
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
