"""Block Kit limits Slack enforces with invalid_blocks (notes §5.3)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.emulator.blocks import block_text_length, validate_blocks, validate_view


def text(value: str, kind: str = "plain_text") -> dict[str, Any]:
    return {"type": kind, "text": value}


def option(label: str = "A", value: str = "a") -> dict[str, Any]:
    return {"text": text(label), "value": value}


def button(action_id: str = "b", label: str = "Go", value: str = "v") -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "text": text(label), "value": value}


def select(options: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "static_select", "action_id": "s", "placeholder": text("Pick"), "options": options}


VALID = [
    {"type": "header", "text": text("H" * 150)},
    {"type": "section", "text": text("s" * 3000, "mrkdwn"), "fields": [text("f" * 2000, "mrkdwn")] * 10},
    {"type": "actions", "elements": [button(f"b{i}") for i in range(24)] + [select([option()] * 100)]},
    {"type": "context", "elements": [text("c", "mrkdwn")] * 10},
    {"type": "divider", "block_id": "d" * 255},
    {"type": "actions", "elements": [button("b0")]},  # same action_id as above, but in another block
    {"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": "x"}]}]},
]


def test_blocks_at_every_limit_are_valid() -> None:
    assert validate_blocks(VALID) == []


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        ([{"type": "header", "text": text("H" * 151)}], "/blocks/0/text/text"),
        ([{"type": "header", "text": text("H", "mrkdwn")}], "/blocks/0/text/type"),
        ([{"type": "section", "fields": [text("f", "mrkdwn")] * 11}], "/blocks/0/fields"),
        ([{"type": "section", "fields": [text("f" * 2001, "mrkdwn")]}], "/blocks/0/fields/0/text"),
        ([{"type": "section"}], "/blocks/0"),
        ([{"type": "section", "text": "just a string"}], "/blocks/0/text"),
        ([{"type": "section", "text": {"type": "markdown", "text": "x"}}], "/blocks/0/text/type"),
        ([{"type": "actions", "elements": [button(f"b{i}") for i in range(26)]}], "/blocks/0/elements"),
        ([{"type": "actions", "elements": [button(value="v" * 2001)]}], "/blocks/0/elements/0/value"),
        ([{"type": "actions", "elements": [button(action_id="a" * 256)]}], "/blocks/0/elements/0/action_id"),
        ([{"type": "actions", "elements": [select([option()] * 101)]}], "/blocks/0/elements/0/options"),
        (
            [{"type": "actions", "elements": [select([option(label="L" * 76)])]}],
            "/blocks/0/elements/0/options/0/text/text",
        ),
        (
            [{"type": "actions", "elements": [select([option(value="v" * 151)])]}],
            "/blocks/0/elements/0/options/0/value",
        ),
        ([{"type": "actions", "elements": [{"type": "laser", "action_id": "x"}]}], "/blocks/0/elements/0/type"),
        ([{"type": "divider", "block_id": "d" * 256}], "/blocks/0/block_id"),
        (["not an object"], "/blocks/0"),
    ],
    ids=[
        "header-151",
        "header-mrkdwn",
        "11-fields",
        "field-2001",
        "section-empty",
        "text-not-object",
        "text-bad-type",
        "26-elements",
        "button-value-2001",
        "action-id-256",
        "101-options",
        "option-label-76",
        "option-value-151",
        "unknown-element",
        "block-id-256",
        "block-not-object",
    ],
)
def test_blocks_beyond_a_limit_are_reported_at_their_json_pointer(blocks: list[Any], pointer: str) -> None:
    errors = validate_blocks(blocks)

    assert any(e.endswith(f"[json-pointer:{pointer}]") for e in errors), errors


def test_blocks_that_are_not_a_list_are_reported() -> None:
    assert validate_blocks({"type": "divider"}) == ["must be an array [json-pointer:/blocks]"]


def test_a_modal_with_an_input_needs_a_submit_button() -> None:
    view = {
        "type": "modal",
        "title": text("Declare"),
        "blocks": [{"type": "input", "label": text("Summary"), "element": {"type": "plain_text_input"}}],
    }

    assert validate_view(view) == ["must provide submit when blocks contain input [json-pointer:/view/submit]"]


def test_a_home_view_has_no_title_limits_but_must_be_type_home() -> None:
    assert validate_view({"type": "home", "blocks": []}, home=True) == []
    assert validate_view({"type": "modal", "title": text("x"), "blocks": []}, home=True) == [
        "must be home [json-pointer:/view/type]"
    ]


def confirm(
    title: str = "Sure?", body: str = "It cannot be undone.", yes: str = "Yes", no: str = "No"
) -> dict[str, Any]:
    return {"title": text(title), "text": text(body), "confirm": text(yes), "deny": text(no)}


def text_input(**properties: Any) -> dict[str, Any]:
    return {"type": "input", "label": text("Title"), "element": {"type": "plain_text_input", **properties}}


def with_initial(options: list[dict[str, Any]], initial: dict[str, Any]) -> dict[str, Any]:
    return {**select(options), "initial_option": initial}


STRICT_VALID = [
    {"type": "actions", "elements": [{**button("r"), "confirm": confirm("T" * 100, "x" * 300, "Y" * 30, "N" * 30)}]},
    {"type": "actions", "elements": [with_initial([option("A", "a"), option("B", "b")], option("B", "b"))]},
    text_input(action_id="t", max_length=3000, min_length=3000),
    {
        "type": "actions",
        "elements": [
            {
                "type": "static_select",
                "action_id": "g",
                "option_groups": [{"label": text("Group"), "options": [option("A", "a")]}],
                "initial_option": option("A", "a"),
            }
        ],
    },
    {"type": "section", "text": {"type": "mrkdwn", "text": "v", "verbatim": True}, "expand": True},
]


def test_what_slack_accepts_at_its_strictest_is_valid() -> None:
    assert validate_blocks(STRICT_VALID) == []


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        (
            [{"type": "actions", "elements": [with_initial([option("A", "a")], option("B", "b"))]}],
            "/blocks/0/elements/0/initial_option",
        ),
        (
            [{"type": "actions", "elements": [with_initial([option("A", "a")], option("Not A", "a"))]}],
            "/blocks/0/elements/0/initial_option",
        ),
        ([text_input(max_length=3001)], "/blocks/0/element/max_length"),
        ([text_input(min_length=3001)], "/blocks/0/element/min_length"),
        ([text_input(max_length=0)], "/blocks/0/element/max_length"),
        ([text_input(min_length=10, max_length=5)], "/blocks/0/element/max_length"),
        ([text_input(max_length=3, initial_value="four")], "/blocks/0/element/initial_value"),
        (
            [{"type": "actions", "elements": [{**button(), "confirm": confirm(body="x" * 301)}]}],
            "/blocks/0/elements/0/confirm/text/text",
        ),
        (
            [{"type": "actions", "elements": [{**button(), "confirm": confirm(title="T" * 101)}]}],
            "/blocks/0/elements/0/confirm/title/text",
        ),
        (
            [{"type": "actions", "elements": [{**button(), "confirm": confirm(yes="Y" * 31)}]}],
            "/blocks/0/elements/0/confirm/confirm/text",
        ),
        (
            [{"type": "actions", "elements": [{**button(), "confirm": {**confirm(), "colour": "red"}}]}],
            "/blocks/0/elements/0/confirm/colour",
        ),
        ([{"type": "divider", "colour": "red"}], "/blocks/0/colour"),
        ([{"type": "section", "text": text("s"), "url": "https://x"}], "/blocks/0/url"),
        (
            [{"type": "actions", "elements": [{**button(), "initial_option": option()}]}],
            "/blocks/0/elements/0/initial_option",
        ),
        ([{"type": "header", "text": {**text("H"), "verbatim": True}}], "/blocks/0/text/verbatim"),
        (
            [{"type": "actions", "elements": [select([{**option(), "selected": True}])]}],
            "/blocks/0/elements/0/options/0/selected",
        ),
    ],
    ids=[
        "initial-option-not-offered",
        "initial-option-other-label",
        "max-length-3001",
        "min-length-3001",
        "max-length-0",
        "max-below-min",
        "initial-value-over-max",
        "confirm-text-301",
        "confirm-title-101",
        "confirm-button-31",
        "confirm-unknown-property",
        "block-unknown-property",
        "section-unknown-property",
        "element-unknown-property",
        "plain-text-verbatim",
        "option-unknown-property",
    ],
)
def test_what_slack_refuses_beyond_field_limits_is_reported_at_its_json_pointer(
    blocks: list[Any], pointer: str
) -> None:
    errors = validate_blocks(blocks)

    assert any(e.endswith(f"[json-pointer:{pointer}]") for e in errors), errors


def test_the_text_a_message_carries_is_every_text_string_of_its_blocks_at_any_depth() -> None:
    blocks = [
        {"type": "header", "text": text("H" * 10)},
        {"type": "section", "text": text("s" * 100, "mrkdwn"), "fields": [text("f" * 20, "mrkdwn")] * 2},
        {"type": "actions", "elements": [button(label="Go"), select([option("Option", "value-not-counted")])]},
        {"type": "context", "elements": [text("c" * 5, "mrkdwn")]},
        {
            "type": "rich_text",
            "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": "rt"}]}],
        },
    ]

    assert block_text_length(blocks) == 10 + 100 + 40 + len("Go") + len("Pick") + len("Option") + 5 + 2
