"""Block Kit for what the bot shows: the incident card, the open-incident modal, lists. Pure functions, but for the
fresh block_id each version of the card gets (`card_block_id`)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.config import Config, Severity, kind_label
from bot.domain.incident import Incident, Status
from bot.domain.timeline import TimelineEntry
from bot.storage.repository import StatusUpdate
from bot.storage.suggestions import SuggestionRecord

if TYPE_CHECKING:
    from bot.suggestions.engine import Suggestion

from .ids import MODAL_INPUT_ACTION, ActionId, CallbackId, ModalBlock
from .markup import from_slack, plain_safe, safe_cut, slack_safe

# What the bot lets one message's blocks carry in all. Slack refuses a message whose blocks carry more than about
# 13,200 characters of text (msg_blocks_too_long, even with every block within its own limit); its staff speak of
# 12,000 characters of text plus what the blocks themselves take. The card's and a suggestion's parts are cut so
# that their sum stays within this (tests/scenarios/test_slack_fidelity_sizes.py measures the worst cases).
BLOCKS_TEXT_MAX = 12_000
TITLE_MAX = 150  # of an incident's title: what the modal accepts, and what a longer one is shortened to at open


def short_title(title: str) -> str:
    """A title of at most TITLE_MAX characters: a longer one is cut at a word (where there is one near the end) and
    ends with "…"."""
    title = title.strip()
    if len(title) <= TITLE_MAX:
        return title
    head = title[: TITLE_MAX - 1]
    space = head.rfind(" ")
    if space >= TITLE_MAX * 2 // 3:
        head = head[:space]
    return head.rstrip(" ,;:.-–—") + "…"


def title_shortened_note(length: int) -> str:
    """What the opener is told when their title was shortened (`short_title`)."""
    return (
        f":scissors: The title was {length:,} characters long, so I shortened it to {TITLE_MAX} (what the form takes "
        "and the card's header shows); the whole text is kept as the incident's description."
    )


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# Every piece of user text the bot sends goes through one rule (bot/slack/markup.py): plain text is shown with
# `escape` (= slack_safe), Slack-formatted text with `user_text`, plain_text fields with `plain_safe`.
escape = slack_safe
escaped_cut = safe_cut


def mention(user_id: str | None) -> str:
    return f"<@{user_id}>" if user_id else "_unassigned_"


def slack_date(at: datetime) -> str:
    """A date Slack shows in each reader's own time zone, with a UTC fallback."""
    fallback = at.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def severity_label(config: Config, name: str) -> str:
    level = config.severity(name)
    return level.label if level else name


def _severity_option(level: Severity) -> Option:
    return Option(value=level.name, text=_cut(level.label, 75))


