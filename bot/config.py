"""Configuration: behaviour from app.yaml, secrets and endpoints from the environment.

`load_config(path, environ)` is the only entry point. It never reads `os.environ` itself, so tests and the
CLI pass the environment they want. Every problem is a `ConfigError` whose message names the file, the line
and the key, and says what is expected. Secrets are wrapped in `Secret` so they never show up in a repr, a log
or an error.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.defaults import DEFAULT_APP_YAML

log = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = Path("app.yaml")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///incident-bot.db"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_GITHUB_API_URL = "https://api.github.com"
DEFAULT_PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com"
DEFAULT_OPSGENIE_API_URL = "https://api.opsgenie.com"


class ConfigError(Exception):
    """A startup error the operator can fix: says which file, line and key, and what was expected."""


class DatabaseRefused(ConfigError):
    """At start, the database answered in a way waiting will not mend: wrong host, user, password or database."""


class DatabaseUnavailable(Exception):
    """At start, the database did not accept connections within the time `serve` was given to wait for it."""


class Secret:
    """A token or signing secret: usable, but never printed."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class Severity:
    name: str  # the word people type: "sev1"
    label: str  # what the card shows: "SEV1 · Critical"
    description: str  # one line shown in help and the open-incident modal
    invite: tuple[str, ...] = ()  # Slack user IDs invited when an incident opens at, or moves to, this level
    # How often a status update is due while an incident of this level is not resolved (None: no cadence).
    update_every_minutes: int | None = None
    page: tuple[str, ...] = ()  # paging services paged when an incident opens at, or moves to, this level


COMMANDER = "commander"  # the role every incident has; kept on the incident itself (`commander_id`)


@dataclass(frozen=True, slots=True)
class Role:
    name: str  # the word people type: "comms"
    label: str  # what the card and the report show: "Communications lead"
    description: str  # one line shown in help


PAGERDUTY = "pagerduty"
OPSGENIE = "opsgenie"
PROVIDER_NAMES = {PAGERDUTY: "PagerDuty", OPSGENIE: "Opsgenie"}


@dataclass(frozen=True, slots=True)
class PagingService:
    """A service the bot can page: its name in app.yaml and `/incident page <name>`, and where its key is."""

    name: str
    provider: str  # PAGERDUTY (Events API v2 routing key) or OPSGENIE (Alert API key)
    key_variable: str  # the environment variable holding the routing key / API key (app.yaml never holds it)
    key: Secret | None = None  # its value, from the environment; None when the variable is not set

    @property
    def provider_name(self) -> str:
        return PROVIDER_NAMES[self.provider]


@dataclass(frozen=True, slots=True)
class PagingSettings:
    services: tuple[PagingService, ...] = ()
    pagerduty_url: str = DEFAULT_PAGERDUTY_EVENTS_URL  # PAGERDUTY_EVENTS_URL (tests point it at a fake)
    opsgenie_url: str = DEFAULT_OPSGENIE_API_URL  # OPSGENIE_API_URL

    @property
    def enabled(self) -> bool:
        return bool(self.services)

    def service(self, name: str) -> PagingService | None:
        wanted = name.strip().lower()
        return next((s for s in self.services if s.name == wanted), None)


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    # Placeholders: {year}, {number} (int, e.g. {number:03d}), {slug} (from the title), {severity}.
    name_template: str = "inc-{year}-{number:03d}-{slug}"
    private: bool = False
    # Placeholders: {public_id}, {title}, {severity}, {status}, {commander} (a mention or "unassigned").
    topic_template: str = "{public_id} | {severity} | {status} | Commander: {commander}"


DEFAULT_TIMELINE_REACTIONS: tuple[tuple[str, str], ...] = (
    ("pushpin", "key_event"),
    ("rotating_light", "impact"),
    ("mag", "finding"),
    ("hammer_and_wrench", "action_taken"),
    ("white_check_mark", "verification"),
)


@dataclass(frozen=True, slots=True)
class TimelineSettings:
    # emoji name (without colons) -> kind of timeline event (lowercase word); several emoji may share a kind
    reactions: tuple[tuple[str, str], ...] = DEFAULT_TIMELINE_REACTIONS
    # How the bot confirms a mark: "ephemeral" (a note only the reacting person sees), "reaction" (the bot adds
    # `confirm_reaction` to the message), or "none".
    confirm: str = "ephemeral"
    confirm_reaction: str = "ballot_box_with_check"
    show: int = 20  # entries `/incident timeline` shows (the newest)

    def kind_for(self, reaction: str) -> str | None:
        # Skin tones arrive as "+1::skin-tone-2": the base emoji decides.
        base = reaction.split("::", 1)[0]
        return next((kind for emoji, kind in self.reactions if emoji == base), None)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(kind for _, kind in self.reactions))


def kind_label(kind: str) -> str:
    """`key_event` -> `Key event`."""
    return kind.replace("_", " ").replace("-", " ").capitalize()


@dataclass(frozen=True, slots=True)
class SuggestionSettings:
    enabled: bool = True
    # The markdown runbooks the engine reads; relative paths are relative to the folder of app.yaml.
    runbooks: Path = Path("runbooks")
    # A new suggestion post waits this many seconds after the previous one (updates and withdrawals never wait).
    min_interval_seconds: int = 300


@dataclass(frozen=True, slots=True)
class ReportSettings:
    author: str = "Incident Response Team"  # the report's Author line
    template: Path | None = None  # a Jinja2 Markdown template replacing the built-in one (relative to app.yaml)


@dataclass(frozen=True, slots=True)
class GitHubExport:
    """Follow-ups exported as GitHub issues: `followups.export.github` in app.yaml, the token from the environment."""

    repository: str  # "owner/name"
    labels: tuple[str, ...] = ()
    token: Secret | None = None  # GITHUB_TOKEN
    api_url: str = DEFAULT_GITHUB_API_URL  # GITHUB_API_URL, without a trailing "/"


@dataclass(frozen=True, slots=True)
class JiraExport:
    """Follow-ups exported as Jira Cloud issues: `followups.export.jira` in app.yaml, the credentials from the
    environment."""

    site: str  # "https://example.atlassian.net", without a trailing "/": browse links point here
    project: str  # the project key: "OPS"
    issue_type: str = "Task"
    email: str | None = None  # JIRA_EMAIL
    token: Secret | None = None  # JIRA_API_TOKEN
    api_url: str | None = None  # JIRA_URL: where the REST API is called (default: the site)

    @property
    def base_url(self) -> str:
        return self.api_url or self.site


@dataclass(frozen=True, slots=True)
class FollowupSettings:
    export: GitHubExport | JiraExport | None = None  # at most one tracker


@dataclass(frozen=True, slots=True)
class ArchiveSettings:
    """`archive` in app.yaml: incident channels archived some days after resolution (off unless `after_days`)."""

    after_days: int | None = None  # None: never archived by the bot
    wait_for_followups: bool = True  # not while follow-ups of the incident are still open

    @property
    def enabled(self) -> bool:
        return self.after_days is not None


@dataclass(frozen=True, slots=True)
class OAuthSettings:
    """`oauth` in app.yaml: how OAuth mode (SLACK_CLIENT_ID and SLACK_CLIENT_SECRET set, no SLACK_BOT_TOKEN) keeps
    installations (bot/slack/installations.py)."""

    retention_days: int = 90  # an uninstalled workspace's incidents are readable this long, then deleted
    refresh_minutes: int = 120  # a rotating token is refreshed when it expires within this
    redirect_url: str | None = None  # sent in install links; must be one of the app's OAuth redirect URLs


DEFAULT_WEB_PREFIX = "/web"
DEFAULT_SESSION_HOURS = 12
SESSION_HOURS_MAX = 24 * 30
WEB_SECRET_VARIABLE = "INCIDENT_BOT_WEB_SECRET"


