"""conversations.*: naming rules, membership rules, topics, history and its pagination."""

from __future__ import annotations

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import SlackEmulator

from .conftest import People, Receiver, error_of


async def test_creating_a_channel_makes_the_bot_its_creator_and_a_member(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    response = await client.conversations_create(name="inc-2026-001-api-500s")

    channel = emu.workspace.channels[response["channel"]["id"]]
    assert response["channel"]["id"].startswith("C")
    assert response["channel"]["is_member"] is True
    assert channel.creator == emu.bot_user_id
    assert channel.members == {emu.bot_user_id}
    assert emu.channel_by_name("inc-2026-001-api-500s") is channel


async def test_a_private_channel_also_gets_a_c_id(client: AsyncWebClient) -> None:
    response = await client.conversations_create(name="secret-incident", is_private=True)

    assert response["channel"]["id"].startswith("C")
    assert response["channel"]["is_private"] is True


async def test_creating_a_channel_with_an_upper_case_name_is_refused_with_invalid_name_specials(
    client: AsyncWebClient,
) -> None:
    assert await error_of(client.conversations_create(name="Inc-API")) == "invalid_name_specials"


@pytest.mark.parametrize("name", ["inc api", "inc.api", "inc#1", "café"])
async def test_creating_a_channel_with_special_characters_is_refused_with_invalid_name_specials(
    client: AsyncWebClient, name: str
) -> None:
    assert await error_of(client.conversations_create(name=name)) == "invalid_name_specials"


async def test_creating_a_channel_with_an_81_character_name_is_refused_with_invalid_name_maxlength(
    client: AsyncWebClient,
) -> None:
    assert await error_of(client.conversations_create(name="a" * 81)) == "invalid_name_maxlength"


async def test_an_80_character_name_is_accepted(client: AsyncWebClient) -> None:
    response = await client.conversations_create(name="a" * 80)

    assert response["channel"]["name"] == "a" * 80


async def test_creating_a_channel_named_only_with_punctuation_is_refused_with_invalid_name_punctuation(
    client: AsyncWebClient,
) -> None:
    assert await error_of(client.conversations_create(name="--_")) == "invalid_name_punctuation"


async def test_creating_a_channel_with_an_empty_name_is_refused_with_invalid_name_required(
    client: AsyncWebClient,
) -> None:
    assert await error_of(client.conversations_create(name="")) == "invalid_name_required"


async def test_creating_a_channel_whose_name_exists_is_refused_with_name_taken(
    client: AsyncWebClient, people: People
) -> None:
    assert await error_of(client.conversations_create(name="random")) == "name_taken"


async def test_the_name_of_an_archived_channel_stays_taken(emu: SlackEmulator, client: AsyncWebClient) -> None:
    emu.add_channel("inc-old", is_archived=True)

    assert await error_of(client.conversations_create(name="inc-old")) == "name_taken"


async def test_creating_a_channel_delivers_member_joined_channel_for_the_bot(
    emu: SlackEmulator, client: AsyncWebClient, receiver: Receiver
) -> None:
    response = await client.conversations_create(name="inc-joined")
    await emu.wait_idle()

    events = [r.json["event"] for r in receiver.requests if r.json]
    joined = [e for e in events if e["type"] == "member_joined_channel"]
    assert joined == [
        {
            "type": "member_joined_channel",
            "user": emu.bot_user_id,
            "channel": response["channel"]["id"],
            "channel_type": "C",
            "team": emu.team_id,
            "event_ts": joined[0]["event_ts"],
        }
    ]


async def test_inviting_people_adds_them_and_writes_channel_join_messages(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    created = await client.conversations_create(name="inc-invite")
    channel_id = created["channel"]["id"]

    await client.conversations_invite(channel=channel_id, users=[people.alice, people.bob])

    channel = emu.workspace.channels[channel_id]
    assert {people.alice, people.bob} <= channel.members
    joins = [m for m in channel.messages if m.subtype == "channel_join" and m.inviter == emu.bot_user_id]
    assert [m.user for m in joins] == [people.alice, people.bob]


async def test_inviting_into_a_channel_the_bot_is_not_in_is_refused_with_not_in_channel(
    client: AsyncWebClient, people: People
) -> None:
    assert await error_of(client.conversations_invite(channel=people.random, users=people.bob)) == "not_in_channel"


async def test_inviting_into_an_unknown_channel_is_refused_with_channel_not_found(
    client: AsyncWebClient, people: People
) -> None:
    assert await error_of(client.conversations_invite(channel="C404", users=people.bob)) == "channel_not_found"


async def test_inviting_an_unknown_user_is_refused_with_user_not_found(client: AsyncWebClient, people: People) -> None:
    assert await error_of(client.conversations_invite(channel=people.general, users="U404")) == "user_not_found"


async def test_the_bot_inviting_itself_is_refused_with_cant_invite_self(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    call = client.conversations_invite(channel=people.general, users=emu.bot_user_id)

    assert await error_of(call) == "cant_invite_self"


async def test_inviting_only_people_already_in_the_channel_is_refused_with_already_in_channel(
    client: AsyncWebClient, people: People
) -> None:
    call = client.conversations_invite(channel=people.general, users=[people.alice, people.bob])

    assert await error_of(call) == "already_in_channel"


async def test_inviting_a_mix_of_members_and_newcomers_adds_the_newcomers(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    carol = emu.add_user("carol")

    await client.conversations_invite(channel=people.general, users=[people.alice, carol])

    assert carol in emu.workspace.channels[people.general].members


async def test_inviting_into_an_archived_channel_is_refused_with_is_archived(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    await client.conversations_archive(channel=people.general)

    assert await error_of(client.conversations_invite(channel=people.general, users="U404")) == "is_archived"


async def test_a_private_channel_the_bot_is_not_in_does_not_exist_for_it(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    hidden = emu.add_channel("hr-private", members=[people.alice], is_private=True)

    assert await error_of(client.conversations_info(channel=hidden)) == "channel_not_found"


async def test_joining_a_public_channel_adds_the_bot_and_joining_again_warns(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    first = await client.conversations_join(channel=people.random)
    again = await client.conversations_join(channel=people.random)

    assert emu.bot_user_id in emu.workspace.channels[people.random].members
    assert "warning" not in first
    assert again["warning"] == "already_in_channel"


async def test_setting_the_topic_stores_it_and_writes_a_channel_topic_message(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    response = await client.conversations_setTopic(channel=people.general, topic="SEV1 · API 500s")

    channel = emu.workspace.channels[people.general]
    assert channel.topic == "SEV1 · API 500s"
    assert response["channel"]["topic"]["value"] == "SEV1 · API 500s"
    assert channel.messages[-1].subtype == "channel_topic"


async def test_setting_a_topic_in_a_channel_the_bot_is_not_in_is_refused_with_not_in_channel(
    client: AsyncWebClient, people: People
) -> None:
    assert await error_of(client.conversations_setTopic(channel=people.random, topic="x")) == "not_in_channel"


async def test_a_251_character_topic_is_refused_with_too_long(client: AsyncWebClient, people: People) -> None:
    assert await error_of(client.conversations_setTopic(channel=people.general, topic="x" * 251)) == "too_long"


async def test_a_250_character_purpose_is_accepted(emu: SlackEmulator, client: AsyncWebClient, people: People) -> None:
    await client.conversations_setPurpose(channel=people.general, purpose="p" * 250)

    assert emu.workspace.channels[people.general].purpose == "p" * 250


async def test_history_is_newest_first_and_paginates_with_a_cursor(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    for n in range(5):
        await client.chat_postMessage(channel=people.general, text=f"message {n}")

    first = await client.conversations_history(channel=people.general, limit=3)
    second = await client.conversations_history(
        channel=people.general, limit=3, cursor=first["response_metadata"]["next_cursor"]
    )

    assert [m["text"] for m in first["messages"]] == ["message 4", "message 3", "message 2"]
    assert first["has_more"] is True
    assert [m["text"] for m in second["messages"]] == ["message 1", "message 0"]
    assert second["has_more"] is False
    assert second["response_metadata"]["next_cursor"] == ""


async def test_history_honours_oldest_latest_and_inclusive(client: AsyncWebClient, people: People) -> None:
    posted = [(await client.chat_postMessage(channel=people.general, text=f"m{n}"))["ts"] for n in range(4)]

    exclusive = await client.conversations_history(channel=people.general, oldest=posted[1], latest=posted[3])
    inclusive = await client.conversations_history(
        channel=people.general, oldest=posted[1], latest=posted[3], inclusive=True
    )

    assert [m["text"] for m in exclusive["messages"]] == ["m2"]
    assert [m["text"] for m in inclusive["messages"]] == ["m3", "m2", "m1"]


async def test_history_of_a_channel_the_bot_is_not_in_is_refused_with_not_in_channel(
    client: AsyncWebClient, people: People
) -> None:
    assert await error_of(client.conversations_history(channel=people.random)) == "not_in_channel"


async def test_a_forged_cursor_is_refused_with_invalid_cursor(client: AsyncWebClient, people: People) -> None:
    assert await error_of(client.conversations_history(channel=people.general, cursor="garbage")) == "invalid_cursor"


async def test_replies_list_the_thread_root_then_its_replies(client: AsyncWebClient, people: People) -> None:
    root = await client.chat_postMessage(channel=people.general, text="root")
    await client.chat_postMessage(channel=people.general, text="reply 1", thread_ts=root["ts"])
    await client.chat_postMessage(channel=people.general, text="reply 2", thread_ts=root["ts"])

    thread = await client.conversations_replies(channel=people.general, ts=root["ts"])
    history = await client.conversations_history(channel=people.general)

    assert [m["text"] for m in thread["messages"]] == ["root", "reply 1", "reply 2"]
    assert thread["messages"][0]["reply_count"] == 2
    assert thread["messages"][1]["parent_user_id"] == thread["messages"][0]["user"]
    assert [m["text"] for m in history["messages"]] == ["root"]


async def test_replies_of_an_unknown_message_are_refused_with_thread_not_found(
    client: AsyncWebClient, people: People
) -> None:
    assert await error_of(client.conversations_replies(channel=people.general, ts="1.000001")) == "thread_not_found"


async def test_archiving_twice_is_refused_with_already_archived(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    await client.conversations_archive(channel=people.general)

    assert emu.workspace.channels[people.general].is_archived is True
    assert await error_of(client.conversations_archive(channel=people.general)) == "already_archived"


async def test_members_are_listed_with_pagination(emu: SlackEmulator, client: AsyncWebClient, people: People) -> None:
    first = await client.conversations_members(channel=people.general, limit=2)
    rest = await client.conversations_members(
        channel=people.general, limit=2, cursor=first["response_metadata"]["next_cursor"]
    )

    assert sorted(first["members"] + rest["members"]) == sorted([people.alice, people.bob, emu.bot_user_id])


async def test_info_reports_membership_topic_and_member_count(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    response = await client.conversations_info(channel=people.general, include_num_members=True)

    assert response["channel"]["name"] == "general"
    assert response["channel"]["is_member"] is True
    assert response["channel"]["num_members"] == 3
