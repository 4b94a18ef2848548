"""Message metadata: accepted by chat.postMessage / chat.update as an object or a JSON string, validated like
Slack, and listed by conversations.history / replies only with include_all_metadata."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import SlackEmulator

from .conftest import People, error_of

BOT = {"Authorization": "Bearer xoxb-emulator"}
METADATA = {"event_type": "incident_declared", "event_payload": {"id": "INC-7", "severity": 2}}


async def post_with_metadata(client: AsyncWebClient, channel: str, metadata: Any, **extra: Any) -> str:
    response = await client.chat_postMessage(channel=channel, text="with metadata", metadata=metadata, **extra)
    return str(response["ts"])


async def test_metadata_given_as_a_json_object_is_stored_with_the_message(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    ts = await post_with_metadata(client, people.general, METADATA)

    message = emu.workspace.channels[people.general].find(ts)
    assert message is not None
    assert message.metadata == METADATA


async def test_metadata_given_as_a_json_string_in_a_form_body_is_accepted(emu: SlackEmulator, people: People) -> None:
    form = {"channel": people.general, "text": "form", "metadata": json.dumps(METADATA)}

    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{emu.api_url}chat.postMessage", data=form, headers=BOT) as response,
    ):
        body = await response.json()

    message = emu.workspace.channels[people.general].find(body["ts"])
    assert message is not None
    assert message.metadata == METADATA


@pytest.mark.parametrize("metadata", ["{not json", "[1, 2]", '"just a string"'])
async def test_metadata_that_is_not_a_json_object_is_refused_with_invalid_metadata_format(
    emu: SlackEmulator, client: AsyncWebClient, people: People, metadata: str
) -> None:
    error = await error_of(
        client.api_call("chat.postMessage", params={"channel": people.general, "text": "x", "metadata": metadata})
    )

    assert error == "invalid_metadata_format"
    assert emu.workspace.channels[people.general].messages == []


@pytest.mark.parametrize(
    "metadata",
    [
        {"event_payload": {"id": 1}},
        {"event_type": "incident_declared"},
        {"event_type": 7, "event_payload": {}},
        {"event_type": "", "event_payload": {}},
        {"event_type": "incident_declared", "event_payload": "INC-7"},
        {},
    ],
)
async def test_metadata_without_a_string_event_type_and_an_object_event_payload_is_refused_with_invalid_metadata_schema(
    client: AsyncWebClient, people: People, metadata: dict[str, Any]
) -> None:
    assert await error_of(post_with_metadata(client, people.general, metadata)) == "invalid_metadata_schema"


async def test_history_leaves_metadata_out_unless_include_all_metadata_is_true(
    client: AsyncWebClient, people: People
) -> None:
    await post_with_metadata(client, people.general, METADATA)

    plain = await client.conversations_history(channel=people.general)
    with_metadata = await client.conversations_history(channel=people.general, include_all_metadata=True)

    assert "metadata" not in plain["messages"][0]
    assert with_metadata["messages"][0]["metadata"] == METADATA


async def test_replies_leave_metadata_out_unless_include_all_metadata_is_true(
    client: AsyncWebClient, people: People
) -> None:
    root = await post_with_metadata(client, people.general, METADATA)
    await post_with_metadata(client, people.general, {"event_type": "note", "event_payload": {}}, thread_ts=root)

    plain = await client.conversations_replies(channel=people.general, ts=root)
    with_metadata = await client.conversations_replies(channel=people.general, ts=root, include_all_metadata=True)

    assert [m.get("metadata") for m in plain["messages"]] == [None, None]
    assert [m["metadata"]["event_type"] for m in with_metadata["messages"]] == ["incident_declared", "note"]


async def test_an_update_without_metadata_keeps_the_messages_metadata(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    ts = await post_with_metadata(client, people.general, METADATA)

    await client.chat_update(channel=people.general, ts=ts, text="edited")

    message = emu.workspace.channels[people.general].find(ts)
    assert message is not None
    assert (message.text, message.metadata) == ("edited", METADATA)


async def test_an_update_with_metadata_replaces_it_and_an_empty_object_removes_it(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    ts = await post_with_metadata(client, people.general, METADATA)
    replacement = {"event_type": "incident_resolved", "event_payload": {"id": "INC-7"}}

    await client.chat_update(channel=people.general, ts=ts, text="resolved", metadata=replacement)
    message = emu.workspace.channels[people.general].find(ts)
    assert message is not None
    replaced = message.metadata
    await client.api_call("chat.update", json={"channel": people.general, "ts": ts, "text": "x", "metadata": {}})

    assert replaced == replacement
    assert message.metadata is None


async def test_an_update_with_malformed_metadata_is_refused_and_changes_nothing(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    ts = await post_with_metadata(client, people.general, METADATA)

    error = await error_of(
        client.api_call(
            "chat.update", json={"channel": people.general, "ts": ts, "text": "edited", "metadata": "{broken"}
        )
    )

    message = emu.workspace.channels[people.general].find(ts)
    assert message is not None
    assert error == "invalid_metadata_format"
    assert (message.text, message.metadata) == ("with metadata", METADATA)