def _dicts(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    return [b.to_dict() for b in blocks]


def card_text(config: Config, incident: Incident) -> str:
    """Notification fallback for the card."""
    return (
        f"{incident.public_id} · {escaped_cut(incident.title, 500)} — "
        f"{escape(severity_label(config, incident.severity))}, {incident.status.label}, "
        f"commander: {mention(incident.commander_id)}"
    )


def text_length(blocks: Sequence[dict[str, Any]]) -> int:
    """The characters of text blocks carry in all, as Slack counts them against its limit (BLOCKS_TEXT_MAX): every
    `text` string, at any depth."""

    def length(value: object) -> int:
        if isinstance(value, dict):
            return sum(len(v) if k == "text" and isinstance(v, str) else length(v) for k, v in value.items())
        if isinstance(value, list):
            return sum(length(v) for v in value)
        return 0

    return length(list(blocks))


def card_block_id(incident: Incident) -> str:
    """The block_id of the card's menus and buttons: a new one for every version of the card. Slack clients keep
    what a person picked in a menu for as long as its block keeps its block_id, whatever a chat.update says, so
    a reused block_id would go on showing a stale severity or commander (Slack: "If a message is updated, use a
    new block_id"). Nothing routes on it: a click acts on the incident of the channel it was made in."""
    return f"incident.card.{incident.id}.{secrets.token_hex(6)}"


def roles_text(config: Config, holders: Mapping[str, str]) -> str:
    """The card's roles line: each role of app.yaml (besides the commander, who has a field) and who holds it."""
    return "*Roles*\n" + "\n".join(f"{escape(role.label)}: {mention(holders.get(role.name))}" for role in config.roles)


def incident_card(config: Config, incident: Incident, holders: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The pinned card. `holders`: role name -> who holds it (roles of app.yaml; the commander is on the incident)."""
    icon = ":white_check_mark:" if incident.status is Status.RESOLVED else ":rotating_light:"
    fields = [
        MarkdownTextObject(text=f"*Severity*\n{escape(severity_label(config, incident.severity))}"),
        MarkdownTextObject(text=f"*Status*\n{incident.status.label}"),
        MarkdownTextObject(text=f"*Commander*\n{mention(incident.commander_id)}"),
        MarkdownTextObject(text=f"*Opened by*\n{mention(incident.opener_id)}"),
        MarkdownTextObject(text=f"*Opened*\n{slack_date(incident.opened_at)}"),
    ]
    if incident.resolved_at:
        fields.append(MarkdownTextObject(text=f"*Resolved*\n{slack_date(incident.resolved_at)}"))
    blocks: list[Block] = [
        HeaderBlock(text=_cut(plain_safe(f"{incident.public_id} · {incident.title}"), 150)),
        SectionBlock(text=MarkdownTextObject(text=f"{icon} *{escaped_cut(incident.title, 2900)}*"), fields=fields),
    ]
    if config.roles:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=roles_text(config, holders or {}))))
    value = str(incident.id)
    if incident.status.is_active:
        current = config.severity(incident.severity)
        levels = config.severities[:100]  # a menu offers at most 100 options
        elements: list[Any] = [
            StaticSelectElement(
                action_id=ActionId.SEVERITY,
                placeholder="Change severity",
                options=[_severity_option(s) for s in levels],
                initial_option=_severity_option(current) if current in levels else None,
            ),
            UserSelectElement(
                action_id=ActionId.COMMANDER,
                placeholder="Set commander",
                initial_user=incident.commander_id,
            ),
        ]
        if incident.status is Status.OPEN:
            elements.append(ButtonElement(text="Acknowledge", action_id=ActionId.ACKNOWLEDGE, value=value))
        if incident.status in (Status.OPEN, Status.ACKNOWLEDGED):
            elements.append(ButtonElement(text="Mitigated", action_id=ActionId.MITIGATE, value=value))
        elements.append(
            ButtonElement(
                text="Resolve",
                action_id=ActionId.RESOLVE,
                value=value,
                style="primary",
                confirm=ConfirmObject(
                    title="Resolve this incident?",
                    text=f"{incident.public_id} will be marked resolved.",
                    confirm="Resolve",
                    deny="Not yet",
                ),
            )
        )
        blocks.append(ActionsBlock(block_id=card_block_id(incident), elements=elements))
    context = f"Manage it here with `{config.command}` · `{config.command} help`"
    page = config.web.incident_url(incident.public_id)
    if page is not None:  # the web view is on (app.yaml `web`)
        context += f" · <{page}|Open in the web view>"
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=context)]))
    card = _dicts(blocks)
    room = min(2900, BLOCKS_TEXT_MAX - text_length(card))  # the description gets what the rest leaves
    if incident.description and room >= 100:
        card.insert(2, SectionBlock(text=MarkdownTextObject(text=escaped_cut(incident.description, room))).to_dict())
    return card


def opened_text(incident: Incident, created: bool, warnings: tuple[str, ...]) -> str:
    """What the opener is told once the incident is open (or that it was open already)."""
    if not created:
        if incident.channel_id is None:
            return f":hourglass_flowing_sand: {incident.public_id} is being opened already."
        return f"{incident.public_id} is already open: <#{incident.channel_id}>"
    text = f":rotating_light: Opened *{incident.public_id}*: <#{incident.channel_id}>. You are in the channel."
    if warnings:
        text += "\n" + "\n".join(warnings)
    return text


def pending_text(incident: Incident) -> str:
    """Slack did not answer while the incident was being set up: it exists, and will be finished."""
    return (
        f":hourglass_flowing_sand: {incident.public_id} is recorded, but Slack is not answering right now. I will "
        "finish setting it up (channel, card) as soon as it does, and tell you here."
    )


def open_incident_modal(config: Config, origin_channel: str, *, severity: str = "") -> dict[str, Any]:
    default = config.severity(severity or config.default_severity)
    view = View(
        type="modal",
        callback_id=CallbackId.OPEN_MODAL,
        title=PlainTextObject(text="Open an incident"),
        submit=PlainTextObject(text="Open"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=origin_channel,
        blocks=[
            InputBlock(
                block_id=ModalBlock.TITLE,
                label="Title",
                hint="What is broken, as people would say it: “API 500 errors on login”",
                element=PlainTextInputElement(action_id=MODAL_INPUT_ACTION, max_length=TITLE_MAX),
            ),
            InputBlock(
                block_id=ModalBlock.SEVERITY,
                label="Severity",
                element=StaticSelectElement(
                    action_id=MODAL_INPUT_ACTION,
                    options=[_severity_option(s) for s in config.severities],
                    initial_option=_severity_option(default) if default else None,
                ),
            ),
            InputBlock(
                block_id=ModalBlock.DESCRIPTION,
                label="Description",
                optional=True,
                element=PlainTextInputElement(action_id=MODAL_INPUT_ACTION, multiline=True, max_length=2900),
            ),
        ],
    )
    return dict(view.to_dict())


UPDATE_FIELD_MAX = 2900  # each field of the update form: one section of the posted update


def _update_field() -> PlainTextInputElement:
    return PlainTextInputElement(action_id=MODAL_INPUT_ACTION, multiline=True, max_length=UPDATE_FIELD_MAX)


def update_modal(incident: Incident) -> dict[str, Any]:
    """The status update form (`/incident update` without text): current status, impact, next steps. Submitted, it
    acts on the incident of the channel in its private_metadata (where the command was run)."""
    assert incident.channel_id is not None
    view = View(
        type="modal",
        callback_id=CallbackId.UPDATE_MODAL,
        title=PlainTextObject(text="Status update"),
        submit=PlainTextObject(text="Post"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=incident.channel_id,
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=f"*{incident.public_id}* · {escaped_cut(incident.title, 500)}")),
            InputBlock(
                block_id=ModalBlock.UPDATE_STATUS,
                label="Current status",
                hint="Where things stand, for people outside the channel: “Failing over to the standby database”",
                element=_update_field(),
            ),
            InputBlock(
                block_id=ModalBlock.UPDATE_IMPACT,
                label="Impact",
                optional=True,
                hint="Who or what is affected, and how",
                element=_update_field(),
            ),
            InputBlock(
                block_id=ModalBlock.UPDATE_NEXT_STEPS,
                label="Next steps",
                optional=True,
                hint="What happens next, and when the next update comes",
                element=_update_field(),
            ),
        ],
    )
    return dict(view.to_dict())


def status_update_text(config: Config, incident: Incident, update: StatusUpdate, *, announced: bool = False) -> str:
    """The update's notification text. In the announcement channel a private incident is named by its ID only."""
    label = escape(severity_label(config, update.severity))
    status = Status(update.status).label
    if announced and incident.may_be_private:
        return (
            f":loudspeaker: Status update on {incident.public_id} (a private incident): {status}, {label}. "
            "Its channel's members see the update there."
        )
    return f":loudspeaker: Status update on {incident.public_id}: {status}, {label} — {user_line(update.text, 300)}"


def status_update_blocks(
    config: Config, incident: Incident, update: StatusUpdate, *, announced: bool = False
) -> list[dict[str, Any]]:
    """The posted update: the incident, its status and severity, the update's words (current status, impact, next
    steps), who posted it and when; in the announcement channel, with a link to the incident channel."""
    fields = [
        MarkdownTextObject(text=f"*Status*\n{Status(update.status).label}"),
        MarkdownTextObject(text=f"*Severity*\n{escape(severity_label(config, update.severity))}"),
    ]
    parts: list[Block] = [
        HeaderBlock(text=_cut(plain_safe(f"Status update · {incident.public_id} · {incident.title}"), 150)),
        SectionBlock(fields=fields),
        SectionBlock(text=MarkdownTextObject(text=user_cut(update.text, UPDATE_FIELD_MAX))),
    ]
    if update.impact:
        parts.append(SectionBlock(text=MarkdownTextObject(text="*Impact*\n" + user_cut(update.impact, 2800))))
    if update.next_steps:
        parts.append(SectionBlock(text=MarkdownTextObject(text="*Next steps*\n" + user_cut(update.next_steps, 2800))))
    where = f" · in <#{incident.channel_id}>" if announced and incident.channel_id else ""
    posted = f"Posted by {mention(update.author_id)} · {slack_date(update.posted_at)}{where}"
    parts.append(ContextBlock(elements=[MarkdownTextObject(text=posted)]))
    return _dicts(parts)


def message_modal(title: str, text: str) -> dict[str, Any]:
    """A modal that only says something (used to show progress, then the result, of a submitted form)."""
    view = View(
        type="modal",
        title=PlainTextObject(text=_cut(title, 24)),
        close=PlainTextObject(text="Close"),
        blocks=[SectionBlock(text=MarkdownTextObject(text=_cut(text, 2900)))],
    )
    return dict(view.to_dict())


_KIND_EMOJI = {"note": ":memo:", "system": ":gear:", "update": ":loudspeaker:"}


def kind_emoji(config: Config, kind: str) -> str:
    emoji = next((e for e, k in config.timeline.reactions if k == kind), None)
    return f":{emoji}:" if emoji else _KIND_EMOJI.get(kind, ":small_blue_diamond:")


def user_line(slack_text: str, limit: int, user_names: Mapping[str, str] | None = None) -> str:
    """What a person wrote (Slack markup), on one line, cut to `limit` characters and safe to show (markup.py);
    people mentioned are shown by their names in `user_names`."""
    return safe_cut(" ".join(from_slack(slack_text, user_names).split()), limit)


# `/incident timeline` answers in one ephemeral message of at most this many characters (Slack cuts a message's text
# at 40,000; this is a few screens): the newest entries that fit, each line bounded, and where the rest is.
TIMELINE_TEXT_MAX = 12_000
TIMELINE_FILES_SHOWN = 3  # file names on one line (then "+N more files")


def timeline_line(config: Config, entry: TimelineEntry, user_names: Mapping[str, str] | None = None) -> str:
    """One entry on one line of at most about 900 characters: its time, kinds, author, text (people mentioned by
    their names in `user_names`), files and a link."""
    kinds = " ".join(f"{kind_emoji(config, k)} {kind_label(k)}" for k in entry.kinds)
    who = (
        f"*{escaped_cut(entry.author_name or entry.author_id or 'someone', 80)}*: "
        if entry.author_id or entry.author_name
        else ""
    )
    body = user_line(entry.text, 200, user_names) if entry.text else "_(message not captured)_"
    if entry.deleted:
        body = f"~{body}~ _(deleted)_"
    elif entry.edited:
        body += " _(edited)_"
    if entry.files:
        body += " " + " ".join(f":paperclip: {escaped_cut(f.name, 100)}" for f in entry.files[:TIMELINE_FILES_SHOWN])
        if len(entry.files) > TIMELINE_FILES_SHOWN:
            body += f" _(+{len(entry.files) - TIMELINE_FILES_SHOWN} more files)_"
    link = f" <{entry.permalink}|view>" if entry.permalink else ""
    return f"`{entry.at:%b %d %H:%M}` {kinds} · {who}{body}{link}"


def timeline_text(
    config: Config,
    incident: Incident,
    entries: Sequence[TimelineEntry],
    total: int,
    user_names: Mapping[str, str] | None = None,
) -> str:
    """`/incident timeline`: one line per entry, oldest of the shown first, times in UTC; people mentioned are shown
    by their names in `user_names`. At most TIMELINE_TEXT_MAX characters: the newest entries that fit are shown, and
    the answer says how many earlier ones are not and that the report has them all."""
    if not entries:
        return (
            f"*{incident.public_id}* has nothing on its timeline yet. React to a message with "
            + " ".join(f":{e}:" for e, _ in config.timeline.reactions)
            + f" or use `{config.command} note <text>`."
        )
    budget = TIMELINE_TEXT_MAX - 300  # the heading and the note
    lines: list[str] = []
    for entry in reversed(entries):
        line = timeline_line(config, entry, user_names)
        if lines and budget - len(line) - 1 < 0:
            break
        lines.append(line)
        budget -= len(line) + 1
    lines.reverse()
    shown = f"the newest {len(lines)} of {total}" if total > len(lines) else f"{total}"
    head = [f"*Timeline of {incident.public_id}* ({shown}; times in UTC)"]
    if total > len(lines):
        earlier = total - len(lines)
        head.append(
            f"_{earlier} earlier {'entry is' if earlier == 1 else 'entries are'} not shown: "
            f"`{config.command} report` posts a report with the whole timeline._"
        )
    return "\n".join(head + lines)


def add_to_timeline_modal(
    config: Config, incidents: Sequence[Incident], preselected: Incident | None, metadata: str, preview: str
) -> dict[str, Any]:
    """The "Add to incident timeline" form: which incident, which kind; the message itself is shown."""
    options = [
        Option(value=str(i.id), text=_cut(plain_safe(f"{i.public_id} · {i.title}"), 75)) for i in incidents[:100]
    ]
    initial = next(
        (o for o, i in zip(options, incidents, strict=False) if preselected and i.id == preselected.id), None
    )
    kinds = [*config.timeline.kinds, "note"]
    kind_options = [Option(value=k, text=kind_label(k)) for k in dict.fromkeys(kinds)]
    view = View(
        type="modal",
        callback_id=CallbackId.ADD_TO_TIMELINE_FORM,
        title=PlainTextObject(text="Add to timeline"),
        submit=PlainTextObject(text="Add"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=metadata,
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=f">{user_line(preview, 2800) or '_(no text)_'}")),
            InputBlock(
                block_id=ModalBlock.INCIDENT,
                label="Incident",
                element=StaticSelectElement(action_id=MODAL_INPUT_ACTION, options=options, initial_option=initial),
            ),
            InputBlock(
                block_id=ModalBlock.KIND,
                label="Kind of event",
                element=StaticSelectElement(
                    action_id=MODAL_INPUT_ACTION, options=kind_options, initial_option=kind_options[0]
                ),
            ),
        ],
    )
    return dict(view.to_dict())


