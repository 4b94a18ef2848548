"""Where a fake Slack most easily lets a bot pass that Slack would break: threads read back as Slack pages them,
deleted thread parents kept as tombstones, the app_rate_limited payload, and channel and app lifecycle events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import DEFAULT_EVENTS, SlackEmulator
from bot.emulator.context import ApiError

from .conftest import SIGNING_SECRET, People, Receiver, error_of

LIFECYCLE = {"channel_rename", "group_rename", "channel_archive", "group_archive", "tokens_revoked", "app_uninstalled"}


@pytest.fixture
async def emu() -> AsyncIterator[SlackEmulator]:
    """Subscribed to the lifecycle events too (an app gets them only by subscribing)."""
    emulator = SlackEmulator(
        signing_secret=SIGNING_SECRET,
        bot_token="xoxb-emulator",
        app_token="xapp-emulator",
        events=DEFAULT_EVENTS | LIFECYCLE,
    )
    await emulator.start()
    yield emulator
    await emulator.stop()


def received(receiver: Receiver) -> list[dict[str, Any]]:
    """Every JSON body the bot's request URL got: event_callback envelopes and app-level payloads."""
    return [r.json for r in receiver.requests if r.json is not None]


def events_of(receiver: Receiver, kind: str, subtype: str | None = None) -> list[dict[str, Any]]:
    return [
        p["event"]
        for p in received(receiver)
        if "event" in p and p["event"]["type"] == kind and p["event"].get("subtype") == subtype
    ]


def texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m["text"] for m in messages]


# -- conversations.replies, as Slack pages it ---------------------------------------------------------------
@pytest.fixture
async def thread(emu: SlackEmulator, people: People) -> list[str]:
    """A parent and three replies, stored without events: [parent ts, reply 1 ts, reply 2 ts, reply 3 ts]."""
    parent = await emu.post_message(people.alice, people.general, "parent", deliver=False)
    replies = [
        await emu.post_message(people.bob, people.general, f"reply {n}", thread_ts=parent.ts, deliver=False)
        for n in (1, 2, 3)
    ]
    return [parent.ts, *(r.ts for r in replies)]


async def test_replies_with_limit_1_give_the_parent_alone_even_when_asked_with_a_replys_ts(
    client: AsyncWebClient, people: People, thread: list[str]
) -> None:
    page = await client.conversations_replies(channel=people.general, ts=thread[2], limit=1)

    assert texts(page["messages"]) == ["parent"]
    assert page["has_more"] is True
    assert page["response_metadata"]["next_cursor"]


async def test_the_parent_comes_first_whatever_the_window_and_the_window_holds_only_the_replies_inside_it(
    client: AsyncWebClient, people: People, thread: list[str]
) -> None:
    one = await client.conversations_replies(
        channel=people.general, ts=thread[0], oldest=thread[2], latest=thread[2], inclusive=True
    )
    exclusive = await client.conversations_replies(
        channel=people.general, ts=thread[0], oldest=thread[1], latest=thread[3]
    )
    later = await client.conversations_replies(channel=people.general, ts=thread[0], oldest=thread[1])

    assert texts(one["messages"]) == ["parent", "reply 2"]
    assert one["has_more"] is False
    assert texts(exclusive["messages"]) == ["parent", "reply 2"]
    assert texts(later["messages"]) == ["parent", "reply 2", "reply 3"]


async def test_the_cursor_pages_through_the_rest_of_the_thread_without_repeating_the_parent(
    client: AsyncWebClient, people: People, thread: list[str]
) -> None:
    first = await client.conversations_replies(channel=people.general, ts=thread[0], limit=2)
    second = await client.conversations_replies(
        channel=people.general, ts=thread[0], limit=2, cursor=first["response_metadata"]["next_cursor"]
    )

    assert texts(first["messages"]) == ["parent", "reply 1"]
    assert texts(second["messages"]) == ["reply 2", "reply 3"]
    assert (second["has_more"], second["response_metadata"]["next_cursor"]) == (False, "")


