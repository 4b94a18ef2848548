"""Block Kit validation: what Slack refuses with `invalid_blocks` (messages) or `invalid_arguments` (views).

Error strings follow Slack's style: ``"<what is wrong> [json-pointer:/blocks/0/text/text]"``.
"""

from __future__ import annotations

import copy
import secrets
import warnings
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

JSON = dict[str, Any]

MESSAGE_MAX_BLOCKS = 50
VIEW_MAX_BLOCKS = 100

BLOCK_TYPES = frozenset(
    {
        "section",
        "divider",
        "image",
        "actions",
        "context",
        "input",
        "header",
        "rich_text",
        "file",
        "video",
        "markdown",
        "call",
        "table",
        "context_actions",
    }
)
ELEMENT_TYPES = frozenset(
    {
        "button",
        "checkboxes",
        "datepicker",
        "datetimepicker",
        "timepicker",
        "email_text_input",
        "url_text_input",
        "number_input",
        "plain_text_input",
        "rich_text_input",
        "file_input",
        "image",
        "overflow",
        "radio_buttons",
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "multi_static_select",
        "multi_external_select",
        "multi_users_select",
        "multi_conversations_select",
        "multi_channels_select",
        "workflow_button",
    }
)
_SELECTS_WITH_OPTIONS = frozenset({"static_select", "multi_static_select"})
_OPTION_LISTS = frozenset({"overflow", "checkboxes", "radio_buttons"})


