"""Block Kit for what the bot shows: the incident card, the open-incident modal, lists. Pure functions."""

from __future__ import annotations

import re
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
from bot.storage.suggestions import SuggestionRecord

if TYPE_CHECKING:
    from bot.suggestions.engine import Suggestion

from .ids import MODAL_INPUT_ACTION, ActionId, CallbackId, ModalBlock
from .markup import from_slack, plain_safe, safe_cut, slack_safe, user_text

TITLE_MAX = 150  # what the modal accepts; the card header shows at most 150 characters in all


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


def incident_card(config: Config, incident: Incident) -> list[dict[str, Any]]:
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
    if incident.description:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=escaped_cut(incident.description, 2900))))
    value = str(incident.id)
    if incident.status.is_active:
        current = config.severity(incident.severity)
        elements: list[Any] = [
            StaticSelectElement(
                action_id=ActionId.SEVERITY,
                placeholder="Change severity",
                options=[_severity_option(s) for s in config.severities],
                initial_option=_severity_option(current) if current else None,
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
        blocks.append(ActionsBlock(block_id=f"incident.card.{incident.id}", elements=elements))
    blocks.append(
        ContextBlock(
            elements=[MarkdownTextObject(text=f"Manage it here with `{config.command}` · `{config.command} help`")]
        )
    )
    return _dicts(blocks)


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


def message_modal(title: str, text: str) -> dict[str, Any]:
    """A modal that only says something (used to show progress, then the result, of a submitted form)."""
    view = View(
        type="modal",
        title=PlainTextObject(text=_cut(title, 24)),
        close=PlainTextObject(text="Close"),
        blocks=[SectionBlock(text=MarkdownTextObject(text=_cut(text, 2900)))],
    )
    return dict(view.to_dict())


_KIND_EMOJI = {"note": ":memo:", "system": ":gear:"}


def kind_emoji(config: Config, kind: str) -> str:
    emoji = next((e for e, k in config.timeline.reactions if k == kind), None)
    return f":{emoji}:" if emoji else _KIND_EMOJI.get(kind, ":small_blue_diamond:")


def user_line(slack_text: str, limit: int, user_names: Mapping[str, str] | None = None) -> str:
    """What a person wrote (Slack markup), on one line, cut to `limit` characters and safe to show (markup.py);
    people mentioned are shown by their names in `user_names`."""
    return safe_cut(" ".join(from_slack(slack_text, user_names).split()), limit)


def timeline_text(
    config: Config,
    incident: Incident,
    entries: Sequence[TimelineEntry],
    total: int,
    user_names: Mapping[str, str] | None = None,
) -> str:
    """`/incident timeline`: one line per entry, oldest of the shown first, times in UTC; people mentioned are shown
    by their names in `user_names`."""
    if not entries:
        return (
            f"*{incident.public_id}* has nothing on its timeline yet. React to a message with "
            + " ".join(f":{e}:" for e, _ in config.timeline.reactions)
            + f" or use `{config.command} note <text>`."
        )
    shown = f"the newest {len(entries)} of {total}" if total > len(entries) else f"{total}"
    lines = [f"*Timeline of {incident.public_id}* ({shown}; times in UTC)"]
    for entry in entries:
        kinds = " ".join(f"{kind_emoji(config, k)} {kind_label(k)}" for k in entry.kinds)
        who = (
            f"*{escape(entry.author_name or entry.author_id or 'someone')}*: "
            if entry.author_id or entry.author_name
            else ""
        )
        body = user_line(entry.text, 200, user_names) if entry.text else "_(message not captured)_"
        if entry.deleted:
            body = f"~{body}~ _(deleted)_"
        elif entry.edited:
            body += " _(edited)_"
        if entry.files:
            body += " " + " ".join(f":paperclip: {escape(f.name)}" for f in entry.files)
        link = f" <{entry.permalink}|view>" if entry.permalink else ""
        lines.append(f"`{entry.at:%b %d %H:%M}` {kinds} · {who}{body}{link}")
    return "\n".join(lines)


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


def suggestion_text(record: SuggestionRecord) -> str:
    """The message's text (notifications, and clients that show no blocks)."""
    what = f"{record.root_cause} ({record.error}, {record.runbook})"
    if record.state == "retracted":
        why = f": {user_text(_cut(record.note, NOTE_MAX))}" if record.note else ""
        return f"Suggestion withdrawn: {what}{why}"
    text = f"Likely root cause: {what}, confidence {record.score:.0%}"
    if record.note:
        text = f"Updated: {text} ({user_text(_cut(record.note, NOTE_MAX))})"
    return text


def suggestion_blocks(record: SuggestionRecord) -> list[dict[str, Any]]:
    """A suggestion as it stands in the channel: with Accept / Dismiss while it stands ("posted"), with why when it
    replaced another one, withdrawn (with why, no buttons), or as people decided."""
    if record.state == "retracted":
        return _withdrawn_blocks(record)
    head = (
        f":bulb: *Likely root cause: {escape(record.root_cause)}* (confidence {record.score:.0%})\n"
        f"Runbook *{escape(record.runbook)}* → error `{escape(record.error)}`"
    )
    parts: list[Block] = [SectionBlock(text=MarkdownTextObject(text=_cut(head, 2900)))]
    if record.note:
        changed = f":arrows_counterclockwise: *Updated:* {user_text(record.note)}"
        parts.append(SectionBlock(text=MarkdownTextObject(text=_cut(changed, 2900))))
    parts.append(
        SectionBlock(text=MarkdownTextObject(text=_cut(f"*Citing runbook section*\n{escape(record.citation)}", 2900)))
    )
    if record.evidence:
        evidence = "\n".join(f"• {user_text(e)}" for e in record.evidence[:8])
        parts.append(SectionBlock(text=MarkdownTextObject(text=_cut(f"*Evidence*\n{evidence}", 2900))))
    if record.alternatives:
        others = "\n".join(f"• {user_text(a)}" for a in record.alternatives[:6])
        parts.append(SectionBlock(text=MarkdownTextObject(text=_cut(f"*Why not the others*\n{others}", 2900))))
    if record.remediation:
        steps = markdown_to_mrkdwn(record.remediation)
        if steps.count("```") % 2:
            steps += "\n```"
        parts.append(
            SectionBlock(
                text=MarkdownTextObject(text=_cut(f"*Immediate remediation (from the runbook)*\n{steps}", 2900))
            )
        )
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
        note = f"Suggested from `{escape(record.runbook_path)}` by matching what was said here against the runbooks."
    elif record.state in ("accepted", "dismissed"):
        verb = "Accepted as the root cause" if record.state == "accepted" else "Dismissed"
        note = f"{verb} by {mention(record.decided_by)}."
    else:
        note = "Replaced by a newer suggestion."
    parts.append(ContextBlock(elements=[MarkdownTextObject(text=note)]))
    return _dicts(parts)


def _withdrawn_blocks(record: SuggestionRecord) -> list[dict[str, Any]]:
    head = (
        f":leftwards_arrow_with_hook: *Suggestion withdrawn:* ~{escape(record.root_cause)}~\n"
        f"Runbook *{escape(record.runbook)}* → error `{escape(record.error)}`"
    )
    parts: list[Block] = [SectionBlock(text=MarkdownTextObject(text=_cut(head, 2900)))]
    if record.note:
        parts.append(SectionBlock(text=MarkdownTextObject(text=_cut(f"*Why:* {user_text(record.note)}", 2900))))
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
