"""A workspace as strict and as messy as Slack's: what its admins restrict, the people Slack will not add to a channel,
the pin limit, and Slack's rate limits (HTTP 429 with Retry-After, or HTTP 200 `rate_limited`)."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import SlackEmulator

from .conftest import People, error_of


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(emu: SlackEmulator) -> Clock:
    frozen = Clock()
    emu.workspace.limits.clock = frozen
    return frozen


async def refusal(call: object) -> tuple[int, dict[str, str], dict[str, object]]:
    """(HTTP status, headers, body) of a call Slack refuses."""
    with pytest.raises(SlackApiError) as refused:
        await call  # type: ignore[misc]
    response = refused.value.response
    return response.status_code, dict(response.headers), dict(response.data)  # type: ignore[arg-type]


# -- what admins restrict ------------------------------------------------------------------------------------


async def test_channel_creation_restricted_by_an_admin_is_refused_with_restricted_action_and_nothing_is_created(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    emu.workspace.policy.restrict("conversations.create")

    code = await error_of(client.conversations_create(name="inc-1"))

    assert code == "restricted_action"
    assert emu.channel_by_name("inc-1") is None


def test_only_methods_slack_documents_restricted_action_for_can_be_restricted(emu: SlackEmulator) -> None:
    with pytest.raises(ValueError, match="restricted_action"):
        emu.workspace.policy.restrict("conversations.invite")


async def test_file_uploads_disabled_by_an_admin_refuse_an_upload_url(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    emu.workspace.policy.file_uploads = False

    code = await error_of(client.files_getUploadURLExternal(filename="report.md", length=10))

    assert code == "file_uploads_disabled"


async def test_a_channel_with_a_hundred_pins_refuses_one_more(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    emu.workspace.limits.enabled = False  # a hundred posts in a moment: not what this test is about
    posted = [(await client.chat_postMessage(channel=people.general, text=f"n{n}"))["ts"] for n in range(101)]
    for ts in posted[:100]:
        await client.pins_add(channel=people.general, timestamp=ts)

    code = await error_of(client.pins_add(channel=people.general, timestamp=posted[100]))

    assert code == "too_many_pins"
    assert len(emu.workspace.channels[people.general].pins) == 100


# -- people Slack will not add -------------------------------------------------------------------------------


async def test_an_invitation_naming_someone_slack_will_not_add_adds_no_one_and_names_each_refused_person(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    guest = emu.add_user("gina")
    outsider = emu.add_user("omar")
    emu.workspace.policy.refuse_invites(guest, "user_is_restricted")
    emu.workspace.policy.refuse_invites(outsider, "cant_invite")
    channel = emu.add_channel("incident", members=[emu.bot_user_id])

    status, _, body = await refusal(client.conversations_invite(channel=channel, users=[people.alice, guest, outsider]))

    assert status == 200
    assert body["error"] == "user_is_restricted"
    assert body["errors"] == [
        {"user": guest, "ok": False, "error": "user_is_restricted"},
        {"user": outsider, "ok": False, "error": "cant_invite"},
    ]
    assert emu.workspace.channels[channel].members == {emu.bot_user_id}  # all or nothing, as Slack does


def test_only_errors_slack_answers_for_one_person_can_be_set_for_invitations(emu: SlackEmulator) -> None:
    with pytest.raises(ValueError, match="does not answer"):
        emu.workspace.policy.refuse_invites(emu.add_user("gina"), "is_archived")


# -- rate limits ---------------------------------------------------------------------------------------------


async def test_posting_in_one_channel_is_limited_to_a_short_burst_then_one_a_second_with_retry_after(
    emu: SlackEmulator, client: AsyncWebClient, people: People, clock: Clock
) -> None:
    for n in range(6):
        await client.chat_postMessage(channel=people.general, text=f"burst {n}")

    status, headers, body = await refusal(client.chat_postMessage(channel=people.general, text="one too many"))
    clock.now += 1.0
    later = await client.chat_postMessage(channel=people.general, text="a second later")

    assert (status, headers["Retry-After"], body["error"]) == (429, "1", "ratelimited")
    assert later["ok"] is True
    assert "one too many" not in [m.text for m in emu.workspace.channels[people.general].messages]


async def test_posting_in_another_channel_has_its_own_allowance(
    emu: SlackEmulator, client: AsyncWebClient, people: People, clock: Clock
) -> None:
    other = emu.add_channel("other", members=[emu.bot_user_id])
    for n in range(6):
        await client.chat_postMessage(channel=people.general, text=f"burst {n}")

    answer = await client.chat_postMessage(channel=other, text="elsewhere")

    assert answer["ok"] is True


async def test_creating_channels_is_tier_2_twenty_a_minute_then_retry_after_three_seconds(
    emu: SlackEmulator, client: AsyncWebClient, clock: Clock
) -> None:
    for n in range(20):
        await client.conversations_create(name=f"inc-{n}")

    status, headers, body = await refusal(client.conversations_create(name="inc-20"))
    clock.now += 3.0
    later = await client.conversations_create(name="inc-20")

    assert (status, headers["Retry-After"], body["error"]) == (429, "3", "ratelimited")
    assert later["ok"] is True


async def test_a_client_with_slack_sdks_rate_limit_handler_gets_through_by_waiting_as_told(
    emu: SlackEmulator, people: People
) -> None:
    from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler

    patient = AsyncWebClient(
        token=emu.bot_token, base_url=emu.api_url, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)]
    )

    answers = [await patient.chat_postMessage(channel=people.general, text=f"n{n}") for n in range(8)]

    assert all(a["ok"] for a in answers)
    assert 429 in [c.http_status for c in emu.calls_to("chat.postMessage")]


async def test_http_200_rate_limited_is_answered_as_slack_does_for_posting_too_many_messages(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    emu.fail_next("chat.postMessage", error="rate_limited")

    status, headers, body = await refusal(client.chat_postMessage(channel=people.general, text="hello"))

    assert (status, body) == (200, {"ok": False, "error": "rate_limited"})
    assert "Retry-After" not in headers


async def test_lifting_the_limits_lets_every_call_through(
    emu: SlackEmulator, client: AsyncWebClient, people: People, clock: Clock
) -> None:
    emu.workspace.limits.enabled = False

    answers = [await client.chat_postMessage(channel=people.general, text=f"n{n}") for n in range(30)]

    assert all(a["ok"] for a in answers)
