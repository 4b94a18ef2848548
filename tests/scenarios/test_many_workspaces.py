"""OAuth mode: one bot installed by OAuth into two workspaces (the emulator's SlackGrid), on SQLite and PostgreSQL.
Each workspace has its own incidents, numbered from 1; a payload of one can never read or change the other's;
uninstalling one leaves the other working; rotating tokens are refreshed before they expire."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web

from bot.app import IncidentBot
from bot.clock import ManualClock
from bot.config import Config, load_config
from bot.emulator import Channel, Delivery, SlackEmulator, SlackGrid
from bot.slack.ids import MODAL_INPUT_ACTION, ActionId, CallbackId, ModalBlock
from bot.slack.manifest import COMMAND_SHOULD_ESCAPE
from tests.conftest import ROOT, SIGNING_SECRET, free_socket, write_config

from .forgery import FORM, send_altered, signed
from .steps import card, jobs_done, open_incident, settled
from .test_serve_process import serve_process, wait_healthy

# slack_sdk sends the app's credentials to oauth.v2.access with aiohttp.BasicAuth, deprecated since aiohttp 3.14.
pytestmark = pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")

CLIENT_ID = "1111.2222"
CLIENT_SECRET = "oauth-client-secret"
TOKEN_SECONDS = 63  # with oauth.refresh_minutes 1: a token is refreshed once it has less than 60 s left
YEAR = time.gmtime().tm_year
RETENTION = timedelta(days=30)  # oauth.retention_days below

OAUTH_SECTION = """
web:
  enabled: true
  path_prefix: /web
  base_url: {base}
oauth:
  retention_days: 30
  refresh_minutes: 1
"""


@dataclass
class Workspace:
    slack: SlackEmulator
    alice: str
    general: str


@dataclass
class Deployment:
    grid: SlackGrid
    bot: IncidentBot
    url: str
    a: Workspace
    b: Workspace


def oauth_environment(grid: SlackGrid, database_url: str) -> dict[str, str]:
    """OAuth mode's environment: the app's client ID and secret, and no bot token."""
    return {
        "SLACK_CLIENT_ID": CLIENT_ID,
        "SLACK_CLIENT_SECRET": CLIENT_SECRET,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": grid.api_url,
        "DATABASE_URL": database_url,
    }


def oauth_config(tmp_path: Path, grid: SlackGrid, database_url: str, base: str) -> Config:
    text = (ROOT / "app.yaml").read_text(encoding="utf-8")
    text = text[: text.index("\nweb:\n")] + OAUTH_SECTION.format(base=base)
    (tmp_path / "runbooks").symlink_to(ROOT / "runbooks")  # the shipped runbooks, beside this app.yaml
    return load_config(write_config(tmp_path, text), oauth_environment(grid, database_url))


def people_of(slack: SlackEmulator) -> Workspace:
    alice = slack.add_user("alice", real_name="Alice Adams")
    bob = slack.add_user("bob", real_name="Bob Brown")
    general = slack.add_channel("general", members=[alice, bob])
    return Workspace(slack, alice, general)


@pytest.fixture
def clock() -> ManualClock:
    """The bot's clock (jobs come due by it), from now."""
    return ManualClock(datetime.now(UTC))


@pytest.fixture
def skew() -> list[float]:
    """Seconds Slack's clock (the grid's, which tokens expire by) is ahead of the real one."""
    return [0.0]


@pytest.fixture
async def deployment(
    tmp_path: Path, database_url: str, skew: list[float], clock: ManualClock
) -> AsyncIterator[Deployment]:
    """The bot in OAuth mode, installed through /slack/install by an admin of each of two workspaces."""
    grid = SlackGrid(
        signing_secret=SIGNING_SECRET,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        token_rotation=True,
        token_seconds=TOKEN_SECONDS,
        clock=lambda: time.time() + skew[0],
    )
    alpha = grid.add_workspace(
        team_id="T0ALPHA001", team_domain="alpha", team_name="Alpha", should_escape=COMMAND_SHOULD_ESCAPE
    )
    beta = grid.add_workspace(  # a workspace of an Enterprise Grid org: its installation is keyed by both
        team_id="T0BETA0001",
        team_domain="beta",
        team_name="Beta",
        enterprise_id="E0ORG00001",
        enterprise_name="Org",
        should_escape=COMMAND_SHOULD_ESCAPE,
    )
    async with grid:
        sock = free_socket()
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        incident_bot = IncidentBot(oauth_config(tmp_path, grid, database_url, url), clock=clock)
        await incident_bot.start()
        runner = incident_bot.web_runner()
        await runner.setup()
        await web.SockSite(runner, sock).start()
        try:
            for slack in (alpha, beta):
                slack.set_request_url(f"{url}/slack/events")
                installed = await grid.install(slack, f"{url}/slack/install")
                assert installed.status == 200, installed.text
            yield Deployment(grid, incident_bot, url, people_of(alpha), people_of(beta))
        finally:
            for slack in (alpha, beta):
                await slack.wait_idle()
            await runner.cleanup()
            await incident_bot.close()