def markdown_to_mrkdwn(markdown: str) -> str:
    """Runbook markdown as Slack shows it: **bold** -> *bold*, headings -> bold lines; code stays code."""
    out: list[str] = []
    fenced = False
    for line in markdown.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            out.append("```")
            continue
        if fenced:
            out.append(escape(line))
            continue
        heading = re.match(r"^\s*#{1,6}\s+(.*?)\s*#*\s*$", line)
        text = escape(heading.group(1) if heading else line)
        text = re.sub(r"\*\*(.+?)\*\*", r"*\1*", text)
        out.append(f"*{text}*" if heading else text)
    return "\n".join(out)


NOTE_MAX = 600  # of why a suggestion changed, in a message's text (chat.update takes 4,000 characters)
NAME_MAX = 250  # of a runbook's, error's or root cause's name where a suggestion shows it

_SUGGESTION_PARTS = {  # part -> its most characters: 10,700 in all, with the context line and the buttons
    "head": 900,
    "note": 900,
    "citation": 1000,
    "evidence": 2800,
    "alternatives": 1800,
    "remediation": 2900,
}


def user_cut(slack_text: str, limit: int) -> str:
    """`user_text(slack_text)` cut to at most `limit` characters, without leaving half an entity at the end."""
    return safe_cut(from_slack(slack_text), limit)


