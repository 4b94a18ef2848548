# ruff: noqa: F811 (the fixtures of test_many_workspaces.py, imported, are parameters here)
"""OAuth mode under attack: requests, payloads and sequences of events of one workspace (A) that try to read or change
another's (B), make the bot act in the wrong workspace, keep acting for an uninstalled one, lose what it should keep,
or fail (500s). Payloads are Slack's own with fields changed, signed (tests/scenarios/forgery.py), or real Slack
behaviour (an event delivered again). The deployment is test_many_workspaces.py's: A a workspace of its own, B one of
an Enterprise Grid org."""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from slack_sdk.oauth.installation_store import Installation

from bot.acting import Acting
from bot.clock import ManualClock
from bot.slack.ids import MODAL_INPUT_ACTION, ActionId, CallbackId, ModalBlock

from .forgery import FORM, send_altered, signed
from .steps import card, jobs_done, open_incident, settled
from .test_many_workspaces import (  # noqa: F401 (fixtures)
    RETENTION,
    YEAR,
    Deployment,
    TwoIncidents,
    b_is_untouched,
    clock,
    command,
    deployment,
    incident_in,
    skew,
    two,
    web_pages,
)
from .test_open_form import filled

pytestmark = pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")

JSON_TYPE = "application/json"


async def deliver_json(deployment: Deployment, envelope: dict[str, Any], *, retry: int = 0) -> int:
    """An Events API envelope, signed now, as Slack would deliver it (`retry`: Slack's X-Slack-Retry-Num)."""
    body = json.dumps(envelope).encode()
    headers = signed(body, JSON_TYPE)
    if retry:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    delivered = await deployment.a.slack.deliver_raw(body, JSON_TYPE, headers)
    return delivered.status


def lifecycle(team_id: str, event: dict[str, Any], *, enterprise_id: str | None = None) -> dict[str, Any]:
    """An `app_uninstalled` / `tokens_revoked` envelope of `team_id`."""
    return {
        "token": "legacy",
        "team_id": team_id,
        **({"enterprise_id": enterprise_id} if enterprise_id else {}),
        "api_app_id": "A0",
        "event": {**event, "event_ts": f"{time.time():.6f}"},
        "type": "event_callback",
        "event_id": f"Ev{time.time_ns()}",
        "event_time": int(time.time()),
    }


async def installed(deployment: Deployment, team_id: str) -> bool:
    assert deployment.bot.installations is not None
    return await deployment.bot.installations.serves(team_id)


# -- the workspace a payload is served for, and the one its fields name --------------------------------------------


async def test_a_button_whose_top_level_team_id_is_its_own_but_whose_team_is_the_others_leaves_the_other_untouched(
    deployment: Deployment, two: TwoIncidents
) -> None:
    a, b = deployment.a, deployment.b
    click = await a.slack.click(
        a.alice, two.channel_a.id, str(card(a.slack, two.channel_a)["ts"]), ActionId.ACKNOWLEDGE
    )
    await settled(a.slack, deployment.bot)

    def team_fields_disagree(payload: dict[str, Any]) -> None:
        payload["team_id"] = a.slack.team_id  # what the front door's gate reads first: A, installed, served
        payload["team"] = {"id": b.slack.team_id, "domain": "beta"}  # what the services scope the click by
        payload["user"]["team_id"] = b.slack.team_id
        payload["channel"]["id"] = payload["container"]["channel_id"] = two.channel_b.id
        payload["container"]["message_ts"] = payload["message"]["ts"] = two.card_b
        payload["actions"][0].update(
            action_id=ActionId.RESOLVE, block_id=f"incident.card.{two.b.id}", value=str(two.b.id)
        )
        payload["actions"][0]["action_ts"] = f"{time.time():.6f}"

    forged = await send_altered(a.slack, click, team_fields_disagree)

    assert forged.status == 200
    await b_is_untouched(deployment, two)


