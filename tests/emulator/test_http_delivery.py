"""HTTP mode: signed requests to the bot's request URL, payload shapes, retries, response_url (notes §2, §3)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import SlackEmulator

from .conftest import SIGNING_SECRET, People, Received, Receiver

ACTIONS_MESSAGE: list[dict[str, Any]] = [
    {"type": "header", "text": {"type": "plain_text", "text": "INC-1 API 500s"}},
    {
        "type": "actions",
        "block_id": "controls",
        "elements": [
            {"type": "button", "action_id": "ack", "text": {"type": "plain_text", "text": "Ack"}, "value": "inc-1"},
            {
                "type": "static_select",
                "action_id": "severity",
                "placeholder": {"type": "plain_text", "text": "Severity"},
                "options": [{"text": {"type": "plain_text", "text": "SEV1"}, "value": "sev1"}],
            },
        ],
    },
]


def verify(request: Received) -> bool:
    return bool(
        SignatureVerifier(SIGNING_SECRET).is_valid(
            body=request.body,
            timestamp=request.headers["X-Slack-Request-Timestamp"],
            signature=request.headers["X-Slack-Signature"],
        )
    )


async def test_a_slash_command_is_a_signed_form_with_slacks_full_field_set(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    await emu.send_command(people.alice, people.general, "/incident", "open API 500s")

    request = receiver.requests[-1]
    form = request.form
    assert verify(request)
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert abs(int(request.headers["X-Slack-Request-Timestamp"]) - time.time()) < 5
    assert set(form) == {
        "token",
        "team_id",
        "team_domain",
        "channel_id",
        "channel_name",
        "user_id",
        "user_name",
        "command",
        "text",
        "api_app_id",
        "is_enterprise_install",
        "response_url",
        "trigger_id",
    }
    assert (form["command"], form["text"], form["user_id"], form["channel_id"]) == (
        "/incident",
        "open API 500s",
        people.alice,
        people.general,
    )
    assert form["channel_name"] == "general"
    assert form["is_enterprise_install"] == "false"
    assert form["response_url"].startswith(f"{emu.url}/response/")
    assert len(form["trigger_id"].split(".")) == 3


async def test_the_delivery_returns_the_bots_answer(emu: SlackEmulator, people: People, receiver: Receiver) -> None:
    async def answer(request: Received) -> web.StreamResponse:
        return web.json_response({"response_type": "ephemeral", "text": "declared"})

    receiver.answer = answer

    delivery = await emu.send_command(people.alice, people.general, "/incident", "open")

    assert delivery.status == 200
    assert delivery.json() == {"response_type": "ephemeral", "text": "declared"}
    assert delivery.elapsed < 3


async def test_a_retry_carries_retry_headers_the_same_body_and_a_fresh_valid_signature(
    emu: SlackEmulator, receiver: Receiver
) -> None:
    event = {"type": "app_mention", "user": "U1", "text": "hi", "channel": "C1", "ts": "1.000001"}

    await emu.send_event(event, event_id="Ev0RETRY")
    await emu.send_event(event, event_id="Ev0RETRY", retry_num=1, retry_reason="http_timeout")

    first, retry = receiver.requests
    assert "X-Slack-Retry-Num" not in first.headers
    assert retry.headers["X-Slack-Retry-Num"] == "1"
    assert retry.headers["X-Slack-Retry-Reason"] == "http_timeout"
    assert retry.body == first.body
    assert verify(retry)


async def test_an_event_is_wrapped_in_the_full_event_callback_envelope(emu: SlackEmulator, receiver: Receiver) -> None:
    await emu.send_event({"type": "app_mention", "user": "U1", "text": "hi", "channel": "C1", "ts": "1.000001"})

    envelope = receiver.requests[-1].json
    assert verify(receiver.requests[-1])
    assert receiver.requests[-1].headers["Content-Type"] == "application/json"
    assert set(envelope) == {
        "token",
        "team_id",
        "api_app_id",
        "event",
        "type",
        "event_id",
        "event_time",
        "authorizations",
        "is_ext_shared_channel",
        "event_context",
    }
    assert envelope["type"] == "event_callback"
    assert envelope["event_id"].startswith("Ev")
    assert envelope["authorizations"][0]["user_id"] == emu.bot_user_id
    assert envelope["api_app_id"] == emu.app_id


async def test_a_forged_signature_and_timestamp_are_sent_as_given(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    await emu.send_command(people.alice, people.general, "/incident", "x", timestamp=1531420618, signature="v0=bad")

    request = receiver.requests[-1]
    assert request.headers["X-Slack-Request-Timestamp"] == "1531420618"
    assert request.headers["X-Slack-Signature"] == "v0=bad"
    assert not verify(request)


async def test_raw_bytes_are_delivered_exactly(emu: SlackEmulator, receiver: Receiver) -> None:
    delivery = await emu.deliver_raw(b"ssl_check=1&token=x", "application/x-www-form-urlencoded", {"X-Custom": "1"})

    assert delivery.status == 200
    assert receiver.requests[-1].body == b"ssl_check=1&token=x"
    assert receiver.requests[-1].headers["X-Custom"] == "1"


async def test_a_non_2xx_answer_is_recorded_as_a_failed_delivery_and_not_retried(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    async def answer(request: Received) -> web.StreamResponse:
        return web.json_response({"error": "unhandled request"}, status=404)

    receiver.answer = answer

    delivery = await emu.send_command(people.alice, people.general, "/incident", "x")

    assert delivery.status == 404
    assert emu.failed_deliveries == [delivery]
    assert len(receiver.requests) == 1


async def test_a_bot_slower_than_the_delivery_timeout_is_recorded_as_an_http_timeout(receiver: Receiver) -> None:
    async def slow(request: Received) -> web.StreamResponse:
        await asyncio.sleep(0.5)
        return web.Response()

    receiver.answer = slow
    async with SlackEmulator(delivery_timeout=0.1) as emu:
        alice = emu.add_user("alice")
        general = emu.add_channel("general", members=[alice])
        emu.set_request_url(receiver.url)

        delivery = await emu.send_command(alice, general, "/incident", "slow")

    assert (delivery.status, delivery.failure) == (0, "http_timeout")
    assert emu.failed_deliveries == [delivery]


async def test_url_verification_is_signed_and_carries_a_challenge(emu: SlackEmulator, receiver: Receiver) -> None:
    await emu.send_url_verification("c-123")

    assert verify(receiver.requests[-1])
    assert receiver.requests[-1].json == {
        "token": "emulator-verification-token",
        "challenge": "c-123",
        "type": "url_verification",
    }


async def test_a_person_posting_is_stored_and_delivered_as_a_message_event(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    message = await emu.post_message(people.alice, people.general, "the API is down")
    await emu.wait_idle()

    event = receiver.requests[-1].json["event"]
    assert emu.workspace.channels[people.general].messages[-1] is message
    assert event["type"] == "message"
    assert event["user"] == people.alice
    assert event["text"] == "the API is down"
    assert event["ts"] == message.ts
    assert event["client_msg_id"]


async def test_messages_in_channels_the_bot_is_not_in_are_not_delivered(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    await emu.post_message(people.alice, people.random, "nobody hears this")
    await emu.wait_idle()

    assert receiver.requests == []


async def test_mentioning_the_bot_also_delivers_app_mention(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    await emu.post_message(people.alice, people.general, "@incident-bot help")
    await emu.wait_idle()

    events = sorted((r.json["event"]["type"], r.json["event"]["text"]) for r in receiver.requests)
    assert events == [("app_mention", f"<@{emu.bot_user_id}> help"), ("message", f"<@{emu.bot_user_id}> help")]


async def test_clicking_a_button_sends_block_actions_built_from_the_stored_message(
    emu: SlackEmulator, client: AsyncWebClient, people: People, receiver: Receiver
) -> None:
    posted = await client.chat_postMessage(channel=people.general, text="INC-1", blocks=ACTIONS_MESSAGE)
    await emu.wait_idle()

    await emu.click(people.bob, people.general, posted["ts"], "ack")

    request = receiver.requests[-1]
    payload = request.payload
    assert verify(request)
    assert payload["type"] == "block_actions"
    assert payload["user"] == {"id": people.bob, "username": "bob", "name": "bob", "team_id": emu.team_id}
    assert payload["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": people.general,
        "is_ephemeral": False,
    }
    assert payload["channel"] == {"id": people.general, "name": "general"}
    assert payload["message"]["ts"] == posted["ts"]
    assert payload["actions"][0]["action_id"] == "ack"
    assert payload["actions"][0]["block_id"] == "controls"
    assert payload["actions"][0]["value"] == "inc-1"
    assert payload["actions"][0]["type"] == "button"
    assert payload["response_url"].startswith(f"{emu.url}/response/")
    assert payload["trigger_id"]


async def test_choosing_an_option_sends_the_selected_option_and_the_state(
    emu: SlackEmulator, client: AsyncWebClient, people: People, receiver: Receiver
) -> None:
    posted = await client.chat_postMessage(channel=people.general, text="INC-1", blocks=ACTIONS_MESSAGE)
    await emu.wait_idle()  # the message's event delivered: the click's request is the last one

    await emu.click(people.bob, people.general, posted["ts"], "severity", selected_option="sev1")

    payload = receiver.requests[-1].payload
    option = {"text": {"type": "plain_text", "text": "SEV1"}, "value": "sev1"}
    assert payload["actions"][0]["selected_option"] == option
    assert payload["state"]["values"]["controls"]["severity"]["selected_option"] == option


async def test_clicking_an_unknown_action_id_is_a_test_error_listing_the_real_ones(
    emu: SlackEmulator, client: AsyncWebClient, people: People, receiver: Receiver
) -> None:
    posted = await client.chat_postMessage(channel=people.general, text="INC-1", blocks=ACTIONS_MESSAGE)

    with pytest.raises(ValueError, match=r"\['ack', 'severity'\]"):
        await emu.click(people.bob, people.general, posted["ts"], "resolve")


async def test_shortcuts_carry_the_message_or_only_the_user(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    message = await emu.post_message(people.alice, people.general, "customers see 500s")

    await emu.message_shortcut(people.bob, people.general, message.ts, "declare_incident_from_message")
    await emu.global_shortcut(people.bob, "declare_incident")

    message_action, shortcut = (r.payload for r in receiver.requests if "payload" in r.form)
    assert message_action["type"] == "message_action"
    assert message_action["callback_id"] == "declare_incident_from_message"
    assert message_action["message"]["text"] == "customers see 500s"
    assert message_action["response_url"].startswith(emu.url)
    assert shortcut["type"] == "shortcut"
    assert shortcut["callback_id"] == "declare_incident"
    assert "response_url" not in shortcut
    assert "channel" not in shortcut


async def post_to_response_url(url: str, body: dict[str, Any]) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        return response.status, await response.text()


async def test_posts_to_a_response_url_are_recorded_with_their_user_and_channel(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    await emu.send_command(people.alice, people.general, "/incident", "status")
    response_url = receiver.requests[-1].form["response_url"]

    status, text = await post_to_response_url(response_url, {"text": "All quiet", "response_type": "ephemeral"})

    assert (status, text) == (200, "ok")
    assert [(r.user, r.channel, r.payload) for r in emu.responses] == [
        (people.alice, people.general, {"text": "All quiet", "response_type": "ephemeral"})
    ]
    assert "All quiet" in emu.render_private(people.alice)


async def test_an_in_channel_response_is_posted_by_the_bot(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    await emu.send_command(people.alice, people.general, "/incident", "status")

    await post_to_response_url(
        receiver.requests[-1].form["response_url"], {"text": "Posted", "response_type": "in_channel"}
    )

    last = emu.workspace.channels[people.general].messages[-1]
    assert (last.text, last.bot_id) == ("Posted", emu.bot_id)


async def test_replace_original_and_delete_original_change_the_clicked_message(
    emu: SlackEmulator, client: AsyncWebClient, people: People, receiver: Receiver
) -> None:
    first = await client.chat_postMessage(channel=people.general, text="INC-1", blocks=ACTIONS_MESSAGE)
    second = await client.chat_postMessage(channel=people.general, text="INC-2", blocks=ACTIONS_MESSAGE)
    await emu.wait_idle()  # the messages' events delivered: each click's request is the last one when it is read
    await emu.click(people.bob, people.general, first["ts"], "ack")
    replace_url = receiver.requests[-1].payload["response_url"]
    await emu.click(people.bob, people.general, second["ts"], "ack")
    delete_url = receiver.requests[-1].payload["response_url"]

    await post_to_response_url(replace_url, {"replace_original": True, "text": "Acknowledged by bob"})
    await post_to_response_url(delete_url, {"delete_original": True})

    channel = emu.workspace.channels[people.general]
    replaced = channel.find(first["ts"])
    assert replaced is not None
    assert replaced.text == "Acknowledged by bob"
    assert replaced.blocks == []
    assert channel.find(second["ts"]) is None


async def test_an_unknown_response_url_is_404(emu: SlackEmulator) -> None:
    status, _ = await post_to_response_url(f"{emu.url}/response/nope", {"text": "x"})

    assert status == 404


@pytest.fixture
async def bolt_app(emu: SlackEmulator) -> AsyncIterator[AsyncApp]:
    """A real Bolt AsyncApp served over HTTP, with the emulator delivering to it."""
    app = AsyncApp(client=AsyncWebClient(token=emu.bot_token, base_url=emu.api_url), signing_secret=SIGNING_SECRET)
    runner = web.AppRunner(app.web_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    emu.set_request_url(f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events")
    yield app
    await emu.wait_idle()
    await runner.cleanup()


async def test_bolt_in_http_mode_accepts_the_signed_command_and_its_ack_reaches_the_person(
    emu: SlackEmulator, people: People, bolt_app: AsyncApp
) -> None:
    @bolt_app.command("/incident")
    async def incident(ack: Any, command: dict[str, Any]) -> None:
        await ack(f"Declared: {command['text']}")

    delivery = await emu.send_command(people.alice, people.general, "/incident", "API 500s")

    assert (delivery.status, delivery.body) == (200, "Declared: API 500s")
    assert "Declared: API 500s" in emu.render_private(people.alice)


async def test_bolt_in_http_mode_refuses_a_stale_timestamp_with_401(
    emu: SlackEmulator, people: People, bolt_app: AsyncApp
) -> None:
    @bolt_app.command("/incident")
    async def incident(ack: Any) -> None:
        await ack()

    stale = int(time.time()) - 301
    body = b"command=%2Fincident&text=x"
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=str(stale), body=body)

    delivery = await emu.deliver_raw(
        body,
        "application/x-www-form-urlencoded",
        {"X-Slack-Request-Timestamp": str(stale), "X-Slack-Signature": str(signature)},
    )

    assert delivery.status == 401


# -- delivery as messy as Slack's: concurrent, out of order, retried --------------------------------------
@pytest.fixture
async def seeded(receiver: Receiver) -> AsyncIterator[SlackEmulator]:
    """An emulator with a fixed seed, delivering to the receiver."""
    async with SlackEmulator(signing_secret=SIGNING_SECRET, seed=7) as emulator:
        emulator.set_request_url(receiver.url)
        yield emulator
        await emulator.wait_idle()


async def test_by_default_a_burst_of_events_is_delivered_concurrently_and_out_of_order(
    seeded: SlackEmulator, receiver: Receiver
) -> None:
    alice = seeded.add_user("alice")
    general = seeded.add_channel("general", members=[alice, seeded.bot_user_id])
    in_flight: list[int] = [0]
    most = [0]

    async def slow(request: Received) -> web.StreamResponse:
        in_flight[0] += 1
        most[0] = max(most[0], in_flight[0])
        await asyncio.sleep(0.1)
        in_flight[0] -= 1
        return web.Response()

    receiver.answer = slow

    for n in range(20):
        await seeded.post_message(alice, general, f"message {n:02}")
    await seeded.wait_idle()

    arrived = [r.json["event"]["text"] for r in receiver.requests]
    assert sorted(arrived) == [f"message {n:02}" for n in range(20)]
    assert arrived != sorted(arrived)
    assert most[0] > 1


async def test_an_event_answered_with_an_error_is_retried_three_times_with_the_same_body_and_fresh_signatures(
    seeded: SlackEmulator, receiver: Receiver
) -> None:
    async def failing(request: Received) -> web.StreamResponse:
        return web.json_response({"error": "storage unavailable, retry"}, status=503)

    receiver.answer = failing

    first = await seeded.send_event({"type": "app_mention", "user": "U1", "text": "hi", "channel": "C1", "ts": "1.1"})
    await seeded.wait_idle()

    requests = receiver.requests
    assert first.status == 503
    assert [r.headers.get("X-Slack-Retry-Num") for r in requests] == [None, "1", "2", "3"]
    assert [r.headers.get("X-Slack-Retry-Reason") for r in requests] == [None, "http_error", "http_error", "http_error"]
    assert {r.body for r in requests} == {requests[0].body}
    assert all(verify(r) for r in requests)
    assert [d.retry_num for d in seeded.failed_deliveries] == [0, 1, 2, 3]


async def test_a_successful_retry_ends_the_retries(seeded: SlackEmulator, receiver: Receiver) -> None:
    async def fail_once(request: Received) -> web.StreamResponse:
        return web.Response(status=500 if len(receiver.requests) == 1 else 200)

    receiver.answer = fail_once

    await seeded.send_event({"type": "app_mention", "user": "U1", "text": "hi", "channel": "C1", "ts": "1.1"})
    await seeded.wait_idle()

    assert [r.headers.get("X-Slack-Retry-Num") for r in receiver.requests] == [None, "1"]


async def test_x_slack_no_retry_stops_the_retries_of_a_failed_delivery(
    seeded: SlackEmulator, receiver: Receiver
) -> None:
    async def refuse(request: Received) -> web.StreamResponse:
        return web.Response(status=500, headers={"X-Slack-No-Retry": "1"})

    receiver.answer = refuse

    await seeded.send_event({"type": "app_mention", "user": "U1", "text": "hi", "channel": "C1", "ts": "1.1"})
    await seeded.wait_idle()

    assert len(receiver.requests) == 1


async def test_a_slow_bot_gets_the_retry_while_its_first_delivery_is_still_running(receiver: Receiver) -> None:
    retry_arrived = asyncio.Event()
    first_saw_the_retry: list[bool] = []

    async def slow_first(request: Received) -> web.StreamResponse:
        if "X-Slack-Retry-Num" in request.headers:
            retry_arrived.set()
            return web.Response()
        try:
            await asyncio.wait_for(retry_arrived.wait(), 5)
            first_saw_the_retry.append(True)
        except TimeoutError:
            first_saw_the_retry.append(False)
        return web.Response()

    receiver.answer = slow_first
    async with SlackEmulator(signing_secret=SIGNING_SECRET, delivery_timeout=0.2, seed=7) as emu:
        emu.set_request_url(receiver.url)

        first = await emu.send_event({"type": "app_mention", "user": "U1", "text": "hi", "channel": "C1", "ts": "1"})
        await emu.wait_idle()
        await emu.wait_for(lambda: bool(first_saw_the_retry), what="the first delivery finished")

    assert (first.status, first.failure) == (0, "http_timeout")
    assert receiver.requests[1].headers["X-Slack-Retry-Num"] == "1"
    assert receiver.requests[1].headers["X-Slack-Retry-Reason"] == "http_timeout"
    assert first_saw_the_retry == [True]


async def test_a_slash_command_or_an_interaction_is_never_retried(seeded: SlackEmulator, receiver: Receiver) -> None:
    alice = seeded.add_user("alice")
    general = seeded.add_channel("general", members=[alice, seeded.bot_user_id])

    async def failing(request: Received) -> web.StreamResponse:
        return web.Response(status=500)

    receiver.answer = failing

    await seeded.send_command(alice, general, "/incident", "status")
    await seeded.global_shortcut(alice, "declare_incident")
    await seeded.wait_idle()

    assert len(receiver.requests) == 2


@pytest.mark.ordered_delivery
async def test_in_order_a_failed_event_is_not_retried(emu: SlackEmulator, receiver: Receiver) -> None:
    async def failing(request: Received) -> web.StreamResponse:
        return web.Response(status=500)

    receiver.answer = failing

    await emu.send_event({"type": "app_mention", "user": "U1", "text": "hi", "channel": "C1", "ts": "1.1"})
    await emu.wait_idle()

    assert len(receiver.requests) == 1


async def test_a_failed_wait_names_the_seed_that_replays_the_delivery_order(emu: SlackEmulator) -> None:
    with pytest.raises(AssertionError, match=f"seed={emu.seed}"):
        await emu.wait_for(lambda: False, timeout=0.01, what="never")


# -- what people type, as Slack sends it ----------------------------------------------------------------
async def test_a_message_arrives_escaped_with_mentions_channels_and_links_as_slack_markup(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    await emu.post_message(
        people.alice,
        people.general,
        "a < b & c > d, @bob and @here see #general, https://status.example.com/x?a=1&b=2.",
    )
    await emu.wait_idle()

    event = receiver.requests[-1].json["event"]
    assert event["text"] == (
        f"a &lt; b &amp; c &gt; d, <@{people.bob}> and <!here> see <#{people.general}|general>, "
        "<https://status.example.com/x?a=1&amp;b=2>."
    )
    assert event["blocks"][0]["elements"][0]["elements"] == [
        {"type": "text", "text": "a < b & c > d, "},
        {"type": "user", "user_id": people.bob},
        {"type": "text", "text": " and "},
        {"type": "broadcast", "range": "here"},
        {"type": "text", "text": " see "},
        {"type": "channel", "channel_id": people.general},
        {"type": "text", "text": ", "},
        {"type": "link", "url": "https://status.example.com/x?a=1&b=2"},
        {"type": "text", "text": "."},
    ]


async def test_nothing_in_code_becomes_a_mention_or_link_but_it_is_still_escaped(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    await emu.post_message(people.alice, people.general, "run `curl <https://x.example|@bob>` now @bob")
    await emu.wait_idle()

    assert receiver.requests[-1].json["event"]["text"] == (
        f"run `curl &lt;https://x.example|@bob&gt;` now <@{people.bob}>"
    )


async def test_markup_made_with_the_composers_tools_is_sent_as_given(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    markup = "<https://x.example|the doc> <!subteam^S1|@oncall>"

    await emu.post_message(people.alice, people.general, markup, markup=True)
    await emu.wait_idle()

    event = receiver.requests[-1].json["event"]
    assert event["text"] == markup
    assert event["blocks"][0]["elements"][0]["elements"] == [
        {"type": "link", "url": "https://x.example", "text": "the doc"},
        {"type": "text", "text": " "},
        {"type": "usergroup", "usergroup_id": "S1"},
    ]


async def test_a_slash_command_with_should_escape_sends_labelled_mentions_channels_and_links(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    await emu.send_command(people.alice, people.general, "/incident", "commander @bob in #general <now> & https://x.io")

    assert receiver.requests[-1].form["text"] == (
        f"commander <@{people.bob}|bob> in <#{people.general}|general> &lt;now&gt; &amp; <https://x.io>"
    )


async def test_a_slash_command_without_should_escape_still_escapes_but_keeps_mentions_as_typed(
    receiver: Receiver,
) -> None:
    async with SlackEmulator(signing_secret=SIGNING_SECRET, should_escape=False) as emu:
        alice = emu.add_user("alice")
        emu.add_user("bob")
        general = emu.add_channel("general", members=[alice])
        emu.set_request_url(receiver.url)

        await emu.send_command(alice, general, "/incident", "commander @bob in #general <now> & https://x.io")

    assert receiver.requests[-1].form["text"] == "commander @bob in #general &lt;now&gt; &amp; https://x.io"


# -- response_url limits ------------------------------------------------------------------------------------
async def test_a_response_url_takes_five_posts_then_answers_404_used_url(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    await emu.send_command(people.alice, people.general, "/incident", "status")
    response_url = receiver.requests[-1].form["response_url"]

    answers = [await post_to_response_url(response_url, {"text": f"update {n}"}) for n in range(6)]

    assert answers == [(200, "ok")] * 5 + [(404, "used_url")]
    assert [r.payload["text"] for r in emu.responses] == [f"update {n}" for n in range(5)]


async def test_a_response_url_older_than_its_lifetime_answers_404_expired_url(receiver: Receiver) -> None:
    async with SlackEmulator(signing_secret=SIGNING_SECRET, response_url_seconds=0.0) as emu:
        alice = emu.add_user("alice")
        general = emu.add_channel("general", members=[alice])
        emu.set_request_url(receiver.url)
        await emu.send_command(alice, general, "/incident", "status")

        answer = await post_to_response_url(receiver.requests[-1].form["response_url"], {"text": "late"})

        assert answer == (404, "expired_url")
        assert emu.responses == []


async def test_a_response_url_post_is_validated_like_chat_post_message(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    await emu.send_command(people.alice, people.general, "/incident", "status")
    response_url = receiver.requests[-1].form["response_url"]

    bad_blocks = await post_to_response_url(response_url, {"text": "x", "blocks": [{"type": "section"}]})
    nothing = await post_to_response_url(response_url, {"response_type": "ephemeral"})

    assert bad_blocks == (400, "invalid_blocks")
    assert nothing == (400, "no_text")
    assert emu.responses == []
    assert "x" not in emu.render_private(people.alice).splitlines()[1:]
