"""What people type is shown as they typed it, and never becomes live markup in the bot's voice: no broadcast,
no link hiding its address behind a label, in any field, wherever the bot sends it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bot.app import IncidentBot
from bot.emulator import SlackEmulator
from bot.slack.ids import CallbackId
from tests.conftest import People, write_config

from .steps import incident_channels, open_incident, run, wait_for_private
from .test_open_form import filled, open_form

# As Slack delivers it (sent with markup=True): what a person typed as "@channel", "@here", a user group and
# "@everyone" comes as markup; a typed "<http://evil.example|click here>" comes escaped; a link made with Slack's
# formatting comes as markup.
HOSTILE = (
    "<!channel> <!here> <!subteam^S0PAGE|@oncall> &lt;http://evil.example|click here&gt; "
    "<http://evil.example|real label> @everyone"
)
# The same, as typed (in the message box, or in a modal's text input, which gives plain text with no markup).
HOSTILE_PLAIN = "@channel @here <!channel> <http://evil.example|click here> @everyone"

LIVE = re.compile(r"<!(channel|here|everyone|subteam)|<(https?://|mailto:)[^<>|]*evil\.example[^<>|]*\|")
PLAIN_PING = re.compile(r"(?<![\u200b\w])@(channel|here|everyone)\b")

CONFIG = (Path(__file__).resolve().parents[2] / "app.yaml").read_text(encoding="utf-8")


@pytest.fixture
def announcements(emulator: SlackEmulator, people: People) -> str:
    return emulator.add_channel("incidents", members=[people.alice, people.bob, people.carol])


@pytest.fixture
def config_path(tmp_path: Path, announcements: str) -> Path:
    text = CONFIG.replace("announcement_channel: null", f"announcement_channel: {announcements}")
    text = text.replace('topic_template: "{public_id} |', 'topic_template: "{public_id} {title} |')
    return write_config(tmp_path, text)


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        try:  # blocks, views and metadata may arrive JSON-encoded
            decoded = json.loads(value)
        except ValueError:
            return [value]
        return [value] if isinstance(decoded, str | int | float) or decoded is None else strings(decoded)
    if isinstance(value, dict):
        if value.get("type") == "plain_text":
            return []  # Slack shows plain_text fields literally: no markup can be live there
        # private_metadata is the bot's own memo, never shown to anyone
        return [s for k, v in value.items() if k != "private_metadata" for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def everything_the_bot_sent(emulator: SlackEmulator) -> list[tuple[str, str]]:
    """(where, text) for every string the bot sent to Slack: Web API arguments, response_url posts, file contents."""
    sent = [(call.method, s) for call in emulator.calls for s in strings(call.args)]
    sent += [("response_url", s) for post in emulator.responses for s in strings(post.payload)]
    sent += [
        (f"file {f.filename}", (f.content or b"").decode("utf-8", "replace")) for f in emulator.workspace.files.values()
    ]
    return sent


def assert_nothing_live(emulator: SlackEmulator) -> None:
    sent = everything_the_bot_sent(emulator)
    live = [(where, text[:300]) for where, text in sent if LIVE.search(text) or PLAIN_PING.search(text)]
    assert live == []
    assert any("evil.example" in text for _, text in sent)  # the text was sent, shown as typed


async def test_a_title_a_note_and_chat_with_markup_are_shown_as_typed_everywhere(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, f"sev2 {HOSTILE}", markup=True)
    await run(emulator, people.alice, channel.id, f"note {HOSTILE}", markup=True)
    await run(emulator, people.alice, channel.id, f"note {HOSTILE_PLAIN}")
    said = await emulator.post_message(
        people.alice, channel.id, f"Timeout waiting for connection from pool {HOSTILE}", markup=True
    )
    typed = await emulator.post_message(people.alice, channel.id, f"Timeout waiting for connection {HOSTILE_PLAIN}")
    await emulator.react(people.alice, channel.id, said.ts, "pushpin")
    await emulator.react(people.alice, channel.id, typed.ts, "pushpin")
    await run(emulator, people.alice, channel.id, "severity sev1")
    await run(emulator, people.alice, channel.id, f"severity {HOSTILE}", markup=True)
    await run(emulator, people.alice, channel.id, HOSTILE, markup=True)  # an unknown subcommand: the help
    await run(emulator, people.alice, channel.id, "timeline")
    await run(emulator, people.alice, people.general, "status")
    await run(emulator, people.alice, channel.id, "suggest")
    await run(emulator, people.alice, channel.id, "report")
    await wait_for_private(emulator, people.alice, "of the report of")
    await run(emulator, people.alice, channel.id, "resolve")
    await emulator.wait_for(lambda: any("Final" in m.text for m in channel.messages), what="the final report")
    await emulator.wait_idle()

    assert_nothing_live(emulator)
    assert "real label (http://evil.example)" in channel.topic  # the topic has the title, its link unhidden


async def test_a_title_and_description_from_the_form_are_shown_as_typed(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    form = await open_form(emulator, people.alice, people.general)

    await emulator.submit_view(people.alice, form.id, filled(HOSTILE_PLAIN, "sev2", HOSTILE_PLAIN))
    await emulator.wait_for(lambda: any(c.pins for c in incident_channels(emulator)), what="the card")
    await emulator.wait_idle()

    assert_nothing_live(emulator)


async def test_a_message_added_with_the_shortcut_is_shown_as_typed_in_the_form_and_the_timeline(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Shortcut outage")
    elsewhere = await emulator.post_message(people.carol, people.general, HOSTILE, markup=True)

    await emulator.message_shortcut(people.carol, people.general, elsewhere.ts, CallbackId.ADD_TO_TIMELINE)
    await emulator.wait_for(
        lambda: any(v.callback_id == CallbackId.ADD_TO_TIMELINE_FORM for v in emulator.views.values())
    )
    form = next(v for v in emulator.views.values() if v.callback_id == CallbackId.ADD_TO_TIMELINE_FORM)
    await emulator.submit_view(people.carol, form.id, {"kind": {"value": "impact"}})
    await run(emulator, people.alice, channel.id, "timeline")
    await wait_for_private(emulator, people.alice, "Timeline of")

    assert_nothing_live(emulator)


async def test_a_link_typed_in_code_stays_dead_when_the_report_is_posted_as_thread_replies(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Phishing in code")
    typed = (  # Slack delivers it with < and > escaped, and makes no link inside a code span or a code block
        "reset here `<https://evil.example/reset|https://sso.company.com/reset>` "
        "```<mailto:attacker@evil.example|security@company.com>```"
    )
    said = await emulator.post_message(people.alice, channel.id, typed)
    await emulator.react(people.alice, channel.id, said.ts, "pushpin")
    emulator.fail_next("files.getUploadURLExternal", error="restricted_action")  # the report goes to the thread

    await run(emulator, people.alice, channel.id, "report")
    await wait_for_private(emulator, people.alice, "of the report of")
    await emulator.wait_idle()

    threaded = [c for c in emulator.calls_to("chat.postMessage") if c.args.get("thread_ts")]
    assert threaded  # the report was posted as thread replies
    assert_nothing_live(emulator)
