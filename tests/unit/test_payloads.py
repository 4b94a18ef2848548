"""Turning Slack's payloads into typed requests."""

from bot.slack.ids import ActionId
from bot.slack.markup import from_slack
from bot.slack.payloads import action_request, mentioned_user, open_modal_submission


def test_escaped_command_text_reads_as_the_person_typed_it() -> None:
    assert from_slack("API &lt;500&gt; &amp; login for <@U1|ann> in <#C1|ops>") == "API <500> & login for @ann in #ops"


def test_links_keep_their_address_so_a_label_cannot_hide_it() -> None:
    assert from_slack("see <https://status.example.com|status page> and <https://x.example>") == (
        "see status page (https://status.example.com) and https://x.example"
    )


def test_the_mentioned_user_is_found_with_or_without_a_name() -> None:
    assert mentioned_user("<@U0ABC123|bob>") == "U0ABC123"
    assert mentioned_user("to <@W0XYZ>") == "W0XYZ"
    assert mentioned_user("@bob") is None


def test_a_card_button_names_the_channel_it_was_clicked_in_and_the_click() -> None:
    body = {
        "type": "block_actions",
        "team": {"id": "T1"},
        "user": {"id": "U1"},
        "channel": {"id": "C9"},
        "actions": [
            {
                "action_id": ActionId.RESOLVE,
                "block_id": "incident.card.42",
                "type": "button",
                "value": "42",
                "action_ts": "1712345678.123456",
            }
        ],
    }

    request = action_request(body)

    assert (request.team_id, request.user_id, request.channel_id) == ("T1", "U1", "C9")
    assert (request.action_id, request.value) == (ActionId.RESOLVE, "42")
    assert request.request_key == f"action:1712345678.123456:U1:{ActionId.RESOLVE}"


def test_a_severity_select_carries_the_chosen_option() -> None:
    body = {
        "team": {"id": "T1"},
        "user": {"id": "U1"},
        "container": {"channel_id": "C9"},
        "actions": [
            {
                "action_id": ActionId.SEVERITY,
                "block_id": "incident.card.7",
                "type": "static_select",
                "selected_option": {"value": "sev1"},
            }
        ],
    }

    request = action_request(body)

    assert (request.channel_id, request.value) == ("C9", "sev1")
    assert request.request_key is None  # no action_ts: nothing to tell a replay by


def test_a_submitted_open_form_yields_its_fields() -> None:
    body = {
        "team": {"id": "T1"},
        "user": {"id": "U1"},
        "view": {
            "id": "V1",
            "private_metadata": "C5",
            "state": {
                "values": {
                    "title": {"value": {"type": "plain_text_input", "value": "Checkout down"}},
                    "severity": {"value": {"type": "static_select", "selected_option": {"value": "sev2"}}},
                    "description": {"value": {"type": "plain_text_input", "value": None}},
                }
            },
        },
    }

    submission = open_modal_submission(body)

    assert (submission.view_id, submission.origin_channel) == ("V1", "C5")
    assert (submission.title, submission.severity, submission.description) == ("Checkout down", "sev2", "")
