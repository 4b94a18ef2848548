"""views.*: trigger_id rules, view validation, hashes, and what a view_submission ack does to the modal."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import SlackEmulator

from .conftest import People, Received, Receiver, error_of


def modal(title: str = "Declare incident", **extra: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "declare",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Declare"},
        "blocks": [
            {
                "type": "input",
                "block_id": "summary",
                "label": {"type": "plain_text", "text": "Summary"},
                "element": {"type": "plain_text_input", "action_id": "value"},
            },
            {
                "type": "input",
                "block_id": "severity",
                "optional": True,
                "label": {"type": "plain_text", "text": "Severity"},
                "element": {
                    "type": "static_select",
                    "action_id": "value",
                    "options": [
                        {"text": {"type": "plain_text", "text": "SEV1"}, "value": "sev1"},
                        {"text": {"type": "plain_text", "text": "SEV2"}, "value": "sev2"},
                    ],
                },
            },
        ],
        **extra,
    }


async def trigger_from_command(emu: SlackEmulator, receiver: Receiver, people: People) -> str:
    await emu.send_command(people.alice, people.general, "/incident", "declare")
    return receiver.requests[-1].form["trigger_id"]


async def test_a_fresh_trigger_id_opens_a_modal_for_the_person_who_triggered_it(
    emu: SlackEmulator, client: AsyncWebClient, people: People, receiver: Receiver
) -> None:
    trigger_id = await trigger_from_command(emu, receiver, people)

    response = await client.views_open(trigger_id=trigger_id, view=modal())

    view = emu.views[response["view"]["id"]]
    assert response["view"]["id"].startswith("V")
    assert response["view"]["root_view_id"] == response["view"]["id"]
    assert response["view"]["hash"] == view.hash
    assert response["view"]["state"] == {"values": {}}
    assert view.user == people.alice
    assert view.callback_id == "declare"
    assert view.trigger_id == trigger_id


async def test_a_trigger_id_used_twice_is_refused_with_exchanged_trigger_id(
    emu: SlackEmulator, client: AsyncWebClient, people: People, receiver: Receiver
) -> None:
    trigger_id = await trigger_from_command(emu, receiver, people)
    await client.views_open(trigger_id=trigger_id, view=modal())

    assert await error_of(client.views_open(trigger_id=trigger_id, view=modal())) == "exchanged_trigger_id"


async def test_a_trigger_id_older_than_its_lifetime_is_refused_with_expired_trigger_id(receiver: Receiver) -> None:
    async with SlackEmulator(trigger_ttl=0.05) as emu:
        alice = emu.add_user("alice")
        general = emu.add_channel("general", members=[alice])
        emu.set_request_url(receiver.url)
        await emu.send_command(alice, general, "/incident", "declare")
        trigger_id = receiver.requests[-1].form["trigger_id"]
        client = AsyncWebClient(token=emu.bot_token, base_url=emu.api_url)

        await asyncio.sleep(0.1)  # the behaviour under test is the trigger's lifetime

        assert await error_of(client.views_open(trigger_id=trigger_id, view=modal())) == "expired_trigger_id"


async def test_a_trigger_id_the_emulator_never_issued_is_refused_with_invalid_trigger_id(
    client: AsyncWebClient,
) -> None:
    call = client.views_open(trigger_id="12345.98765.abcd2358fdea", view=modal())

    assert await error_of(call) == "invalid_trigger_id"


async def test_opening_a_view_without_a_trigger_id_is_invalid_arguments(client: AsyncWebClient) -> None:
    assert await error_of(client.api_call("views.open", json={"view": modal()})) == "invalid_arguments"


@pytest.mark.parametrize(
    "view",
    [
        modal(title="A title that is far too long for Slack"),
        {**modal(), "type": "sheet"},
        {**modal(), "blocks": [{"type": "divider"}] * 101},
        {**modal(), "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": ""}}]},
    ],
    ids=["title-over-24", "not-a-modal", "101-blocks", "empty-section"],
)
async def test_an_invalid_view_is_refused_with_invalid_arguments_and_keeps_the_trigger(
    emu: SlackEmulator, client: AsyncWebClient, people: People, receiver: Receiver, view: dict[str, Any]
) -> None:
    trigger_id = await trigger_from_command(emu, receiver, people)

    with pytest.raises(SlackApiError) as failure:
        await client.views_open(trigger_id=trigger_id, view=view)

    assert failure.value.response["error"] == "invalid_arguments"
    assert failure.value.response["response_metadata"]["messages"][0].startswith("[ERROR] ")
    assert (await client.views_open(trigger_id=trigger_id, view=modal()))["ok"] is True


async def test_a_view_over_250kb_is_refused_with_view_too_large(
    emu: SlackEmulator, client: AsyncWebClient, people: People, receiver: Receiver
) -> None:
    trigger_id = await trigger_from_command(emu, receiver, people)
    huge = {**modal(), "private_metadata": "x" * 260_000}

    assert await error_of(client.views_open(trigger_id=trigger_id, view=huge)) == "view_too_large"


async def test_the_view_may_arrive_as_a_json_string(
    emu: SlackEmulator, client: AsyncWebClient, people: People, receiver: Receiver
) -> None:
    trigger_id = await trigger_from_command(emu, receiver, people)

    response = await client.api_call("views.open", data={"trigger_id": trigger_id, "view": json.dumps(modal())})

    assert response["view"]["callback_id"] == "declare"


async def test_updating_a_view_with_a_stale_hash_is_refused_with_hash_conflict(
    emu: SlackEmulator, client: AsyncWebClient, people: People, receiver: Receiver
) -> None:
    opened = await client.views_open(trigger_id=await trigger_from_command(emu, receiver, people), view=modal())
    view_id, first_hash = opened["view"]["id"], opened["view"]["hash"]
    updated = await client.views_update(view_id=view_id, hash=first_hash, view=modal(title="Step 2"))

    call = client.views_update(view_id=view_id, hash=first_hash, view=modal(title="Step 3"))

    assert updated["view"]["hash"] != first_hash
    assert emu.views[view_id].view["title"]["text"] == "Step 2"
    assert await error_of(call) == "hash_conflict"


async def test_updating_an_unknown_view_is_refused_with_not_found(client: AsyncWebClient) -> None:
    assert await error_of(client.views_update(view_id="V404", view=modal())) == "not_found"


async def test_a_view_can_be_updated_by_external_id(
    emu: SlackEmulator, client: AsyncWebClient, people: People, receiver: Receiver
) -> None:
    trigger_id = await trigger_from_command(emu, receiver, people)
    opened = await client.views_open(trigger_id=trigger_id, view=modal(external_id="declare-1"))

    await client.views_update(external_id="declare-1", view=modal(title="Updated", external_id="declare-1"))

    assert emu.views[opened["view"]["id"]].view["title"]["text"] == "Updated"


async def test_publishing_a_home_tab_keeps_one_view_per_user(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    home = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Open incidents"}}]}

    first = await client.views_publish(user_id=people.alice, view=home)
    second = await client.views_publish(user_id=people.alice, view=home)

    assert first["view"]["id"] == second["view"]["id"]
    assert first["view"]["type"] == "home"


async def submission_receiver(receiver: Receiver, ack: dict[str, Any] | None) -> None:
    async def answer(request: Received) -> web.StreamResponse:
        if "payload" in request.form and request.payload["type"] == "view_submission" and ack is not None:
            return web.json_response(ack)
        return web.Response(text="")

    receiver.answer = answer


async def open_declare_modal(emu: SlackEmulator, client: AsyncWebClient, people: People, receiver: Receiver) -> str:
    opened = await client.views_open(trigger_id=await trigger_from_command(emu, receiver, people), view=modal())
    return str(opened["view"]["id"])


async def test_submitting_a_view_sends_its_state_and_an_empty_ack_closes_it(
    emu: SlackEmulator, client: AsyncWebClient, people: People, receiver: Receiver
) -> None:
    view_id = await open_declare_modal(emu, client, people, receiver)

    delivery = await emu.submit_view(
        people.alice,
        view_id,
        values={"summary": {"value": {"type": "plain_text_input", "value": "API 500s"}}, "severity": {"value": "sev1"}},
    )

    payload = receiver.requests[-1].payload
    assert delivery.status == 200
    assert payload["type"] == "view_submission"
    assert payload["user"]["id"] == people.alice
    assert payload["view"]["id"] == view_id
    assert payload["view"]["callback_id"] == "declare"
    assert payload["view"]["state"]["values"]["summary"]["value"] == {"type": "plain_text_input", "value": "API 500s"}
    assert payload["view"]["state"]["values"]["severity"]["value"]["selected_option"]["value"] == "sev1"
    assert emu.views[view_id].is_open is False


async def test_an_errors_ack_keeps_the_view_open_with_the_errors(
    emu: SlackEmulator, client: AsyncWebClient, people: People, receiver: Receiver
) -> None:
    view_id = await open_declare_modal(emu, client, people, receiver)
    await submission_receiver(receiver, {"response_action": "errors", "errors": {"summary": "Too vague"}})

    delivery = await emu.submit_view(people.alice, view_id, values={"summary": {"value": "stuff"}})

    assert delivery.json() == {"response_action": "errors", "errors": {"summary": "Too vague"}}
    assert emu.views[view_id].is_open is True
    assert emu.views[view_id].errors == {"summary": "Too vague"}


async def test_an_update_ack_replaces_the_view(
    emu: SlackEmulator, client: AsyncWebClient, people: People, receiver: Receiver
) -> None:
    view_id = await open_declare_modal(emu, client, people, receiver)
    await submission_receiver(receiver, {"response_action": "update", "view": modal(title="Declared")})

    await emu.submit_view(people.alice, view_id, values={"summary": {"value": "API 500s"}})

    assert emu.views[view_id].is_open is True
    assert emu.views[view_id].view["title"]["text"] == "Declared"


async def test_submitting_without_a_required_input_is_impossible(
    emu: SlackEmulator, client: AsyncWebClient, people: People, receiver: Receiver
) -> None:
    view_id = await open_declare_modal(emu, client, people, receiver)

    with pytest.raises(ValueError, match="required input 'summary'"):
        await emu.submit_view(people.alice, view_id, values={})


async def test_a_view_submission_trigger_can_push_a_view_onto_the_stack(
    emu: SlackEmulator, client: AsyncWebClient, people: People, receiver: Receiver
) -> None:
    view_id = await open_declare_modal(emu, client, people, receiver)
    await submission_receiver(receiver, {"response_action": "errors", "errors": {"summary": "x"}})
    await emu.submit_view(people.alice, view_id, values={"summary": {"value": "API"}})
    trigger_id = receiver.requests[-1].payload["trigger_id"]

    pushed = await client.views_push(trigger_id=trigger_id, view=modal(title="Confirm"))

    assert pushed["view"]["previous_view_id"] == view_id
    assert pushed["view"]["root_view_id"] == view_id