async def incident_in(bot: IncidentBot, team: str, channel: Channel) -> Any:
    incident = await bot.services.incidents.in_channel(team, channel.id)
    assert incident is not None
    return incident


async def command(workspace: Workspace, channel: str, text: str) -> None:
    await workspace.slack.send_command(workspace.alice, channel, "/incident", text)


async def forged_command(workspace: Workspace, channel_id: str, text: str) -> int:
    """A slash command of `workspace` (its team, its person), signed, naming `channel_id` (another's channel): the
    HTTP status of the bot's answer."""
    return (await command_delivery(workspace, channel_id, text)).status


async def command_delivery(workspace: Workspace, channel_id: str, text: str) -> Delivery:
    """`forged_command`'s delivery: its status and the bot's answer."""
    body = urlencode(
        {
            "token": "legacy",
            "team_id": workspace.slack.team_id,
            "team_domain": "x",
            "channel_id": channel_id,
            "channel_name": "forged",
            "user_id": workspace.alice,
            "user_name": "alice",
            "command": "/incident",
            "text": text,
            "api_app_id": "A0",
            "is_enterprise_install": "false",
            "response_url": f"{workspace.slack.url}/response/nowhere",
            "trigger_id": "1.2.forged",
        }
    ).encode()
    return await workspace.slack.deliver_raw(body, FORM, signed(body, FORM))


async def test_two_workspaces_each_open_their_first_incident_and_keep_their_own_messages_and_marks(
    deployment: Deployment,
) -> None:
    a, b = deployment.a, deployment.b

    channel_a = await open_incident(a.slack, a.alice, a.general, "Payments down")
    channel_b = await open_incident(b.slack, b.alice, b.general, "Search slow")
    said_a = await a.slack.post_message(a.alice, channel_a.id, "alpha sees card declines")
    said_b = await b.slack.post_message(b.alice, channel_b.id, "beta sees slow queries")
    await a.slack.react(a.alice, channel_a.id, said_a.ts, "pushpin")
    await b.slack.react(b.alice, channel_b.id, said_b.ts, "pushpin")
    await settled(a.slack, deployment.bot)
    await settled(b.slack, deployment.bot)

    first_a = await incident_in(deployment.bot, a.slack.team_id, channel_a)
    first_b = await incident_in(deployment.bot, b.slack.team_id, channel_b)
    assert (first_a.public_id, first_a.title) == (f"INC-{YEAR}-001", "Payments down")
    assert (first_b.public_id, first_b.title) == (f"INC-{YEAR}-001", "Search slow")
    async with deployment.bot.db.timeline() as store:
        texts_a = [m.text for m in await store.messages(first_a.id)]
        texts_b = [m.text for m in await store.messages(first_b.id)]
        marks_a = [e.text for e in await store.marked_messages(first_a.id)]
        marks_b = [e.text for e in await store.marked_messages(first_b.id)]
    assert "alpha sees card declines" in texts_a
    assert "beta sees slow queries" not in texts_a
    assert "beta sees slow queries" in texts_b
    assert "alpha sees card declines" not in texts_b
    assert any("alpha sees card declines" in t for t in marks_a)
    assert not any("alpha sees card declines" in t for t in marks_b)
    assert deployment.bot.installations is not None
    record_b = await deployment.bot.installations.record(b.slack.team_id)
    assert record_b is not None
    assert record_b.enterprise_id == "E0ORG00001"  # B's installation is its org's and its own
    # Each workspace's bot posted with its own token, in its own workspace only.
    assert any(m.user == a.slack.bot_user_id for m in channel_a.messages)
    assert all(m.user != b.slack.bot_user_id for m in channel_a.messages)


