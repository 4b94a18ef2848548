"""What people (and other integrations) do in the workspace, and the events Slack delivers for it (notes §2.2)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import SlackEmulator

from .conftest import GENERIC_EVENTS, GENERIC_SCOPES, SIGNING_SECRET, People, Received, Receiver


def verify(request: Received) -> bool:
    return bool(
        SignatureVerifier(SIGNING_SECRET).is_valid(
            body=request.body,
            timestamp=request.headers["X-Slack-Request-Timestamp"],
            signature=request.headers["X-Slack-Signature"],
        )
    )


def delivered_events(receiver: Receiver) -> list[dict[str, Any]]:
    return [r.json["event"] for r in receiver.requests if r.json is not None]


def delivered_of(receiver: Receiver, kind: str, subtype: str | None = None) -> list[dict[str, Any]]:
    return [e for e in delivered_events(receiver) if e["type"] == kind and e.get("subtype") == subtype]


async def answer_500(request: Received) -> web.StreamResponse:
    return web.Response(status=500, text="boom")


# -- posting ----------------------------------------------------------------------------------------------
async def test_a_message_posted_with_deliver_false_is_stored_but_not_delivered(
    emu: SlackEmulator, people: People, receiver: Receiver, client: AsyncWebClient
) -> None:
    message = await emu.post_message(people.alice, people.general, "lost in transit", deliver=False)
    await emu.wait_idle()

    history = await client.conversations_history(channel=people.general)
    assert receiver.requests == []
    assert emu.deliveries == []
    assert [m["ts"] for m in history["messages"]] == [message.ts]


async def test_a_stored_message_event_is_delivered_later_and_again_with_a_new_event_id(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    message = await emu.post_message(people.alice, people.general, "late", deliver=False)

    first = await emu.deliver_message_event(people.general, message.ts)
    again = await emu.deliver_message_event(people.general, message.ts)

    one, two = (r.json for r in receiver.requests)
    assert first.ok
    assert again.ok
    assert one["event"] == two["event"]
    assert one["event_id"] != two["event_id"]
    assert one["event"]["type"] == "message"
    assert "subtype" not in one["event"]
    assert (one["event"]["ts"], one["event"]["text"], one["event"]["user"]) == (message.ts, "late", people.alice)


async def test_a_late_message_event_is_the_one_slack_sent_at_posting_time(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    root = await emu.post_message(people.alice, people.general, "root", deliver=False)
    await emu.post_message(people.bob, people.general, "reply", thread_ts=root.ts, deliver=False)

    await emu.deliver_message_event(people.general, root.ts)

    event = delivered_events(receiver)[0]
    assert "thread_ts" not in event
    assert "reply_count" not in event


async def test_delivering_the_event_of_a_message_the_bot_cannot_see_is_a_test_error(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    message = await emu.post_message(people.alice, people.random, "private chat", deliver=False)

    with pytest.raises(ValueError, match="does not receive"):
        await emu.deliver_message_event(people.random, message.ts)


async def test_a_bot_users_message_is_a_modern_bot_message_with_its_bot_profile(
    emu: SlackEmulator, people: People, receiver: Receiver, client: AsyncWebClient
) -> None:
    alerts = emu.add_user("alertmanager", is_bot=True)
    channel = emu.add_channel("alerts", members=[alerts, emu.bot_user_id])
    bot_id = emu.workspace.users[alerts].bot_id

    await emu.post_message(alerts, channel, "FIRING: api 5xx")
    await emu.wait_idle()

    event = delivered_events(receiver)[0]
    stored = (await client.conversations_history(channel=channel))["messages"][0]
    assert "subtype" not in event
    assert (event["bot_id"], event["user"], event["text"]) == (bot_id, alerts, "FIRING: api 5xx")
    assert event["bot_profile"]["id"] == bot_id
    assert event["bot_profile"]["name"] == "alertmanager"
    assert event["bot_profile"]["app_id"].startswith("A")
    assert event["bot_profile"]["app_id"] != emu.app_id
    assert "client_msg_id" not in event
    assert stored["bot_profile"] == event["bot_profile"]


async def test_a_thread_reply_carries_thread_ts_and_parent_user_id_and_updates_the_parent(
    emu: SlackEmulator, people: People, receiver: Receiver, client: AsyncWebClient
) -> None:
    root = await emu.post_message(people.alice, people.general, "API down")

    reply = await emu.post_message(people.bob, people.general, "looking", thread_ts=root.ts)
    await emu.wait_idle()

    (event,) = [e for e in delivered_events(receiver) if e["ts"] == reply.ts]
    parent = (await client.conversations_history(channel=people.general))["messages"][0]
    assert [e.get("subtype") for e in delivered_events(receiver)] == [None, None]
    assert (event["ts"], event["thread_ts"], event["parent_user_id"]) == (reply.ts, root.ts, people.alice)
    assert (parent["ts"], parent["reply_count"], parent["latest_reply"]) == (root.ts, 1, reply.ts)


# -- editing and deleting ---------------------------------------------------------------------------------
async def test_an_edit_delivers_message_changed_with_the_new_and_the_previous_text(
    emu: SlackEmulator, people: People, receiver: Receiver, client: AsyncWebClient
) -> None:
    message = await emu.post_message(people.alice, people.general, "API down")

    delivery = await emu.edit_message(people.alice, people.general, message.ts, "API down since 10:02")

    event = delivered_of(receiver, "message", "message_changed")[0]
    stored = (await client.conversations_history(channel=people.general))["messages"][0]
    assert delivery is not None
    assert delivery.ok
    assert event["hidden"] is True
    assert event["channel"] == people.general
    assert event["ts"] == event["event_ts"] != message.ts
    assert event["message"]["text"] == "API down since 10:02"
    assert (event["message"]["ts"], event["message"]["user"]) == (message.ts, people.alice)
    assert event["message"]["edited"] == {"user": people.alice, "ts": event["ts"]}
    assert event["message"]["blocks"][0]["elements"][0]["elements"][0]["text"] == "API down since 10:02"
    assert (event["previous_message"]["text"], event["previous_message"]["ts"]) == ("API down", message.ts)
    assert "edited" not in event["previous_message"]
    assert "thread_ts" not in event["message"]
    assert (stored["text"], stored["edited"]["user"]) == ("API down since 10:02", people.alice)


async def test_an_edited_thread_reply_keeps_its_thread_ts_in_message_changed(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    root = await emu.post_message(people.alice, people.general, "root")
    reply = await emu.post_message(people.bob, people.general, "reply", thread_ts=root.ts)

    await emu.edit_message(people.bob, people.general, reply.ts, "reply, edited")

    event = delivered_of(receiver, "message", "message_changed")[0]
    assert (event["message"]["ts"], event["message"]["thread_ts"]) == (reply.ts, root.ts)


async def test_only_the_author_can_edit_a_message(emu: SlackEmulator, people: People, receiver: Receiver) -> None:
    message = await emu.post_message(people.alice, people.general, "mine")

    with pytest.raises(ValueError, match="only the author"):
        await emu.edit_message(people.bob, people.general, message.ts, "yours now")

    assert message.text == "mine"


async def test_a_deletion_delivers_message_deleted_and_removes_the_message(
    emu: SlackEmulator, people: People, receiver: Receiver, client: AsyncWebClient
) -> None:
    message = await emu.post_message(people.alice, people.general, "oops, wrong channel")

    delivery = await emu.delete_message(people.alice, people.general, message.ts)

    event = delivered_of(receiver, "message", "message_deleted")[0]
    history = await client.conversations_history(channel=people.general)
    assert delivery is not None
    assert delivery.ok
    assert event["hidden"] is True
    assert event["deleted_ts"] == message.ts
    assert event["ts"] == event["event_ts"] != message.ts
    previous = event["previous_message"]
    assert (previous["text"], previous["user"], previous["ts"]) == ("oops, wrong channel", people.alice, message.ts)
    assert history["messages"] == []


async def test_only_the_author_can_delete_a_message(emu: SlackEmulator, people: People, receiver: Receiver) -> None:
    message = await emu.post_message(people.alice, people.general, "mine")

    with pytest.raises(ValueError, match="only the author"):
        await emu.delete_message(people.bob, people.general, message.ts)


async def test_an_edit_in_a_channel_the_bot_is_not_in_is_applied_but_not_delivered(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    message = await emu.post_message(people.alice, people.random, "draft")

    delivery = await emu.edit_message(people.alice, people.random, message.ts, "final")

    assert delivery is None
    assert message.text == "final"
    assert receiver.requests == []


# -- reactions --------------------------------------------------------------------------------------------
async def test_a_reaction_delivers_reaction_added_with_item_user_and_event_ts(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    message = await emu.post_message(people.alice, people.general, "fixed")

    delivery = await emu.react(people.bob, people.general, message.ts, ":white_check_mark:")

    event = delivered_of(receiver, "reaction_added")[0]
    assert delivery is not None
    assert delivery.ok
    assert event["user"] == people.bob
    assert event["reaction"] == "white_check_mark"
    assert event["item"] == {"type": "message", "channel": people.general, "ts": message.ts}
    assert event["item_user"] == people.alice
    assert float(event["event_ts"]) > float(message.ts)


async def test_a_second_identical_reaction_by_the_same_person_is_refused(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    message = await emu.post_message(people.alice, people.general, "fixed")
    await emu.react(people.bob, people.general, message.ts, "eyes")

    with pytest.raises(ValueError, match="already_reacted"):
        await emu.react(people.bob, people.general, message.ts, "eyes")

    assert message.reactions == {"eyes": [people.bob]}
    assert len(delivered_of(receiver, "reaction_added")) == 1


async def test_a_reaction_in_a_channel_the_bot_is_not_in_returns_no_delivery(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    message = await emu.post_message(people.alice, people.random, "hello")

    delivery = await emu.react(people.alice, people.random, message.ts, "wave")

    assert delivery is None
    assert message.reactions == {"wave": [people.alice]}


async def test_removing_a_reaction_is_not_delivered_without_the_reaction_removed_subscription(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    message = await emu.post_message(people.alice, people.general, "fixed")
    await emu.react(people.bob, people.general, message.ts, "eyes")

    delivery = await emu.unreact(people.bob, people.general, message.ts, "eyes")

    assert delivery is None
    assert message.reactions == {}


class TestWithReactionRemovedSubscribed:
    @pytest.fixture
    async def emu(self) -> AsyncIterator[SlackEmulator]:
        emulator = SlackEmulator(
            signing_secret=SIGNING_SECRET, scopes=GENERIC_SCOPES, events=GENERIC_EVENTS | {"reaction_removed"}
        )
        await emulator.start()
        yield emulator
        await emulator.stop()

    async def test_removing_a_reaction_delivers_reaction_removed_shaped_like_reaction_added(
        self, emu: SlackEmulator, people: People, receiver: Receiver
    ) -> None:
        message = await emu.post_message(people.alice, people.general, "fixed")
        await emu.react(people.bob, people.general, message.ts, "eyes")

        delivery = await emu.unreact(people.bob, people.general, message.ts, ":eyes:")

        added = delivered_of(receiver, "reaction_added")[0]
        removed = delivered_of(receiver, "reaction_removed")[0]
        assert delivery is not None
        assert delivery.ok
        assert set(removed) == set(added)
        assert (removed["user"], removed["reaction"], removed["item_user"]) == (people.bob, "eyes", people.alice)
        assert removed["item"] == added["item"]
        assert message.reactions == {}

    async def test_removing_a_reaction_nobody_added_is_refused(
        self, emu: SlackEmulator, people: People, receiver: Receiver
    ) -> None:
        message = await emu.post_message(people.alice, people.general, "fixed")

        with pytest.raises(ValueError, match="no_reaction"):
            await emu.unreact(people.bob, people.general, message.ts, "eyes")


# -- files and joins --------------------------------------------------------------------------------------
async def test_a_shared_file_is_a_file_share_message_carrying_the_file(
    emu: SlackEmulator, people: People, receiver: Receiver, client: AsyncWebClient
) -> None:
    message = await emu.share_file(people.alice, people.general, "latency.png", text="see the spike")
    await emu.wait_idle()

    event = delivered_events(receiver)[0]
    stored = (await client.conversations_history(channel=people.general))["messages"][0]
    assert (event["type"], event["subtype"], event["upload"]) == ("message", "file_share", True)
    assert (event["user"], event["text"], event["ts"]) == (people.alice, "see the spike", message.ts)
    (file,) = event["files"]
    assert file["id"].startswith("F")
    assert (file["name"], file["title"], file["filetype"], file["mimetype"]) == (
        "latency.png",
        "latency.png",
        "png",
        "image/png",
    )
    assert file["permalink"].startswith("https://")
    assert file["url_private"].startswith("https://")
    assert stored["files"] == event["files"]
    assert file["id"] in emu.workspace.files


async def test_joining_a_public_channel_delivers_channel_join_and_member_joined_channel(
    emu: SlackEmulator, people: People, receiver: Receiver, client: AsyncWebClient
) -> None:
    carol = emu.add_user("carol")

    message = await emu.join(carol, people.general)
    await emu.wait_idle()

    joined = delivered_of(receiver, "member_joined_channel")[0]
    notice = delivered_of(receiver, "message", "channel_join")[0]
    members = await client.conversations_members(channel=people.general)
    assert carol in members["members"]
    assert (joined["user"], joined["channel"], joined["channel_type"]) == (carol, people.general, "C")
    assert (notice["user"], notice["text"], notice["ts"]) == (carol, f"<@{carol}> has joined the channel", message.ts)
    assert "inviter" not in notice


async def test_joining_a_private_channel_or_one_already_joined_is_refused(emu: SlackEmulator, people: People) -> None:
    secret = emu.add_channel("secret", members=[people.alice], is_private=True)

    with pytest.raises(ValueError, match="private"):
        await emu.join(people.bob, secret)
    with pytest.raises(ValueError, match="already"):
        await emu.join(people.bob, people.general)


# -- redelivery and background deliveries -----------------------------------------------------------------
async def test_a_redelivery_sends_the_same_body_with_retry_headers_and_a_fresh_valid_signature(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    await emu.post_message(people.alice, people.general, "API down")
    await emu.wait_idle()
    original = emu.deliveries[-1]

    again = await emu.redeliver(original, retry_num=2, retry_reason="http_timeout")

    first, retry = receiver.requests
    assert again.ok
    assert retry.body == first.body == again.request_body
    assert retry.headers["X-Slack-Retry-Num"] == "2"
    assert retry.headers["X-Slack-Retry-Reason"] == "http_timeout"
    assert "X-Slack-Retry-Num" not in first.headers
    assert abs(int(retry.headers["X-Slack-Request-Timestamp"]) - time.time()) < 5
    assert verify(retry)


@pytest.mark.ordered_delivery  # no automatic retries: the test redelivers by hand
async def test_a_background_delivery_answered_with_an_error_is_recorded_and_can_be_redelivered(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    receiver.answer = answer_500
    await emu.post_message(people.alice, people.general, "API down")
    await emu.wait_idle()
    receiver.answer = None

    (failed,) = emu.failed_deliveries
    again = await emu.redeliver(failed)

    assert failed.status == 500
    assert failed.request_body == receiver.requests[0].body
    assert again.ok
    assert receiver.requests[1].headers["X-Slack-Retry-Num"] == "1"
    assert receiver.requests[1].headers["X-Slack-Retry-Reason"] == "http_error"
    assert receiver.requests[1].body == failed.request_body
    assert verify(receiver.requests[1])


async def test_wait_idle_returns_only_after_every_background_delivery_completed(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    async def slow(request: Received) -> web.StreamResponse:
        await asyncio.sleep(0.05)
        return web.Response(text="")

    receiver.answer = slow
    for n in range(3):
        await emu.post_message(people.alice, people.general, f"message {n}")

    await emu.wait_idle()

    assert sorted(e["text"] for e in delivered_events(receiver)) == ["message 0", "message 1", "message 2"]
    assert [d.status for d in emu.deliveries] == [200, 200, 200]


@pytest.mark.ordered_delivery
async def test_in_order_an_awaited_delivery_comes_after_the_pending_background_ones(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    message = await emu.post_message(people.alice, people.general, "first")

    await emu.edit_message(people.alice, people.general, message.ts, "second")

    assert [e.get("subtype") for e in delivered_events(receiver)] == [None, "message_changed"]


# -- reading back single messages -------------------------------------------------------------------------
async def test_history_with_latest_oldest_inclusive_and_limit_1_returns_exactly_that_message(
    emu: SlackEmulator, people: People, client: AsyncWebClient
) -> None:
    before = await emu.post_message(people.alice, people.general, "before", deliver=False)
    wanted = await emu.post_message(people.alice, people.general, "wanted", deliver=False)
    await emu.post_message(people.alice, people.general, "reply", thread_ts=wanted.ts, deliver=False)
    await emu.post_message(people.alice, people.general, "after", deliver=False)

    found = await client.conversations_history(
        channel=people.general, latest=wanted.ts, oldest=wanted.ts, inclusive=True, limit=1
    )
    none = await client.conversations_history(channel=people.general, latest=before.ts, oldest=before.ts, limit=1)

    assert [m["text"] for m in found["messages"]] == ["wanted"]
    assert none["messages"] == []


async def test_replies_with_a_replys_ts_returns_the_parent_and_its_replies_in_order(
    emu: SlackEmulator, people: People, client: AsyncWebClient
) -> None:
    root = await emu.post_message(people.alice, people.general, "root", deliver=False)
    first = await emu.post_message(people.bob, people.general, "first", thread_ts=root.ts, deliver=False)
    await emu.post_message(people.alice, people.general, "second", thread_ts=root.ts, deliver=False)

    thread = await client.conversations_replies(channel=people.general, ts=first.ts)

    assert [m["text"] for m in thread["messages"]] == ["root", "first", "second"]
    assert [m.get("parent_user_id") for m in thread["messages"]] == [None, people.alice, people.alice]


async def test_a_socket_mode_redelivery_is_a_new_envelope_with_retry_attempt_and_reason(
    emu: SlackEmulator, people: People
) -> None:
    app_client = AsyncWebClient(token=emu.app_token, base_url=emu.api_url)
    url = str((await app_client.apps_connections_open(app_token=emu.app_token))["url"])
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.receive_json()  # hello
        await emu.post_message(people.alice, people.general, "API down")
        first = await ws.receive_json()
        await ws.send_str(json.dumps({"envelope_id": first["envelope_id"]}))
        await emu.wait_idle()
        task = asyncio.ensure_future(emu.redeliver(emu.deliveries[-1], retry_num=1, retry_reason="timeout"))
        retry = await ws.receive_json()
        await ws.send_str(json.dumps({"envelope_id": retry["envelope_id"]}))
        again = await task

    assert again.ok
    assert again.mode == "socket"
    assert retry["payload"] == first["payload"]
    assert retry["envelope_id"] != first["envelope_id"]
    assert (first["retry_attempt"], first["retry_reason"]) == (0, "")
    assert (retry["retry_attempt"], retry["retry_reason"]) == (1, "timeout")