async def test_an_open_form_of_an_org_wide_shape_naming_the_other_workspace_in_its_view_opens_nothing_there(
    deployment: Deployment,
) -> None:
    a, b = deployment.a, deployment.b
    await command(a, a.general, "open")
    await a.slack.wait_for(lambda: any(v.callback_id == CallbackId.OPEN_MODAL for v in a.slack.views.values()))
    form = next(v for v in a.slack.views.values() if v.callback_id == CallbackId.OPEN_MODAL)
    submitted = await a.slack.submit_view(a.alice, form.id, filled("Checkout down"))
    await settled(a.slack, deployment.bot)
    async with deployment.bot.db.transaction() as store:
        before_b = [i.title for i in await store.list_active(b.slack.team_id)]

    def as_org_wide(payload: dict[str, Any]) -> None:  # Slack sends `team: null` for org-wide installs
        payload["team"] = None
        payload["user"]["team_id"] = a.slack.team_id  # the gate's: A, served
        payload["view"]["team_id"] = b.slack.team_id  # the form's: B
        payload["view"]["id"] = "V0FORGED02"
        payload["view"]["state"]["values"][ModalBlock.TITLE][MODAL_INPUT_ACTION]["value"] = "Planted by alpha"

    forged = await send_altered(a.slack, submitted, as_org_wide)
    await settled(a.slack, deployment.bot)
    await settled(b.slack, deployment.bot)

    assert forged.status == 200
    async with deployment.bot.db.transaction() as store:
        after_b = [i.title for i in await store.list_active(b.slack.team_id)]
    assert after_b == before_b
    assert "Planted by alpha" not in after_b


async def test_a_slash_command_form_claiming_to_be_an_ssl_check_and_naming_no_workspace_does_nothing(
    deployment: Deployment,
) -> None:
    a = deployment.a
    body = urlencode(
        {
            "ssl_check": "0",
            "channel_id": a.general,
            "user_id": a.alice,
            "command": "/incident",
            "text": "open Nobody's incident",
            "response_url": f"{a.slack.url}/response/nowhere",
            "trigger_id": "1.2.forged",
        }
    ).encode()

    delivered = await a.slack.deliver_raw(body, FORM, signed(body, FORM))
    await settled(a.slack, deployment.bot)

    assert delivered.status < 500
    async with deployment.bot.db.transaction() as store:
        for team in (a.slack.team_id, deployment.b.slack.team_id, ""):
            assert await store.list_active(team) == []


async def test_a_payload_claiming_an_org_wide_install_of_another_org_never_gets_that_orgs_token(
    deployment: Deployment,
) -> None:
    a = deployment.a
    installations = deployment.bot.installations
    assert installations is not None
    await installations.store.async_save(  # an org-wide install of another Enterprise Grid org
        Installation(
            app_id=deployment.grid.app_id,
            enterprise_id="E0OTHER001",
            enterprise_name="Other Org",
            team_id=None,
            bot_token="xoxb-the-other-orgs-token",
            bot_id="B0OTHER001",
            bot_user_id="U0OTHER001",
            user_id="U0OTHERADM",
            is_enterprise_install=True,
        )
    )
    token_a = deployment.grid.token_of(a.slack)
    assert token_a is not None
    installations.refused(a.slack.team_id, token_a)  # what the bot remembered of A is read again (as after 30 s)
    body = urlencode(
        {
            "token": "legacy",
            "team_id": a.slack.team_id,
            "enterprise_id": "E0OTHER001",
            "is_enterprise_install": "true",
            "channel_id": a.general,
            "user_id": a.alice,
            "command": "/incident",
            "text": "help",
            "api_app_id": deployment.grid.app_id,
            "response_url": f"{a.slack.url}/response/nowhere",
            "trigger_id": "1.2.forged",
        }
    ).encode()

    delivered = await a.slack.deliver_raw(body, FORM, signed(body, FORM))
    await settled(a.slack, deployment.bot)

    assert delivered.status == 200
    record = await installations.record(a.slack.team_id)
    assert record is not None
    assert (record.enterprise_id, record.is_enterprise_install) == (None, False)
    found = await installations.find(Acting(a.slack.team_id))
    assert found is not None
    assert found.token == token_a


async def test_a_message_of_the_other_workspaces_person_in_a_shared_incident_channel_is_captured_for_its_incident(
    deployment: Deployment,
) -> None:
    a, b = deployment.a, deployment.b
    channel = await open_incident(a.slack, a.alice, a.general, "Payments down")
    said = await a.slack.post_message(a.alice, channel.id, "alpha sees card declines")
    await settled(a.slack, deployment.bot)
    delivered = await a.slack.deliver_message_event(channel.id, said.ts)
    envelope = json.loads(delivered.request_body)
    # The channel is shared with B (Slack Connect), where the app is installed too; B's person speaks in it. Slack
    # names the workspace the event comes from in team_id, and the installation it is delivered for (A's, the
    # channel's) in authorizations.
    envelope |= {"team_id": b.slack.team_id, "enterprise_id": "E0ORG00001", "is_ext_shared_channel": True}
    envelope["event_id"] = "Ev0SHARED001"
    ts = f"{time.time():.6f}"
    envelope["event"] |= {
        "user": b.alice,
        "team": b.slack.team_id,
        "user_team": b.slack.team_id,
        "source_team": b.slack.team_id,
        "text": "beta sees the same declines",
        "ts": ts,
        "event_ts": ts,
    }
    envelope["event"].pop("blocks", None)
    envelope["event"].pop("client_msg_id", None)

    status = await deliver_json(deployment, envelope)
    await settled(a.slack, deployment.bot)

    assert status == 200
    incident = await incident_in(deployment.bot, a.slack.team_id, channel)
    async with deployment.bot.db.timeline() as store:
        texts = [m.text for m in await store.messages(incident.id)]
    assert "alpha sees card declines" in texts
    assert "beta sees the same declines" in texts