SPIKE = [
    "user-service logs: Timeout waiting for connection from pool",
    "lots of hard connection acquisition failure lines, the pool is exhausted",
    "traffic jumped to 3x normal right at 14:30, the marketing campaign went out",
    "no sign of zombie connections, and no maintenance is running",
]


@dataclass
class TwoIncidents:
    channel_a: Channel
    channel_b: Channel
    b: Any  # workspace B's incident as stored
    card_b: str
    posted_in_b: int  # how many messages B's channel held before A's forgeries


@pytest.fixture
async def two(deployment: Deployment) -> TwoIncidents:
    """Each workspace has its first incident open, B's with a root-cause suggestion posted."""
    a, b = deployment.a, deployment.b
    channel_a = await open_incident(a.slack, a.alice, a.general, "Payments down")
    channel_b = await open_incident(b.slack, b.alice, b.general, "API 500 errors on login")
    for line in SPIKE:
        await b.slack.post_message(b.alice, channel_b.id, line)
    await settled(b.slack, deployment.bot)
    incident_b = await incident_in(deployment.bot, b.slack.team_id, channel_b)
    card_b = str(card(b.slack, channel_b)["ts"])
    return TwoIncidents(channel_a, channel_b, incident_b, card_b, len(channel_b.messages))


async def b_is_untouched(deployment: Deployment, two: TwoIncidents) -> None:
    """B's incident as it was: open, same severity, no root cause accepted, no report, nothing more in its channel,
    and nothing of it told to A's person."""
    a, b = deployment.a, deployment.b
    await settled(a.slack, deployment.bot)
    await settled(b.slack, deployment.bot)
    after = await incident_in(deployment.bot, b.slack.team_id, two.channel_b)
    assert (after.status.value, after.severity) == ("open", two.b.severity)
    assert await deployment.bot.services.suggestions.accepted(after.id) is None
    async with deployment.bot.db.unit() as stores:
        assert await stores.reports.all(after.id) == []
    assert len(two.channel_b.messages) == two.posted_in_b
    told_a = json.dumps([r.payload for r in a.slack.responses]) + json.dumps([e.text for e in a.slack.ephemerals])
    told_a += json.dumps([v.view for v in a.slack.views.values()])
    assert "API 500 errors on login" not in told_a


async def test_card_and_suggestion_buttons_of_one_workspace_never_act_on_the_other_workspaces_incident(
    deployment: Deployment, two: TwoIncidents
) -> None:
    a, b = deployment.a, deployment.b
    suggestion_b = next(
        str(e["value"])
        for m in two.channel_b.messages
        if m.user == b.slack.bot_user_id and "Likely root cause" in m.text
        for block in m.blocks
        if block["type"] == "actions"
        for e in block["elements"]
        if e.get("action_id") == ActionId.SUGGESTION_ACCEPT
    )
    click = await a.slack.click(
        a.alice, two.channel_a.id, str(card(a.slack, two.channel_a)["ts"]), ActionId.ACKNOWLEDGE
    )
    await settled(a.slack, deployment.bot)

    def onto_b(payload: dict[str, Any], action_id: str, block_id: str, value: str) -> None:
        payload["channel"]["id"] = payload["container"]["channel_id"] = two.channel_b.id
        payload["container"]["message_ts"] = payload["message"]["ts"] = two.card_b
        payload["actions"][0].update(action_id=action_id, block_id=block_id, value=value)
        payload["actions"][0]["action_ts"] = f"{time.time():.6f}"

    def in_a(payload: dict[str, Any]) -> None:  # B's suggestion accepted from A's own channel
        payload["actions"][0].update(
            action_id=ActionId.SUGGESTION_ACCEPT, block_id=f"suggestion.{suggestion_b}", value=suggestion_b
        )
        payload["actions"][0]["action_ts"] = f"{time.time():.6f}"

    forged = [
        await send_altered(
            a.slack, click, lambda p: onto_b(p, ActionId.RESOLVE, f"incident.card.{two.b.id}", str(two.b.id))
        ),
        await send_altered(
            a.slack,
            click,
            lambda p: onto_b(p, ActionId.SUGGESTION_ACCEPT, f"suggestion.{suggestion_b}", suggestion_b),
        ),
        await send_altered(a.slack, click, in_a),
    ]

    assert [f.status for f in forged] == [200, 200, 200]
    await b_is_untouched(deployment, two)