def _code_closed(text: str) -> str:
    """Text cut inside inline code (`...`) gets its closing backtick back."""
    return text + "`" if text.count("`") % 2 else text


def listed(title: str, items: Sequence[str], *, each: int, budget: int, most: int) -> str:
    """A bold title over bullet lines of people's words: each cut to `each` characters, as many as fit in `budget`
    (at most `most`), then how many more there are. Whole lines are left out rather than cut off mid-way."""
    lines = [f"*{title}*"]
    size = len(lines[0])
    for item in items[:most]:
        line = f"• {user_cut(item, each)}"
        if size + 1 + len(line) > budget - 40:  # room for the "and N more" line
            break
        lines.append(line)
        size += 1 + len(line)
    if len(items) > len(lines) - 1:
        lines.append(f"_…and {len(items) - (len(lines) - 1)} more_")
    return "\n".join(lines)


def suggestion_text(record: SuggestionRecord) -> str:
    """The message's text (notifications, and clients that show no blocks)."""
    what = f"{_cut(record.root_cause, 200)} ({_cut(record.error, 200)}, {_cut(record.runbook, 200)})"
    if record.state == "retracted":
        why = f": {user_cut(record.note, NOTE_MAX)}" if record.note else ""
        return f"Suggestion withdrawn: {what}{why}"
    text = f"Likely root cause: {what}, confidence {record.score:.0%}"
    if record.note:
        text = f"Updated: {text} ({user_cut(record.note, NOTE_MAX)})"
    return text