async def test_a_bad_window_or_cursor_is_refused_as_slack_refuses_it(
    client: AsyncWebClient, people: People, thread: list[str]
) -> None:
    assert await error_of(client.conversations_replies(channel=people.general, ts=thread[0], oldest="x")) == (
        "invalid_ts_oldest"
    )
    assert await error_of(client.conversations_replies(channel=people.general, ts=thread[0], latest="y")) == (
        "invalid_ts_latest"
    )
    assert await error_of(client.conversations_replies(channel=people.general, ts=thread[0], cursor="z")) == (
        "invalid_cursor"
    )


# -- a deleted thread parent becomes a tombstone ------------------------------------------------------------
async def test_deleting_a_parent_with_replies_leaves_a_tombstone_and_sends_message_changed_not_deleted(
    emu: SlackEmulator, people: People, receiver: Receiver, client: AsyncWebClient
) -> None:
    parent = await emu.post_message(people.alice, people.general, "the DB is fine")
    await emu.post_message(people.bob, people.general, "are you sure?", thread_ts=parent.ts)
    await emu.wait_idle()

    answer = await emu.delete_message(people.alice, people.general, parent.ts)

    assert answer is not None
    assert answer.ok
    assert events_of(receiver, "message", "message_deleted") == []
    [changed] = events_of(receiver, "message", "message_changed")
    tombstone = changed["message"]
    assert {k: tombstone[k] for k in ("subtype", "user", "text", "hidden", "ts", "thread_ts")} == {
        "subtype": "tombstone",
        "user": "USLACKBOT",
        "text": "This message was deleted.",
        "hidden": True,
        "ts": parent.ts,
        "thread_ts": parent.ts,
    }
    assert tombstone["reply_count"] == 1
    assert (changed["previous_message"]["text"], changed["previous_message"]["user"]) == (
        "the DB is fine",
        people.alice,
    )
    history = await client.conversations_history(channel=people.general)
    replies = await client.conversations_replies(channel=people.general, ts=parent.ts)
    assert [(m["ts"], m.get("subtype"), m["text"]) for m in history["messages"]] == [
        (parent.ts, "tombstone", "This message was deleted.")
    ]
    assert texts(replies["messages"]) == ["This message was deleted.", "are you sure?"]


async def test_deleting_a_parent_without_replies_removes_it_with_message_deleted(
    emu: SlackEmulator, people: People, receiver: Receiver, client: AsyncWebClient
) -> None:
    message = await emu.post_message(people.alice, people.general, "typo")
    await emu.wait_idle()

    await emu.delete_message(people.alice, people.general, message.ts)

    [deleted] = events_of(receiver, "message", "message_deleted")
    assert deleted["deleted_ts"] == message.ts
    assert events_of(receiver, "message", "message_changed") == []
    assert (await client.conversations_history(channel=people.general))["messages"] == []


async def test_deleting_the_last_reply_under_a_tombstone_takes_the_tombstone_away_too(
    emu: SlackEmulator, people: People, receiver: Receiver, client: AsyncWebClient
) -> None:
    parent = await emu.post_message(people.alice, people.general, "parent")
    reply = await emu.post_message(people.bob, people.general, "reply", thread_ts=parent.ts)
    await emu.wait_idle()
    await emu.delete_message(people.alice, people.general, parent.ts)

    await emu.delete_message(people.bob, people.general, reply.ts)

    deleted = events_of(receiver, "message", "message_deleted")
    assert [(e["deleted_ts"], e["previous_message"].get("subtype")) for e in deleted] == [
        (reply.ts, None),
        (parent.ts, "tombstone"),
    ]
    assert (await client.conversations_history(channel=people.general))["messages"] == []


async def test_the_bot_deleting_its_own_parent_with_replies_leaves_a_tombstone_too(
    emu: SlackEmulator, people: People, receiver: Receiver, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel=people.general, text="card")
    await emu.post_message(people.alice, people.general, "a reply", thread_ts=posted["ts"])

    await client.chat_delete(channel=people.general, ts=posted["ts"])

    history = await client.conversations_history(channel=people.general)
    assert [(m.get("subtype"), m["user"]) for m in history["messages"]] == [("tombstone", "USLACKBOT")]


async def test_a_tombstone_can_be_neither_edited_nor_deleted_by_a_person(emu: SlackEmulator, people: People) -> None:
    parent = await emu.post_message(people.alice, people.general, "parent", deliver=False)
    await emu.post_message(people.bob, people.general, "reply", thread_ts=parent.ts, deliver=False)
    await emu.delete_message(people.alice, people.general, parent.ts)

    with pytest.raises(ValueError, match="only the author"):
        await emu.edit_message(people.alice, people.general, parent.ts, "back again")
    with pytest.raises(ValueError, match="only the author"):
        await emu.delete_message(people.alice, people.general, parent.ts)


