"""What the web view (issue 14) reads: incidents listed, filtered and searched, trends by month, runbook counts.

Only what a viewer may see is ever read: incidents of their workspace, and among them one that may be private
(`Incident.may_be_private`) only when its channel is one they are in (`visible_private`), the same rule as in Slack.

Full-text search covers incident titles and captured messages that are not deleted. PostgreSQL matches
`to_tsvector('simple', ...)` against `plainto_tsquery('simple', ...)`: the expressions of migration 0017's GIN
indexes. SQLite matches its FTS5 tables (migration 0017) with a query made only of quoted words, so that nothing a
person types is FTS syntax; where SQLite has no FTS5, LIKE over the words (escaped) does, and a log line says so.
User text only ever travels as a bound parameter.

A word PostgreSQL's statistics put in many messages (`WALK_FROM_MESSAGES`) is searched the other way round:
incidents newest first, each checked for a matching message through messages' incident_id index, since reading
every message a common word is in costs the whole table. A search's total is counted up to `SEARCH_COUNT_CAP`
(`Page.total_capped` says when more match).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    exists,
    extract,
    false,
    func,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.incident import Status

from .tables import IncidentRow, MessageRow, SuggestionRow

log = logging.getLogger(__name__)

STATUSES = ("open", "acknowledged", "mitigated", "resolved", "active")
SNIPPET_CHARS = 160
TOP = 10
SEARCH_COUNT_CAP = 500  # a text search counts its incidents up to this many, then says "more than"
FIRST_MATCHES_PER_INCIDENT = 8  # PostgreSQL, a common word: matching messages read per incident to count
WALK_FROM_MESSAGES = 2000  # PostgreSQL: a word estimated in this many messages or more is searched incident by incident


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    status: str | None = None  # "open" | "acknowledged" | "mitigated" | "resolved" | "active" (not resolved)
    severity: str | None = None
    opened_from: date | None = None  # inclusive, UTC dates
    opened_to: date | None = None  # inclusive
    root_cause: str | None = None  # the accepted root cause's name
    text: str | None = None  # full-text search over the title and captured messages


@dataclass(frozen=True, slots=True)
class IncidentSummary:
    id: int
    public_id: str
    title: str
    status: str
    severity: str
    opened_at: datetime
    resolved_at: datetime | None
    channel_id: str | None
    channel_name: str | None
    root_cause: str | None  # the accepted root cause's name, if any
    private: bool  # may be private (private, or not known)
    matched: str | None = None  # for a text search: a short snippet of the matching message or title


@dataclass(frozen=True, slots=True)
class Page:
    items: tuple[IncidentSummary, ...]
    next_cursor: str | None  # opaque keyset cursor (newest first by opened_at, id); None at the end
    total: int  # matching incidents (visible to the viewer); for a text search at most the cap it was counted to
    total_capped: bool = False  # a text search matched more than `total` incidents (counting stopped there)


@dataclass(frozen=True, slots=True)
class MonthFigures:
    month: str  # "2026-11"
    incidents: int
    ack_median_s: float | None
    ack_p90_s: float | None
    mitigate_median_s: float | None
    mitigate_p90_s: float | None
    resolve_median_s: float | None
    resolve_p90_s: float | None


@dataclass(frozen=True, slots=True)
class Trends:
    months: tuple[MonthFigures, ...]  # every month in range, oldest first, empty months included
    by_severity: tuple[tuple[str, int], ...]  # severity -> incidents opened in range
    root_causes: tuple[tuple[str, int], ...]  # accepted root cause -> incidents, most frequent first (top 10)
    runbooks: tuple[tuple[str, int], ...]  # runbook title of accepted root causes -> incidents (top 10)


@dataclass(frozen=True, slots=True)
class RootCauseStats:
    runbook: str
    error: str
    root_cause: str
    suggested: int  # incidents where it was shown
    accepted: int
    dismissed: int


class InvalidCursor(ValueError):
    """A cursor this store did not make (edited, truncated): the caller starts again from the first page."""


def search_words(query: str) -> list[str]:
    """The words of what a person typed, as both databases' tokenizers split it: letters and digits only."""
    return re.findall(r"[^\W_]+", query)


