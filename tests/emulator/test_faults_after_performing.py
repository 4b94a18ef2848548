"""Faults after a call took effect: Slack did the work, the client never saw a good answer.

fail_after_performing (5xx with an outage page), delay_after_performing (a late answer) and hold (an answer
held until released), seen through slack_sdk's AsyncWebClient as it would see real Slack.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import SlackEmulator

from .conftest import People

BOT = {"Authorization": "Bearer xoxb-emulator"}


def short_timeout_client(emu: SlackEmulator, seconds: int = 1) -> AsyncWebClient:
    return AsyncWebClient(token=emu.bot_token, base_url=emu.api_url, timeout=seconds)


async def test_a_call_failed_after_performing_raises_slack_api_error_with_the_5xx_although_it_took_effect(
    emu: SlackEmulator,
) -> None:
    client = short_timeout_client(emu, seconds=5)
    emu.fail_after_performing("conversations.create", status=503)

    with pytest.raises(SlackApiError) as failure:
        await client.conversations_create(name="inc-created-anyway")

    assert failure.value.response.status_code == 503
    assert emu.channel_by_name("inc-created-anyway") is not None
    [call] = emu.calls_to("conversations.create")
    assert (call.ok, call.http_status, call.fault) == (True, 503, "failed_after_performing")
    assert call.response["channel"]["name"] == "inc-created-anyway"


async def test_the_outage_answer_is_an_html_page_not_the_web_apis_json(emu: SlackEmulator, people: People) -> None:
    emu.fail_after_performing("chat.postMessage")

    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{emu.api_url}chat.postMessage", json={"channel": people.general, "text": "hi"}, headers=BOT
        ) as response,
    ):
        body = await response.text()

    assert response.status == 500
    assert response.content_type == "text/html"
    assert "500 Internal Server Error" in body


async def test_fail_after_performing_applies_to_the_given_number_of_calls_then_answers_normally(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    emu.fail_after_performing("chat.postMessage", status=502, times=2)

    for text in ("one", "two"):
        with pytest.raises(SlackApiError):
            await client.chat_postMessage(channel=people.general, text=text)
    third = await client.chat_postMessage(channel=people.general, text="three")

    assert third["ok"] is True
    assert [m.text for m in emu.workspace.channels[people.general].messages if m.bot_id] == ["one", "two", "three"]
    assert [c.http_status for c in emu.calls_to("chat.postMessage")] == [502, 502, 200]


async def test_a_call_that_slack_refuses_still_gets_the_outage_answer_and_records_its_own_error(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    emu.fail_after_performing("chat.postMessage")

    with pytest.raises(SlackApiError) as failure:
        await client.chat_postMessage(channel="C404", text="nowhere")

    [call] = emu.calls_to("chat.postMessage")
    assert failure.value.response.status_code == 500
    assert (call.ok, call.error, call.http_status) == (False, "channel_not_found", 500)


def test_only_a_server_error_status_can_be_scripted_after_performing(emu: SlackEmulator) -> None:
    with pytest.raises(ValueError, match="5xx"):
        emu.fail_after_performing("chat.postMessage", status=429)


async def test_fail_next_is_answered_first_and_the_call_is_not_performed(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    emu.fail_next("conversations.create", error="internal_error")
    emu.fail_after_performing("conversations.create")

    with pytest.raises(SlackApiError) as refused:
        await client.conversations_create(name="first")
    with pytest.raises(SlackApiError) as lost:
        await client.conversations_create(name="second")

    assert (refused.value.response.status_code, lost.value.response.status_code) == (200, 500)
    assert emu.channel_by_name("first") is None
    assert emu.channel_by_name("second") is not None


async def test_a_delayed_answer_beyond_the_clients_timeout_is_a_timeout_although_the_message_was_posted(
    emu: SlackEmulator, people: People
) -> None:
    client = short_timeout_client(emu, seconds=1)
    emu.delay_after_performing("chat.postMessage", 3)

    with pytest.raises(asyncio.TimeoutError):
        await client.chat_postMessage(channel=people.general, text="posted but unanswered")

    assert [m.text for m in emu.workspace.channels[people.general].messages if m.bot_id] == ["posted but unanswered"]
    [call] = emu.calls_to("chat.postMessage")
    assert (call.ok, call.http_status, call.fault) == (True, 200, "delayed_after_performing")


async def test_a_delayed_answer_within_the_clients_timeout_arrives_late_and_ok(
    emu: SlackEmulator, people: People
) -> None:
    client = short_timeout_client(emu, seconds=5)
    emu.delay_after_performing("chat.postMessage", 0.3)
    started = time.monotonic()

    response = await client.chat_postMessage(channel=people.general, text="late")

    assert response["ok"] is True
    assert time.monotonic() - started >= 0.3


async def test_a_held_call_takes_effect_on_arrival_and_is_answered_on_release(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    hold = emu.hold("chat.postMessage")
    posting = asyncio.create_task(client.chat_postMessage(channel=people.general, text="held"))

    await asyncio.wait_for(hold.arrived.wait(), 5)
    posted_before_release = [m.text for m in emu.workspace.channels[people.general].messages if m.bot_id]
    answered_before_release = posting.done()
    hold.release()
    response = await asyncio.wait_for(posting, 5)

    assert posted_before_release == ["held"]
    assert answered_before_release is False
    assert response["ok"] is True
    assert hold.call is not None
    assert (hold.call.ok, hold.call.http_status, hold.call.fault) == (True, 200, "held")


async def test_a_hold_without_performing_takes_effect_only_when_released(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    hold = emu.hold("conversations.create", perform=False)
    creating = asyncio.create_task(client.conversations_create(name="gated"))

    await asyncio.wait_for(hold.arrived.wait(), 5)
    existed_on_arrival = emu.channel_by_name("gated") is not None
    recorded_on_arrival = len(emu.calls_to("conversations.create"))
    hold.release()
    response = await asyncio.wait_for(creating, 5)

    assert existed_on_arrival is False
    assert recorded_on_arrival == 0
    assert response["channel"]["name"] == "gated"
    assert emu.channel_by_name("gated") is not None


async def test_successive_holds_apply_to_successive_calls(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    first, second = emu.hold("chat.postMessage"), emu.hold("chat.postMessage")
    posting_a = asyncio.create_task(client.chat_postMessage(channel=people.general, text="a"))
    await asyncio.wait_for(first.arrived.wait(), 5)
    posting_b = asyncio.create_task(client.chat_postMessage(channel=people.general, text="b"))
    await asyncio.wait_for(second.arrived.wait(), 5)

    second.release()
    b = await asyncio.wait_for(posting_b, 5)
    a_still_held = not posting_a.done()
    first.release()
    a = await asyncio.wait_for(posting_a, 5)

    assert a_still_held is True
    assert (a["message"]["text"], b["message"]["text"]) == ("a", "b")
    assert first.call is not None
    assert second.call is not None
    assert (first.call.args["text"], second.call.args["text"]) == ("a", "b")


async def test_stopping_the_emulator_answers_held_and_delayed_calls_at_once() -> None:
    emu = SlackEmulator()
    await emu.start()
    ops = emu.add_channel("ops", members=[emu.bot_user_id])
    client = short_timeout_client(emu, seconds=30)
    hold = emu.hold("chat.postMessage")
    emu.delay_after_performing("conversations.info", 60)
    posting = asyncio.create_task(client.chat_postMessage(channel=ops, text="held at stop"))
    reading = asyncio.create_task(client.conversations_info(channel=ops))
    await asyncio.wait_for(hold.arrived.wait(), 5)
    await emu.wait_for(lambda: bool(emu.calls_to("conversations.info")), what="conversations.info performed")
    started = time.monotonic()

    await asyncio.wait_for(emu.stop(), 10)
    posted, read = await asyncio.wait_for(asyncio.gather(posting, reading), 5)

    assert time.monotonic() - started < 5
    assert (posted["ok"], read["channel"]["id"]) == (True, ops)


async def test_a_hold_without_performing_that_is_never_released_is_dropped_when_the_emulator_stops() -> None:
    emu = SlackEmulator()
    await emu.start()
    client = short_timeout_client(emu, seconds=30)
    hold = emu.hold("conversations.create", perform=False)
    creating = asyncio.create_task(client.conversations_create(name="never"))
    await asyncio.wait_for(hold.arrived.wait(), 5)

    await asyncio.wait_for(emu.stop(), 10)
    outcome = (await asyncio.gather(creating, return_exceptions=True))[0]

    assert isinstance(outcome, Exception)
    assert emu.channel_by_name("never") is None
    [call] = emu.calls_to("conversations.create")
    assert (call.ok, call.fault, call.http_status) == (False, "dropped", 503)


CLIENT_SCRIPT = """
import asyncio, sys
from slack_sdk.web.async_client import AsyncWebClient

async def main():
    client = AsyncWebClient(token=sys.argv[1], base_url=sys.argv[2], timeout=60)
    await client.conversations_create(name="killed-client")

asyncio.run(main())
"""


async def test_a_held_call_whose_client_process_was_killed_took_effect_and_its_release_is_quiet(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    emu = SlackEmulator()
    await emu.start()
    hold = emu.hold("conversations.create")
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLIENT_SCRIPT, emu.bot_token, emu.api_url, env=env
    )
    try:
        await asyncio.wait_for(hold.arrived.wait(), 30)
    finally:
        process.kill()
        await process.wait()

    hold.release()
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await asyncio.wait_for(emu.stop(), 10)

    assert emu.channel_by_name("killed-client") is not None
    assert time.monotonic() - started < 3
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
