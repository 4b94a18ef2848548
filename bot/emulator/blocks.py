"""Block Kit validation: what Slack refuses with `invalid_blocks` (messages) or `invalid_arguments` (views).

Error strings follow Slack's style: ``"<what is wrong> [json-pointer:/blocks/0/text/text]"``. Besides the limits of
each field (notes §5.3), Slack refuses a property a block or element does not have (the properties each type has
are slack_sdk's model attributes), an `initial_option` that is not one of the options, a `plain_text_input` whose
`max_length` is over 3,000, and a confirm dialog over its limits (title 100, text 300, buttons 30). A message's
blocks also have a budget of text in all (`block_text_length`, answered with `msg_blocks_too_long`).
"""

from __future__ import annotations

import copy
import secrets
import warnings
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.basic_objects import JsonObject
from slack_sdk.models.blocks import Block, BlockElement, TextObject

JSON = dict[str, Any]

MESSAGE_MAX_BLOCKS = 50
VIEW_MAX_BLOCKS = 100
# Slack refuses a message whose blocks carry more text than this in all (msg_blocks_too_long), even when every block
# is within its own limits. The limit is not documented: it was observed at about 13,200 characters (bolt-js issue
# #2509: 13,297 with markdown blocks only, less with other blocks); Slack's staff speak of "12,000 text characters
# with a buffer for block containers". Measured here as the characters of every `text` string in the blocks.
MESSAGE_MAX_BLOCK_TEXT = 13_200
INPUT_MAX_LENGTH = 3000  # plain_text_input max_length / min_length

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


def _subclasses(cls: type[JsonObject]) -> list[type[JsonObject]]:
    return [c for sub in cls.__subclasses__() for c in (sub, *_subclasses(sub))]


def _properties(base: type[JsonObject]) -> dict[str, frozenset[str]]:
    """type -> the properties an object of that type may have, from slack_sdk's models (their `attributes`, which
    depend on the class only: read from an instance made without arguments)."""
    found: dict[str, set[str]] = {}
    for cls in _subclasses(base):
        kind = getattr(cls, "type", None)
        if isinstance(kind, str) and kind:
            found.setdefault(kind, set()).update(object.__new__(cls).attributes)
    return {kind: frozenset(names) for kind, names in found.items()}


BLOCK_PROPERTIES = _properties(Block)
ELEMENT_PROPERTIES = _properties(BlockElement)
TEXT_PROPERTIES = _properties(TextObject)
OPTION_PROPERTIES = frozenset({"text", "value", "description", "url"})
OPTION_GROUP_PROPERTIES = frozenset({"label", "options"})
CONFIRM_PROPERTIES = frozenset({"title", "text", "confirm", "deny", "style"})


