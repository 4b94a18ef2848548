"""Tables. The schema in every environment comes from the Alembic migrations in `migrations/`; these models
mirror them (a test compares the two) and are what the repositories query."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# The full-text search structures of migration 0017 (bot/storage/web.py) that these models do not describe:
# PostgreSQL's expression indexes, SQLite's FTS5 tables (and the tables FTS5 keeps beside them).
SEARCH_INDEXES = frozenset({"ix_messages_text_search", "ix_incidents_title_search"})
SEARCH_TABLES = frozenset({"messages_search", "incidents_search"})
# slack_sdk's installation and OAuth state stores own these tables (bot/slack/installations.py); migration 0018 makes
# them, and their rows are written by slack_sdk through its own Table objects, not through models here.
SLACK_SDK_TABLES = frozenset({"slack_installations", "slack_bots", "slack_oauth_states"})


def described_by_models(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's `include_name`: False for the search structures above, which only the migrations manage."""
    if type_ == "index":
        return name not in SEARCH_INDEXES and name not in ("slack_installations_idx", "slack_bots_idx")
    if type_ == "table" and name is not None:
        if name in SLACK_SDK_TABLES:
            return False
        return not any(name == table or name.startswith(f"{table}_") for table in SEARCH_TABLES)
    return True


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which has no time zones) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass a UTC-aware datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IncidentCounterRow(Base):
    """The last incident number handed out per workspace and year. Incremented atomically, never decremented."""

    __tablename__ = "incident_counters"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, nullable=False)


class IncidentRow(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        UniqueConstraint("team_id", "public_id"),
        UniqueConstraint("team_id", "request_key"),
        Index("ix_incidents_team_id_opened_at", "team_id", "opened_at", "id"),  # the web view's list, newest first
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(32), nullable=False)
    public_id: Mapped[str] = mapped_column(String(32), nullable=False)
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    severity: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    channel_id: Mapped[str | None] = mapped_column(String(32), index=True)
    channel_name: Mapped[str | None] = mapped_column(String(80))
    card_ts: Mapped[str | None] = mapped_column(String(32))
    commander_id: Mapped[str | None] = mapped_column(String(32))
    opener_id: Mapped[str] = mapped_column(String(32), nullable=False)
    # What made this incident: the trigger of a slash command or the id of a submitted modal. A redelivery or a
    # resubmission carries the same key and finds this row instead of opening a second incident.
    request_key: Mapped[str | None] = mapped_column(String(255))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    mitigated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # Whether the channel is private (NULL: opened before this was stored; treated as private).
    private: Mapped[bool | None] = mapped_column(Boolean)
    # Opening is a process that survives a crash: each step's result is stored as soon as it is known; an incident
    # whose setup is not done is finished at start (or on a timer) by a live process (see services/opening.py).
    setup_done: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=true())
    setup_owner: Mapped[str | None] = mapped_column(String(64))  # the process doing the setup (its boot id)
    setup_attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    setup_reply: Mapped[str | None] = mapped_column(Text)  # JSON: how to tell the opener (response_url / view_id)
    channel_intent: Mapped[str | None] = mapped_column(String(80))  # the channel name being created
    announcement_ts: Mapped[str | None] = mapped_column(String(32))
    opener_told: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=true())