# -- app_rate_limited -------------------------------------------------------------------------------------
async def test_app_rate_limited_is_slacks_own_payload_with_no_event_and_needs_no_subscription(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    answer = await emu.send_app_rate_limited(minute_rate_limited=1518467820)

    assert answer.ok
    [payload] = received(receiver)
    assert payload == {
        "token": payload["token"],
        "type": "app_rate_limited",
        "team_id": emu.team_id,
        "minute_rate_limited": 1518467820,
        "api_app_id": emu.app_id,
    }
    assert "app_rate_limited" not in DEFAULT_EVENTS | LIFECYCLE


# -- channel and app lifecycle ----------------------------------------------------------------------------
async def test_renaming_a_channel_writes_slacks_notice_and_sends_channel_rename_with_the_new_name(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    answer = await emu.rename_channel(people.alice, people.general, "war-room")
    await emu.wait_idle()

    assert answer is not None
    assert answer.ok
    [renamed] = events_of(receiver, "channel_rename")
    assert renamed["channel"]["id"] == people.general
    assert renamed["channel"]["name"] == "war-room"
    [notice] = events_of(receiver, "message", "channel_name")
    assert (notice["user"], notice["text"]) == (people.alice, 'has renamed the channel from "general" to "war-room"')
    assert emu.workspace.channels[people.general].name == "war-room"


async def test_a_private_channel_is_renamed_with_group_rename_and_a_bad_name_is_refused(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    private = emu.add_channel("secret", members=[people.alice, emu.bot_user_id], is_private=True)

    await emu.rename_channel(people.alice, private, "still-secret")

    [renamed] = events_of(receiver, "group_rename")
    assert renamed["channel"]["name"] == "still-secret"
    with pytest.raises(ApiError, match="invalid_name_specials"):
        await emu.rename_channel(people.alice, private, "Not Valid!")


async def test_archiving_a_channel_sends_channel_archive_with_who_did_it_and_nobody_can_post_after(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    answer = await emu.archive_channel(people.bob, people.general)
    await emu.wait_idle()

    assert answer is not None
    assert answer.ok
    [archived] = events_of(receiver, "channel_archive")
    assert (archived["channel"], archived["user"]) == (people.general, people.bob)
    assert [e["user"] for e in events_of(receiver, "message", "channel_archive")] == [people.bob]
    with pytest.raises(ValueError, match="archived"):
        await emu.post_message(people.alice, people.general, "anyone?")


async def test_lifecycle_events_reach_only_an_app_that_subscribed_to_them() -> None:
    events = {"message.channels", "reaction_added", "reaction_removed"}
    async with SlackEmulator(signing_secret=SIGNING_SECRET, events=events) as unsubscribed:
        unsubscribed.set_request_url("http://127.0.0.1:9/never")
        general = unsubscribed.add_channel("general", members=[unsubscribed.bot_user_id])

        assert await unsubscribed.rename_channel(unsubscribed.bot_user_id, general, "renamed") is None
        assert await unsubscribed.revoke_tokens() is None


async def test_after_tokens_revoked_the_web_api_refuses_the_token(
    emu: SlackEmulator, people: People, receiver: Receiver, client: AsyncWebClient
) -> None:
    await client.auth_test()

    answer = await emu.revoke_tokens()

    assert answer is not None
    assert answer.ok
    [revoked] = events_of(receiver, "tokens_revoked")
    assert revoked["tokens"] == {"oauth": [], "bot": [emu.bot_user_id]}
    assert await error_of(client.auth_test()) == "token_revoked"


async def test_uninstalling_sends_app_uninstalled_and_tokens_revoked(
    emu: SlackEmulator, people: People, receiver: Receiver, client: AsyncWebClient
) -> None:
    answers = await emu.uninstall()

    assert all(a is not None and a.ok for a in answers)
    assert [p["event"]["type"] for p in received(receiver)] == ["app_uninstalled", "tokens_revoked"]
    assert await error_of(client.conversations_history(channel=people.general)) == "token_revoked"