def fts5_query(words: Sequence[str]) -> str:
    """An FTS5 query that means "all these words", whatever they are: each one quoted, so none is an operator."""
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)


def percentile_cont(values: Sequence[float], fraction: float) -> float | None:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def encode_cursor(opened_at: datetime, incident_id: int) -> str:
    raw = f"{opened_at.astimezone(UTC).isoformat()}|{incident_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, ident = raw.partition("|")
        opened_at = datetime.fromisoformat(at)
        if opened_at.tzinfo is None:
            raise ValueError("naive")
        return opened_at.astimezone(UTC), int(ident)
    except (ValueError, UnicodeDecodeError, binascii.Error) as e:
        raise InvalidCursor(cursor) from e


def snippet(text_: str, words: Sequence[str], width: int = SNIPPET_CHARS) -> str:
    """A piece of `text_` around the first of `words` it has (case-insensitive), at most about `width` long."""
    flat = " ".join(text_.split())
    lowered = flat.lower()
    hits = [i for i in (lowered.find(w.lower()) for w in words) if i >= 0]
    at = min(hits) if hits else 0
    start = max(0, at - width // 3)
    end = min(len(flat), start + width)
    piece = flat[start:end]
    return ("…" if start > 0 else "") + piece + ("…" if end < len(flat) else "")


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _months(since: date, until: date) -> list[str]:
    out: list[str] = []
    year, month = since.year, since.month
    while (year, month) <= (until.year, until.month):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def _seconds(later: datetime | None, earlier: datetime) -> float | None:
    return None if later is None else (later - earlier).total_seconds()


class WebStore:
    def __init__(self, session: AsyncSession, *, walk_from_messages: int = WALK_FROM_MESSAGES) -> None:
        self.session = session
        self.walk_from_messages = walk_from_messages
        self._fts5: bool | None = None  # whether this SQLite database has the search tables (asked once)

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    # -- who sees what ---------------------------------------------------------------------------------------------

    @staticmethod
    def _visible(team_id: str, visible_private: frozenset[str]) -> ColumnElement[bool]:
        public = IncidentRow.private.is_(False)
        seen = or_(public, IncidentRow.channel_id.in_(sorted(visible_private))) if visible_private else public
        return and_(IncidentRow.team_id == team_id, seen)

    # -- the list ----------------------------------------------------------------------------------------------------

    async def incidents(
        self,
        team_id: str,
        filters: IncidentFilter,
        *,
        visible_private: frozenset[str],
        cursor: str | None = None,
        limit: int = 50,
        count_cap: int = SEARCH_COUNT_CAP,
    ) -> Page:
        """A page of the incidents `filters` match, newest first. A text search counts at most `count_cap` of them
        (`Page.total_capped` says when there are more): counting every incident a common word is in would read
        every message that says it."""
        conditions = [self._visible(team_id, visible_private), *self._filtered(filters)]
        words: list[str] = []
        walk = False
        if filters.text is not None and filters.text.strip():
            words = search_words(filters.text)
            walk = bool(words) and await self._walk_search(filters.text)
            if walk:
                conditions.append(_walked_text_match(filters.text))
            else:
                conditions.append(await self._text_matches(filters.text, words))

        columns = (
            IncidentRow.id,
            IncidentRow.public_id,
            IncidentRow.title,
            IncidentRow.status,
            IncidentRow.severity,
            IncidentRow.opened_at,
            IncidentRow.resolved_at,
            IncidentRow.channel_id,
            IncidentRow.channel_name,
            IncidentRow.private,
        )
        after = decode_cursor(cursor) if cursor is not None else None
        capped = False
        if walk:
            # Newest first along the (team_id, opened_at, id) index, each incident checked for a matching message
            # through messages' incident_id index: a common word is found in the first few messages of each.
            rows = await self._page_of(select(*columns).where(*conditions), after, limit)
            # The count: first the incidents among the first matching messages the GIN index gives (a lower bound,
            # enough when it passes the cap), else incident by incident up to the cap.
            total = await self._count_to(
                count_cap, [*conditions[:-1], _in_first_matches(filters.text or "", count_cap)]
            )
            if total <= count_cap:
                total = await self._count_to(count_cap, conditions)
        elif words:
            rows, total = await self._searched_page(select(*columns).where(*conditions), after, limit)
        else:
            # The page walks the (team_id, opened_at, id) index newest first; the count reads the workspace's rows.
            total = (await self.session.execute(select(func.count(IncidentRow.id)).where(*conditions))).scalar_one()
            rows = await self._page_of(select(*columns).where(*conditions), after, limit)
        if words and total > count_cap:
            total, capped = count_cap, True
        more, rows = len(rows) > limit, rows[:limit]

        ids = [row.id for row in rows]
        causes = await self._accepted_causes(ids)
        matched = await self._snippets(rows, filters.text or "", words) if words else {}
        items = tuple(
            IncidentSummary(
                id=row.id,
                public_id=row.public_id,
                title=row.title,
                status=row.status,
                severity=row.severity,
                opened_at=row.opened_at,
                resolved_at=row.resolved_at,
                channel_id=row.channel_id,
                channel_name=row.channel_name,
                root_cause=causes.get(row.id),
                private=row.private is not False,
                matched=matched.get(row.id),
            )
            for row in rows
        )
        next_cursor = encode_cursor(rows[-1].opened_at, rows[-1].id) if more and rows else None
        return Page(items=items, next_cursor=next_cursor, total=total, total_capped=capped)

    async def _page_of(self, page: Any, after: tuple[datetime, int] | None, limit: int) -> list[Any]:
        if after is not None:
            page = page.where(tuple_(IncidentRow.opened_at, IncidentRow.id) < tuple_(*after))
        page = page.order_by(IncidentRow.opened_at.desc(), IncidentRow.id.desc()).limit(limit + 1)
        return list((await self.session.execute(page)).all())

    async def _count_to(self, cap: int, conditions: Sequence[Any]) -> int:
        counted = select(IncidentRow.id).where(*conditions).limit(cap + 1).subquery()
        return (await self.session.execute(select(func.count()).select_from(counted))).scalar_one()

    async def _walk_search(self, query: str) -> bool:
        """Whether PostgreSQL's statistics (of the GIN index's expression) put `query` in so many messages that
        walking incidents newest first finds a page sooner than reading every matching message."""
        if self._dialect != "postgresql":
            return False
        plan = (
            await self.session.execute(
                text(
                    "EXPLAIN (FORMAT JSON) SELECT 1 FROM messages AS m "
                    "WHERE to_tsvector('simple', m.text) @@ plainto_tsquery('simple', :web_q)"
                ).bindparams(web_q=query)
            )
        ).scalar_one()
        if isinstance(plan, str):
            plan = json.loads(plan)
        return float(plan[0]["Plan"]["Plan Rows"]) >= self.walk_from_messages

    async def _searched_page(
        self, matching: Any, after: tuple[datetime, int] | None, limit: int
    ) -> tuple[list[Any], int]:
        """A page of a search and the count of all it matches, from one pass over the matching messages (a
        common word is in tens of thousands of them): the matches are gathered once (a CTE read twice is
        materialized) and both the count and the page are read from them."""
        found = matching.cte("found")
        total = select(func.count()).select_from(found).scalar_subquery().label("total")
        page = select(found, total)
        if after is not None:
            page = page.where(tuple_(found.c.opened_at, found.c.id) < tuple_(*after))
        page = page.order_by(found.c.opened_at.desc(), found.c.id.desc()).limit(limit + 1)
        rows = list((await self.session.execute(page)).all())
        if rows:
            return rows, rows[0].total
        if after is None:
            return rows, 0
        return rows, (await self.session.execute(select(func.count()).select_from(matching.subquery()))).scalar_one()

    @staticmethod
    def _filtered(filters: IncidentFilter) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if filters.status == "active":
            out.append(IncidentRow.status != Status.RESOLVED.value)
        elif filters.status is not None:
            out.append(IncidentRow.status == filters.status)
        if filters.severity is not None:
            out.append(IncidentRow.severity == filters.severity)
        if filters.opened_from is not None:
            out.append(IncidentRow.opened_at >= _day_start(filters.opened_from))
        if filters.opened_to is not None:
            out.append(IncidentRow.opened_at < _day_start(filters.opened_to + timedelta(days=1)))
        if filters.root_cause is not None:
            out.append(
                exists().where(
                    SuggestionRow.incident_id == IncidentRow.id,
                    SuggestionRow.state == "accepted",
                    SuggestionRow.root_cause == filters.root_cause,
                )
            )
        return out

    async def _text_matches(self, query: str, words: list[str]) -> ColumnElement[bool]:
        """Incidents whose title or a message not deleted has every word of `query`."""
        if not words:
            return false()
        if self._dialect == "postgresql":
            matching = text(
                "SELECT m.incident_id FROM messages AS m "
                "WHERE to_tsvector('simple', m.text) @@ plainto_tsquery('simple', :web_q) AND m.deleted_at IS NULL "
                "UNION ALL SELECT i.id FROM incidents AS i "
                "WHERE to_tsvector('simple', i.title) @@ plainto_tsquery('simple', :web_q)"
            ).bindparams(web_q=query)
            return IncidentRow.id.in_(matching.columns(incident_id=Integer))
        if await self._has_fts5():
            matching = text(
                "SELECT m.incident_id FROM messages_search JOIN messages AS m ON m.id = messages_search.rowid "
                "WHERE messages_search MATCH :web_q AND m.deleted_at IS NULL "
                "UNION ALL SELECT rowid FROM incidents_search WHERE incidents_search MATCH :web_q"
            ).bindparams(web_q=fts5_query(words))
            return IncidentRow.id.in_(matching.columns(incident_id=Integer))
        in_messages = select(MessageRow.incident_id).where(
            MessageRow.deleted_at.is_(None), *(_like(MessageRow.text, w) for w in words)
        )
        return or_(and_(*(_like(IncidentRow.title, w) for w in words)), IncidentRow.id.in_(in_messages))

    async def _has_fts5(self) -> bool:
        if self._fts5 is None:
            found = (
                await self.session.execute(
                    text("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'messages_search'")
                )
            ).scalar_one()
            self._fts5 = bool(found)
            if not found:
                log.warning("no FTS5 search tables in this SQLite database: searching with LIKE (slow on many rows)")
        return self._fts5

    async def _snippets(self, rows: Sequence[Any], query: str, words: list[str]) -> dict[int, str]:
        """For each incident listed, a piece of its earliest matching message; else of its title."""
        ids = [row.id for row in rows]
        if not ids:
            return {}
        found: Any
        if self._dialect == "postgresql":
            found = text(
                "SELECT DISTINCT ON (m.incident_id) m.incident_id, m.text FROM messages AS m "
                "WHERE m.incident_id IN :ids AND m.deleted_at IS NULL "
                "AND to_tsvector('simple', m.text) @@ plainto_tsquery('simple', :web_q) "
                "ORDER BY m.incident_id, m.posted_at, m.id"
            ).bindparams(web_q=query)
        elif await self._has_fts5():
            found = text(
                "SELECT m.incident_id, m.text FROM messages_search JOIN messages AS m ON m.id = messages_search.rowid "
                "WHERE messages_search MATCH :web_q AND m.incident_id IN :ids AND m.deleted_at IS NULL "
                "ORDER BY m.incident_id, m.posted_at DESC, m.id DESC"
            ).bindparams(web_q=fts5_query(words))
        else:
            found = (
                select(MessageRow.incident_id, MessageRow.text)
                .where(
                    MessageRow.incident_id.in_(ids),
                    MessageRow.deleted_at.is_(None),
                    *(_like(MessageRow.text, w) for w in words),
                )
                .order_by(MessageRow.incident_id, MessageRow.posted_at.desc(), MessageRow.id.desc())
            )
        if not isinstance(found, Select):
            found = found.bindparams(bindparam("ids", value=ids, expanding=True))
        texts: dict[int, str] = {}
        for incident_id, said in (await self.session.execute(found)).all():
            texts[incident_id] = said  # the last one seen: the earliest (SQLite's are ordered newest first)
        return {row.id: snippet(texts.get(row.id, row.title), words) for row in rows}

    async def _accepted_causes(self, ids: Iterable[int]) -> dict[int, str]:
        ids = list(ids)
        if not ids:
            return {}
        rows = (
            await self.session.execute(
                select(SuggestionRow.incident_id, SuggestionRow.root_cause)
                .where(SuggestionRow.incident_id.in_(ids), SuggestionRow.state == "accepted")
                .order_by(SuggestionRow.decided_at, SuggestionRow.id)
            )
        ).all()
        return {incident_id: cause for incident_id, cause in rows}  # noqa: C416 (the latest decision wins)

    async def root_cause_names(self, team_id: str) -> list[str]:
        rows = await self.session.execute(
            select(SuggestionRow.root_cause)
            .where(SuggestionRow.team_id == team_id, SuggestionRow.state == "accepted")
            .distinct()
            .order_by(SuggestionRow.root_cause)
        )
        return list(rows.scalars())

    # -- trends ------------------------------------------------------------------------------------------------------

    async def trends(self, team_id: str, *, visible_private: frozenset[str], since: date, until: date) -> Trends:
        in_range = [
            self._visible(team_id, visible_private),
            IncidentRow.opened_at >= _day_start(since),
            IncidentRow.opened_at < _day_start(until + timedelta(days=1)),
        ]
        if self._dialect == "postgresql":
            figures = await self._months_in_sql(in_range)
        else:
            figures = await self._months_in_python(in_range)
        months = tuple(
            figures.get(m) or MonthFigures(m, 0, None, None, None, None, None, None) for m in _months(since, until)
        )

        by_severity = (
            await self.session.execute(
                select(IncidentRow.severity, func.count(IncidentRow.id))
                .where(*in_range)
                .group_by(IncidentRow.severity)
                .order_by(func.count(IncidentRow.id).desc(), IncidentRow.severity)
            )
        ).all()
        return Trends(
            months=months,
            by_severity=tuple((s, n) for s, n in by_severity),
            root_causes=await self._accepted_top(SuggestionRow.root_cause, in_range),
            runbooks=await self._accepted_top(SuggestionRow.runbook, in_range),
        )

    async def _accepted_top(self, column: Any, in_range: list[ColumnElement[bool]]) -> tuple[tuple[str, int], ...]:
        count = func.count(SuggestionRow.incident_id.distinct())
        rows = (
            await self.session.execute(
                select(column, count)
                .join(IncidentRow, IncidentRow.id == SuggestionRow.incident_id)
                .where(SuggestionRow.state == "accepted", *in_range)
                .group_by(column)
                .order_by(count.desc(), column)
                .limit(TOP)
            )
        ).all()
        return tuple((name, n) for name, n in rows)

    async def _months_in_sql(self, in_range: list[ColumnElement[bool]]) -> dict[str, MonthFigures]:
        month = func.to_char(func.timezone("UTC", IncidentRow.opened_at), "YYYY-MM")

        def spread(milestone: Any, fraction: float) -> Any:
            seconds = extract("epoch", milestone - IncidentRow.opened_at)
            return func.percentile_cont(fraction).within_group(seconds).cast(Float)

        rows = (
            await self.session.execute(
                select(
                    month,
                    func.count(IncidentRow.id),
                    spread(IncidentRow.acknowledged_at, 0.5),
                    spread(IncidentRow.acknowledged_at, 0.9),
                    spread(IncidentRow.mitigated_at, 0.5),
                    spread(IncidentRow.mitigated_at, 0.9),
                    spread(IncidentRow.resolved_at, 0.5),
                    spread(IncidentRow.resolved_at, 0.9),
                )
                .where(*in_range)
                .group_by(month)
            )
        ).all()
        return {row[0]: MonthFigures(*row) for row in rows}

    async def _months_in_python(self, in_range: list[ColumnElement[bool]]) -> dict[str, MonthFigures]:
        rows = (
            await self.session.execute(
                select(
                    IncidentRow.opened_at,
                    IncidentRow.acknowledged_at,
                    IncidentRow.mitigated_at,
                    IncidentRow.resolved_at,
                ).where(*in_range)
            )
        ).all()
        durations: dict[str, list[list[float]]] = defaultdict(lambda: [[], [], []])
        counts: dict[str, int] = defaultdict(int)
        for opened, *milestones in rows:
            key = opened.strftime("%Y-%m")
            counts[key] += 1
            for spread, at in zip(durations[key], milestones, strict=True):
                seconds = _seconds(at, opened)
                if seconds is not None:
                    spread.append(seconds)
        out: dict[str, MonthFigures] = {}
        for key, count in counts.items():
            ack, mitigate, resolve = durations[key]
            out[key] = MonthFigures(
                key,
                count,
                percentile_cont(ack, 0.5),
                percentile_cont(ack, 0.9),
                percentile_cont(mitigate, 0.5),
                percentile_cont(mitigate, 0.9),
                percentile_cont(resolve, 0.5),
                percentile_cont(resolve, 0.9),
            )
        return out

    # -- runbooks ----------------------------------------------------------------------------------------------------

    async def runbook_stats(self, team_id: str) -> list[RootCauseStats]:
        rows = (
            await self.session.execute(
                select(
                    SuggestionRow.runbook,
                    SuggestionRow.error,
                    SuggestionRow.root_cause,
                    func.count(SuggestionRow.incident_id.distinct()),
                    func.count(_when(SuggestionRow.state == "accepted", SuggestionRow.incident_id).distinct()),
                    func.count(_when(SuggestionRow.state == "dismissed", SuggestionRow.incident_id).distinct()),
                )
                .where(SuggestionRow.team_id == team_id)
                .group_by(SuggestionRow.runbook, SuggestionRow.error, SuggestionRow.root_cause)
                .order_by(SuggestionRow.runbook, SuggestionRow.error, SuggestionRow.root_cause)
            )
        ).all()
        return [RootCauseStats(*row) for row in rows]


def _in_first_matches(query: str, cap: int) -> Any:
    """PostgreSQL: the incident has one of the first messages (not deleted) the GIN index finds with every word of
    `query`, enough of them to name more than `cap` incidents when the word is common (about 5 a common word's
    incident has), read in the table's order."""
    first = text(
        "SELECT m.incident_id FROM messages AS m WHERE to_tsvector('simple', m.text) @@ plainto_tsquery('simple', "
        ":web_q) AND m.deleted_at IS NULL LIMIT :web_first"
    ).bindparams(web_q=query, web_first=FIRST_MATCHES_PER_INCIDENT * (cap + 1))
    return IncidentRow.id.in_(first.columns(incident_id=Integer))


def _walked_text_match(query: str) -> Any:
    """PostgreSQL: the incident's title, or one of its messages not deleted, has every word of `query`, checked
    per incident (OFFSET 0 keeps the planner from reading every matching message into a hash instead)."""
    return text(
        "(to_tsvector('simple', incidents.title) @@ plainto_tsquery('simple', :web_q) OR EXISTS ("
        "SELECT 1 FROM messages AS m WHERE m.incident_id = incidents.id AND m.deleted_at IS NULL "
        "AND to_tsvector('simple', m.text) @@ plainto_tsquery('simple', :web_q) OFFSET 0))"
    ).bindparams(web_q=query)


def _when(condition: ColumnElement[bool], value: Any) -> Any:
    return case((condition, value))


def _like(column: Any, word: str) -> Any:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(f"%{escaped}%", escape="\\")