class ParticipantRow(Base):
    __tablename__ = "participants"
    __table_args__ = (UniqueConstraint("incident_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class IncidentRoleRow(Base):
    """Who holds a role of an incident (besides the commander, kept on the incident): one holder per role; a role
    cleared has no row."""

    __tablename__ = "incident_roles"
    __table_args__ = (UniqueConstraint("incident_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False)
    role: Mapped[str] = mapped_column(String(32), nullable=False)  # a role name of app.yaml's roles
    user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    assigned_by: Mapped[str] = mapped_column(String(32), nullable=False)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class StatusUpdateRow(Base):
    """A status update (`/incident update`): what it said, who posted it and when, the incident's status and
    severity then, and where it was posted. A redelivered command or a resubmitted form (same request key) is the
    same row."""

    __tablename__ = "status_updates"
    __table_args__ = (UniqueConstraint("incident_id", "request_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(32), nullable=False)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    severity: Mapped[str] = mapped_column(String(64), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)  # the update, or the form's current status
    impact: Mapped[str | None] = mapped_column(Text)
    next_steps: Mapped[str | None] = mapped_column(Text)
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    request_key: Mapped[str | None] = mapped_column(String(255))
    message_ts: Mapped[str | None] = mapped_column(String(32))  # in the incident channel
    announcement_ts: Mapped[str | None] = mapped_column(String(32))  # in the announcement channel


class AuditRow(Base):
    """Who changed what, when. Kept even when an incident that failed to open is removed (incident_id is then
    NULL and public_id still says which one it was)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(32), nullable=False)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"), index=True)
    public_id: Mapped[str | None] = mapped_column(String(32))
    actor_id: Mapped[str] = mapped_column(String(32), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    field: Mapped[str | None] = mapped_column(String(64))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class MessageRow(Base):
    """Every message of an incident channel, as Slack delivered it, with its edits and deletion.

    Keyed by Slack's own identity of a message, (channel, ts): however often and in whatever order a message,
    its edit or its deletion arrives, there is one row."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel_id", "ts"),
        Index("ix_messages_incident_id_revision", "incident_id", "revision"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(32), nullable=False)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[str] = mapped_column(String(32), nullable=False)
    ts: Mapped[str] = mapped_column(String(32), nullable=False)
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(32))
    bot_id: Mapped[str | None] = mapped_column(String(32))
    author_name: Mapped[str | None] = mapped_column(String(255))  # integrations name themselves
    is_integration: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    subtype: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    original_text: Mapped[str | None] = mapped_column(Text)  # set by the first edit
    edited_ts: Mapped[str | None] = mapped_column(String(32))  # Slack's ts of the latest edit applied
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    files: Mapped[str | None] = mapped_column(Text)  # JSON: [{"name", "type", "permalink"}]
    permalink: Mapped[str | None] = mapped_column(Text)
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # Larger with every write, in commit order (set by the database: migrations/versions/0006_revisions.py).
    revision: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0", index=True)


class MarkRow(Base):
    """One person's reaction that marks a message as a timeline event of a kind. Kept by (channel, ts), so a
    reaction that arrives before its message is not lost; the kind holds while any person's mark remains.

    A removed reaction leaves its row with `removed_at` (the removal's event time): Slack delivers reaction_added
    and reaction_removed in no promised order, and an adding older than the removal must not mark again."""

    __tablename__ = "marks"
    __table_args__ = (UniqueConstraint("channel_id", "ts", "reaction", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(32), nullable=False)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[str] = mapped_column(String(32), nullable=False)
    ts: Mapped[str] = mapped_column(String(32), nullable=False)
    reaction: Mapped[str] = mapped_column(String(100), nullable=False)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TimelineEntryRow(Base):
    """Timeline entries that are not reactions on channel messages: `/incident note` and messages added with
    the "Add to incident timeline" shortcut (from any channel)."""

    __tablename__ = "timeline_entries"
    __table_args__ = (
        UniqueConstraint("incident_id", "request_key"),
        Index("ix_timeline_entries_incident_id_revision", "incident_id", "revision"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(32), nullable=False)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    source: Mapped[str] = mapped_column(String(32), nullable=False)  # note | shortcut
    author_id: Mapped[str | None] = mapped_column(String(32))
    added_by: Mapped[str] = mapped_column(String(32), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    channel_id: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    permalink: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    request_key: Mapped[str | None] = mapped_column(String(255))
    revision: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0", index=True)


class HandledRequestRow(Base):
    """A request already applied (a click, by its action_ts): a replay or a second delivery changes nothing."""

    __tablename__ = "handled_requests"
    __table_args__ = (UniqueConstraint("team_id", "request_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(32), nullable=False)
    request_key: Mapped[str] = mapped_column(String(255), nullable=False)
    handled_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class DroppedEventRow(Base):
    """A signed event that could never be stored (a malformed ts, the wrong shape): answered 2xx so that Slack does
    not deliver it forever, and kept here with the reason and an excerpt, so that nothing disappears silently."""

    __tablename__ = "dropped_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str | None] = mapped_column(String(32))
    event_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(255), nullable=False)
    excerpt: Mapped[str] = mapped_column(Text, nullable=False)
    dropped_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class PersonRow(Base):
    """Display names from users.info, so timelines and reports name people without asking Slack each time."""

    __tablename__ = "people"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    is_bot: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class SuggestionRow(Base):
    """A root-cause suggestion shown in an incident channel, what became of it, and what people decided about it.
    One row per root cause and incident: a root cause shown again later is the same row."""

    __tablename__ = "suggestions"
    __table_args__ = (
        UniqueConstraint("incident_id", "runbook", "error", "root_cause"),
        Index("ix_suggestions_team_id_state", "team_id", "state"),  # a workspace's past decisions
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(32), nullable=False)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    runbook: Mapped[str] = mapped_column(Text, nullable=False)  # title, without its prefix (as long as it is)
    runbook_path: Mapped[str] = mapped_column(String(512), nullable=False)
    error: Mapped[str] = mapped_column(Text, nullable=False)
    root_cause: Mapped[str] = mapped_column(Text, nullable=False)
    score: Mapped[float] = mapped_column(Float, nullable=False)
    citation: Mapped[str] = mapped_column(Text, nullable=False)
    evidence: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list of strings
    alternatives: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list of strings
    remediation: Mapped[str] = mapped_column(Text, nullable=False, default="")  # the runbook's, as posted
    # posted (standing: at most one per incident) | accepted | dismissed | superseded | retracted
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    message_ts: Mapped[str | None] = mapped_column(String(32))
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)  # when last shown
    decided_by: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(Text)  # why it was updated to, or withdrawn (a sentence)


class ReportRow(Base):
    """Every generated post-incident report, with its version and what it was built from."""

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("incident_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(32), nullable=False)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)  # 1, 2, ... per incident
    final: Mapped[bool] = mapped_column(Boolean, nullable=False)
    markdown: Mapped[str] = mapped_column(Text, nullable=False)
    built_from: Mapped[str] = mapped_column(Text, nullable=False)  # JSON: entries, suggestion, template, ...
    created_by: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    message_ts: Mapped[str | None] = mapped_column(String(32))


class SeenBeforeRow(Base):
    """A resolved incident an incident's channel was told about ("Seen before"): once per pair, whatever root cause
    led to it; `message_ts` is the post's (None while it is being posted, or if its post was lost)."""

    __tablename__ = "seen_before"
    __table_args__ = (UniqueConstraint("incident_id", "past_incident_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    past_incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False)
    # The root cause both share: the one accepted in the past incident, standing or accepted in this one. None when
    # the match was on the evidence (what both channels said), not on a root cause.
    runbook: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    root_cause: Mapped[str | None] = mapped_column(Text)
    # A match on the evidence: the distinctive terms both said (JSON list, as written here), and the resemblance.
    shared: Mapped[str | None] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float)
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    message_ts: Mapped[str | None] = mapped_column(String(32))


class FingerprintRow(Base):
    """What is kept of a resolved incident's evidence to recognise it later ("Seen before" by resemblance,
    bot/suggestions/resemblance.py): its most frequent terms and their counts (JSON object). Written by a job at
    each resolution (bot/services/fingerprints.py); only the fingerprints of incidents resolved now are compared."""

    __tablename__ = "incident_fingerprints"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    terms: Mapped[str] = mapped_column(Text, nullable=False)
    messages: Mapped[int] = mapped_column(Integer, nullable=False)  # how many messages it was made from
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class JobRow(Base):
    """Something to do at a time (bot/services/scheduler.py). `key` names one piece of work: scheduling it again
    finds this row. pending → running (claimed by a process, its boot id, until `lease_until`) → done | failed;
    pending or running → cancelled."""

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("key"),
        Index("ix_jobs_state_due_at", "state", "due_at"),  # what is due, and what is running
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    payload: Mapped[str] = mapped_column(Text, nullable=False)  # JSON object
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)  # pending|running|done|failed|cancelled
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")  # claims so far
    claimed_by: Mapped[str | None] = mapped_column(String(64))  # boot id of the process running it
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The workspace the job acts for (its Slack token is that workspace's); NULL: the one of single-workspace mode.
    team_id: Mapped[str | None] = mapped_column(String(32))


class WorkspaceRow(Base):
    """A workspace the bot was installed in by OAuth (bot/slack/installations.py): when, and when it was uninstalled.
    Its incidents stay readable for `oauth.retention_days` after the uninstall, then they are deleted."""

    __tablename__ = "workspaces"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    enterprise_id: Mapped[str | None] = mapped_column(String(32))
    is_enterprise_install: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    name: Mapped[str | None] = mapped_column(String(200))
    installed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    uninstalled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FollowupRow(Base):
    """An action agreed during an incident (`/incident followup`), numbered 1, 2, ... per incident, and its export to
    an issue tracker. `request_key` (the slash command's trigger) makes a redelivered command find this row.

    Export: `export_target` names the tracker it goes to ("github:owner/name", "jira:OPS"; NULL: none configured
    when it was added), `export_state` is pending | exported | failed. An attempt claims the row until
    `export_claimed_until` and sets `export_uncertain` (an issue may exist) until its answer says otherwise; the next
    attempt then looks for the issue by its marker before creating one (services/followups.py)."""

    __tablename__ = "followups"
    __table_args__ = (
        UniqueConstraint("incident_id", "number"),
        UniqueConstraint("incident_id", "request_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(32), nullable=False)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)  # plain text, as typed
    owner_id: Mapped[str | None] = mapped_column(String(32))
    due_on: Mapped[date | None] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16), nullable=False)  # open | done
    created_by: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    done_by: Mapped[str | None] = mapped_column(String(32))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    request_key: Mapped[str | None] = mapped_column(String(255))
    export_target: Mapped[str | None] = mapped_column(String(255))
    export_state: Mapped[str | None] = mapped_column(String(16), index=True)
    export_attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    export_uncertain: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    export_claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    export_first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    export_error: Mapped[str | None] = mapped_column(Text)
    issue_id: Mapped[str | None] = mapped_column(String(64))  # GitHub's issue number, Jira's issue key
    issue_url: Mapped[str | None] = mapped_column(Text)
    exported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PageRow(Base):
    """A service paged (or to be paged) for an incident: one row per (incident, service), so a page is never made
    twice; the trigger and the resolve are each recorded as the provider answers them (services/paging.py)."""

    __tablename__ = "pages"
    __table_args__ = (UniqueConstraint("incident_id", "service"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(32), nullable=False)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    service: Mapped[str] = mapped_column(String(64), nullable=False)  # its name in app.yaml's paging.services
    provider: Mapped[str] = mapped_column(String(16), nullable=False)  # pagerduty | opsgenie
    dedup_key: Mapped[str] = mapped_column(String(255), nullable=False)  # PagerDuty dedup_key / Opsgenie alias
    reason: Mapped[str] = mapped_column(String(16), nullable=False)  # severity (app.yaml) | command
    severity: Mapped[str] = mapped_column(String(64), nullable=False)  # the incident's severity when asked
    requested_by: Mapped[str] = mapped_column(String(32), nullable=False)  # who asked, or whose change paged
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    trigger_attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    triggered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the provider accepted the trigger
    resolve_wanted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the incident was resolved
    resolve_attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # accepted, or nothing was ever sent
    last_error: Mapped[str | None] = mapped_column(Text)  # the last failure, as told in the channel
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # not before (a 429's Retry-After)
    sending_until: Mapped[datetime | None] = mapped_column(UTCDateTime())  # a sender's lease: one at a time
