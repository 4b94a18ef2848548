"""chat.*, pins.*, reactions.*, users.*, bookmarks and files: what the bot's posts do and when Slack refuses."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import SlackEmulator

from .conftest import People, Receiver, error_of

HEADER = {"type": "header", "text": {"type": "plain_text", "text": "Incident INC-1"}}


def button(action_id: str, label: str = "Ack", value: str = "v") -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": label}, "value": value}


async def test_a_post_is_stored_as_a_modern_bot_message_without_subtype(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    response = await client.chat_postMessage(channel=people.general, text="hello", blocks=[HEADER])

    stored = emu.workspace.channels[people.general].messages[-1]
    assert response["channel"] == people.general
    assert response["ts"] == stored.ts
    assert response["message"]["bot_id"] == emu.bot_id
    assert response["message"]["user"] == emu.bot_user_id
    assert "subtype" not in response["message"]
    assert stored.blocks[0]["text"]["text"] == "Incident INC-1"
    assert stored.blocks[0]["block_id"]  # Slack fills in missing block ids


async def test_a_post_is_echoed_to_the_bot_as_a_message_event_with_its_bot_id(
    emu: SlackEmulator, client: AsyncWebClient, people: People, receiver: Receiver
) -> None:
    response = await client.chat_postMessage(channel=people.general, text="echo me")
    await emu.wait_idle()

    envelope = receiver.requests[-1].json
    assert envelope["type"] == "event_callback"
    assert envelope["event"]["type"] == "message"
    assert envelope["event"]["bot_id"] == emu.bot_id
    assert envelope["event"]["user"] == emu.bot_user_id
    assert envelope["event"]["ts"] == response["ts"]
    assert envelope["event"]["channel_type"] == "channel"
    assert "subtype" not in envelope["event"]


async def test_posting_in_a_public_channel_the_bot_is_not_in_works_with_chat_write_public(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    response = await client.chat_postMessage(channel=people.random, text="drive-by")

    assert response["ok"] is True
    assert emu.bot_user_id not in emu.workspace.channels[people.random].members


async def test_posting_in_a_public_channel_the_bot_is_not_in_without_chat_write_public_is_not_in_channel() -> None:
    async with SlackEmulator(scopes=["chat:write"]) as emu:
        alice = emu.add_user("alice")
        random = emu.add_channel("random", members=[alice])
        client = AsyncWebClient(token=emu.bot_token, base_url=emu.api_url)

        assert await error_of(client.chat_postMessage(channel=random, text="hi")) == "not_in_channel"


async def test_posting_in_an_archived_channel_is_refused_with_is_archived(
    client: AsyncWebClient, people: People
) -> None:
    await client.conversations_archive(channel=people.general)

    assert await error_of(client.chat_postMessage(channel=people.general, text="hi")) == "is_archived"


async def test_posting_without_text_blocks_or_attachments_is_refused_with_no_text(
    client: AsyncWebClient, people: People
) -> None:
    assert await error_of(client.api_call("chat.postMessage", json={"channel": people.general})) == "no_text"


TRUNCATION_WARNING = {
    "messages": [
        "[WARN] Your message was truncated but still posted. The `text` field accepts up to 40,000 characters."
    ],
    "warnings": ["message_truncated"],
}


async def test_posting_more_than_40000_characters_posts_the_first_40000_with_a_message_truncated_warning(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    response = await client.chat_postMessage(channel=people.general, text="x" * 39_999 + "yz")

    stored = emu.workspace.channels[people.general].messages[-1]
    assert stored.text == "x" * 39_999 + "y"
    assert response["message"]["text"] == stored.text
    assert response["warning"] == "message_truncated"
    assert response["response_metadata"] == TRUNCATION_WARNING


async def test_posting_exactly_40000_characters_posts_them_all_without_a_warning(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    response = await client.chat_postMessage(channel=people.general, text="x" * 40_000)

    assert len(emu.workspace.channels[people.general].messages[-1].text) == 40_000
    assert response.get("warning") is None


async def test_an_ephemeral_message_over_40000_characters_is_truncated_with_the_same_warning(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    response = await client.chat_postEphemeral(channel=people.general, user=people.alice, text="x" * 50_000)

    assert [len(e.text) for e in emu.ephemerals] == [40_000]
    assert response["response_metadata"] == TRUNCATION_WARNING


def sections(count: int, length: int) -> list[dict[str, Any]]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": "s" * length}} for _ in range(count)]


async def test_blocks_carrying_more_than_13200_characters_of_text_in_all_are_refused_with_msg_blocks_too_long(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    blocks = sections(4, 3000) + sections(1, 1201)  # every block within its own limit: 13,201 in all

    with pytest.raises(SlackApiError) as failure:
        await client.chat_postMessage(channel=people.general, text="t", blocks=blocks)

    assert failure.value.response["error"] == "msg_blocks_too_long"
    assert emu.workspace.channels[people.general].messages == []


async def test_blocks_carrying_13200_characters_of_text_in_all_are_posted(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    await client.chat_postMessage(channel=people.general, text="t", blocks=sections(4, 3000) + sections(1, 1200))

    assert len(emu.workspace.channels[people.general].messages) == 1


async def test_updating_a_message_with_blocks_carrying_too_much_text_is_refused_and_the_message_kept(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    posted = await client.chat_postMessage(channel=people.general, text="before", blocks=sections(1, 10))

    call = client.chat_update(channel=people.general, ts=posted["ts"], text="after", blocks=sections(5, 3000))

    assert await error_of(call) == "invalid_blocks"  # chat.update documents no msg_blocks_too_long
    stored = emu.workspace.channels[people.general].find(posted["ts"])
    assert stored is not None
    assert stored.text == "before"


async def test_posting_by_channel_name_and_to_a_user_id_works_like_slack(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    by_name = await client.chat_postMessage(channel="#general", text="by name")
    direct = await client.chat_postMessage(channel=people.alice, text="psst")

    assert by_name["channel"] == people.general
    assert direct["channel"].startswith("D")
    assert emu.workspace.channels[direct["channel"]].members == {emu.bot_user_id, people.alice}


async def test_invalid_blocks_are_refused_with_the_reasons(client: AsyncWebClient, people: People) -> None:
    bad = [{"type": "header", "text": {"type": "mrkdwn", "text": "not plain"}}]

    with pytest.raises(SlackApiError) as failure:
        await client.chat_postMessage(channel=people.general, text="t", blocks=bad)

    body = failure.value.response.data
    assert isinstance(body, dict)
    assert body["error"] == "invalid_blocks"
    assert body["errors"] == ["must be one of plain_text [json-pointer:/blocks/0/text/type]"]
    assert body["response_metadata"]["messages"] == [
        "[ERROR] must be one of plain_text [json-pointer:/blocks/0/text/type]"
    ]


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}], "/blocks/0/text/text"),
        ([{"type": "actions", "elements": [button("a", label="L" * 76)]}], "/blocks/0/elements/0/text/text"),
        ([{"type": "actions", "elements": [button("same"), button("same")]}], "/blocks/0/elements/1/action_id"),
        ([{"type": "divider", "block_id": "b"}, {"type": "divider", "block_id": "b"}], "/blocks/1/block_id"),
        ([{"type": "carousel_of_doom"}], "/blocks/0/type"),
        ([{"type": "divider"}] * 51, "/blocks"),
        ([{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}], "/blocks/0/elements"),
    ],
    ids=["long-section", "long-button", "dup-action", "dup-block", "unknown-type", "51-blocks", "11-context"],
)
async def test_blocks_over_slacks_limits_are_refused_with_invalid_blocks(
    client: AsyncWebClient, people: People, blocks: list[dict[str, Any]], pointer: str
) -> None:
    with pytest.raises(SlackApiError) as failure:
        await client.chat_postMessage(channel=people.general, text="t", blocks=blocks)

    assert failure.value.response["error"] == "invalid_blocks"
    assert any(f"[json-pointer:{pointer}]" in e for e in failure.value.response["errors"])


async def test_a_reply_to_a_reply_joins_the_root_thread(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    root = await client.chat_postMessage(channel=people.general, text="root")
    reply = await client.chat_postMessage(channel=people.general, text="reply", thread_ts=root["ts"])

    nested = await client.chat_postMessage(channel=people.general, text="nested", thread_ts=reply["ts"])

    assert nested["message"]["thread_ts"] == root["ts"]


async def test_an_ephemeral_message_is_recorded_for_its_user_only(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    response = await client.chat_postEphemeral(channel=people.general, user=people.alice, text="only you")

    assert [(e.user, e.channel, e.text, e.message_ts) for e in emu.ephemerals] == [
        (people.alice, people.general, "only you", response["message_ts"])
    ]
    assert all(m.text != "only you" for m in emu.workspace.channels[people.general].messages)


async def test_an_ephemeral_message_to_someone_outside_the_channel_is_refused_with_user_not_in_channel(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    outsider = emu.add_user("outsider")

    call = client.chat_postEphemeral(channel=people.general, user=outsider, text="x")

    assert await error_of(call) == "user_not_in_channel"
    assert emu.ephemerals == []


async def test_updating_a_message_replaces_it_and_echoes_message_changed(
    emu: SlackEmulator, client: AsyncWebClient, people: People, receiver: Receiver
) -> None:
    posted = await client.chat_postMessage(channel=people.general, text="before")

    await client.chat_update(channel=people.general, ts=posted["ts"], text="after")
    await emu.wait_idle()

    stored = emu.workspace.channels[people.general].find(posted["ts"])
    assert stored is not None
    assert stored.text == "after"
    assert stored.edited is not None
    (event,) = [r.json["event"] for r in receiver.requests if r.json["event"].get("subtype") == "message_changed"]
    assert event["message"]["text"] == "after"
    assert event["previous_message"]["text"] == "before"


async def test_updating_someone_elses_message_is_refused_with_cant_update_message(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    theirs = await emu.post_message(people.alice, people.general, "mine")

    assert await error_of(client.chat_update(channel=people.general, ts=theirs.ts, text="x")) == "cant_update_message"


async def test_updating_an_unknown_message_is_refused_with_message_not_found(
    client: AsyncWebClient, people: People
) -> None:
    assert await error_of(client.chat_update(channel=people.general, ts="1.000001", text="x")) == "message_not_found"


async def test_updating_with_more_than_4000_characters_is_refused_with_msg_too_long(
    client: AsyncWebClient, people: People
) -> None:
    posted = await client.chat_postMessage(channel=people.general, text="short")

    assert (
        await error_of(client.chat_update(channel=people.general, ts=posted["ts"], text="x" * 4001)) == "msg_too_long"
    )


async def test_deleting_a_message_removes_it(emu: SlackEmulator, client: AsyncWebClient, people: People) -> None:
    posted = await client.chat_postMessage(channel=people.general, text="oops")

    await client.chat_delete(channel=people.general, ts=posted["ts"])

    assert emu.workspace.channels[people.general].find(posted["ts"]) is None


async def test_a_permalink_has_slacks_shape(emu: SlackEmulator, client: AsyncWebClient, people: People) -> None:
    posted = await client.chat_postMessage(channel=people.general, text="link me")

    response = await client.chat_getPermalink(channel=people.general, message_ts=posted["ts"])

    expected = f"https://emulator.slack.com/archives/{people.general}/p{posted['ts'].replace('.', '')}"
    assert response["permalink"] == expected


async def test_pinning_records_the_pin_and_pinning_again_is_already_pinned(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    posted = await client.chat_postMessage(channel=people.general, text="pin me")

    await client.pins_add(channel=people.general, timestamp=posted["ts"])

    assert emu.workspace.channels[people.general].pins == [posted["ts"]]
    assert await error_of(client.pins_add(channel=people.general, timestamp=posted["ts"])) == "already_pinned"


async def test_pinning_in_a_channel_the_bot_is_not_in_is_refused_with_not_in_channel(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    theirs = await emu.post_message(people.alice, people.random, "pin this")

    assert await error_of(client.pins_add(channel=people.random, timestamp=theirs.ts)) == "not_in_channel"


async def test_pinning_without_a_timestamp_is_refused_with_no_item_specified(
    client: AsyncWebClient, people: People
) -> None:
    assert await error_of(client.api_call("pins.add", params={"channel": people.general})) == "no_item_specified"


async def test_pinning_an_unknown_message_is_refused_with_message_not_found(
    client: AsyncWebClient, people: People
) -> None:
    assert await error_of(client.pins_add(channel=people.general, timestamp="1.000001")) == "message_not_found"


async def test_reacting_records_the_reaction_and_reacting_twice_is_already_reacted(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    posted = await client.chat_postMessage(channel=people.general, text="react")

    await client.reactions_add(channel=people.general, timestamp=posted["ts"], name="eyes")
    got = await client.reactions_get(channel=people.general, timestamp=posted["ts"])

    assert got["message"]["reactions"] == [{"name": "eyes", "users": [emu.bot_user_id], "count": 1}]
    call = client.reactions_add(channel=people.general, timestamp=posted["ts"], name="eyes")
    assert await error_of(call) == "already_reacted"


async def test_removing_a_reaction_the_bot_did_not_add_is_refused_with_no_reaction(
    client: AsyncWebClient, people: People
) -> None:
    posted = await client.chat_postMessage(channel=people.general, text="react")

    call = client.reactions_remove(channel=people.general, timestamp=posted["ts"], name="eyes")

    assert await error_of(call) == "no_reaction"


@pytest.mark.parametrize("name", ["Thumbs Up", "ok!", ""])
async def test_a_reaction_name_in_an_impossible_format_is_refused_with_invalid_name(
    client: AsyncWebClient, people: People, name: str
) -> None:
    posted = await client.chat_postMessage(channel=people.general, text="react")

    call = client.reactions_add(channel=people.general, timestamp=posted["ts"], name=name)

    assert await error_of(call) == "invalid_name"


async def test_users_info_answers_for_added_users_and_user_not_found_otherwise(
    client: AsyncWebClient, people: People
) -> None:
    found = await client.users_info(user=people.alice)

    assert found["user"]["name"] == "alice"
    assert found["user"]["real_name"] == "Alice Adams"
    assert await error_of(client.users_info(user="U404")) == "user_not_found"


async def test_a_bookmark_is_added_to_the_channel(emu: SlackEmulator, client: AsyncWebClient, people: People) -> None:
    response = await client.bookmarks_add(
        channel_id=people.general, title="Runbook", type="link", link="https://runbooks.example/api"
    )

    assert response["bookmark"]["title"] == "Runbook"
    assert emu.workspace.channels[people.general].bookmarks[0]["link"] == "https://runbooks.example/api"


async def test_a_file_upload_v2_stores_the_content_and_shares_it_in_the_channel(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    response = await client.files_upload_v2(
        channel=people.general, content="timeline", filename="timeline.txt", title="Timeline"
    )

    file = emu.workspace.files[response["file"]["id"]]
    assert file.content == b"timeline"
    assert file.channels == [people.general]
    assert emu.workspace.channels[people.general].messages[-1].files[0]["title"] == "Timeline"


async def post_to_response_url(url: str, body: dict[str, Any]) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        return response.status, await response.text()


async def test_a_response_url_post_over_40000_characters_is_shown_cut_to_40000(
    emu: SlackEmulator, people: People, receiver: Receiver
) -> None:
    await emu.send_command(people.alice, people.general, "/incident", "timeline")

    status, _ = await post_to_response_url(receiver.requests[-1].form["response_url"], {"text": "x" * 45_000})

    assert status == 200
    assert [len(n.text) for n in emu.notices if n.source == "response_url"] == [40_000]


@pytest.mark.parametrize(
    "blocks",
    [
        [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
        sections(5, 3000),
    ],
    ids=["invalid-block", "too-much-text"],
)
async def test_a_response_url_post_with_blocks_slack_refuses_is_answered_400_invalid_blocks_and_not_shown(
    emu: SlackEmulator, people: People, receiver: Receiver, blocks: list[dict[str, Any]]
) -> None:
    await emu.send_command(people.alice, people.general, "/incident", "status")

    answer = await post_to_response_url(receiver.requests[-1].form["response_url"], {"text": "t", "blocks": blocks})

    assert answer == (400, "invalid_blocks")
    assert [n for n in emu.notices if n.source == "response_url"] == []


def severity_select(block_id: str, initial: str) -> list[dict[str, Any]]:
    options = [{"text": {"type": "plain_text", "text": v.upper()}, "value": v} for v in ("sev1", "sev2", "sev3")]
    element = {
        "type": "static_select",
        "action_id": "severity",
        "options": options,
        "initial_option": next(o for o in options if o["value"] == initial),
    }
    return [{"type": "actions", "block_id": block_id, "elements": [element]}]


async def test_a_client_keeps_showing_what_its_person_picked_while_updates_keep_the_block_id(
    emu: SlackEmulator, client: AsyncWebClient, people: People, receiver: Receiver
) -> None:
    posted = await client.chat_postMessage(channel=people.general, text="card", blocks=severity_select("card", "sev2"))
    await emu.click(people.alice, people.general, posted["ts"], "severity", selected_option="sev1")

    await client.chat_update(
        channel=people.general, ts=posted["ts"], text="card", blocks=severity_select("card", "sev3")
    )

    assert emu.shown_choice(people.alice, people.general, posted["ts"], "severity") == "sev1"  # stale
    assert emu.shown_choice(people.bob, people.general, posted["ts"], "severity") == "sev3"


async def test_a_client_shows_the_initial_option_again_once_an_update_gives_the_block_a_new_block_id(
    emu: SlackEmulator, client: AsyncWebClient, people: People, receiver: Receiver
) -> None:
    posted = await client.chat_postMessage(
        channel=people.general, text="card", blocks=severity_select("card.1", "sev2")
    )
    await emu.click(people.alice, people.general, posted["ts"], "severity", selected_option="sev1")

    blocks = severity_select("card.2", "sev3")
    await client.chat_update(channel=people.general, ts=posted["ts"], text="card", blocks=blocks)

    assert emu.shown_choice(people.alice, people.general, posted["ts"], "severity") == "sev3"
