"""GitHub Issues (REST API): `POST /repos/{owner}/{repo}/issues` files one (title, body, labels; the answer has
`number` and `html_url`); `GET /repos/{owner}/{repo}/issues?state=all&since=...` lists those updated since a time,
which finds an issue an earlier attempt filed by the marker hidden in its body (an HTML comment). The list is read
rather than the search API because GitHub's search index lags behind."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.config import GitHubExport

from .base import Answer, Issue, NewIssue, TrackerError, call

PAGE_SIZE = 100
MAX_PAGES = 10  # issues updated since the first attempt: 1,000 at most are looked through
SINCE_MARGIN = timedelta(minutes=5)  # clocks differ


def hidden_marker(marker: str) -> str:
    return f"<!-- {marker} -->"


class GitHubTracker:
    name = "GitHub"

    def __init__(self, settings: GitHubExport) -> None:
        self._settings = settings
        self.target = f"github:{settings.repository}"

    def _headers(self) -> dict[str, str]:
        if self._settings.token is None:
            raise TrackerError("GITHUB_TOKEN is not set, so I cannot file GitHub issues", retry=False)
        return {
            "Authorization": f"Bearer {self._settings.token.reveal()}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "incident-bot",
        }

    def _url(self, path: str) -> str:
        return f"{self._settings.api_url}/repos/{self._settings.repository}{path}"

    async def create(self, issue: NewIssue) -> Issue:
        payload: dict[str, Any] = {
            "title": issue.title,
            "body": f"{issue.body}\n\n{hidden_marker(issue.marker)}",
        }
        if self._settings.labels:
            payload["labels"] = list(self._settings.labels)
        answer = await call(self.name, "POST", self._url("/issues"), headers=self._headers(), payload=payload)
        if answer.status != 201 or not isinstance(answer.body, dict) or "number" not in answer.body:
            raise self._refused(answer, "filing the issue")
        return Issue(id=str(answer.body["number"]), url=str(answer.body.get("html_url") or ""))

    async def find(self, marker: str, since: datetime) -> Issue | None:
        wanted = hidden_marker(marker)
        after = (since.astimezone(UTC) - SINCE_MARGIN).strftime("%Y-%m-%dT%H:%M:%SZ")
        for page in range(1, MAX_PAGES + 1):
            params = {"state": "all", "since": after, "per_page": str(PAGE_SIZE), "page": str(page)}
            answer = await call(self.name, "GET", self._url("/issues"), headers=self._headers(), params=params)
            if answer.status != 200 or not isinstance(answer.body, list):
                raise self._refused(answer, "looking for the issue", ambiguous=True)
            for item in answer.body:
                if isinstance(item, dict) and wanted in str(item.get("body") or ""):
                    return Issue(id=str(item["number"]), url=str(item.get("html_url") or ""))
            if len(answer.body) < PAGE_SIZE:
                return None
        raise TrackerError(
            f"GitHub has more than {MAX_PAGES * PAGE_SIZE} issues updated since the first attempt; I could not tell "
            "whether the issue exists",
            ambiguous=True,
        )

    def _refused(self, answer: Answer, doing: str, *, ambiguous: bool = False) -> TrackerError:
        body = answer.body if isinstance(answer.body, dict) else {}
        message = str(body.get("message") or "")
        repository = self._settings.repository
        retry, retry_after = False, answer.retry_after
        if answer.status == 401:
            text = "GitHub refused the token (401: check GITHUB_TOKEN)"
        elif answer.status == 429 or (
            answer.status == 403 and (answer.headers.get("x-ratelimit-remaining") == "0" or retry_after is not None)
        ):  # GitHub's primary and secondary rate limits answer 403 or 429
            retry = True
            retry_after = retry_after if retry_after is not None else _reset_in(answer)
            text = f"GitHub is rate limiting the token ({answer.status}{': ' + message if message else ''})"
        elif answer.status == 403:
            text = (
                f"GitHub did not allow {doing} in {repository} "
                f"(403{': ' + message if message else ''}; check GITHUB_TOKEN's access to it)"
            )
        elif answer.status in (404, 410):
            text = f"GitHub has no repository {repository} that the token can see ({answer.status})"
        elif answer.status == 422:
            problems = ", ".join(
                f"{e.get('field')} {e.get('code')}" if isinstance(e, dict) else str(e) for e in body.get("errors", [])
            )
            text = (
                f"GitHub refused the issue (422 {message or 'Validation Failed'}{': ' + problems if problems else ''})"
            )
        else:
            retry = True
            text = f"GitHub answered {answer.status} while {doing}{': ' + message if message else ''}"
        return TrackerError(text, ambiguous=ambiguous, retry=retry, retry_after=retry_after)


def _reset_in(answer: Answer) -> float | None:
    """Seconds until GitHub's rate limit window resets (`x-ratelimit-reset`, epoch seconds), if it says."""
    try:
        return max(1.0, float(answer.headers["x-ratelimit-reset"]) - time.time())
    except (KeyError, ValueError):
        return None