@dataclass(frozen=True, slots=True)
class WebSettings:
    """`web` in app.yaml: the web view of incidents (bot/web), served beside /slack/events; secrets from the
    environment (never from app.yaml)."""

    enabled: bool = False
    path_prefix: str = DEFAULT_WEB_PREFIX  # where its pages are: "/web" -> /web/incidents
    base_url: str | None = None  # the public URL browsers reach the bot at, without a trailing "/": "https://x.org"
    session_hours: int = DEFAULT_SESSION_HOURS  # how long a sign-in lasts
    client_id: Secret | None = None  # SLACK_CLIENT_ID (Sign in with Slack)
    client_secret: Secret | None = None  # SLACK_CLIENT_SECRET
    # What cookies are signed with: INCIDENT_BOT_WEB_SECRET if set, otherwise SLACK_SIGNING_SECRET.
    cookie_secret: Secret | None = None

    @property
    def root(self) -> str:
        """The public URL of the web view: base_url + path_prefix."""
        return f"{self.base_url or ''}{self.path_prefix}"

    @property
    def redirect_url(self) -> str:
        """Where Slack sends a browser back after sign-in (the app's OAuth redirect URL)."""
        return f"{self.root}/oauth/callback"

    def incident_url(self, public_id: str) -> str | None:
        """The incident's page, for links from Slack; None when the web view is off."""
        if not self.enabled or not self.base_url:
            return None
        return f"{self.root}/incidents/{public_id}"


@dataclass(frozen=True, slots=True)
class SlackSettings:
    """From the environment (never from app.yaml)."""

    bot_token: Secret | None = None  # SLACK_BOT_TOKEN
    signing_secret: Secret | None = None  # SLACK_SIGNING_SECRET
    app_token: Secret | None = None  # SLACK_APP_TOKEN; set => Socket Mode
    api_url: str = DEFAULT_SLACK_API_URL  # SLACK_API_URL, always ends with "/"
    client_id: Secret | None = None  # SLACK_CLIENT_ID
    client_secret: Secret | None = None  # SLACK_CLIENT_SECRET

    @property
    def socket_mode(self) -> bool:
        return self.app_token is not None

    @property
    def oauth_mode(self) -> bool:
        """Many workspaces, installed by OAuth: the app's client ID and secret and no bot token. (With a bot token
        the client ID and secret only serve Sign in with Slack, for the web view: one workspace.)"""
        return self.bot_token is None and self.client_id is not None and self.client_secret is not None


@dataclass(frozen=True, slots=True)
class Config:
    path: Path  # the app.yaml this came from
    app_name: str = "incident-bot"
    command: str = "/incident"
    channel: ChannelSettings = field(default_factory=ChannelSettings)
    severities: tuple[Severity, ...] = ()
    default_severity: str = ""
    announcement_channel: str | None = None  # a channel ID (C...) the bot posts new incidents to
    roles: tuple[Role, ...] = ()  # the roles besides the commander, in the order shown
    timeline: TimelineSettings = field(default_factory=TimelineSettings)
    suggestions: SuggestionSettings = field(default_factory=SuggestionSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    followups: FollowupSettings = field(default_factory=FollowupSettings)
    paging: PagingSettings = field(default_factory=PagingSettings)
    archive: ArchiveSettings = field(default_factory=ArchiveSettings)
    oauth: OAuthSettings = field(default_factory=OAuthSettings)
    web: WebSettings = field(default_factory=WebSettings)
    slack: SlackSettings = field(default_factory=SlackSettings)
    database_url: str = DEFAULT_DATABASE_URL  # DATABASE_URL, normalised to an async driver

    def severity(self, name: str) -> Severity | None:
        wanted = name.strip().lower()
        return next((s for s in self.severities if s.name == wanted), None)

    @property
    def severity_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.severities)

    @property
    def all_roles(self) -> tuple[Role, ...]:
        """Every role, the commander first."""
        return (COMMANDER_ROLE, *self.roles)

    def role(self, name: str) -> Role | None:
        wanted = name.strip().lower()
        return next((r for r in self.all_roles if r.name == wanted), None)

    def __repr__(self) -> str:
        # Written by hand (the dataclass keeps it) so a database password never reaches a log.
        shown = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        shown["database_url"] = mask_password(self.database_url)
        fields = ", ".join(f"{name}={value!r}" for name, value in shown.items())
        return f"Config({fields})"


COMMANDER_ROLE = Role(COMMANDER, "Commander", "Leads the incident: decides, delegates, keeps it moving.")


# ----------------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------------

CONFIG_PATH_VARIABLE = "INCIDENT_BOT_CONFIG"

SLACK_COMMAND_MAX_LENGTH = 32  # Slack's limit, slash included
SLACK_APP_NAME_MAX_LENGTH = 35  # Slack's limit for an app's display name
SEVERITY_LABEL_MAX_LENGTH = 75  # Slack's limit for a select option's text
# Slack's limit of options in a static select menu: the severities are the options of the card's and the open form's
# severity menus; the timeline kinds, with "note", those of the shortcut form's kind menu.
SELECT_MAX_OPTIONS = 100
SEVERITIES_MAX = SELECT_MAX_OPTIONS
ROLES_MAX = 20  # roles besides the commander: each is a line of the card
ROLE_LABEL_MAX_LENGTH = 75
UPDATE_EVERY_MINUTES_MAX = 7 * 24 * 60  # a week
KINDS_MAX = SELECT_MAX_OPTIONS - 1  # "note" is always offered too

# Placeholders each template may use, with the sample values it is checked against.
_NAME_TEMPLATE_SAMPLE: dict[str, object] = {
    "year": 2026,
    "number": 7,
    "slug": "database-down",
    "severity": "sev1",
}
_TOPIC_TEMPLATE_SAMPLE: dict[str, object] = {
    "public_id": "INC-2026-007",
    "title": "Database down",
    "severity": "SEV1 · Critical",
    "status": "Open",
    "commander": "<@U012AB3CD>",
}

_COMMAND_RE = re.compile(r"/[a-z0-9_-]+")
_USER_ID_RE = re.compile(r"[UW][A-Z0-9]{2,}")
_CHANNEL_ID_RE = re.compile(r"[CG][A-Z0-9]{2,}")
_CHANNEL_NAME_RE = re.compile(r"[a-z0-9_-]+")
_EMOJI_NAME_RE = re.compile(r"[a-z0-9_+'-]+")  # Slack's emoji names, without the colons
_KIND_RE = re.compile(r"[a-z][a-z0-9_]*")
ROLE_NAME_MAX_LENGTH = 32
_RESERVED_ROLE_NAMES = ("commander", "none")

_STR = "tag:yaml.org,2002:str"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_INT = "tag:yaml.org,2002:int"
_NUMBER_TAGS = frozenset({_INT, "tag:yaml.org,2002:float"})
_MERGE = "tag:yaml.org,2002:merge"

_TOP_LEVEL_KEYS = (
    "app_name",
    "command",
    "channel",
    "severities",
    "default_severity",
    "announcement_channel",
    "roles",
    "timeline",
    "suggestions",
    "report",
    "followups",
    "paging",
    "archive",
    "web",
    "oauth",
)
_WEB_KEYS = ("enabled", "path_prefix", "base_url", "session_hours")
_WEB_PREFIX_RE = re.compile(r"(/[a-z0-9_-]+)+")
_RESERVED_PREFIXES = ("/slack", "/healthz", "/metrics")
_ARCHIVE_KEYS = ("after_days", "wait_for_followups")
_OAUTH_KEYS = ("retention_days", "refresh_minutes", "redirect_url")
RETENTION_DAYS_MAX = 3650
REFRESH_MINUTES_MAX = 11 * 60  # Slack's rotating tokens last 12 hours
ARCHIVE_AFTER_DAYS_MAX = 365
_FOLLOWUP_KEYS = ("export",)
_EXPORT_KEYS = ("github", "jira")
_GITHUB_KEYS = ("repository", "labels")
_JIRA_KEYS = ("site", "project", "issue_type")
_REPOSITORY_RE = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_JIRA_PROJECT_RE = re.compile(r"[A-Z][A-Z0-9_]+")
_PAGING_KEYS = ("services",)
_PAGING_SERVICE_KEYS = ("name", "pagerduty_routing_key_env", "opsgenie_api_key_env")
_PAGING_KEY_VARIABLES = {"pagerduty_routing_key_env": PAGERDUTY, "opsgenie_api_key_env": OPSGENIE}
SERVICE_NAME_MAX_LENGTH = 64
_ENV_NAME_RE = re.compile(r"[A-Z_][A-Z0-9_]*")
_REPORT_KEYS = ("author", "template")
_SUGGESTION_KEYS = ("enabled", "runbooks", "min_interval_seconds")
_CHANNEL_KEYS = ("name_template", "private", "topic_template")
_TIMELINE_KEYS = ("reactions", "confirm", "confirm_reaction", "show")
_TIMELINE_CONFIRM_VALUES = ("ephemeral", "reaction", "none")
TIMELINE_SHOW_MAX = 50  # Slack's limit of blocks in one message
EMOJI_NAME_MAX_LENGTH = 100  # what the marks table keeps
KIND_MAX_LENGTH = 64  # what the marks table keeps
_SEVERITY_KEYS = ("name", "label", "description", "invite", "update_every_minutes", "page")
_ROLE_KEYS = ("name", "label", "description")