# -- app_uninstalled and tokens_revoked ----------------------------------------------------------------------------


async def test_tokens_revoked_of_one_workspace_naming_the_other_workspaces_bot_uninstalls_neither(
    deployment: Deployment,
) -> None:
    a, b = deployment.a, deployment.b

    status = await deliver_json(
        deployment,
        lifecycle(a.slack.team_id, {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": [b.slack.bot_user_id]}}),
    )
    channel_a = await open_incident(a.slack, a.alice, a.general, "Payments down")
    channel_b = await open_incident(b.slack, b.alice, b.general, "Search slow")

    assert status == 200
    assert await installed(deployment, a.slack.team_id)
    assert await installed(deployment, b.slack.team_id)
    assert (await incident_in(deployment.bot, a.slack.team_id, channel_a)).title == "Payments down"
    assert (await incident_in(deployment.bot, b.slack.team_id, channel_b)).title == "Search slow"


async def test_app_uninstalled_delivered_again_and_for_a_workspace_never_installed_changes_nothing_else(
    deployment: Deployment,
) -> None:
    a, b = deployment.a, deployment.b
    deliveries = await deployment.grid.uninstall(a.slack)
    await settled(a.slack, deployment.bot)
    first = deliveries[0]
    assert first is not None

    again = await deliver_json(deployment, json.loads(first.request_body), retry=1)
    never = await deliver_json(deployment, lifecycle("T0NEVER001", {"type": "app_uninstalled"}))
    revoked_never = await deliver_json(
        deployment, lifecycle("T0NEVER001", {"type": "tokens_revoked", "tokens": {"bot": ["U0NOBODY01"]}})
    )
    channel_b = await open_incident(b.slack, b.alice, b.general, "Search slow")

    assert (first.status, again, never, revoked_never) == (200, 200, 200, 200)
    assert not await installed(deployment, a.slack.team_id)
    assert not await installed(deployment, "T0NEVER001")
    assert deployment.bot.installations is not None
    assert await deployment.bot.installations.record("T0NEVER001") is None  # nothing recorded for it
    assert (await incident_in(deployment.bot, b.slack.team_id, channel_b)).title == "Search slow"


async def test_an_app_uninstalled_delivered_again_after_the_workspace_installed_again_does_not_uninstall_it(
    deployment: Deployment, clock: ManualClock
) -> None:
    a = deployment.a
    deliveries = await deployment.grid.uninstall(a.slack)
    await settled(a.slack, deployment.bot)
    stale = deliveries[0]
    assert stale is not None
    await asyncio.sleep(1.1)  # the reinstall is in a later second than the uninstall's event_time
    clock.advance(timedelta(minutes=1))  # and later by the bot's clock too
    reinstalled = await deployment.grid.install(a.slack, f"{deployment.url}/slack/install")
    assert reinstalled.status == 200

    # Slack's retry of the first delivery (its answer was late, say): the same event, the same event_time.
    again = await deliver_json(deployment, json.loads(stale.request_body), retry=1)
    still_installed = await installed(deployment, a.slack.team_id)

    assert again == 200
    assert still_installed
    channel = await open_incident(a.slack, a.alice, a.general, "Payments down")
    assert (await incident_in(deployment.bot, a.slack.team_id, channel)).title == "Payments down"


async def test_a_tokens_revoked_whose_tokens_are_not_an_object_is_refused_not_answered_500(
    deployment: Deployment,
) -> None:
    a = deployment.a

    statuses = [
        await deliver_json(deployment, lifecycle(a.slack.team_id, {"type": "tokens_revoked", "tokens": tokens}))
        for tokens in (["U0NOBODY01"], "U0NOBODY01", {"bot": 7})
    ]

    assert all(s < 500 for s in statuses), statuses
    assert await installed(deployment, a.slack.team_id)


async def test_an_app_uninstalled_naming_another_org_either_uninstalls_the_workspace_or_keeps_its_data(
    deployment: Deployment, clock: ManualClock
) -> None:
    a = deployment.a
    channel = await open_incident(a.slack, a.alice, a.general, "Payments down")
    await settled(a.slack, deployment.bot)

    status = await deliver_json(  # A's uninstall, naming an org A is not in (the store keys installs by both)
        deployment, lifecycle(a.slack.team_id, {"type": "app_uninstalled"}, enterprise_id="E0OTHER001")
    )
    still_served = await installed(deployment, a.slack.team_id)
    clock.advance(RETENTION + timedelta(days=1))
    await jobs_done(deployment.bot, clock)
    async with deployment.bot.db.transaction() as store:
        kept = [i.title for i in await store.list_active(a.slack.team_id)]

    assert status == 200
    # Whatever the bot makes of it, it must not go on serving a workspace whose data it deletes.
    assert not still_served or kept == ["Payments down"], (still_served, kept)
    if still_served:
        assert (await incident_in(deployment.bot, a.slack.team_id, channel)).title == "Payments down"


async def test_the_same_app_uninstalled_delivered_twice_at_once_is_answered_both_times_and_forgets_once(
    deployment: Deployment, clock: ManualClock
) -> None:
    a, b = deployment.a, deployment.b
    await open_incident(a.slack, a.alice, a.general, "Payments down")
    await settled(a.slack, deployment.bot)
    envelope = lifecycle(a.slack.team_id, {"type": "app_uninstalled"})

    statuses = await asyncio.gather(  # Slack's retry racing its first delivery
        deliver_json(deployment, envelope), deliver_json(deployment, envelope, retry=1)
    )
    channel_b = await open_incident(b.slack, b.alice, b.general, "Search slow")
    clock.advance(RETENTION + timedelta(days=1))
    await jobs_done(deployment.bot, clock)

    assert sorted(statuses) == [200, 200]
    assert not await installed(deployment, a.slack.team_id)
    async with deployment.bot.db.transaction() as store:
        assert await store.list_active(a.slack.team_id) == []
    assert (await incident_in(deployment.bot, b.slack.team_id, channel_b)).title == "Search slow"


async def test_an_uninstall_while_an_incident_is_opening_fails_nothing_and_leaves_the_other_workspace_working(
    deployment: Deployment,
) -> None:
    a, b = deployment.a, deployment.b

    opening = await a.slack.send_command(a.alice, a.general, "/incident", "open Payments down")
    lifecycle_answers = await deployment.grid.uninstall(a.slack)
    await settled(a.slack, deployment.bot)
    channel_b = await open_incident(b.slack, b.alice, b.general, "Search slow")
    async with aiohttp.ClientSession() as client, client.get(f"{deployment.url}/healthz") as health:
        ready = health.status

    assert opening.status == 200
    assert [d.status for d in lifecycle_answers if d is not None] == [200, 200]
    assert [d.status for d in a.slack.failed_deliveries] == []
    assert not await installed(deployment, a.slack.team_id)
    assert (await incident_in(deployment.bot, b.slack.team_id, channel_b)).public_id == f"INC-{YEAR}-001"
    assert ready == 200


async def test_events_and_clicks_of_an_uninstalled_workspace_are_answered_and_ignored(
    deployment: Deployment,
) -> None:
    a = deployment.a
    channel = await open_incident(a.slack, a.alice, a.general, "Payments down")
    said = await a.slack.post_message(a.alice, channel.id, "before the uninstall")
    await settled(a.slack, deployment.bot)
    delivered = await a.slack.deliver_message_event(channel.id, said.ts)
    click = await a.slack.click(a.alice, channel.id, str(card(a.slack, channel)["ts"]), ActionId.ACKNOWLEDGE)
    await settled(a.slack, deployment.bot)
    await deployment.grid.uninstall(a.slack)
    await settled(a.slack, deployment.bot)

    envelope = json.loads(delivered.request_body)
    envelope["event_id"] = "Ev0AFTER0001"
    envelope["event"]["text"] = "after the uninstall"
    envelope["event"]["ts"] = envelope["event"]["event_ts"] = f"{time.time():.6f}"
    message = await deliver_json(deployment, envelope)

    def resolve(payload: dict[str, Any]) -> None:
        payload["actions"][0]["action_id"] = ActionId.RESOLVE
        payload["actions"][0]["action_ts"] = f"{time.time():.6f}"

    clicked = await send_altered(a.slack, click, resolve)
    await settled(a.slack, deployment.bot)

    assert (message, clicked.status) == (200, 200)
    incident = await incident_in(deployment.bot, a.slack.team_id, channel)
    assert incident.status.value != "resolved"
    async with deployment.bot.db.timeline() as store:
        texts = [m.text for m in await store.messages(incident.id)]
    assert "before the uninstall" in texts
    assert "after the uninstall" not in texts


async def test_uninstalling_the_enterprise_grid_workspace_stops_it_and_leaves_the_other_working(
    deployment: Deployment,
) -> None:
    a, b = deployment.a, deployment.b
    await open_incident(b.slack, b.alice, b.general, "Search slow")

    await deployment.grid.uninstall(b.slack)
    await settled(b.slack, deployment.bot)
    channel_a = await open_incident(a.slack, a.alice, a.general, "Payments down")

    assert not await installed(deployment, b.slack.team_id)
    assert deployment.bot.installations is not None
    assert await deployment.bot.installations.find(Acting(b.slack.team_id, "E0ORG00001")) is None
    record = await deployment.bot.installations.record(b.slack.team_id)
    assert record is not None
    assert record.uninstalled_at is not None
    assert (await incident_in(deployment.bot, a.slack.team_id, channel_a)).public_id == f"INC-{YEAR}-001"


# -- installing ----------------------------------------------------------------------------------------------------


async def test_the_install_redirect_with_a_missing_forged_or_replayed_state_or_a_denial_installs_nothing(
    deployment: Deployment,
) -> None:
    a = deployment.a
    redirect = f"{deployment.url}/slack/oauth_redirect"
    installed_once = await deployment.grid.install(a.slack, f"{deployment.url}/slack/install")
    assert installed_once.status == 200
    exchanges = len([c for c in deployment.grid.calls if c.method == "oauth.v2.access"])
    denied = await deployment.grid.install(a.slack, f"{deployment.url}/slack/install", approve=False)

    jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=deployment.url)
    async with aiohttp.ClientSession(cookie_jar=jar) as browser:  # a state of its own, and a code Slack never gave
        async with browser.get(f"{deployment.url}/slack/install", allow_redirects=False) as page:
            started = str(page.headers.get("Location") or await page.text())
        found = re.search(r"[?&;]state=([^&\"']+)", html.unescape(started))
        assert found is not None, started
        state = found.group(1)
        async with browser.get(f"{redirect}?code=1.2.not-ours&state={state}") as answer:
            answers = [answer.status]
    async with aiohttp.ClientSession() as browser:
        for url in (
            redirect,
            f"{redirect}?code=1.2.3&state=forged",
            f"{redirect}?state=forged",
            f"{redirect}?error=access_denied&state=forged",
            installed_once.url,  # the redirect Slack sent the admin's browser, replayed from another one
        ):
            async with browser.get(url) as answer:
                answers.append(answer.status)

    assert denied.status < 500
    assert all(400 <= s < 500 or s == 200 for s in answers), answers
    exchanged = [c for c in deployment.grid.calls if c.method == "oauth.v2.access"][exchanges:]
    assert [c.error for c in exchanged] == ["invalid_code"]  # only the code of the bot's own state was tried
    assert await installed(deployment, a.slack.team_id)


# -- the web view --------------------------------------------------------------------------------------------------


async def test_a_person_of_one_workspace_cannot_read_the_report_the_other_workspace_has_under_the_same_number(
    deployment: Deployment,
) -> None:
    a, b = deployment.a, deployment.b
    await open_incident(a.slack, a.alice, a.general, "Payments down")
    channel_b = await open_incident(b.slack, b.alice, b.general, "Search slow")
    await command(b, channel_b.id, "report")
    await settled(b.slack, deployment.bot)
    incident_b = await incident_in(deployment.bot, b.slack.team_id, channel_b)
    async with deployment.bot.db.unit() as stores:
        reports_b = await stores.reports.all(incident_b.id)
    assert [r.version for r in reports_b] == [1]

    number = f"INC-{YEAR}-001"
    pages = await web_pages(
        deployment, a, f"/incidents/{number}/reports/1.md", f"/incidents/{number}", "/trends", "/runbooks"
    )
    own = await web_pages(deployment, b, f"/incidents/{number}/reports/1.md")

    signed_in, report, incident, trends, runbooks = pages
    assert signed_in[0] == 200
    assert report[0] == 404
    assert "Search slow" not in report[1]
    assert incident[0] == 200
    assert "Payments down" in incident[1]
    assert "Search slow" not in incident[1]
    assert [trends[0], runbooks[0]] == [200, 200]
    assert "Search slow" not in trends[1] + runbooks[1]
    assert own[1][0] == 200  # B's own person reads it
    assert "Search slow" in own[1][1]
