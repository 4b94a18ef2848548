"""`WebView`: the web view's aiohttp sub-application: sign-in with Slack, the incidents list, an incident's page.

Every answer carries strict security headers (`_secure`); every page needs a signed-in member of the bot's own
workspace, and an incident that may be private (bot/domain/incident.py) is shown only to members of its channel, as
in Slack: to anybody else it does not exist (404, and absent from lists).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from jinja2 import Environment, PackageLoader
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.acting import acting_for
from bot.config import Config, ConfigError, kind_label
from bot.domain.incident import Incident, Status
from bot.slack.gateway import SlackError, SlackGateway
from bot.storage import Database
from bot.storage.web import STATUSES, IncidentFilter, InvalidCursor
from bot.suggestions.lint import summary as lint_summary
from bot.suggestions.model import Problem, Runbook
from bot.suggestions.parser import load_runbooks
from bot.web.charts import MEDIAN, P90, Series, bar_chart, duration_unit, line_chart
from bot.web.markdown import report_html
from bot.web.sessions import SESSION_COOKIE, SIGNIN_COOKIE, SIGNIN_SECONDS, Session, Signer, same

log = logging.getLogger(__name__)

SLACK_AUTHORIZE_URL = "https://slack.com/openid/connect/authorize"
OPENID_SCOPES = "openid profile email"
MEMBERSHIP_SECONDS = 180.0  # how long which private channels a session's person is in is remembered
MEMBERSHIP_SESSIONS = 10_000  # sessions remembered at most
PAGE_SIZE = 25
SUGGESTION_STATES = {
    "posted": "shown in the channel",
    "accepted": "accepted",
    "dismissed": "dismissed",
    "superseded": "replaced by a better match",
    "retracted": "withdrawn",
}
MAX_TREND_MONTHS = 60  # the trends page's longest range
STATIC = {"web.css": "text/css", "favicon.svg": "image/svg+xml"}

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def authorize_url(api_url: str) -> str:
    """Where browsers are sent to sign in: Slack's authorize page, or, when SLACK_API_URL points somewhere else (the
    emulator in tests and the demo), the same path on that host."""
    api = urlsplit(api_url)
    if (api.hostname or "").endswith("slack.com"):
        return SLACK_AUTHORIZE_URL
    return f"{api.scheme}://{api.netloc}/openid/connect/authorize"


def _claims(id_token: str) -> dict[str, Any]:
    """The claims of an ID token. Its signature is not checked: it came straight from Slack's token endpoint over
    the connection the bot opened (OpenID Connect Core 3.1.3.7: TLS server validation may stand in for it)."""
    try:
        payload = id_token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return {}
    return data if isinstance(data, dict) else {}


def _when(at: datetime | None) -> str:
    if at is None:
        return ""
    at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


class WebView:
    """The pages under `config.web.path_prefix`. `app()` builds the sub-application bot/app.py mounts."""

    def __init__(
        self,
        config: Config,
        db: Database,
        slack: SlackGateway,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        readable: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        """`readable`: OAuth mode, whether a workspace's incidents may be read (installed, or uninstalled within the
        retention period); people of any such workspace sign in and see their own workspace's incidents. None:
        single-workspace mode, the bot token's workspace only."""
        web_settings = config.web
        if web_settings.client_id is None or web_settings.client_secret is None or web_settings.cookie_secret is None:
            raise ConfigError("the web view needs SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and a cookie key")
        self._config = config
        self._web = web_settings
        self._db = db
        self._slack = slack
        self._readable = readable
        self._monotonic = monotonic
        self._client_id = web_settings.client_id.reveal()
        self._client_secret = web_settings.client_secret.reveal()
        self._signer = Signer(web_settings.cookie_secret.reveal(), web_settings.session_hours * 3600)
        self._authorize = authorize_url(config.slack.api_url)
        self._api_url = config.slack.api_url
        self._secure = (web_settings.base_url or "").startswith("https://")
        self._prefix = web_settings.path_prefix
        self._memberships: OrderedDict[str, tuple[float, frozenset[str]]] = OrderedDict()
        self._templates = Environment(
            loader=PackageLoader("bot.web", "templates"), autoescape=True, trim_blocks=True, lstrip_blocks=True
        )
        self._templates.globals.update(prefix=self._prefix, app_name=config.app_name)
        self._templates.filters["when"] = _when

    # -- the application ---------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.on_response_prepare.append(_secure)
        app.router.add_get("/", self._home)
        app.router.add_get("/signin", self._signin_page)
        app.router.add_get("/login", self._login)
        app.router.add_get("/oauth/callback", self._callback)
        app.router.add_post("/logout", self._logout)
        app.router.add_get("/incidents", self._incidents)
        app.router.add_get("/incidents/{public_id}", self._incident)
        app.router.add_get("/incidents/{public_id}/reports/{version:[0-9]+}.md", self._report_markdown)
        app.router.add_get("/trends", self._trends)
        app.router.add_get("/runbooks", self._runbooks)
        app.router.add_get("/static/{name}", self._static)
        return app

    def mount(self, app: web.Application) -> None:
        """The sub-application at the prefix, and the bare prefix sent on to its pages."""
        app.add_subapp(self._prefix, self.app())

        async def bare(_: web.Request) -> web.Response:
            raise web.HTTPFound(f"{self._prefix}/incidents")

        app.router.add_get(self._prefix, bare)

    # -- rendering -----------------------------------------------------------------------------------------

    def _page(self, template: str, *, status: int = 200, session: Session | None = None, **values: Any) -> web.Response:
        html = self._templates.get_template(template).render(session=session, **values)
        return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")

    def _not_found(self, session: Session | None) -> web.Response:
        return self._page("not_found.html.j2", status=404, session=session)

    # -- sessions ------------------------------------------------------------------------------------------

    async def _serves(self, team_id: str) -> bool:
        """Whether people of this workspace may read its incidents here."""
        if self._readable is not None:
            return await self._readable(team_id)
        me = self._slack.me
        return me is not None and team_id == me.team_id

    async def _session(self, request: web.Request) -> Session | None:
        session = self._signer.session(request.cookies.get(SESSION_COOKIE))
        if session is None or not await self._serves(session.team_id):
            return None
        return session

    async def _signed_in(self, request: web.Request) -> Session:
        session = await self._session(request)
        if session is None:
            raise web.HTTPSeeOther(f"{self._prefix}/signin")
        return session

    def _cookie(self, response: web.StreamResponse, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=self._prefix,
            httponly=True,
            samesite="Lax",
            secure=self._secure,
        )

    async def _visible_private(self, session: Session) -> frozenset[str]:
        """The private channels the session's person is in (asked of Slack, remembered a few minutes)."""
        now = self._monotonic()
        known = self._memberships.get(session.sid)
        if known is not None and known[0] > now:
            return known[1]
        try:
            with acting_for(session.team_id):  # asked with the token of the person's workspace
                channels = frozenset(await self._slack.private_channels_of(session.user_id))
        except SlackError as e:  # not known: private incidents stay hidden (and are asked for again next time)
            log.warning("could not tell which private channels %s is in: %s", session.user_id, e.code)
            return frozenset()
        self._memberships[session.sid] = (now + MEMBERSHIP_SECONDS, channels)
        self._memberships.move_to_end(session.sid)
        while len(self._memberships) > MEMBERSHIP_SESSIONS:
            self._memberships.popitem(last=False)
        return channels

    async def _may_see(self, session: Session, incident: Incident) -> bool:
        if incident.team_id != session.team_id:
            return False
        if not incident.may_be_private:
            return True
        return incident.channel_id is not None and incident.channel_id in await self._visible_private(session)

    # -- sign-in -------------------------------------------------------------------------------------------

    async def _home(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{self._prefix}/incidents")

    async def _signin_page(self, request: web.Request) -> web.Response:
        if await self._session(request) is not None:
            raise web.HTTPFound(f"{self._prefix}/incidents")
        return self._page("signin.html.j2", problem=None)

    async def _login(self, request: web.Request) -> web.Response:
        signin, cookie = self._signer.new_signin()
        query = urlencode(
            {
                "response_type": "code",
                "scope": OPENID_SCOPES,
                "client_id": self._client_id,
                "state": signin.state,
                "nonce": signin.nonce,
                "redirect_uri": self._web.redirect_url,
            }
        )
        response = web.HTTPFound(f"{self._authorize}?{query}")
        self._cookie(response, SIGNIN_COOKIE, cookie, SIGNIN_SECONDS)
        raise response

    def _signin_failed(self, problem: str, status: int = 400) -> web.Response:
        response = self._page("signin.html.j2", status=status, problem=problem)
        response.del_cookie(SIGNIN_COOKIE, path=self._prefix)
        return response

    async def _callback(self, request: web.Request) -> web.Response:
        signin = self._signer.signin(request.cookies.get(SIGNIN_COOKIE))
        if signin is None or not same(request.query.get("state"), signin.state):
            return self._signin_failed("That sign-in link has expired or was not started here. Please try again.")
        if "error" in request.query or not request.query.get("code"):
            return self._signin_failed("Slack did not sign you in. Please try again.")
        if self._readable is None and self._slack.me is None:
            return self._signin_failed("The bot is starting; please try again in a moment.", status=503)
        try:
            person = await self._exchange(request.query["code"], signin.nonce)
        except SignInRefused as refused:
            return self._signin_failed(str(refused), status=403)
        except (SlackApiError, SlackClientError, OSError, TimeoutError) as e:
            log.warning("sign in with Slack failed: %s", e)
            return self._signin_failed("Slack did not confirm who you are. Please try again.", status=502)
        user_id, team_id, name = person
        if not await self._serves(team_id):
            return self._signin_failed("This is the incident view of another Slack workspace.", status=403)
        _, value = self._signer.new_session(user_id, team_id, name)
        response = web.HTTPSeeOther(f"{self._prefix}/incidents")
        self._cookie(response, SESSION_COOKIE, value, self._signer.session_seconds)
        response.del_cookie(SIGNIN_COOKIE, path=self._prefix)
        raise response

    async def _exchange(self, code: str, nonce: str) -> tuple[str, str, str]:
        """The code for a token (openid.connect.token), then who signed in (openid.connect.userInfo): (user ID,
        team ID, name). Raises SignInRefused when the ID token was not issued for this sign-in."""
        client = AsyncWebClient(token=None, base_url=self._api_url, timeout=10)
        # The credentials as form arguments (Slack takes them so, or as HTTP Basic auth, which slack_sdk's own
        # `openid_connect_token` sends through aiohttp's deprecated BasicAuth).
        answer = await client.api_call(
            "openid.connect.token",
            data={
                "client_id": self._client_id,
                "client_secret": self._client_secret,
                "code": code,
                "redirect_uri": self._web.redirect_url,
                "grant_type": "authorization_code",
            },
        )
        claims = _claims(str(answer.get("id_token") or ""))
        if not same(str(claims.get("nonce") or ""), nonce):
            raise SignInRefused("Slack's answer was not for this sign-in. Please try again.")
        info = await AsyncWebClient(
            token=str(answer.get("access_token") or ""), base_url=self._api_url, timeout=10
        ).openid_connect_userInfo()
        user_id = str(info.get("https://slack.com/user_id") or "")
        team_id = str(info.get("https://slack.com/team_id") or "")
        if not user_id or not team_id:
            raise SignInRefused("Slack did not say who you are. Please try again.")
        return user_id, team_id, str(info.get("name") or user_id)

    async def _logout(self, request: web.Request) -> web.Response:
        session = await self._signed_in(request)
        form = await request.post()
        token = form.get("csrf")
        if not isinstance(token, str) or not same(token, session.csrf):
            return self._page("forbidden.html.j2", status=403, session=session)
        self._memberships.pop(session.sid, None)
        response = web.HTTPSeeOther(f"{self._prefix}/signin")
        response.del_cookie(SESSION_COOKIE, path=self._prefix)
        raise response

    # -- pages ---------------------------------------------------------------------------------------------

    async def _incidents(self, request: web.Request) -> web.Response:
        session = await self._signed_in(request)
        query = request.query
        status = query.get("status") or None
        severity = query.get("severity") or None
        text = (query.get("q") or "").strip()[:200] or None
        async with self._db.unit() as stores:
            causes = await stores.web.root_cause_names(session.team_id)
        cause = query.get("root_cause") or None
        wanted = IncidentFilter(
            status=status if status in STATUSES else None,
            severity=severity if severity in self._config.severity_names else None,
            opened_from=_day(query.get("from")),
            opened_to=_day(query.get("to")),
            root_cause=cause if cause in causes else None,
            text=text,
        )
        visible = await self._visible_private(session)
        cursor = query.get("cursor") or None
        async with self._db.unit() as stores:
            try:
                page = await stores.web.incidents(
                    session.team_id, wanted, visible_private=visible, cursor=cursor, limit=PAGE_SIZE
                )
            except InvalidCursor:  # edited or truncated: the first page
                cursor = None
                page = await stores.web.incidents(session.team_id, wanted, visible_private=visible, limit=PAGE_SIZE)
        kept = _filter_query(wanted)
        older = None
        if page.next_cursor is not None:
            older = f"{self._prefix}/incidents?{urlencode({**kept, 'cursor': page.next_cursor})}"
        newest = f"{self._prefix}/incidents?{urlencode(kept)}" if kept else f"{self._prefix}/incidents"
        return self._page(
            "incidents.html.j2",
            session=session,
            page=page,
            wanted=wanted,
            filtered=bool(kept),
            statuses=[(s.value, s.label) for s in Status] + [("active", "Active (not resolved)")],
            status_label={s.value: s.label for s in Status},
            severities=self._config.severities,
            root_causes=causes,
            severity_label=self._severity_label,
            older=older,
            newest=newest,
            first_page=cursor is None,
        )

    async def _trends(self, request: web.Request) -> web.Response:
        session = await self._signed_in(request)
        today = datetime.now(UTC).date()
        until = _day(request.query.get("until")) or today
        since = _day(request.query.get("since")) or _months_before(until, 11)
        if since > until:
            since, until = until, since
        since = max(since, _months_before(until, MAX_TREND_MONTHS - 1))  # a range the page can draw
        visible = await self._visible_private(session)
        async with self._db.unit() as stores:
            trends = await stores.web.trends(session.team_id, visible_private=visible, since=since, until=until)
        months = [m.month for m in trends.months]
        durations = []
        for key, label in (
            ("ack", "Time to acknowledge"),
            ("mitigate", "Time to mitigate"),
            ("resolve", "Time to resolve"),
        ):
            medians = [getattr(m, f"{key}_median_s") for m in trends.months]
            p90s = [getattr(m, f"{key}_p90_s") for m in trends.months]
            unit, seconds = duration_unit(medians + p90s)

            def scaled(values: list[float | None], seconds: float = seconds) -> tuple[float | None, ...]:
                return tuple(None if v is None else v / seconds for v in values)

            median, p90 = scaled(medians), scaled(p90s)
            chart = line_chart(
                f"chart-{key}",
                f"{label} by month ({unit}): median and p90",
                months,
                [Series("median", MEDIAN, median), Series("p90", P90, p90)],
                unit=unit,
            )
            rows = list(zip(months, median, p90, strict=True))
            durations.append((key, label, unit, chart, rows))
        by_severity = [(self._severity_label(name), float(n)) for name, n in trends.by_severity]
        causes = [(name, float(n)) for name, n in trends.root_causes]
        runbooks = [(name, float(n)) for name, n in trends.runbooks]
        per_month = [(m.month, float(m.incidents)) for m in trends.months]
        return self._page(
            "trends.html.j2",
            session=session,
            since=since,
            until=until,
            durations=durations,
            per_month=(bar_chart("chart-months", "Incidents opened by month", per_month), per_month),
            by_severity=(bar_chart("chart-severity", "Incidents by severity", by_severity), by_severity),
            root_causes=(bar_chart("chart-root-causes", "Most frequent root causes", causes), causes),
            runbooks=(bar_chart("chart-runbooks", "Most frequent runbooks", runbooks), runbooks),
        )

    async def _runbooks(self, request: web.Request) -> web.Response:
        session = await self._signed_in(request)
        folder = self._config.suggestions.runbooks
        loaded = await asyncio.to_thread(_read_runbooks, folder)
        async with self._db.unit() as stores:
            stats = await stores.web.runbook_stats(session.team_id)
        counts = {(s.runbook, s.error, s.root_cause): s for s in stats}
        shown: set[tuple[str, str, str]] = set()
        books = []
        for runbook, html, problems in loaded.books:
            causes = []
            for error in runbook.errors:
                for cause in error.root_causes:
                    key = (runbook.title, error.name, cause.name)
                    shown.add(key)
                    causes.append((error.name, cause.name, counts.get(key)))
            books.append((runbook, html, problems, causes))
        others = [s for s in stats if (s.runbook, s.error, s.root_cause) not in shown]
        return self._page(
            "runbooks.html.j2",
            session=session,
            folder=folder.name,
            missing=loaded.missing,
            books=books,
            unusable=loaded.unusable,
            summary=loaded.summary,
            errors=loaded.errors,
            others=others,
        )

    def _severity_label(self, name: str) -> str:
        level = self._config.severity(name)
        return level.label if level is not None else name

    async def _find(self, session: Session, public_id: str) -> Incident | None:
        async with self._db.transaction() as store:
            found = [i for i in await store.get_by_public_id(public_id) if i.team_id == session.team_id]
        if not found or not await self._may_see(session, found[0]):
            return None
        return found[0]

    async def _incident(self, request: web.Request) -> web.Response:
        session = await self._signed_in(request)
        incident = await self._find(session, request.match_info["public_id"])
        if incident is None:
            return self._not_found(session)
        async with self._db.unit() as stores:
            holders = await stores.incidents.role_holders(incident.id)
            entries = await stores.timeline.entries(incident.id)
            reports = await stores.reports.all(incident.id)
            suggestions = await stores.suggestions.for_incident(incident.id)
            people = {
                incident.opener_id,
                *holders.values(),
                *(e.author_id for e in entries if e.author_id),
                *(s.decided_by for s in suggestions if s.decided_by),
            }
            if incident.commander_id:
                people.add(incident.commander_id)
            names = await stores.timeline.people(incident.team_id, people)
        roles = [(role.label, holders.get(role.name)) for role in self._config.roles]
        return self._page(
            "incident.html.j2",
            session=session,
            incident=incident,
            severity=self._severity_label(incident.severity),
            roles=roles,
            entries=entries,
            kind_label=kind_label,
            names=names,
            reports=[(r, report_html(r.markdown)) for r in reversed(reports)],
            suggestions=suggestions,
            suggestion_state=SUGGESTION_STATES,
            channel_url=self._channel_url(incident),
        )

    def _channel_url(self, incident: Incident) -> str | None:
        if not incident.channel_id:
            return None
        query = urlencode({"channel": incident.channel_id, "team": incident.team_id})
        return f"https://slack.com/app_redirect?{query}"

    async def _report_markdown(self, request: web.Request) -> web.Response:
        session = await self._signed_in(request)
        incident = await self._find(session, request.match_info["public_id"])
        if incident is None:
            return self._not_found(session)
        version = int(request.match_info["version"])
        async with self._db.unit() as stores:
            report = next((r for r in await stores.reports.all(incident.id) if r.version == version), None)
        if report is None:
            return self._not_found(session)
        filename = f"{incident.public_id}-report-{version}.md"
        return web.Response(
            text=report.markdown,
            content_type="text/markdown",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC:
            return self._not_found(None)
        body = resources.files("bot.web").joinpath("static", name).read_bytes()
        return web.Response(body=body, content_type=STATIC[name], headers={"Cache-Control": "public, max-age=3600"})


def _day(value: str | None) -> date | None:
    """A date typed in a filter (YYYY-MM-DD), or None when absent or not a date."""
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class _Loaded:
    """The runbooks folder as the runbooks page shows it."""

    books: list[tuple[Runbook, str, list[Problem]]]  # each runbook, its Markdown as HTML, its lint problems
    unusable: list[Problem]  # problems of files that gave no runbook
    summary: str  # as `incident-bot runbooks lint` ends
    errors: int  # lint errors (not warnings)
    missing: bool  # no such folder


def _read_runbooks(folder: Path) -> _Loaded:
    """The runbooks as the engine loads them (`load_runbooks`), each rendered (raw HTML in it shown as text, as in
    reports), with `incident-bot runbooks lint`'s problems."""
    if not folder.is_dir():
        return _Loaded([], [], "", 0, missing=True)
    runbooks, problems = load_runbooks(folder)
    by_path: dict[str, list[Problem]] = {}
    for problem in sorted(problems, key=lambda p: (p.path, p.line)):
        by_path.setdefault(problem.path, []).append(problem)
    books = []
    for runbook in runbooks:
        try:
            text = (folder / runbook.path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = runbook.heading
        books.append((runbook, report_html(_without_front_matter(text)), by_path.pop(runbook.path, [])))
    unusable = [p for found in by_path.values() for p in found]
    errors = sum(1 for p in problems if p.severity == "error")
    return _Loaded(books, unusable, lint_summary(runbooks, problems), errors, missing=False)


def _without_front_matter(text: str) -> str:
    """A runbook's Markdown without its YAML front matter (between `---` lines at the top)."""
    lines = text.splitlines(keepends=True)
    if lines and lines[0].strip() == "---":
        for i, line in enumerate(lines[1:], start=1):
            if line.strip() == "---":
                return "".join(lines[i + 1 :])
    return text


def _months_before(day: date, months: int) -> date:
    """The first day of the month `months` months before `day`'s month."""
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _filter_query(wanted: IncidentFilter) -> dict[str, str]:
    """The list's filters as its query string's arguments (those set only)."""
    values = {
        "status": wanted.status,
        "severity": wanted.severity,
        "from": wanted.opened_from.isoformat() if wanted.opened_from else None,
        "to": wanted.opened_to.isoformat() if wanted.opened_to else None,
        "root_cause": wanted.root_cause,
        "q": wanted.text,
    }
    return {k: v for k, v in values.items() if v}


class SignInRefused(Exception):
    """Slack answered, but not with a sign-in this view can accept (the message says why, for the person)."""


async def _secure(request: web.Request, response: web.StreamResponse) -> None:
    """Strict headers on every answer of the web view; nothing but its static files is ever cached."""
    response.headers.update(SECURITY_HEADERS)
    response.headers.setdefault("Cache-Control", "no-store")