class _Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.block_ids: set[str] = set()
        self.action_ids: set[str] = set()

    def fail(self, message: str, pointer: str) -> None:
        self.errors.append(f"{message} [json-pointer:{pointer}]")

    # -- composition objects ------------------------------------------------------------------------------
    def text(self, obj: object, ptr: str, *, max_len: int, plain_only: bool = False) -> None:
        if not isinstance(obj, dict):
            self.fail("must be a text object", ptr)
            return
        kinds = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if obj.get("type") not in kinds:
            self.fail(f"must be one of {', '.join(kinds)}", f"{ptr}/type")
        value = obj.get("text")
        if not isinstance(value, str):
            self.fail("must be a string", f"{ptr}/text")
        elif not value:
            self.fail("must be more than 0 characters", f"{ptr}/text")
        elif len(value) > max_len:
            self.fail(f"must be less than {max_len + 1} characters", f"{ptr}/text")

    def option(self, obj: object, ptr: str, *, plain_only: bool) -> None:
        if not isinstance(obj, dict):
            self.fail("must be an option object", ptr)
            return
        self.text(obj.get("text"), f"{ptr}/text", max_len=75, plain_only=plain_only)
        value = obj.get("value")
        if not isinstance(value, str) or not value:
            self.fail("must be a non-empty string", f"{ptr}/value")
        elif len(value) > 150:
            self.fail("must be less than 151 characters", f"{ptr}/value")

    def options(self, options: object, ptr: str, *, max_items: int, plain_only: bool) -> None:
        if not isinstance(options, list) or not options:
            self.fail("must provide at least 1 option", ptr)
            return
        if len(options) > max_items:
            self.fail(f"must provide no more than {max_items} items", ptr)
        for i, option in enumerate(options):
            self.option(option, f"{ptr}/{i}", plain_only=plain_only)

    # -- elements -----------------------------------------------------------------------------------------
    def element(self, el: object, ptr: str) -> None:
        if not isinstance(el, dict):
            self.fail("must be an element object", ptr)
            return
        kind = el.get("type")
        if kind not in ELEMENT_TYPES:
            self.fail(f"unsupported element type: {kind}", f"{ptr}/type")
            return
        if kind == "image":
            return
        action_id = el.get("action_id")
        if action_id is not None:
            if not isinstance(action_id, str) or len(action_id) > 255:
                self.fail("must be a string of at most 255 characters", f"{ptr}/action_id")
            elif action_id in self.action_ids:
                self.fail(f"duplicate action_id: {action_id}", f"{ptr}/action_id")
            else:
                self.action_ids.add(action_id)
        if kind == "button":
            self.text(el.get("text"), f"{ptr}/text", max_len=75, plain_only=True)
            value = el.get("value")
            if value is not None and (not isinstance(value, str) or len(value) > 2000):
                self.fail("must be a string of at most 2000 characters", f"{ptr}/value")
            url = el.get("url")
            if url is not None and (not isinstance(url, str) or len(url) > 3000):
                self.fail("must be a string of at most 3000 characters", f"{ptr}/url")
            if el.get("style") not in (None, "primary", "danger"):
                self.fail("must be one of primary, danger", f"{ptr}/style")
        elif kind in _SELECTS_WITH_OPTIONS:
            if "option_groups" not in el:
                self.options(el.get("options"), f"{ptr}/options", max_items=100, plain_only=True)
        elif kind in _OPTION_LISTS:
            max_items = 5 if kind == "overflow" else 10
            self.options(el.get("options"), f"{ptr}/options", max_items=max_items, plain_only=kind == "overflow")
        if "placeholder" in el:
            self.text(el["placeholder"], f"{ptr}/placeholder", max_len=150, plain_only=True)

    # -- blocks -------------------------------------------------------------------------------------------
    def block(self, block: object, ptr: str) -> None:
        if not isinstance(block, dict):
            self.fail("must be a block object", ptr)
            return
        kind = block.get("type")
        if kind not in BLOCK_TYPES:
            self.fail(f"unsupported block type: {kind}", f"{ptr}/type")
            return
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not block_id or len(block_id) > 255:
                self.fail("must be a string of 1 to 255 characters", f"{ptr}/block_id")
            elif block_id in self.block_ids:
                self.fail(f"duplicate block_id: {block_id}", f"{ptr}/block_id")
            else:
                self.block_ids.add(block_id)
        before = len(self.errors)
        # Slack: an action_id "should be unique among all other action_ids in the containing block"; the same
        # action_id in different blocks is fine (state.values is keyed by block_id first).
        self.action_ids = set()
        getattr(self, f"block_{kind}", self.block_other)(block, ptr)
        if len(self.errors) == before:
            self.sdk_check(block, ptr)

    def block_section(self, block: JSON, ptr: str) -> None:
        if "text" not in block and "fields" not in block:
            self.fail("must provide either text or fields", ptr)
        if "text" in block:
            self.text(block["text"], f"{ptr}/text", max_len=3000)
        if "fields" in block:
            fields = block["fields"]
            if not isinstance(fields, list) or not fields:
                self.fail("must be a non-empty array", f"{ptr}/fields")
            else:
                if len(fields) > 10:
                    self.fail("must provide no more than 10 items", f"{ptr}/fields")
                for i, item in enumerate(fields):
                    self.text(item, f"{ptr}/fields/{i}", max_len=2000)
        if "accessory" in block:
            self.element(block["accessory"], f"{ptr}/accessory")

    def block_header(self, block: JSON, ptr: str) -> None:
        self.text(block.get("text"), f"{ptr}/text", max_len=150, plain_only=True)

    def block_actions(self, block: JSON, ptr: str) -> None:
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            self.fail("must provide at least 1 element", f"{ptr}/elements")
            return
        if len(elements) > 25:
            self.fail("must provide no more than 25 items", f"{ptr}/elements")
        for i, el in enumerate(elements):
            self.element(el, f"{ptr}/elements/{i}")

    def block_context(self, block: JSON, ptr: str) -> None:
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            self.fail("must provide at least 1 element", f"{ptr}/elements")
            return
        if len(elements) > 10:
            self.fail("must provide no more than 10 items", f"{ptr}/elements")
        for i, el in enumerate(elements):
            if isinstance(el, dict) and el.get("type") == "image":
                continue
            self.text(el, f"{ptr}/elements/{i}", max_len=3000)

    def block_input(self, block: JSON, ptr: str) -> None:
        self.text(block.get("label"), f"{ptr}/label", max_len=2000, plain_only=True)
        if "hint" in block:
            self.text(block["hint"], f"{ptr}/hint", max_len=2000, plain_only=True)
        if "element" not in block:
            self.fail("must provide an element", f"{ptr}/element")
        else:
            self.element(block["element"], f"{ptr}/element")

    def block_image(self, block: JSON, ptr: str) -> None:
        if "image_url" not in block and "slack_file" not in block:
            self.fail("must provide image_url or slack_file", ptr)
        if not isinstance(block.get("alt_text"), str):
            self.fail("must be a string", f"{ptr}/alt_text")

    def block_markdown(self, block: JSON, ptr: str) -> None:
        text = block.get("text")
        if not isinstance(text, str) or not text or len(text) > 12000:
            self.fail("must be a string of 1 to 12000 characters", f"{ptr}/text")

    def block_other(self, block: JSON, ptr: str) -> None:
        return

    def sdk_check(self, block: JSON, ptr: str) -> None:
        """slack_sdk's own model validation, as a second opinion (it may only warn for unknown keys)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                parsed = Block.parse(copy.deepcopy(block))
                if parsed is not None:
                    parsed.validate_json()
            except SlackObjectFormationError as exc:
                self.fail(str(exc), ptr)
            except (TypeError, ValueError, KeyError, AttributeError) as exc:
                self.fail(f"invalid block: {exc}", ptr)


def validate_blocks(blocks: object, *, max_blocks: int = MESSAGE_MAX_BLOCKS, pointer: str = "/blocks") -> list[str]:
    """Errors Slack would report for these blocks (empty list = valid)."""
    checker = _Checker()
    if not isinstance(blocks, list):
        checker.fail("must be an array", pointer)
        return checker.errors
    if len(blocks) > max_blocks:
        checker.fail(f"no more than {max_blocks} items allowed", pointer)
    for i, block in enumerate(blocks):
        checker.block(block, f"{pointer}/{i}")
    return checker.errors


def validate_view(view: object, *, home: bool = False) -> list[str]:
    """Errors for a view payload (views.open / push / update / publish)."""
    checker = _Checker()
    if not isinstance(view, dict):
        checker.fail("must be an object", "/view")
        return checker.errors
    expected = "home" if home else "modal"
    allowed = ("home", "modal") if not home else ("home",)
    if view.get("type") not in allowed:
        checker.fail(f"must be {expected}", "/view/type")
    if view.get("type") == "modal":
        checker.text(view.get("title"), "/view/title", max_len=24, plain_only=True)
        for key in ("submit", "close"):
            if view.get(key) is not None:
                checker.text(view[key], f"/view/{key}", max_len=24, plain_only=True)
        has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks") or [])
        if has_input and view.get("submit") is None:
            checker.fail("must provide submit when blocks contain input", "/view/submit")
    for key, limit in (("callback_id", 255), ("private_metadata", 3000), ("external_id", 255)):
        value = view.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            checker.fail(f"must be a string of at most {limit} characters", f"/view/{key}")
    checker.errors.extend(validate_blocks(view.get("blocks"), max_blocks=VIEW_MAX_BLOCKS, pointer="/view/blocks"))
    return checker.errors


def _random_id(length: int = 5) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def with_generated_ids(blocks: list[JSON]) -> list[JSON]:
    """A copy of the blocks as Slack stores them: every block has a block_id, every element an action_id."""
    stored = copy.deepcopy(blocks)
    for block in stored:
        block.setdefault("block_id", _random_id())
        for el in iter_elements(block):
            if el.get("type") != "image" and isinstance(el.get("type"), str):
                el.setdefault("action_id", _random_id(4))
    return stored


def iter_elements(block: JSON) -> list[JSON]:
    """Interactive elements of a block (actions elements, section accessory, input element)."""
    found: list[JSON] = []
    if block.get("type") in ("actions", "context_actions"):
        found.extend(el for el in block.get("elements") or [] if isinstance(el, dict))
    if isinstance(block.get("accessory"), dict):
        found.append(block["accessory"])
    if block.get("type") == "input" and isinstance(block.get("element"), dict):
        found.append(block["element"])
    return found


def find_elements(blocks: list[JSON], action_id: str, block_id: str | None = None) -> list[tuple[JSON, JSON]]:
    """Every (block, element) holding the given action_id (optionally only in the given block)."""
    return [
        (block, el)
        for block in blocks
        if block_id is None or block.get("block_id") == block_id
        for el in iter_elements(block)
        if el.get("action_id") == action_id
    ]


def action_ids(blocks: list[JSON]) -> list[str]:
    return [str(el.get("action_id")) for block in blocks for el in iter_elements(block) if el.get("action_id")]