@dataclass(frozen=True)
class _Names:
    """What the names of a list of named entries (each a `noun`) must be: else "expected {like} ({rule}), got ..."."""

    noun: str
    pattern: re.Pattern[str]
    like: str
    rule: str
    max_length: int | None = None


_SEVERITY_NAMES = _Names("severity", re.compile(r"[a-z0-9_-]+"), 'a lowercase word like "sev2"', "a-z, 0-9, - and _")
_ROLE_NAMES = _Names(
    "role",
    re.compile(r"[a-z][a-z0-9_-]*"),
    'a lowercase word like "comms"',
    f"a-z first, then a-z, 0-9, - and _; at most {ROLE_NAME_MAX_LENGTH} characters",
    ROLE_NAME_MAX_LENGTH,
)
_SERVICE_NAMES = _Names(
    "service",
    re.compile(r"[a-z0-9][a-z0-9_-]*"),
    'a service name like "payments"',
    f"lowercase a-z, 0-9, - and _, at most {SERVICE_NAME_MAX_LENGTH} characters",
    SERVICE_NAME_MAX_LENGTH,
)
_REQUIRED = {  # what each required key expects, for "missing required key" messages
    "command": 'a slash command like "/incident"',
    "severities": "a list of severities, each with name, label and description",
    "default_severity": "the name of the severity new incidents get",
    "name": 'a lowercase word like "sev2" (a role: "comms")',
    "label": 'a short label like "SEV2 · Major" (a role: "Communications lead")',
    "description": "one line saying when to use this severity (or, in roles, what the role does)",
    "repository": "a GitHub repository like owner/name",
    "site": "your Jira Cloud site, like https://example.atlassian.net",
    "project": "a Jira project key like OPS",
    "services": "a list of services, each with a name and pagerduty_routing_key_env or opsgenie_api_key_env",
}

_TOKEN_KINDS = {  # prefix -> what it is, the variable it belongs in
    "xoxb-": ("a bot token", "SLACK_BOT_TOKEN"),
    "xapp-": ("an app-level token", "SLACK_APP_TOKEN"),
    "xoxp-": ("a user token", None),
}
_TOKEN_PREFIXES = {variable: prefix for prefix, (_kind, variable) in _TOKEN_KINDS.items() if variable}

_ASYNC_DATABASE_SCHEMES = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def resolve_config_path(environ: Mapping[str, str]) -> Path:
    """The app.yaml to load: `INCIDENT_BOT_CONFIG` if set (and not empty; it must then exist), else `./app.yaml`,
    else the one the package carries (`bot/defaults`), which says so in one log line."""
    configured = environ.get(CONFIG_PATH_VARIABLE, "").strip()
    if configured:
        return Path(configured).expanduser()
    if DEFAULT_CONFIG_PATH.is_symlink() or DEFAULT_CONFIG_PATH.exists():  # a dangling link is a mistake to report
        return DEFAULT_CONFIG_PATH
    log.info(
        "no app.yaml in %s and %s is not set: using the packaged defaults (%s and the runbooks beside it); "
        "`incident-bot init` writes a copy of both to edit",
        Path.cwd(),
        CONFIG_PATH_VARIABLE,
        DEFAULT_APP_YAML,
    )
    return DEFAULT_APP_YAML


def load_config(path: Path, environ: Mapping[str, str]) -> Config:
    """Read `path` (YAML) and the Slack/database settings in `environ`; raise `ConfigError` on any problem."""
    root = _compose(path)
    settings = _FileReader(str(path)).read(root)
    if "followups" in settings:
        settings["followups"] = _with_tracker_credentials(settings["followups"], environ)
    if "paging" in settings:
        settings["paging"] = _paging_from_environment(settings["paging"], environ)
    if "web" in settings:
        settings["web"] = _web_from_environment(settings["web"], environ)
    return Config(
        path=path.resolve(),
        slack=_slack_settings(environ),
        database_url=normalise_database_url(environ.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL),
        **settings,
    )


def require_slack_credentials(config: Config) -> None:
    """Raise `ConfigError` unless the environment had what the chosen connection mode needs.

    Socket Mode (SLACK_APP_TOKEN set) needs SLACK_BOT_TOKEN; HTTP mode needs SLACK_BOT_TOKEN and
    SLACK_SIGNING_SECRET. Kept apart from `load_config` so tools that never talk to Slack can still load.
    """
    slack = config.slack
    if slack.oauth_mode:
        if slack.socket_mode:
            raise ConfigError(
                "OAuth mode (SLACK_CLIENT_ID and SLACK_CLIENT_SECRET set, no SLACK_BOT_TOKEN) serves many workspaces "
                "over HTTP: unset SLACK_APP_TOKEN, or set SLACK_BOT_TOKEN to serve one workspace in Socket Mode"
            )
        if slack.signing_secret is None:
            raise ConfigError(
                "missing Slack credentials for OAuth mode (SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are set): set "
                "SLACK_SIGNING_SECRET in the environment"
            )
        return
    if slack.socket_mode:
        missing = [] if slack.bot_token is not None else ["SLACK_BOT_TOKEN"]
        mode = "Socket Mode (SLACK_APP_TOKEN is set)"
        hint = ""
    else:
        missing = [
            name
            for name, value in (
                ("SLACK_BOT_TOKEN", slack.bot_token),
                ("SLACK_SIGNING_SECRET", slack.signing_secret),
            )
            if value is None
        ]
        mode = "HTTP mode"
        hint = (
            "; or set SLACK_APP_TOKEN (xapp-...) to use Socket Mode, which needs no signing secret; or, to serve many "
            "workspaces installed by OAuth, SLACK_CLIENT_ID and SLACK_CLIENT_SECRET instead of SLACK_BOT_TOKEN"
        )
    if missing:
        raise ConfigError(f"missing Slack credentials for {mode}: set {' and '.join(missing)} in the environment{hint}")


def require_web_credentials(config: Config) -> None:
    """Raise `ConfigError` when the web view is on but Sign in with Slack cannot work: SLACK_CLIENT_ID and
    SLACK_CLIENT_SECRET (the app's Basic Information page) and a key to sign cookies with (INCIDENT_BOT_WEB_SECRET,
    or else SLACK_SIGNING_SECRET) are needed. Only `serve` (and the app itself) ask: other tools still load."""
    web = config.web
    if not web.enabled:
        return
    needed = (("SLACK_CLIENT_ID", web.client_id), ("SLACK_CLIENT_SECRET", web.client_secret))
    missing = [name for name, value in needed if value is None]
    if web.cookie_secret is None:
        missing.append(f"{WEB_SECRET_VARIABLE} (or SLACK_SIGNING_SECRET)")
    if missing:
        raise ConfigError(
            f"{config.path}: web.enabled is true, so Sign in with Slack needs {' and '.join(missing)} in the "
            "environment (the client ID and secret are on the Slack app's Basic Information page); or set "
            "web.enabled: false"
        )


def require_paging_keys(config: Config) -> None:
    """Raise `ConfigError` when a paging service's key variable is not set (only `serve` asks: tools that never page
    still load). A page that cannot go out is found at start, not in the middle of an incident."""
    missing = [service for service in config.paging.services if service.key is None]
    if missing:
        named = ", ".join(f"{s.key_variable} (service {s.name}, {s.provider_name})" for s in missing)
        raise ConfigError(
            f"{config.path}: paging: set {named} in the environment: app.yaml names the variable holding each "
            "service's key, never the key itself"
        )


def mask_password(url: str) -> str:
    """`postgresql://user:secret@host/db` -> `postgresql://user:***@host/db`, for messages and logs."""
    scheme, separator, rest = url.partition("://")
    if not separator:  # no scheme: mask "user:secret@host" all the same
        scheme, rest = "", url
    at = rest.rfind("@")
    user, colon, _password = rest[:at].partition(":")
    if at == -1 or not colon:
        return url
    return f"{scheme}{separator}{user}:***@{rest[at + 1 :]}"


