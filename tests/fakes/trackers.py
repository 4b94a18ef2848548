"""Local fakes of GitHub Issues and Jira Cloud: real aiohttp servers answering the calls the bot makes, with the
request and response shapes their REST documentation gives.

GitHub (REST API, version 2022-11-28):
- `POST /repos/{owner}/{repo}/issues` with `{"title", "body"?, "labels"?, "assignees"?}` and `Authorization: Bearer
  <token>` -> 201 with the issue (`number`, `html_url`, `title`, `body`, `labels`, `state`, `created_at`,
  `updated_at`); 401 `{"message": "Bad credentials"}` without a valid token; 404 for an unknown repository; 422
  `{"message": "Validation Failed", "errors": [{"resource": "Issue", "field": "title", "code": "missing_field"}]}`
  for a missing or empty title.
- `GET /repos/{owner}/{repo}/issues?state=&since=&per_page=&page=` -> 200 with the issues updated at or after
  `since`, newest first (state "open" by default).

Jira Cloud (REST API v3, basic auth with email and API token):
- `POST /rest/api/3/issue` with `{"fields": {"project": {"key"}, "summary", "issuetype": {"name"}, "description"
  (ADF), "labels"?}}` -> 201 `{"id", "key", "self"}`; 401 without valid credentials; 400 `{"errorMessages": [],
  "errors": {"summary": "You must specify a summary of the issue."}}` and the like for invalid fields.
- `POST /rest/api/3/search/jql` with `{"jql", "fields"?, "maxResults"?}` -> 200 `{"issues": [{"id", "key", "self",
  "fields": {...}}], "isLast": true}` (only `project = "X"` and `labels = "Y"` clauses joined by AND are understood).

Faults: `lose_next_answer()` creates the next issue and then drops the connection without answering (the bot cannot
tell whether it exists); `fail_next(status, headers=...)` answers the next create with that status (and headers:
GitHub's rate limits answer 403 or 429 with `retry-after` or `x-ratelimit-remaining: 0`) and creates nothing.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot.emulator.loopback import LoopbackServer


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Faults:
    lose: int = 0  # creates to perform and then drop the connection of
    fail: list[int] = field(default_factory=list)  # statuses to answer the next creates with (nothing created)
    fail_headers: list[dict[str, str]] = field(default_factory=list)  # and the headers of each


class _Server(LoopbackServer):
    def __init__(self) -> None:
        super().__init__()
        self.faults = Faults()
        self.requests: list[tuple[str, str]] = []  # (method, path), in order

    def lose_next_answer(self) -> None:
        self.faults.lose += 1

    def fail_next(self, status: int, *, headers: dict[str, str] | None = None) -> None:
        """The next create is answered `status` (with `headers`: a rate limit's Retry-After, say); nothing is made."""
        self.faults.fail.append(status)
        self.faults.fail_headers.append(headers or {})

    def _fault(self) -> web.Response | None:
        if self.faults.fail:
            status = self.faults.fail.pop(0)
            headers = self.faults.fail_headers.pop(0)
            said = "API rate limit exceeded" if status in (403, 429) else "Service Unavailable"
            return web.json_response({"message": said}, status=status, headers=headers)
        return None

    def _drop_if_asked(self, request: web.Request) -> bool:
        if self.faults.lose:
            self.faults.lose -= 1
            assert request.transport is not None
            request.transport.abort()  # created, but the answer never reaches the caller
            return True
        return False


class FakeGitHub(_Server):
    def __init__(self, *, token: str, repository: str) -> None:
        super().__init__()
        self.token = token
        self.repository = repository
        self.issues: list[dict[str, Any]] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/repos/{owner}/{repo}/issues", self._create)
        app.router.add_get("/repos/{owner}/{repo}/issues", self._list)

    def _refusal(self, request: web.Request) -> web.Response | None:
        self.requests.append((request.method, request.path))
        if request.headers.get("Authorization") not in (f"Bearer {self.token}", f"token {self.token}"):
            return web.json_response(
                {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}, status=401
            )
        if f"{request.match_info['owner']}/{request.match_info['repo']}" != self.repository:
            return web.json_response(
                {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, status=404
            )
        return None

    async def _create(self, request: web.Request) -> web.StreamResponse:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        fault = self._fault()
        if fault is not None:
            return fault
        payload = await request.json()
        title = payload.get("title") if isinstance(payload, dict) else None
        if not isinstance(title, str | int) or not str(title).strip():
            return web.json_response(
                {
                    "message": "Validation Failed",
                    "errors": [{"resource": "Issue", "field": "title", "code": "missing_field"}],
                    "documentation_url": "https://docs.github.com/rest/issues/issues#create-an-issue",
                },
                status=422,
            )
        number = len(self.issues) + 1
        now = _iso(_now())
        issue = {
            "id": 1000 + number,
            "number": number,
            "title": str(title),
            "body": payload.get("body"),
            "labels": [{"name": name} for name in payload.get("labels") or []],
            "assignees": [],
            "state": "open",
            "html_url": f"https://github.com/{self.repository}/issues/{number}",
            "url": f"{self.url}/repos/{self.repository}/issues/{number}",
            "created_at": now,
            "updated_at": now,
        }
        self.issues.append(issue)
        if self._drop_if_asked(request):
            return web.Response(status=201)
        return web.json_response(issue, status=201)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        state = request.query.get("state", "open")
        since = request.query.get("since")
        per_page = min(int(request.query.get("per_page", "30")), 100)
        page = int(request.query.get("page", "1"))
        found = [
            i
            for i in reversed(self.issues)
            if (state == "all" or i["state"] == state) and (since is None or i["updated_at"] >= since)
        ]
        return web.json_response(found[(page - 1) * per_page : page * per_page])


class FakeJira(_Server):
    def __init__(self, *, email: str, token: str, project: str, issue_types: tuple[str, ...] = ("Task", "Bug")) -> None:
        super().__init__()
        self.email = email
        self.token = token
        self.project = project
        self.issue_types = issue_types
        self.issues: list[dict[str, Any]] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/rest/api/3/issue", self._create)
        app.router.add_post("/rest/api/3/search/jql", self._search)

    def _unauthorised(self, request: web.Request) -> web.Response | None:
        self.requests.append((request.method, request.path))
        expected = "Basic " + base64.b64encode(f"{self.email}:{self.token}".encode()).decode("ascii")
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401, text="Client must be authenticated to access this resource.")
        return None

    async def _create(self, request: web.Request) -> web.StreamResponse:
        refused = self._unauthorised(request)
        if refused is not None:
            return refused
        fault = self._fault()
        if fault is not None:
            return fault
        payload = await request.json()
        fields = payload.get("fields") if isinstance(payload, dict) else None
        if not isinstance(fields, dict):
            return web.json_response({"errorMessages": ["No fields given."], "errors": {}}, status=400)
        errors: dict[str, str] = {}
        if (fields.get("project") or {}).get("key") != self.project:
            errors["project"] = "Specify a valid project ID or key"
        if not str(fields.get("summary") or "").strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif len(str(fields["summary"])) > 255:
            errors["summary"] = "Summary must be less than 255 characters."
        if (fields.get("issuetype") or {}).get("name") not in self.issue_types:
            errors["issuetype"] = "Specify an issue type"
        description = fields.get("description")
        if description is not None and not (
            isinstance(description, dict) and description.get("type") == "doc" and description.get("version") == 1
        ):
            errors["description"] = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
        labels = fields.get("labels") or []
        if any(not isinstance(label, str) or " " in label for label in labels):
            errors["labels"] = "Labels cannot contain spaces."
        if errors:
            return web.json_response({"errorMessages": [], "errors": errors}, status=400)
        number = len(self.issues) + 1
        key = f"{self.project}-{number}"
        issue = {
            "id": str(10000 + number),
            "key": key,
            "self": f"{self.url}/rest/api/3/issue/{10000 + number}",
            "fields": {
                "summary": fields["summary"],
                "description": description,
                "labels": labels,
                "issuetype": fields["issuetype"],
                "project": fields["project"],
            },
        }
        self.issues.append(issue)
        if self._drop_if_asked(request):
            return web.Response(status=201)
        return web.json_response({"id": issue["id"], "key": key, "self": issue["self"]}, status=201)

    async def _search(self, request: web.Request) -> web.StreamResponse:
        refused = self._unauthorised(request)
        if refused is not None:
            return refused
        payload = await request.json()
        jql = str(payload.get("jql") or "")
        clauses = dict(re.findall(r'(\w+)\s*=\s*"([^"]*)"', jql.split(" ORDER BY ")[0]))
        found = [
            i
            for i in self.issues
            if ("project" not in clauses or i["fields"]["project"]["key"] == clauses["project"])
            and ("labels" not in clauses or clauses["labels"] in i["fields"]["labels"])
        ]
        limit = int(payload.get("maxResults") or 50)
        shown = [
            {"id": i["id"], "key": i["key"], "self": i["self"], "fields": {"summary": i["fields"]["summary"]}}
            for i in found[:limit]
        ]
        return web.json_response({"issues": shown, "isLast": len(found) <= limit})