def _names(record: SuggestionRecord) -> tuple[str, str, str]:
    """The root cause, runbook and error, escaped and cut to NAME_MAX characters each."""
    return (
        escaped_cut(record.root_cause, NAME_MAX),
        escaped_cut(record.runbook, NAME_MAX),
        escaped_cut(record.error, NAME_MAX),
    )


def _section(text: str, part: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=_cut(text, _SUGGESTION_PARTS[part])))


def suggestion_blocks(record: SuggestionRecord) -> list[dict[str, Any]]:
    """A suggestion as it stands in the channel: with Accept / Dismiss while it stands ("posted"), with why when it
    replaced another one, withdrawn (with why, no buttons), or as people decided. Each part is cut to its share of
    BLOCKS_TEXT_MAX (evidence and alternatives by whole lines), so that Slack never refuses the post as too long."""
    if record.state == "retracted":
        return _withdrawn_blocks(record)
    cause, runbook, error = _names(record)
    head = f":bulb: *Likely root cause: {cause}* (confidence {record.score:.0%})\nRunbook *{runbook}* → error `{error}`"
    parts: list[Block] = [_section(head, "head")]
    if record.note:
        changed = f":arrows_counterclockwise: *Updated:* {user_cut(record.note, _SUGGESTION_PARTS['note'] - 40)}"
        parts.append(_section(changed, "note"))
    citation = _code_closed(escaped_cut(record.citation, _SUGGESTION_PARTS["citation"] - 40))
    parts.append(_section(f"*Citing runbook section*\n{citation}", "citation"))
    if record.evidence:
        evidence = listed("Evidence", record.evidence, each=400, budget=_SUGGESTION_PARTS["evidence"], most=8)
        parts.append(_section(evidence, "evidence"))
    if record.alternatives:
        others = listed(
            "Why not the others", record.alternatives, each=300, budget=_SUGGESTION_PARTS["alternatives"], most=6
        )
        parts.append(_section(others, "alternatives"))
    if record.remediation:
        steps = markdown_to_mrkdwn(record.remediation)
        if steps.count("```") % 2:
            steps += "\n```"
        parts.append(_section(f"*Immediate remediation (from the runbook)*\n{steps}", "remediation"))
    if record.state == "posted":
        value = str(record.id)
        parts.append(
            ActionsBlock(
                block_id=f"suggestion.{record.id}",
                elements=[
                    ButtonElement(
                        text="Accept as root cause", action_id=ActionId.SUGGESTION_ACCEPT, value=value, style="primary"
                    ),
                    ButtonElement(text="Dismiss", action_id=ActionId.SUGGESTION_DISMISS, value=value),
                ],
            )
        )
        path = escaped_cut(record.runbook_path, 300)
        note = f"Suggested from `{path}` by matching what was said here against the runbooks."
    elif record.state in ("accepted", "dismissed"):
        verb = "Accepted as the root cause" if record.state == "accepted" else "Dismissed"
        note = f"{verb} by {mention(record.decided_by)}."
    else:
        note = "Replaced by a newer suggestion."
    parts.append(ContextBlock(elements=[MarkdownTextObject(text=note)]))
    return _dicts(parts)


