"""`incident-bot demo`: a short scripted incident, played against the built-in Slack emulator.

The very same bot as `serve` (Bolt app, services, storage, gateway) runs in this process on loopback, and the
emulator plays Slack: it delivers signed slash commands, button clicks and messages over HTTP, and answers the
bot's Web API calls. At the end the demo prints what people would see in Slack.

The demo's clock is a ManualClock (bot/clock.py) that the script moves: half an hour passes in an instant, so that
the overdue status-update reminder (a scheduler job) comes due. Paging goes to a PagerDuty Events API v2 stand-in
on loopback (bot/emulator/pagerduty.py), configured for the demo only: no network, nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import secrets
import signal
import socket
import sys
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from aiohttp import web

from bot.app import IncidentBot
from bot.clock import ManualClock
from bot.config import PAGERDUTY, PagingService, PagingSettings, Secret, load_config, resolve_config_path
from bot.emulator import Channel, Message, SlackEmulator
from bot.emulator.pagerduty import FakePagerDuty
from bot.slack.ids import ActionId
from bot.slack.manifest import COMMAND_SHOULD_ESCAPE, build_manifest

DEMO_SERVICE = "user-service"  # the service the demo pages (PagerDuty, through the local stand-in)
DEMO_ROUTING_KEY = "0123456789abcdef0123456789abcdef"  # a made-up routing key (PagerDuty's are 32 characters)


def _say(out: TextIO, line: str = "") -> None:
    out.write(line + "\n")
    out.flush()


async def run_demo(
    environ: Mapping[str, str],
    *,
    database_url: str | None = None,
    out: TextIO = sys.stdout,
    keep_web: bool = False,
    stop: asyncio.Event | None = None,
) -> int:
    """The demo. keep_web=True: the web view is on, and after the demo the emulator, the bot and the web view keep
    running, with the URL to open printed (it signs the browser in as the demo's Alice), until SIGINT (Ctrl-C) or
    `stop` is set."""
    signing_secret = secrets.token_hex(16)
    report_dir = Path(tempfile.mkdtemp(prefix="incident-bot-demo-report-"))
    with tempfile.TemporaryDirectory(prefix="incident-bot-demo-") as tmp:
        db_url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}"
        async with SlackEmulator(
            signing_secret=signing_secret,
            bot_token="xoxb-demo",
            app_token="xapp-demo",
            should_escape=COMMAND_SHOULD_ESCAPE,
        ) as emu:
            pagerduty = FakePagerDuty({DEMO_ROUTING_KEY})
            await pagerduty.start()
            config = load_config(
                resolve_config_path(environ),
                {
                    "SLACK_BOT_TOKEN": "xoxb-demo",
                    "SLACK_SIGNING_SECRET": signing_secret,
                    "SLACK_API_URL": emu.api_url,
                    "DATABASE_URL": db_url,
                },
            )
            # Paging, for the demo only: one PagerDuty service, sent to the stand-in.
            service = PagingService(DEMO_SERVICE, PAGERDUTY, "DEMO_PAGERDUTY_KEY", Secret(DEMO_ROUTING_KEY))
            config = dataclasses.replace(
                config, paging=PagingSettings(services=(service,), pagerduty_url=pagerduty.url)
            )
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            base = f"http://127.0.0.1:{sock.getsockname()[1]}"
            if keep_web:  # the web view, on loopback, signing in through the emulator's Sign in with Slack
                web_settings = dataclasses.replace(
                    config.web,
                    enabled=True,
                    base_url=base,
                    client_id=Secret(emu.openid.client_id),
                    client_secret=Secret(emu.openid.client_secret),
                    cookie_secret=Secret(secrets.token_hex(32)),
                )
                config = dataclasses.replace(config, web=web_settings)
            emu.install(build_manifest(config))  # the workspace grants what our manifest asks for, and nothing more
            clock = ManualClock(datetime.now(UTC))
            bot = IncidentBot(config, clock=clock)
            await bot.start()
            runner = bot.web_runner()
            await runner.setup()
            await web.SockSite(runner, sock).start()
            emu.set_request_url(f"{base}/slack/events")
            try:
                shared = await _play(emu, config.command, out, report_dir, clock, pagerduty)
                if not shared:  # Slack did not get the final report within the demo's wait: the record has it
                    incident = await bot.services.reports.find("INC-" + str(clock.now().year) + "-001")
                    path = report_dir / f"{incident.public_id}-report-final.md"
                    path.write_text(await bot.services.reports.render(incident, "Final"), encoding="utf-8")
                    _say(out, "\n" + "═" * 72)
                    _say(out, f"The final post-incident report (rendered from the record) is at:\n  {path}")
                if keep_web:
                    await emu.wait_idle()
                    await _keep_serving(emu, f"{config.web.root}/login", out, stop or asyncio.Event())
            finally:
                await emu.wait_idle()
                await runner.cleanup()
                await bot.close()
                await pagerduty.stop()
        _say(
            out,
            "\n(The demo used a throw-away SQLite database; `--database-url` keeps one.)" if not database_url else "",
        )
    return 0


async def _keep_serving(emu: SlackEmulator, url: str, out: TextIO, stop: asyncio.Event) -> None:
    """Keeps everything running until SIGINT (Ctrl-C) or `stop`; a browser that opens `url` is signed in as the
    demo's Alice (the emulator's authorize page signs in its current user without asking)."""
    alice = next(u.id for u in emu.workspace.users.values() if u.name == "alice")
    emu.sign_in_as(alice)
    loop = asyncio.get_running_loop()
    handled = True
    try:
        loop.add_signal_handler(signal.SIGINT, stop.set)
    except (NotImplementedError, RuntimeError):  # no signal handlers here (Windows, or not the main thread)
        handled = False
    _say(out, "\n" + "═" * 72)
    _say(out, "The web view of what just happened is running. Open (signs you in as Alice):")
    _say(out, f"  {url}")
    _say(out, "Press Ctrl-C to stop.")
    try:
        await stop.wait()
    finally:
        if handled:
            loop.remove_signal_handler(signal.SIGINT)
    _say(out, "Stopped.")


async def _play(
    emu: SlackEmulator, command: str, out: TextIO, report_path: Path, clock: ManualClock, pagerduty: FakePagerDuty
) -> bool:
    """Play the incidents; whether the final report of the first was shared in its channel (and written)."""
    alice = emu.add_user("alice", real_name="Alice Adams (on call)")
    bob = emu.add_user("bob", real_name="Bob Brown (SRE)")
    general = emu.add_channel("general", members=[alice, bob])

    async def slash(user: str, channel: str, text: str) -> None:
        name = emu.workspace.users[user].name
        _say(out, f"▶ {name} in #{emu.workspace.channels[channel].name}: {command} {text}")
        delivery = await emu.send_command(user, channel, command, text)
        _say(out, f"  (Slack got the bot's answer in {delivery.elapsed * 1000:.0f} ms)")
        await _settle(emu)

    _say(out, "incident-bot demo: the example incident, end to end, in an emulated Slack workspace\n")
    await slash(alice, general, "open sev2 API 500 Errors on User Service")
    await emu.wait_for(lambda: _incident_channel(emu) is not None and bool(_incident_channel(emu).pins))  # type: ignore[union-attr]
    channel = _incident_channel(emu)
    assert channel is not None
    _say(out, f"  → the bot opened #{channel.name}")

    await slash(alice, channel.id, "commander @bob")
    await slash(bob, channel.id, "role comms @alice")

    async def say(user: str, text: str, *reactions: tuple[str, str], where: Channel = channel) -> None:
        _say(out, f"▶ {emu.workspace.users[user].name} in #{where.name}: {text}")
        message = await emu.post_message(user, where.id, text)
        for who, emoji in reactions:
            _say(out, f"  {emu.workspace.users[who].name} reacts :{emoji}:")
            await emu.react(who, where.id, message.ts, emoji)
        await _settle(emu)

    await say(alice, "Customers cannot log in: the User Service API answers 500 on /login", (alice, "rotating_light"))
    await slash(alice, channel.id, "severity sev1")
    await say(
        bob,
        'user-service logs are full of "database connection pool exhaustion" and "hard connection acquisition failure"',
        (bob, "mag"),
    )
    await say(bob, "and `Timeout waiting for connection from pool` on every request", (bob, "mag"))
    await slash(alice, channel.id, f"page {DEMO_SERVICE}")
    with contextlib.suppress(AssertionError):
        await emu.wait_for(lambda: bool(pagerduty.accepted("trigger")), timeout=10)
    for event in pagerduty.accepted("trigger"):
        _say(out, f"  → PagerDuty (the demo's local stand-in) got a trigger: “{event['payload']['summary']}”")
        _say(out, f"    severity {event['payload']['severity']}, dedup_key {event['dedup_key']}")
    await _settle(emu)
    await say(alice, "traffic jumped to 3x normal at 14:30, right after the marketing email went out")
    await say(bob, "no sign of zombie connections, and no maintenance is running on the database")

    def posted() -> Message | None:
        return next((m for m in channel.messages if m.bot_id == emu.bot_id and "Likely root cause" in m.text), None)

    with contextlib.suppress(AssertionError):
        await emu.wait_for(lambda: posted() is not None, timeout=5)
    suggestion = posted()
    if suggestion is not None:
        _say(out, "  → the bot suggested a root cause from the runbooks; alice clicks “Accept as root cause”")
        await emu.click(alice, channel.id, suggestion.ts, ActionId.SUGGESTION_ACCEPT)
        await _settle(emu)
    await say(
        bob,
        "Restarting the service to clear the pool: `sudo systemctl restart api-service`",
        (bob, "hammer_and_wrench"),
    )
    await say(
        bob,
        "pg_stat_activity looks normal after the restart: "
        "`SELECT datname, pid, state FROM pg_stat_activity WHERE datname = 'users' ORDER BY state;`",
        (bob, "white_check_mark"),
    )
    await say(alice, "Error rate back to normal, logins work", (alice, "white_check_mark"))
    _say(out, "⏩ half an hour passes without a status update (the demo moves its clock 31 minutes on)")
    clock.advance(timedelta(minutes=31))

    def reminded() -> bool:
        return any(m.bot_id == emu.bot_id and m.text.startswith(":alarm_clock:") for m in channel.messages)

    with contextlib.suppress(AssertionError):
        await emu.wait_for(reminded, timeout=10)
    if reminded():
        _say(out, "  → the bot reminded the comms lead (alice) that a status update is due")
    await _settle(emu)
    await slash(alice, channel.id, "update Logins work again after a restart of the API service; watching errors")
    await slash(alice, channel.id, "note Traffic was 3x normal after the marketing email went out")
    await slash(alice, channel.id, "followup Raise MAX_CONNECTIONS of the user service @bob due in 7 days")
    await slash(bob, channel.id, "followup Put PgBouncer in front of the users database")
    _say(out, f"▶ bob clicks “Mitigated” on the card in #{channel.name}")
    await emu.click(bob, channel.id, channel.pins[0], ActionId.MITIGATE)
    await _settle(emu)
    await slash(alice, channel.id, "report")
    await slash(bob, channel.id, "resolve")
    # The final report is shared once Slack lets the bot post again (a channel takes one message a second after a
    # burst): wait for it rather than for a quiet moment.
    with contextlib.suppress(AssertionError):
        await emu.wait_for(
            lambda: any(f.filename.endswith("final.md") and f.content for f in emu.workspace.files.values()), timeout=30
        )
    with contextlib.suppress(AssertionError):
        await emu.wait_for(lambda: bool(pagerduty.accepted("resolve")), timeout=10)
    if pagerduty.accepted("resolve"):
        _say(out, "  → the page was resolved on PagerDuty (the stand-in) with the incident")
        with contextlib.suppress(AssertionError):  # and the channel told, once Slack lets the bot post again
            await emu.wait_for(lambda: any("on PagerDuty is resolved" in m.text for m in channel.messages), timeout=30)
    await slash(bob, channel.id, "timeline")
    await slash(alice, general, "status")

    _say(out, "\nA week later, the same thing happens again:\n")
    await slash(bob, general, "open sev2 Login errors again")
    await emu.wait_for(lambda: len(_incident_channels(emu)) == 2 and bool(_incident_channels(emu)[1].pins))
    again = _incident_channels(emu)[1]
    _say(out, f"  → the bot opened #{again.name}")
    await say(bob, "login answers 500 again, logs show `Timeout waiting for connection from pool`", where=again)
    await say(
        bob,
        'user-service logs are full of "database connection pool exhaustion" and "hard connection acquisition failure"',
        where=again,
    )
    await say(bob, "traffic jumped to 3x normal again, another marketing campaign went out", where=again)
    await say(bob, "no sign of zombie connections, and no maintenance is running on the database", where=again)
    with contextlib.suppress(AssertionError):
        await emu.wait_for(lambda: any(m.text.startswith("Seen before") for m in again.messages), timeout=20)
    if any(m.text.startswith("Seen before") for m in again.messages):
        _say(out, f"  → the bot said the root cause was seen before, in {channel.name}, and what fixed it then")

    _say(out, "\n" + "═" * 72 + "\nWhat the incident channel shows:\n" + "═" * 72)
    _say(out, emu.render_channel(channel.id))
    _say(out, "\n" + "═" * 72 + "\nWhat the second incident's channel shows:\n" + "═" * 72)
    _say(out, emu.render_channel(again.id))
    for user in (alice, bob):
        _say(out, "\n" + "─" * 72)
        _say(out, emu.render_private(user))
    reports = [f for f in emu.workspace.files.values() if f.filename.endswith("final.md") and f.content]
    if not reports:
        _say(out, "\n(The final report was not shared in the channel within the demo's wait.)")
        return False
    path = report_path / reports[-1].filename
    path.write_bytes(reports[-1].content or b"")
    _say(out, "\n" + "═" * 72)
    _say(out, f"The final post-incident report (also shared in the channel as a file) is at:\n  {path}")
    return True


async def _settle(emu: SlackEmulator) -> None:
    """Wait until the bot has finished what it does after answering Slack (no Web API call for 150 ms)."""
    while True:
        seen = len(emu.calls) + len(emu.responses)
        await asyncio.sleep(0.15)
        await emu.wait_idle()
        if len(emu.calls) + len(emu.responses) == seen:
            return


def _incident_channel(emu: SlackEmulator) -> Channel | None:
    return next(iter(_incident_channels(emu)), None)


def _incident_channels(emu: SlackEmulator) -> list[Channel]:
    """The incident channels, oldest first."""
    return [c for c in emu.workspace.channels.values() if c.name.startswith("inc-")]