def block_text_length(blocks: object) -> int:
    """The characters of text a message's blocks carry in all (every `text` string, at any depth)."""
    if isinstance(blocks, list):
        return sum(block_text_length(item) for item in blocks)
    if isinstance(blocks, dict):
        return sum(
            len(value) if key == "text" and isinstance(value, str) else block_text_length(value)
            for key, value in blocks.items()
        )
    return 0


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
        else:
            self.known(obj, TEXT_PROPERTIES[str(obj["type"])], ptr)
        value = obj.get("text")
        if not isinstance(value, str):
            self.fail("must be a string", f"{ptr}/text")
        elif not value:
            self.fail("must be more than 0 characters", f"{ptr}/text")
        elif len(value) > max_len:
            self.fail(f"must be less than {max_len + 1} characters", f"{ptr}/text")

    def known(self, obj: JSON, properties: frozenset[str], ptr: str) -> None:
        """Slack refuses a property the object's type does not have."""
        for key in obj:
            if key not in properties:
                self.fail(f"invalid additional property: {key}", f"{ptr}/{key}")

    def confirm(self, obj: object, ptr: str) -> None:
        if not isinstance(obj, dict):
            self.fail("must be a confirmation dialog object", ptr)
            return
        self.known(obj, CONFIRM_PROPERTIES, ptr)
        self.text(obj.get("title"), f"{ptr}/title", max_len=100, plain_only=True)
        self.text(obj.get("text"), f"{ptr}/text", max_len=300)
        self.text(obj.get("confirm"), f"{ptr}/confirm", max_len=30, plain_only=True)
        self.text(obj.get("deny"), f"{ptr}/deny", max_len=30, plain_only=True)
        if obj.get("style") not in (None, "primary", "danger"):
            self.fail("must be one of primary, danger", f"{ptr}/style")

    def option(self, obj: object, ptr: str, *, plain_only: bool) -> None:
        if not isinstance(obj, dict):
            self.fail("must be an option object", ptr)
            return
        self.known(obj, OPTION_PROPERTIES, ptr)
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

    def initial_options(self, el: JSON, ptr: str) -> None:
        """`initial_option` / `initial_options` must each be exactly one of the element's options."""
        choices = [o for o in el.get("options") or [] if isinstance(o, dict)]
        for group in el.get("option_groups") or []:
            if isinstance(group, dict):
                choices += [o for o in group.get("options") or [] if isinstance(o, dict)]
        offered = [_option_key(o) for o in choices]
        if "initial_option" in el and _option_key(el["initial_option"]) not in offered:
            self.fail("must match one of the provided options", f"{ptr}/initial_option")
        initial = el.get("initial_options")
        if initial is not None:
            if not isinstance(initial, list):
                self.fail("must be an array", f"{ptr}/initial_options")
                return
            for i, option in enumerate(initial):
                if _option_key(option) not in offered:
                    self.fail("must match one of the provided options", f"{ptr}/initial_options/{i}")

    # -- elements -----------------------------------------------------------------------------------------
    def element(self, el: object, ptr: str) -> None:
        if not isinstance(el, dict):
            self.fail("must be an element object", ptr)
            return
        kind = el.get("type")
        if kind not in ELEMENT_TYPES:
            self.fail(f"unsupported element type: {kind}", f"{ptr}/type")
            return
        self.known(el, ELEMENT_PROPERTIES.get(str(kind), frozenset(el)), ptr)
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
            else:
                self.option_groups(el["option_groups"], f"{ptr}/option_groups")
            self.initial_options(el, ptr)
        elif kind in _OPTION_LISTS:
            max_items = 5 if kind == "overflow" else 10
            self.options(el.get("options"), f"{ptr}/options", max_items=max_items, plain_only=kind == "overflow")
            self.initial_options(el, ptr)
        elif kind == "plain_text_input":
            self.input_lengths(el, ptr)
        if "placeholder" in el:
            self.text(el["placeholder"], f"{ptr}/placeholder", max_len=150, plain_only=True)
        if "confirm" in el:
            self.confirm(el["confirm"], f"{ptr}/confirm")

    def option_groups(self, groups: object, ptr: str) -> None:
        if not isinstance(groups, list) or not groups:
            self.fail("must provide at least 1 option group", ptr)
            return
        if len(groups) > 100:
            self.fail("must provide no more than 100 items", ptr)
        for i, group in enumerate(groups):
            if not isinstance(group, dict):
                self.fail("must be an option group object", f"{ptr}/{i}")
                continue
            self.known(group, OPTION_GROUP_PROPERTIES, f"{ptr}/{i}")
            self.text(group.get("label"), f"{ptr}/{i}/label", max_len=75, plain_only=True)
            self.options(group.get("options"), f"{ptr}/{i}/options", max_items=100, plain_only=True)

    def input_lengths(self, el: JSON, ptr: str) -> None:
        """plain_text_input: min_length 0..3000, max_length 1..3000 and not below min_length."""
        low, high = el.get("min_length"), el.get("max_length")
        for key, value, least in (("min_length", low, 0), ("max_length", high, 1)):
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or not least <= value <= INPUT_MAX_LENGTH:
                self.fail(f"must be an integer from {least} to {INPUT_MAX_LENGTH}", f"{ptr}/{key}")
        if isinstance(low, int) and isinstance(high, int) and low > high:
            self.fail("must be greater than or equal to min_length", f"{ptr}/max_length")
        initial = el.get("initial_value")
        if isinstance(initial, str) and isinstance(high, int) and len(initial) > high:
            self.fail(f"must be less than {high + 1} characters", f"{ptr}/initial_value")

    # -- blocks -------------------------------------------------------------------------------------------
    def block(self, block: object, ptr: str) -> None:
        if not isinstance(block, dict):
            self.fail("must be a block object", ptr)
            return
        kind = block.get("type")
        if kind not in BLOCK_TYPES:
            self.fail(f"unsupported block type: {kind}", f"{ptr}/type")
            return
        self.known(block, BLOCK_PROPERTIES.get(str(kind), frozenset(block)), ptr)
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


def _option_key(option: object) -> tuple[object, object, object]:
    """What makes two options the same one: their value and their label (text and type)."""
    if not isinstance(option, dict):
        return (None, None, option)
    text = option.get("text")
    label = (text.get("type"), text.get("text")) if isinstance(text, dict) else (None, text)
    return (option.get("value"), *label)


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


_INITIAL_CHOICE = ("initial_user", "initial_conversation", "initial_channel", "initial_date", "initial_time")


def choice_of(state: JSON) -> object:
    """What an element's state says was chosen: an option's value, a user / conversation / channel id, a date..."""
    for key, value in state.items():
        if key == "selected_option":
            return value.get("value") if isinstance(value, dict) else None
        if key.startswith("selected_"):
            return value
    return state.get("value")


def shown_choice(blocks: list[JSON], action_id: str, picks: dict[tuple[str, str], JSON]) -> object:
    """What a person's Slack client shows in a select (or other input) of a message.

    Clients keep what a person picked per block_id and action_id, and an update of the message does not reset it:
    they show it as long as the block holding the element keeps its block_id (Slack: "If a message is updated, use
    a new block_id"; bolt-js #1073, bolt-python #572). Otherwise the element shows its initial value. `picks` is
    what this person picked in the message, by (block_id, action_id)."""
    found = find_elements(blocks, action_id)
    if len(found) != 1:
        raise ValueError(f"the message has {len(found)} elements {action_id!r}; it has {action_ids(blocks)}")
    block, element = found[0]
    picked = picks.get((str(block.get("block_id")), action_id))
    if picked is not None:
        return choice_of(picked)
    option = element.get("initial_option")
    if isinstance(option, dict):
        return option.get("value")
    return next((element[key] for key in _INITIAL_CHOICE if key in element), None)
