"""Jira Cloud (REST API v3): `POST /rest/api/3/issue` files one (fields: project key, summary, issue type name,
description in Atlassian Document Format, labels; the answer has `id`, `key`, `self`; people read it at
`https://<site>/browse/<key>`); `POST /rest/api/3/search/jql` finds an issue an earlier attempt filed, by the label
that marks its follow-up. Basic auth with JIRA_EMAIL and JIRA_API_TOKEN."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from bot.config import JiraExport

from .base import Answer, Issue, NewIssue, TrackerError, call

SUMMARY_LIMIT = 255  # Jira's limit for a summary


def adf_document(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document Format document: one paragraph per block of lines, hard breaks inside."""
    content: list[dict[str, Any]] = []
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line.strip()]
        if not lines:
            continue
        nodes: list[dict[str, Any]] = []
        for index, line in enumerate(lines):
            if index:
                nodes.append({"type": "hardBreak"})
            nodes.append({"type": "text", "text": line})
        content.append({"type": "paragraph", "content": nodes})
    return {"type": "doc", "version": 1, "content": content}


class JiraTracker:
    name = "Jira"

    def __init__(self, settings: JiraExport) -> None:
        self._settings = settings
        self.target = f"jira:{settings.project}"

    def _headers(self) -> dict[str, str]:
        if not self._settings.email or self._settings.token is None:
            raise TrackerError(
                "JIRA_EMAIL and JIRA_API_TOKEN are not both set, so I cannot file Jira issues", retry=False
            )
        pair = f"{self._settings.email}:{self._settings.token.reveal()}".encode()
        return {
            "Authorization": "Basic " + base64.b64encode(pair).decode("ascii"),
            "Accept": "application/json",
        }

    def _browse(self, key: str) -> str:
        return f"{self._settings.site}/browse/{key}"

    async def create(self, issue: NewIssue) -> Issue:
        summary = issue.title if len(issue.title) <= SUMMARY_LIMIT else issue.title[: SUMMARY_LIMIT - 1] + "…"
        payload = {
            "fields": {
                "project": {"key": self._settings.project},
                "summary": summary,
                "issuetype": {"name": self._settings.issue_type},
                "description": adf_document(issue.body),
                "labels": [issue.marker],
            }
        }
        answer = await call(
            self.name,
            "POST",
            f"{self._settings.base_url}/rest/api/3/issue",
            headers=self._headers(),
            payload=payload,
        )
        if answer.status != 201 or not isinstance(answer.body, dict) or "key" not in answer.body:
            raise self._refused(answer, "filing the issue")
        key = str(answer.body["key"])
        return Issue(id=key, url=self._browse(key))

    async def find(self, marker: str, since: datetime) -> Issue | None:
        payload = {
            "jql": f'project = "{self._settings.project}" AND labels = "{marker}" ORDER BY created ASC',
            "fields": ["summary"],
            "maxResults": 10,
        }
        answer = await call(
            self.name,
            "POST",
            f"{self._settings.base_url}/rest/api/3/search/jql",
            headers=self._headers(),
            payload=payload,
        )
        if answer.status != 200 or not isinstance(answer.body, dict):
            raise self._refused(answer, "looking for the issue", ambiguous=True)
        for item in answer.body.get("issues") or []:
            if isinstance(item, dict) and item.get("key"):
                return Issue(id=str(item["key"]), url=self._browse(str(item["key"])))
        return None

    def _refused(self, answer: Answer, doing: str, *, ambiguous: bool = False) -> TrackerError:
        body = answer.body if isinstance(answer.body, dict) else {}
        messages = [str(m) for m in body.get("errorMessages") or []]
        errors = body.get("errors") or {}
        if isinstance(errors, dict):
            messages += [f"{field}: {message}" for field, message in errors.items()]
        detail = "; ".join(messages)
        retry = False
        if answer.status == 401:
            text = "Jira refused the credentials (401: check JIRA_EMAIL and JIRA_API_TOKEN)"
        elif answer.status == 403:
            text = (
                f"Jira did not allow {doing} in project {self._settings.project} "
                "(403: check the permissions of JIRA_EMAIL's account)"
            )
        elif answer.status == 429:
            retry = True
            text = f"Jira is rate limiting these credentials (429{': ' + detail if detail else ''})"
        elif answer.status == 400:
            text = f"Jira refused the issue (400{': ' + detail if detail else ''})"
        elif answer.status == 404:
            text = f"Jira has no project {self._settings.project} that these credentials can see (404)"
        else:
            retry = True
            text = f"Jira answered {answer.status} while {doing}{': ' + detail if detail else ''}"
        return TrackerError(text, ambiguous=ambiguous, retry=retry, retry_after=answer.retry_after)