def _withdrawn_blocks(record: SuggestionRecord) -> list[dict[str, Any]]:
    cause, runbook, error = _names(record)
    head = f":leftwards_arrow_with_hook: *Suggestion withdrawn:* ~{cause}~\nRunbook *{runbook}* → error `{error}`"
    parts: list[Block] = [_section(head, "head")]
    if record.note:
        parts.append(SectionBlock(text=MarkdownTextObject(text=f"*Why:* {user_cut(record.note, 2900)}")))
    note = "A new suggestion will be posted when the evidence points clearly to a root cause."
    parts.append(ContextBlock(elements=[MarkdownTextObject(text=note)]))
    return _dicts(parts)


def ranking_text(ranking: Sequence[Suggestion], threshold: float, incident: Incident) -> str:
    """`/incident suggest`: the ranking, each with how likely it is to be right as the top suggestion (a
    suggestion is posted from `threshold`, bot/suggestions/decision.py's POST_AT)."""
    from bot.suggestions.decision import likelihood

    if not ranking:
        return f"No runbook matches what has been said in {incident.public_id} so far."
    lines = [
        f"*Root-cause ranking for {incident.public_id}* (a suggestion is posted once it is {threshold:.0%} likely "
        "to be right)"
    ]
    for n, s in enumerate(ranking, start=1):
        p = likelihood(s)
        below = "" if p >= threshold else " _(not clear enough to post)_"
        lines.append(
            f"{n}. *{escape(s.cause.name)}* — {p:.0%} likely{below} (score {s.score:.2f})\n"
            f"    {escape(s.runbook.title)} → `{escape(s.error.name)}`\n    {escape(s.citation)}"
        )
    return "\n".join(lines)