async def test_commands_of_one_workspace_naming_the_other_workspaces_channel_neither_read_nor_change_it(
    deployment: Deployment, two: TwoIncidents
) -> None:
    statuses = [
        await forged_command(deployment.a, two.channel_b.id, text)
        for text in ("status", "resolve", "report", "severity sev1", "timeline", "suggest")
    ]

    assert statuses == [200] * 6
    await b_is_untouched(deployment, two)


async def test_the_timeline_shortcut_and_its_form_of_one_workspace_never_add_to_the_other_workspaces_incident(
    deployment: Deployment, two: TwoIncidents
) -> None:
    a = deployment.a
    said = await a.slack.post_message(a.alice, a.general, "customers report card declines")
    shortcut = await a.slack.message_shortcut(a.alice, a.general, said.ts, CallbackId.ADD_TO_TIMELINE)
    await a.slack.wait_for(
        lambda: any(v.callback_id == CallbackId.ADD_TO_TIMELINE_FORM for v in a.slack.views.values())
    )
    form = next(v for v in a.slack.views.values() if v.callback_id == CallbackId.ADD_TO_TIMELINE_FORM)
    submitted = await a.slack.submit_view(a.alice, form.id, {"kind": {"value": "impact"}})
    await settled(a.slack, deployment.bot)

    def shortcut_onto_b(payload: dict[str, Any]) -> None:
        payload["channel"]["id"] = two.channel_b.id
        payload["message"]["ts"] = payload["message_ts"] = two.card_b

    def form_onto_b(payload: dict[str, Any]) -> None:  # B's incident picked in the form, as a new form
        payload["view"]["id"] = "V0FORGED01"
        chosen = payload["view"]["state"]["values"][ModalBlock.INCIDENT][MODAL_INPUT_ACTION]
        chosen["selected_option"]["value"] = str(two.b.id)

    forged_shortcut = await send_altered(a.slack, shortcut, shortcut_onto_b)
    forged_form = await send_altered(a.slack, submitted, form_onto_b)

    assert (forged_shortcut.status, forged_form.status) == (200, 200)
    incident_a = await incident_in(deployment.bot, a.slack.team_id, two.channel_a)
    async with deployment.bot.db.timeline() as store:
        added_to_b = [e for e in await store.entries(two.b.id) if e.source == "shortcut"]
        added_to_a = [e for e in await store.entries(incident_a.id) if e.source == "shortcut"]
    assert added_to_b == []
    assert [e.text for e in added_to_a] == ["customers report card declines"]  # the form itself worked
    await b_is_untouched(deployment, two)


async def test_a_message_event_of_one_workspace_naming_the_other_workspaces_channel_is_not_captured(
    deployment: Deployment, two: TwoIncidents
) -> None:
    a = deployment.a
    said = await a.slack.post_message(a.alice, two.channel_a.id, "alpha sees card declines")
    delivered = await a.slack.deliver_message_event(two.channel_a.id, said.ts)
    envelope = json.loads(delivered.request_body)
    envelope["event_id"] = "Ev0FORGED01"
    envelope["event"]["channel"] = two.channel_b.id
    envelope["event"]["ts"] = envelope["event"]["event_ts"] = f"{time.time():.6f}"
    body = json.dumps(envelope).encode()

    forged = await a.slack.deliver_raw(body, "application/json", signed(body, "application/json"))

    assert forged.status == 200
    await settled(a.slack, deployment.bot)
    async with deployment.bot.db.timeline() as store:
        assert "alpha sees card declines" not in [m.text for m in await store.messages(two.b.id)]
    await b_is_untouched(deployment, two)


async def web_pages(deployment: Deployment, workspace: Workspace, *paths: str) -> list[tuple[int, str]]:
    """Sign in with Slack as `workspace`'s Alice (the login page, Slack's authorize page, back), then read `paths`."""
    deployment.grid.sign_in_as(workspace.slack, workspace.alice)
    pages = []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.get(f"{deployment.url}/web/login") as signed_in:
            pages.append((signed_in.status, await signed_in.text()))
        for path in paths:
            async with browser.get(f"{deployment.url}/web{path}") as page:
                pages.append((page.status, await page.text()))
    return pages