def normalise_database_url(url: str) -> str:
    """Point a SQLite or PostgreSQL URL at the async driver the bot uses (aiosqlite, asyncpg)."""
    scheme, separator, rest = url.partition("://")
    driver = _ASYNC_DATABASE_SCHEMES.get(scheme.lower()) if separator else None
    if driver is None:
        supported = ", ".join(f"{name}://" for name in _ASYNC_DATABASE_SCHEMES)
        raise ConfigError(
            f"DATABASE_URL: unsupported database URL {mask_password(url)!r}; expected one of {supported} "
            f"(for example sqlite:///incident-bot.db or postgresql://user:password@host/dbname)"
        )
    return f"{driver}://{rest}"


# ----------------------------------------------------------------------------------------------------
# Environment
# ----------------------------------------------------------------------------------------------------


def _slack_settings(environ: Mapping[str, str]) -> SlackSettings:
    return SlackSettings(
        bot_token=_token(environ, "SLACK_BOT_TOKEN"),
        signing_secret=_secret(environ, "SLACK_SIGNING_SECRET"),
        app_token=_token(environ, "SLACK_APP_TOKEN"),
        api_url=_api_url(environ.get("SLACK_API_URL", "").strip() or DEFAULT_SLACK_API_URL),
        client_id=_secret(environ, "SLACK_CLIENT_ID"),
        client_secret=_secret(environ, "SLACK_CLIENT_SECRET"),
    )


def _with_tracker_credentials(settings: FollowupSettings, environ: Mapping[str, str]) -> FollowupSettings:
    """The export's secrets and endpoints from the environment. A missing token is not an error here (commands such as
    `manifest` need none): an export without one fails, is recorded, and says which variable to set."""
    export = settings.export
    if isinstance(export, GitHubExport):
        url = environ.get("GITHUB_API_URL", "").strip() or DEFAULT_GITHUB_API_URL
        export = dataclasses.replace(
            export, token=_secret(environ, "GITHUB_TOKEN"), api_url=_http_url("GITHUB_API_URL", url).rstrip("/")
        )
    elif isinstance(export, JiraExport):
        url = environ.get("JIRA_URL", "").strip()
        export = dataclasses.replace(
            export,
            email=environ.get("JIRA_EMAIL", "").strip() or None,
            token=_secret(environ, "JIRA_API_TOKEN"),
            api_url=_http_url("JIRA_URL", url).rstrip("/") if url else None,
        )
    return FollowupSettings(export=export)


def _http_url(variable: str, url: str) -> str:
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid:
        raise ConfigError(f"{variable}: expected an http(s) URL, got {mask_password(url)!r}")
    return url


def _paging_from_environment(paging: PagingSettings, environ: Mapping[str, str]) -> PagingSettings:
    return dataclasses.replace(
        paging,
        services=tuple(dataclasses.replace(s, key=_secret(environ, s.key_variable)) for s in paging.services),
        pagerduty_url=_base_url(environ, "PAGERDUTY_EVENTS_URL", DEFAULT_PAGERDUTY_EVENTS_URL),
        opsgenie_url=_base_url(environ, "OPSGENIE_API_URL", DEFAULT_OPSGENIE_API_URL),
    )


def _web_from_environment(web: WebSettings, environ: Mapping[str, str]) -> WebSettings:
    return dataclasses.replace(
        web,
        client_id=_secret(environ, "SLACK_CLIENT_ID"),
        client_secret=_secret(environ, "SLACK_CLIENT_SECRET"),
        cookie_secret=_secret(environ, WEB_SECRET_VARIABLE) or _secret(environ, "SLACK_SIGNING_SECRET"),
    )


def _base_url(environ: Mapping[str, str], name: str, default: str) -> str:
    """An http(s) base URL from the environment, without a trailing slash."""
    url = environ.get(name, "").strip() or default
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid:
        raise ConfigError(f"{name}: expected an http(s) URL like {default}, got {mask_password(url)!r}")
    return url.rstrip("/")


def _secret(environ: Mapping[str, str], name: str) -> Secret | None:
    value = environ.get(name, "").strip()
    return Secret(value) if value else None


def _token(environ: Mapping[str, str], name: str) -> Secret | None:
    secret = _secret(environ, name)
    prefix = _TOKEN_PREFIXES[name]
    if secret is None or secret.reveal().startswith(prefix):
        return secret
    # Never the value: at most which known kind of token it starts like.
    message = f'{name}: expected {_TOKEN_KINDS[prefix][0]}, which starts with "{prefix}" (the value is not shown)'
    for known, (kind, variable) in _TOKEN_KINDS.items():
        if secret.reveal().startswith(known):
            belongs = f", which belongs in {variable}" if variable else ", which the bot cannot use"
            message += f"; this one looks like {kind}{belongs}"
    raise ConfigError(message)


def _api_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed "[" in an IPv6 host
        valid = False
    if not valid:
        raise ConfigError(
            f"SLACK_API_URL: expected an http(s) URL like {DEFAULT_SLACK_API_URL}, got {mask_password(url)!r}"
        )
    return url if url.endswith("/") else url + "/"


# ----------------------------------------------------------------------------------------------------
# The file
# ----------------------------------------------------------------------------------------------------


def _compose(path: Path) -> Node | None:
    """The YAML node tree of `path` (keeps line numbers, unlike safe_load), or None for an empty file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        resolved = path.resolve()
        shown = f"{path} ({resolved})" if str(resolved) != str(path) else str(path)
        raise ConfigError(
            f"config file not found: {shown}; `incident-bot init` writes a commented one, or set "
            f"{CONFIG_PATH_VARIABLE} to where yours is (without either, ./app.yaml or the packaged defaults are used)"
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot read the config file: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror or exc}") from None
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        column = f" (column {mark.column + 1})" if mark is not None else ""
        problem = exc.problem or exc.context or "syntax error"
        context = exc.context_mark
        if exc.problem and exc.context and context is not None and mark is not None and context.line != mark.line:
            problem += f" ({exc.context} that starts on line {context.line + 1})"
        raise ConfigError(f"{where}: invalid YAML{column}: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None


def _describe(node: Node) -> str:
    """What a value is, for "got ..." in messages."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    value = str(node.value)
    if node.tag == _STR:
        shown = value if len(value) <= 60 else value[:57] + "..."
        return json.dumps(shown, ensure_ascii=False)
    if node.tag == _NULL:
        return "nothing (null)"
    if node.tag == _BOOL:
        return f"{value} (a boolean)"
    if node.tag in _NUMBER_TAGS:
        return f"{value} (a number)"
    return f"{value!r} tagged {node.tag}"


def _line(node: Node) -> int:
    mark = node.start_mark
    return mark.line + 1 if mark is not None else 1


class _Named(NamedTuple):
    """One entry of a list of named entries: its node, its key (like "roles[2]"), its name and its fields."""

    node: Node
    key: str
    name: str
    fields: dict[str, Node]


class _FileReader:
    """Walks the node tree of one file, checking each key, so each error can say file:line and key path."""

    def __init__(self, file: str) -> None:
        self.file = file
        self._services: set[str] = set()  # the paging services' names, once read (severities may page them)

    def error(self, node: Node, key: str, problem: str) -> ConfigError:
        prefix = f"{key}: " if key else ""
        return ConfigError(f"{self.file}:{_line(node)}: {prefix}{problem}")

    # -- the document --------------------------------------------------------------------------------------

    def read(self, root: Node | None) -> dict[str, Any]:
        if root is None:
            raise ConfigError(
                f"{self.file}:1: the file has no settings; expected a mapping with at least "
                f"command, severities and default_severity"
            )
        top = self.mapping(root, "", _TOP_LEVEL_KEYS, required=("command", "severities", "default_severity"))
        settings: dict[str, Any] = {}
        if "app_name" in top:
            settings["app_name"] = self.app_name(top["app_name"])
        settings["command"] = self.command(top["command"])
        if "channel" in top:
            settings["channel"] = self.channel(top["channel"])
        paging = self.paging(top["paging"]) if "paging" in top else None
        if paging is not None:
            settings["paging"] = paging
        self._services = {s.name for s in paging.services} if paging is not None else set()
        severities = self.severities(top["severities"])
        settings["severities"] = severities
        settings["default_severity"] = self.default_severity(top["default_severity"], severities)
        if "announcement_channel" in top:
            settings["announcement_channel"] = self.announcement_channel(top["announcement_channel"])
        if "roles" in top:
            settings["roles"] = self.roles(top["roles"])
        if "timeline" in top:
            settings["timeline"] = self.timeline(top["timeline"])
        settings["suggestions"] = self.suggestions(top.get("suggestions"))
        if "report" in top:
            settings["report"] = self.report(top["report"])
        if "followups" in top:
            settings["followups"] = self.followups(top["followups"])
        if "archive" in top:
            settings["archive"] = self.archive(top["archive"])
        if "web" in top:
            settings["web"] = self.web(top["web"])
        if "oauth" in top:
            settings["oauth"] = self.oauth(top["oauth"])
        return settings

    def oauth(self, node: Node) -> OAuthSettings:
        if isinstance(node, ScalarNode) and node.tag == _NULL:
            return OAuthSettings()
        entries = self.mapping(node, "oauth", _OAUTH_KEYS)
        numbers = {}
        for key, low, high in (("retention_days", 0, RETENTION_DAYS_MAX), ("refresh_minutes", 1, REFRESH_MINUTES_MAX)):
            if key not in entries:
                continue
            value = entries[key]
            expected = f"a whole number from {low} to {high}"
            if not (isinstance(value, ScalarNode) and value.tag == _INT):
                raise self.error(value, f"oauth.{key}", f"expected {expected}, got {_describe(value)}")
            number = SafeConstructor().construct_yaml_int(value)
            if not low <= number <= high:
                raise self.error(value, f"oauth.{key}", f"expected {expected}, got {number}")
            numbers[key] = number
        redirect_url: str | None = None
        if "redirect_url" in entries and not (
            isinstance(entries["redirect_url"], ScalarNode) and entries["redirect_url"].tag == _NULL
        ):
            redirect_url = self.text(entries["redirect_url"], "oauth.redirect_url", "an https URL")
            parts = urlsplit(redirect_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise self.error(
                    entries["redirect_url"], "oauth.redirect_url", f"expected an https URL, got {redirect_url!r}"
                )
        return OAuthSettings(**numbers, redirect_url=redirect_url)

    def web(self, node: Node) -> WebSettings:
        if isinstance(node, ScalarNode) and node.tag == _NULL:
            return WebSettings()
        entries = self.mapping(node, "web", _WEB_KEYS)
        enabled = self.boolean(entries["enabled"], "web.enabled") if "enabled" in entries else False
        prefix = DEFAULT_WEB_PREFIX
        if "path_prefix" in entries:
            prefix_node = entries["path_prefix"]
            expected = 'a path like "/web": "/" then lowercase a-z, 0-9, - or _ (no "/" at the end)'
            prefix = self.string(prefix_node, "web.path_prefix", expected).strip()
            if not _WEB_PREFIX_RE.fullmatch(prefix):
                raise self.error(prefix_node, "web.path_prefix", f"expected {expected}, got {_describe(prefix_node)}")
            taken = next((p for p in _RESERVED_PREFIXES if prefix == p or prefix.startswith(p + "/")), None)
            if taken is not None:
                raise self.error(
                    prefix_node, "web.path_prefix", f"{taken} is the bot's own; expected another path, like /web"
                )
        base_url: str | None = None
        base_node = entries.get("base_url")
        if base_node is not None and not (isinstance(base_node, ScalarNode) and base_node.tag == _NULL):
            expected = "the public http(s) URL browsers reach the bot at, like https://incidents.example.com"
            base_url = self.text(base_node, "web.base_url", expected).rstrip("/")
            try:
                parts = urlsplit(base_url)
                valid = parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.query
            except ValueError:
                valid = False
            if not valid or parts.fragment:
                raise self.error(base_node, "web.base_url", f"expected {expected}, got {_describe(base_node)}")
        if enabled and base_url is None:
            raise self.error(
                base_node or node,
                "web.base_url",
                "required when web.enabled is true: the public http(s) URL browsers reach the bot at, like "
                "https://incidents.example.com (Sign in with Slack sends people back to it)",
            )
        hours = DEFAULT_SESSION_HOURS
        if "session_hours" in entries:
            hours_node = entries["session_hours"]
            expected = f"a whole number of hours from 1 to {SESSION_HOURS_MAX}"
            if not (isinstance(hours_node, ScalarNode) and hours_node.tag == _INT):
                raise self.error(hours_node, "web.session_hours", f"expected {expected}, got {_describe(hours_node)}")
            hours = SafeConstructor().construct_yaml_int(hours_node)
            if not 1 <= hours <= SESSION_HOURS_MAX:
                raise self.error(hours_node, "web.session_hours", f"expected {expected}, got {hours}")
        return WebSettings(enabled=enabled, path_prefix=prefix, base_url=base_url, session_hours=hours)

    def archive(self, node: Node) -> ArchiveSettings:
        if isinstance(node, ScalarNode) and node.tag == _NULL:
            return ArchiveSettings()
        entries = self.mapping(node, "archive", _ARCHIVE_KEYS)
        after_days: int | None = None
        if "after_days" in entries:
            days = entries["after_days"]
            expected = f"null (never) or a whole number of days from 1 to {ARCHIVE_AFTER_DAYS_MAX}"
            if not (isinstance(days, ScalarNode) and days.tag in (_INT, _NULL)):
                raise self.error(days, "archive.after_days", f"expected {expected}, got {_describe(days)}")
            if days.tag == _INT:
                after_days = SafeConstructor().construct_yaml_int(days)
                if not 1 <= after_days <= ARCHIVE_AFTER_DAYS_MAX:
                    raise self.error(days, "archive.after_days", f"expected {expected}, got {after_days}")
        wait = ArchiveSettings().wait_for_followups
        if "wait_for_followups" in entries:
            wait = self.boolean(entries["wait_for_followups"], "archive.wait_for_followups")
        return ArchiveSettings(after_days=after_days, wait_for_followups=wait)

    def followups(self, node: Node) -> FollowupSettings:
        entries = self.mapping(node, "followups", _FOLLOWUP_KEYS)
        export_node = entries.get("export")
        if export_node is None or (isinstance(export_node, ScalarNode) and export_node.tag == _NULL):
            return FollowupSettings()
        trackers = self.mapping(export_node, "followups.export", _EXPORT_KEYS)
        if len(trackers) > 1:
            raise self.error(export_node, "followups.export", "expected one tracker (github or jira), got both")
        if "github" in trackers:
            return FollowupSettings(export=self.github(trackers["github"]))
        if "jira" in trackers:
            return FollowupSettings(export=self.jira(trackers["jira"]))
        return FollowupSettings()

    def github(self, node: Node) -> GitHubExport:
        key = "followups.export.github"
        entries = self.mapping(node, key, _GITHUB_KEYS, required=("repository",))
        repository = self.text(entries["repository"], f"{key}.repository", "a repository like owner/name")
        if not _REPOSITORY_RE.fullmatch(repository):
            raise self.error(
                entries["repository"], f"{key}.repository", f"expected a repository like owner/name, got {repository!r}"
            )
        labels: list[str] = []
        if "labels" in entries:
            for item in self.sequence(entries["labels"], f"{key}.labels", "a list of label names"):
                labels.append(self.text(item, f"{key}.labels", "a label name"))
        return GitHubExport(repository=repository, labels=tuple(labels))

    def jira(self, node: Node) -> JiraExport:
        key = "followups.export.jira"
        entries = self.mapping(node, key, _JIRA_KEYS, required=("site", "project"))
        site = self.text(entries["site"], f"{key}.site", "your Jira Cloud site, like https://example.atlassian.net")
        parts = urlsplit(site)
        if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/"):
            raise self.error(
                entries["site"], f"{key}.site", f"expected a site like https://example.atlassian.net, got {site!r}"
            )
        project = self.text(entries["project"], f"{key}.project", "a project key like OPS")
        if not _JIRA_PROJECT_RE.fullmatch(project):
            raise self.error(
                entries["project"], f"{key}.project", f"expected a project key like OPS (A-Z, 0-9, _), got {project!r}"
            )
        issue_type = "Task"
        if "issue_type" in entries:
            issue_type = self.text(entries["issue_type"], f"{key}.issue_type", "an issue type name like Task")
        return JiraExport(site=site.rstrip("/"), project=project, issue_type=issue_type)

    def report(self, node: Node) -> ReportSettings:
        entries = self.mapping(node, "report", _REPORT_KEYS)
        defaults = ReportSettings()
        author = defaults.author
        if "author" in entries:
            author = self.text(entries["author"], "report.author", 'a name like "Technical Operations Team"')
        template: Path | None = None
        if "template" in entries and not (
            isinstance(entries["template"], ScalarNode) and entries["template"].tag == _NULL
        ):
            raw = Path(self.text(entries["template"], "report.template", "a path to a Jinja2 Markdown template"))
            template = raw if raw.is_absolute() else Path(self.file).resolve().parent / raw
            if not template.is_file():
                raise self.error(entries["template"], "report.template", f"no such file: {template}")
        return ReportSettings(author=author, template=template)

    def suggestions(self, node: Node | None) -> SuggestionSettings:
        defaults = SuggestionSettings()
        entries = self.mapping(node, "suggestions", _SUGGESTION_KEYS) if node is not None else {}
        enabled = self.boolean(entries["enabled"], "suggestions.enabled") if "enabled" in entries else defaults.enabled
        runbooks = defaults.runbooks
        if "runbooks" in entries:
            runbooks = Path(self.text(entries["runbooks"], "suggestions.runbooks", "a folder of markdown runbooks"))
        base = Path(self.file).resolve().parent
        runbooks = runbooks if runbooks.is_absolute() else base / runbooks
        interval = defaults.min_interval_seconds
        if "min_interval_seconds" in entries:
            interval_node = entries["min_interval_seconds"]
            expected = "a whole number of seconds from 0 to 86400"
            if not (isinstance(interval_node, ScalarNode) and interval_node.tag == _INT):
                raise self.error(
                    interval_node,
                    "suggestions.min_interval_seconds",
                    f"expected {expected}, got {_describe(interval_node)}",
                )
            interval = SafeConstructor().construct_yaml_int(interval_node)
            if not 0 <= interval <= 86400:
                raise self.error(
                    interval_node, "suggestions.min_interval_seconds", f"expected {expected}, got {interval}"
                )
        return SuggestionSettings(enabled=enabled, runbooks=runbooks, min_interval_seconds=interval)

    def app_name(self, node: Node) -> str:
        value = self.text(node, "app_name", 'a display name like "incident-bot"')
        if len(value) > SLACK_APP_NAME_MAX_LENGTH:
            raise self.error(
                node,
                "app_name",
                f"expected at most {SLACK_APP_NAME_MAX_LENGTH} characters (Slack's limit), got {len(value)}",
            )
        return value

    def command(self, node: Node) -> str:
        expected = (
            f'a slash command like "/incident": "/" then lowercase a-z, 0-9, - or _, '
            f"at most {SLACK_COMMAND_MAX_LENGTH} characters"
        )
        value = self.string(node, "command", expected)
        if not _COMMAND_RE.fullmatch(value) or len(value) > SLACK_COMMAND_MAX_LENGTH:
            raise self.error(node, "command", f"expected {expected}, got {_describe(node)}")
        return value

    def channel(self, node: Node) -> ChannelSettings:
        entries = self.mapping(node, "channel", _CHANNEL_KEYS)
        defaults = ChannelSettings()
        name_template = defaults.name_template
        if "name_template" in entries:
            name_template = self.name_template(entries["name_template"])
        private = defaults.private
        if "private" in entries:
            private = self.boolean(entries["private"], "channel.private")
        topic_template = defaults.topic_template
        if "topic_template" in entries:
            topic_template = self.template(entries["topic_template"], "channel.topic_template", _TOPIC_TEMPLATE_SAMPLE)[
                0
            ]
        return ChannelSettings(name_template=name_template, private=private, topic_template=topic_template)

    def name_template(self, node: Node) -> str:
        key = "channel.name_template"
        template, fields, sample = self.template(node, key, _NAME_TEMPLATE_SAMPLE)
        if "number" not in fields:
            raise self.error(
                node,
                key,
                "must contain the {number} placeholder (for example {number:03d}) so every incident "
                f"gets its own channel, got {_describe(node)}",
            )
        if not _CHANNEL_NAME_RE.fullmatch(sample):
            raise self.error(
                node,
                key,
                "expected a template that makes a valid Slack channel name (lowercase a-z, 0-9, - and _), "
                f"but the sample values give {sample!r}",
            )
        return template

    def template(self, node: Node, key: str, samples: dict[str, object]) -> tuple[str, set[str], str]:
        """The template, the placeholders it uses, and what it gives for sample values."""
        allowed = ", ".join(f"{{{name}}}" for name in samples)
        template = self.text(node, key, f"a template using {allowed}")
        fields: set[str] = set()
        try:
            for _literal, field_name, _spec, _conversion in string.Formatter().parse(template):
                if field_name is None:
                    continue
                if field_name not in samples:
                    raise self.error(node, key, f"unknown placeholder {{{field_name}}}; expected only {allowed}")
                fields.add(field_name)
            sample = template.format_map(samples)
        except KeyError as exc:
            raise self.error(node, key, f"unknown placeholder {{{exc.args[0]}}}; expected only {allowed}") from None
        except (ValueError, IndexError, AttributeError, TypeError) as exc:
            raise self.error(
                node,
                key,
                f"not a valid template ({exc}); use placeholders like {allowed} and write {{{{ and }}}} "
                "for literal braces",
            ) from None
        return template, fields, sample

    def severities(self, node: Node) -> tuple[Severity, ...]:
        items = self.sequence(node, "severities", "a list of severities, each with name, label and description")
        if not items:
            raise self.error(node, "severities", "expected at least one severity, got an empty list")
        too_many = (
            f"at most {SEVERITIES_MAX} severities (Slack's limit of options in a menu: they are the choices of the "
            f"severity menus), got {len(items)}"
        )
        return tuple(
            self.severity(name, fields, key)
            for _, key, name, fields in self.named(
                items,
                "severities",
                _SEVERITY_NAMES,
                _SEVERITY_KEYS,
                required=("name", "label", "description"),
                most=(SEVERITIES_MAX, too_many),
            )
        )

    def severity(self, name: str, entries: dict[str, Node], key: str) -> Severity:
        label = self.label(
            entries["label"],
            f"{key}.label",
            'a short label like "SEV2 · Major"',
            SEVERITY_LABEL_MAX_LENGTH,
            one_line=False,
        )
        description = self.line(entries["description"], f"{key}.description", "one line saying when to use it")
        invite: tuple[str, ...] = ()
        if "invite" in entries:
            invite = self.invite(entries["invite"], f"{key}.invite")
        every: int | None = None
        if "update_every_minutes" in entries:
            every = self.update_every_minutes(entries["update_every_minutes"], f"{key}.update_every_minutes")
        page: tuple[str, ...] = ()
        if "page" in entries:
            page = self.page(entries["page"], f"{key}.page")
        return Severity(
            name=name, label=label, description=description, invite=invite, update_every_minutes=every, page=page
        )

    def update_every_minutes(self, node: Node, key: str) -> int | None:
        if isinstance(node, ScalarNode) and node.tag == _NULL:
            return None
        expected = f"null (no cadence) or a whole number of minutes from 1 to {UPDATE_EVERY_MINUTES_MAX} (a week)"
        if not (isinstance(node, ScalarNode) and node.tag == _INT):
            raise self.error(node, key, f"expected {expected}, got {_describe(node)}")
        value = SafeConstructor().construct_yaml_int(node)
        if not 1 <= value <= UPDATE_EVERY_MINUTES_MAX:
            raise self.error(node, key, f"expected {expected}, got {value}")
        return value

    def roles(self, node: Node) -> tuple[Role, ...]:
        if isinstance(node, ScalarNode) and node.tag == _NULL:
            return ()
        items = self.sequence(node, "roles", "a list of roles, each with name, label and description")
        too_many = f"at most {ROLES_MAX} roles besides the commander, got {len(items)}"
        roles: list[Role] = []
        for _, key, name, entries in self.named(
            items, "roles", _ROLE_NAMES, _ROLE_KEYS, required=_ROLE_KEYS, most=(ROLES_MAX, too_many)
        ):
            if name in _RESERVED_ROLE_NAMES:
                what = (
                    "the commander role always exists; leave it out of roles"
                    if name == COMMANDER
                    else f'"{name}" is a word of the role command (`role <role> none` clears a role); pick another'
                )
                raise self.error(entries["name"], f"{key}.name", what)
            label = self.label(
                entries["label"],
                f"{key}.label",
                'a short label like "Communications lead"',
                ROLE_LABEL_MAX_LENGTH,
                one_line=True,
            )
            description = self.line(entries["description"], f"{key}.description", "one line saying what the role does")
            roles.append(Role(name=name, label=label, description=description))
        return tuple(roles)

    def page(self, node: Node, key: str) -> tuple[str, ...]:
        known = ", ".join(sorted(self._services))
        expected = f"names of services under paging.services ({known})" if known else "names of paging services"
        services: list[str] = []
        for index, item in enumerate(self.sequence(node, key, f"a list of {expected}, like [payments]")):
            name = self.string(item, f"{key}[{index}]", f"one of the {expected}")
            if not self._services:
                raise self.error(
                    item,
                    f"{key}[{index}]",
                    f'no paging services are configured, so "{name}" cannot be paged; add it under '
                    "paging.services (with the environment variable holding its key)",
                )
            if name not in self._services:
                close = difflib.get_close_matches(name, sorted(self._services), n=1)
                hint = f' (did you mean "{close[0]}"?)' if close else ""
                got = f"got {_describe(item)}{hint}"
                raise self.error(item, f"{key}[{index}]", f"expected one of the {expected}, {got}")
            if name not in services:
                services.append(name)
        return tuple(services)

    def paging(self, node: Node) -> PagingSettings:
        entries = self.mapping(node, "paging", _PAGING_KEYS, required=("services",))
        expected = "a list of services, each with a name and pagerduty_routing_key_env or opsgenie_api_key_env"
        items = self.sequence(entries["services"], "paging.services", expected)
        if not items:
            raise self.error(entries["services"], "paging.services", f"expected {expected}, got an empty list")
        services: list[PagingService] = []
        for item, key, name, fields in self.named(
            items, "paging.services", _SERVICE_NAMES, _PAGING_SERVICE_KEYS, required=("name",)
        ):
            given = [k for k in _PAGING_KEY_VARIABLES if k in fields]
            if len(given) != 1:
                what = "both" if given else "neither"
                raise self.error(
                    item,
                    key,
                    f"expected exactly one of pagerduty_routing_key_env (PagerDuty Events API v2) or "
                    f"opsgenie_api_key_env (Opsgenie), got {what}",
                )
            variable_node = fields[given[0]]
            variable = self.string(
                variable_node, f"{key}.{given[0]}", "the name of an environment variable like PAGERDUTY_KEY_PAYMENTS"
            )
            if not _ENV_NAME_RE.fullmatch(variable):
                raise self.error(
                    variable_node,
                    f"{key}.{given[0]}",
                    "expected the NAME of the environment variable holding the key (uppercase A-Z, 0-9 and _, like "
                    "PAGERDUTY_KEY_PAYMENTS; the key itself never goes in app.yaml), got a value that is not shown",
                )
            services.append(PagingService(name=name, provider=_PAGING_KEY_VARIABLES[given[0]], key_variable=variable))
        return PagingSettings(services=tuple(services))

    def invite(self, node: Node, key: str) -> tuple[str, ...]:
        expected = 'a Slack user ID like "U012AB3CD" (not a name or @mention)'
        users: list[str] = []
        for index, item in enumerate(self.sequence(node, key, 'a list of Slack user IDs like ["U012AB3CD"]')):
            user = self.string(item, f"{key}[{index}]", expected)
            if not _USER_ID_RE.fullmatch(user):
                raise self.error(item, f"{key}[{index}]", f"expected {expected}, got {_describe(item)}")
            if user not in users:
                users.append(user)
        return tuple(users)

    def default_severity(self, node: Node, severities: tuple[Severity, ...]) -> str:
        names = ", ".join(s.name for s in severities)
        value = self.string(node, "default_severity", f"one of the severity names: {names}")
        if value not in {s.name for s in severities}:
            raise self.error(
                node,
                "default_severity",
                f"expected one of the severity names ({names}), got {_describe(node)}",
            )
        return value

    def announcement_channel(self, node: Node) -> str | None:
        if isinstance(node, ScalarNode) and node.tag == _NULL:
            return None
        expected = (
            'null or a Slack channel ID like "C012AB3CD" (a channel name will not do: copy the ID from '
            "the channel's details)"
        )
        value = self.string(node, "announcement_channel", expected)
        if not _CHANNEL_ID_RE.fullmatch(value):
            raise self.error(node, "announcement_channel", f"expected {expected}, got {_describe(node)}")
        return value

    def timeline(self, node: Node) -> TimelineSettings:
        entries = self.mapping(node, "timeline", _TIMELINE_KEYS)
        defaults = TimelineSettings()
        reactions = defaults.reactions
        if "reactions" in entries:
            reactions = self.reactions(entries["reactions"], "timeline.reactions")
        confirm = defaults.confirm
        if "confirm" in entries:
            confirm = self.confirm(entries["confirm"], "timeline.confirm")
        confirm_reaction = defaults.confirm_reaction
        if "confirm_reaction" in entries:
            confirm_reaction = self.emoji(entries["confirm_reaction"], "timeline.confirm_reaction")
        if confirm == "reaction" and (kind := dict(reactions).get(confirm_reaction)) is not None:
            culprit = entries.get("confirm_reaction") or entries.get("confirm") or node
            raise self.error(
                culprit,
                "timeline.confirm_reaction",
                f'"{confirm_reaction}" also marks messages as {kind} in timeline.reactions, so the bot\'s '
                "confirmation would look like a mark; expected an emoji that is not in timeline.reactions",
            )
        show = defaults.show
        if "show" in entries:
            show = self.show(entries["show"], "timeline.show")
        return TimelineSettings(reactions=reactions, confirm=confirm, confirm_reaction=confirm_reaction, show=show)

    def reactions(self, node: Node, key: str) -> tuple[tuple[str, str], ...]:
        expected = "a mapping of emoji name to kind, like pushpin: key_event"
        if not isinstance(node, MappingNode):
            raise self.error(node, key, f"expected {expected}, got {_describe(node)}")
        pairs = self.entries(node, key, set())
        if not pairs:
            raise self.error(node, key, f"expected at least one reaction ({expected}), got an empty mapping")
        explicit: dict[str, int] = {}  # emoji written in this mapping (not merged in) -> its line
        for key_node, _value in node.value:
            if key_node.tag != _MERGE and isinstance(key_node, ScalarNode):
                name = str(key_node.value)
                if name in explicit:  # e.g. +1 and "+1": YAML keys of different types, the same emoji
                    raise self.error(
                        key_node, f"{key}.{name}", f"duplicate key (first set on line {explicit[name]}); keep only one"
                    )
                explicit[name] = _line(key_node)
        kinds: dict[str, str] = {}  # a merged-in emoji may be overridden, and keeps its place, as with safe_load
        where: dict[str, Node] = {}  # emoji -> the node of the kind it got
        for key_node, value_node in pairs:
            emoji = self.emoji(key_node, key, in_key=True)
            kinds[emoji] = self.kind(value_node, f"{key}.{emoji}")
            where[emoji] = value_node
        distinct = list(dict.fromkeys(kind for kind in kinds.values() if kind != "note"))
        if len(distinct) > KINDS_MAX:
            emoji = next(e for e, kind in kinds.items() if kind == distinct[KINDS_MAX])
            raise self.error(
                where[emoji],
                f"{key}.{emoji}",
                f"at most {KINDS_MAX} different kinds (with note, Slack's limit of {SELECT_MAX_OPTIONS} options in a "
                f"menu: they are the choices of the shortcut form's kind menu), got {len(distinct)}",
            )
        return tuple(kinds.items())

    def emoji(self, node: Node, key: str, in_key: bool = False) -> str:
        """A Slack emoji name without colons. Plain 100 or +1 are numbers to YAML and on is a boolean, but as
        emoji names only their text counts."""
        expected = (
            'an emoji name without colons, like "pushpin" (lowercase a-z, 0-9, _, +, \' and -, '
            f"at most {EMOJI_NAME_MAX_LENGTH} characters)"
        )
        got = f"got {_describe(node)}"
        if in_key:
            expected = f"emoji names as keys: {expected}"
            got = f"got the key {_describe(node)}"
        if not (isinstance(node, ScalarNode) and node.tag in (_STR, _INT, _BOOL)):
            raise self.error(node, key, f"expected {expected}, {got}")
        name = str(node.value)
        bare = name.strip().strip(":")
        if "::" in bare and _EMOJI_NAME_RE.fullmatch(bare.split("::", 1)[0]):
            base = bare.split("::", 1)[0]
            raise self.error(
                node, key, f'expected the emoji without a skin tone: write "{base}" (it covers every skin tone), {got}'
            )
        if ":" in name and _EMOJI_NAME_RE.fullmatch(bare):
            raise self.error(node, key, f'expected an emoji name without colons: drop them and write "{bare}", {got}')
        if not _EMOJI_NAME_RE.fullmatch(name) or len(name) > EMOJI_NAME_MAX_LENGTH:
            raise self.error(node, key, f"expected {expected}, {got}")
        return name

    def kind(self, node: Node, key: str) -> str:
        expected = (
            'a kind of timeline event: a lowercase word like "key_event" (a-z first, then a-z, 0-9 and _, '
            f"at most {KIND_MAX_LENGTH} characters)"
        )
        value = self.string(node, key, expected)
        if not _KIND_RE.fullmatch(value) or len(value) > KIND_MAX_LENGTH:
            raise self.error(node, key, f"expected {expected}, got {_describe(node)}")
        return value

    def confirm(self, node: Node, key: str) -> str:
        allowed = ", ".join(f'"{value}"' for value in _TIMELINE_CONFIRM_VALUES)
        expected = f"one of {allowed}"
        if isinstance(node, ScalarNode) and node.tag == _BOOL and not SafeConstructor.bool_values[node.value.lower()]:
            raise self.error(
                node,
                key,
                f"expected {expected}, got {_describe(node)}: YAML reads {node.value} as false; "
                'to confirm nothing, write "none"',
            )
        if isinstance(node, ScalarNode) and node.tag == _NULL:
            raise self.error(node, key, f'expected {expected}, got {_describe(node)}; to confirm nothing, write "none"')
        value = self.string(node, key, expected)
        if value not in _TIMELINE_CONFIRM_VALUES:
            close = difflib.get_close_matches(value.lower(), _TIMELINE_CONFIRM_VALUES, n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            raise self.error(node, key, f"expected {expected}, got {_describe(node)}{hint}")
        return value

    def show(self, node: Node, key: str) -> int:
        expected = (
            f"a whole number from 1 to {TIMELINE_SHOW_MAX} ({TIMELINE_SHOW_MAX} is Slack's limit of blocks "
            "in a message)"
        )
        if not (isinstance(node, ScalarNode) and node.tag == _INT):
            raise self.error(node, key, f"expected {expected}, got {_describe(node)}")
        value = SafeConstructor().construct_yaml_int(node)
        if not 1 <= value <= TIMELINE_SHOW_MAX:
            raise self.error(node, key, f"expected {expected}, got {value}")
        return value

    # -- building blocks -----------------------------------------------------------------------------------

    def named(
        self,
        items: list[Node],
        key: str,
        names: _Names,
        allowed: tuple[str, ...],
        *,
        required: tuple[str, ...],
        most: tuple[int, str] | None = None,
    ) -> Iterator[_Named]:
        """The entries of a list of mappings each with a name (roles, severities, paging services), in order: each a
        mapping of `allowed` keys with the `required` ones, its name as `names` says and unlike any before it; past
        `most[0]` entries, the error `most[1]`."""
        first_seen: dict[str, int] = {}
        for index, item in enumerate(items):
            item_key = f"{key}[{index}]"
            if most is not None and index == most[0]:
                raise self.error(item, item_key, most[1])
            fields = self.mapping(item, item_key, allowed, required=required)
            name_node = fields["name"]
            name = self.string(name_node, f"{item_key}.name", names.like)
            if not names.pattern.fullmatch(name) or (names.max_length is not None and len(name) > names.max_length):
                raise self.error(
                    name_node, f"{item_key}.name", f"expected {names.like} ({names.rule}), got {_describe(name_node)}"
                )
            if name in first_seen:
                raise self.error(
                    name_node,
                    f"{item_key}.name",
                    f'duplicate {names.noun} "{name}" (already defined on line {first_seen[name]}); '
                    "names must be unique",
                )
            first_seen[name] = _line(name_node)
            yield _Named(item, item_key, name, fields)

    def label(self, node: Node, key: str, expected: str, max_length: int, *, one_line: bool) -> str:
        """A short label of at most `max_length` characters, with `one_line` on a single line."""
        label = self.text(node, key, expected)
        if one_line and (len(label) > max_length or "\n" in label):
            raise self.error(
                node, key, f"expected one line of at most {max_length} characters, got {len(label)} characters"
            )
        if len(label) > max_length:
            raise self.error(node, key, f"expected at most {max_length} characters (Slack's limit), got {len(label)}")
        return label

    def line(self, node: Node, key: str, expected: str) -> str:
        """A text on a single line."""
        value = self.text(node, key, expected)
        if "\n" in value:
            raise self.error(node, key, "expected a single line (use a folded scalar, >, to wrap it in the file)")
        return value

    def string(self, node: Node, key: str, expected: str) -> str:
        if not (isinstance(node, ScalarNode) and node.tag == _STR):
            raise self.error(node, key, f"expected {expected}, got {_describe(node)}")
        return str(node.value)

    def text(self, node: Node, key: str, expected: str) -> str:
        """A string that must not be blank; surrounding whitespace is dropped."""
        value = self.string(node, key, expected).strip()
        if not value:
            raise self.error(node, key, f"expected {expected}, got an empty string")
        return value

    def boolean(self, node: Node, key: str) -> bool:
        if not (isinstance(node, ScalarNode) and node.tag == _BOOL):
            raise self.error(node, key, f"expected true or false, got {_describe(node)}")
        return SafeConstructor.bool_values[str(node.value).lower()]

    def sequence(self, node: Node, key: str, expected: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            raise self.error(node, key, f"expected {expected}, got {_describe(node)}")
        return list(node.value)

    def mapping(
        self, node: Node, key: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()
    ) -> dict[str, Node]:
        """The values of a mapping by key; every key must be in `allowed` and every `required` one present."""
        if not isinstance(node, MappingNode):
            what = f"a mapping with keys {', '.join(allowed)}"
            raise self.error(node, key, f"expected {what}, got {_describe(node)}")
        prefix = f"{key}." if key else ""
        values: dict[str, Node] = {}
        for key_node, value_node in self.entries(node, key, set()):
            if not (isinstance(key_node, ScalarNode) and key_node.tag == _STR):
                raise self.error(key_node, key, f"expected a key name, got {_describe(key_node)}")
            name = str(key_node.value)
            if name not in allowed:
                close = difflib.get_close_matches(name, allowed, n=1)
                hint = f' (did you mean "{close[0]}"?)' if close else ""
                raise self.error(key_node, prefix + name, f"unknown key{hint}; expected one of {', '.join(allowed)}")
            values[name] = value_node
        where = "key in the mapping starting on this line" if key else "top-level key"
        for name in required:
            if name not in values:
                raise self.error(
                    node,
                    prefix + name,
                    f"missing required {where}; expected {_REQUIRED[name]}",
                )
        return values

    def entries(self, node: MappingNode, key: str, merging: set[int]) -> list[tuple[Node, Node]]:
        """A mapping's (key, value) pairs with "<<" merge keys applied as safe_load does; later pairs win.

        Explicit keys must be unique (safe_load would silently keep the last one); merged ones may be
        overridden.
        """
        if id(node) in merging:
            raise self.error(node, key, "a merge key (<<) refers to the mapping that contains it")
        merged: list[tuple[Node, Node]] = []
        explicit: list[tuple[Node, Node]] = []
        seen: dict[object, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for source in reversed(sources):  # with several, the first one listed wins
                    if not isinstance(source, MappingNode):
                        raise self.error(source, key, f"expected a mapping to merge with <<, got {_describe(source)}")
                    merged.extend(self.entries(source, key, merging | {id(node)}))
                continue
            if isinstance(key_node, ScalarNode):
                identity = (key_node.tag, key_node.value)
                if identity in seen:
                    prefix = f"{key}." if key else ""
                    raise self.error(
                        key_node,
                        f"{prefix}{key_node.value}",
                        f"duplicate key (first set on line {seen[identity]}); keep only one",
                    )
                seen[identity] = _line(key_node)
            explicit.append((key_node, value_node))
        return merged + explicit