async def test_the_web_view_shows_a_person_only_their_own_workspaces_incidents(deployment: Deployment) -> None:
    a, b = deployment.a, deployment.b
    await open_incident(a.slack, a.alice, a.general, "Payments down")
    await open_incident(b.slack, b.alice, b.general, "Search slow")
    await settled(a.slack, deployment.bot)

    signed_in, listing, one = await web_pages(deployment, a, "/incidents", f"/incidents/INC-{YEAR}-001")

    assert signed_in[0] == 200
    assert "Payments down" in listing[1]
    assert "Search slow" not in listing[1]
    assert "Payments down" in one[1]
    assert "Search slow" not in one[1]


async def test_an_uninstalled_workspaces_incidents_stay_readable_for_the_retention_then_are_deleted(
    deployment: Deployment, clock: ManualClock
) -> None:
    a, b = deployment.a, deployment.b
    await open_incident(a.slack, a.alice, a.general, "Payments down")
    channel_b = await open_incident(b.slack, b.alice, b.general, "Search slow")
    await deployment.grid.uninstall(a.slack)
    await settled(a.slack, deployment.bot)

    clock.advance(RETENTION - timedelta(days=1))
    await jobs_done(deployment.bot, clock)
    within = await web_pages(deployment, a, "/incidents")
    clock.advance(timedelta(days=2))
    await jobs_done(deployment.bot, clock)
    after = await web_pages(deployment, a, "/incidents")

    assert "Payments down" in within[1][1]
    async with deployment.bot.db.transaction() as store:
        assert await store.list_active(a.slack.team_id) == []
        assert [i.title for i in await store.list_active(b.slack.team_id)] == ["Search slow"]
    assert after[0][0] == 403
    assert "another Slack workspace" in after[0][1]
    assert (await incident_in(deployment.bot, b.slack.team_id, channel_b)).title == "Search slow"


async def test_a_workspace_that_installs_again_within_the_retention_keeps_its_incidents(
    deployment: Deployment, clock: ManualClock
) -> None:
    a = deployment.a
    channel = await open_incident(a.slack, a.alice, a.general, "Payments down")
    await deployment.grid.uninstall(a.slack)
    await settled(a.slack, deployment.bot)

    reinstalled = await deployment.grid.install(a.slack, f"{deployment.url}/slack/install")
    clock.advance(RETENTION + timedelta(days=1))
    await jobs_done(deployment.bot, clock)
    await command(a, channel.id, "status")
    await settled(a.slack, deployment.bot)

    assert reinstalled.status == 200
    assert (await incident_in(deployment.bot, a.slack.team_id, channel)).title == "Payments down"
    assert any("Payments down" in json.dumps(r.payload) for r in a.slack.responses)


async def test_uninstalling_one_workspace_stops_the_bot_there_and_leaves_the_other_working(
    deployment: Deployment,
) -> None:
    a, b = deployment.a, deployment.b
    await open_incident(a.slack, a.alice, a.general, "Payments down")

    await deployment.grid.uninstall(a.slack)
    await settled(a.slack, deployment.bot)
    forged = await forged_command(a, a.general, "open Still here?")
    channel_b = await open_incident(b.slack, b.alice, b.general, "Search slow")

    assert forged == 200
    async with deployment.bot.db.transaction() as store:
        assert len(await store.list_active(a.slack.team_id)) == 1  # kept (retention), nothing new opened
    assert deployment.bot.installations is not None
    assert not await deployment.bot.installations.serves(a.slack.team_id)
    assert (await incident_in(deployment.bot, b.slack.team_id, channel_b)).public_id == f"INC-{YEAR}-001"
    async with aiohttp.ClientSession() as client, client.get(f"{deployment.url}/healthz") as health:
        assert health.status == 200


async def test_a_rotating_token_is_refreshed_before_it_expires_and_the_new_one_is_used(
    deployment: Deployment, skew: list[float]
) -> None:
    a = deployment.a
    first_token = deployment.grid.token_of(a.slack)
    channel = await open_incident(a.slack, a.alice, a.general, "Payments down")
    refreshes_before = len(refreshes(deployment.grid))

    await asyncio.sleep(3.5)  # the token now has less than oauth.refresh_minutes (1) to live: due for a refresh
    await command(a, channel.id, "status")
    await settled(a.slack, deployment.bot)
    renewed = deployment.grid.token_of(a.slack)
    skew[0] = 61.0  # Slack's time passes: the first token has expired, the renewed one has not
    await command(a, channel.id, "status")
    await settled(a.slack, deployment.bot)

    assert len(refreshes(deployment.grid)) == refreshes_before + 1
    assert renewed != first_token
    refused = [c.error for c in a.slack.calls if c.error in ("token_expired", "invalid_auth", "token_revoked")]
    assert refused == []
    assert len([r for r in a.slack.responses if "Payments down" in json.dumps(r.payload)]) == 2  # both answered


def refreshes(grid: SlackGrid) -> list[Any]:
    return [c for c in grid.calls if c.method == "oauth.v2.access" and c.args.get("grant_type") == "refresh_token"]


async def test_incident_bot_serve_in_oauth_mode_installs_into_two_workspaces_and_serves_each(
    tmp_path: Path, database_url: str
) -> None:
    grid = SlackGrid(signing_secret=SIGNING_SECRET, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    alpha = grid.add_workspace(team_id="T0ALPHA001", team_domain="alpha", team_name="Alpha")
    beta = grid.add_workspace(team_id="T0BETA0001", team_domain="beta", team_name="Beta")
    async with grid:
        environ = {
            **oauth_environment(grid, database_url),
            "INCIDENT_BOT_CONFIG": str(ROOT / "app.yaml"),
            "SLACK_BOT_TOKEN": "",  # (this process's environment is passed on: none of its Slack tokens)
            "SLACK_APP_TOKEN": "",
        }
        log = tmp_path / "serve.log"
        with serve_process(environ, log) as (url, _process):
            await wait_healthy(url, log)
            people = []
            for slack in (alpha, beta):
                slack.set_request_url(f"{url}/slack/events")
                installed = await grid.install(slack, f"{url}/slack/install")
                assert installed.status == 200, installed.text
                people.append(people_of(slack))

            opened = [await open_incident(p.slack, p.alice, p.general, f"Down in {p.slack.team_id}") for p in people]
            for p in people:
                await p.slack.wait_idle()

    assert [c.name.startswith("inc-") for c in opened] == [True, True]
    topics = [m.text for p, c in zip(people, opened, strict=True) for m in c.messages if "INC-" in m.text]
    assert any(f"INC-{YEAR}-001" in t and "T0ALPHA001" in t for t in topics)
    assert any(f"INC-{YEAR}-001" in t and "T0BETA0001" in t for t in topics)


async def test_when_the_database_cannot_say_which_workspace_a_request_is_for_nothing_is_done_and_slack_is_told(
    deployment: Deployment,
) -> None:
    # Arrange: no request was served yet, so no installation is remembered; the workspaces' table is gone.
    a = deployment.a
    async with deployment.bot.db.engine.begin() as conn:
        await conn.exec_driver_sql("ALTER TABLE workspaces RENAME TO workspaces_gone")
    envelope = {
        "type": "event_callback",
        "team_id": a.slack.team_id,
        "api_app_id": deployment.grid.app_id,
        "event_id": "Ev0NODATABASE",
        "event_time": int(time.time()),
        "authorizations": [{"team_id": a.slack.team_id, "user_id": a.slack.bot_user_id, "is_bot": True}],
        "event": {"type": "message", "channel": "C0SOMEWHERE", "user": a.alice, "text": "hi", "ts": "1.000001"},
    }
    body = json.dumps(envelope).encode()

    command = await command_delivery(a, a.general, "open Payments down")
    event = await a.slack.deliver_raw(body, "application/json", signed(body, "application/json"))

    assert command.status == 200
    assert "cannot reach my database" in command.body  # the person is told, at once
    assert event.status == 503  # Slack delivers it again
    async with deployment.bot.db.engine.begin() as conn:
        await conn.exec_driver_sql("ALTER TABLE workspaces_gone RENAME TO workspaces")
    async with deployment.bot.db.transaction() as store:
        assert await store.count() == 0  # nothing half-created
