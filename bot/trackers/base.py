"""What every tracker offers, and the HTTP plumbing they share."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp

if TYPE_CHECKING:
    from bot.config import FollowupSettings

TIMEOUT = aiohttp.ClientTimeout(total=15)  # one call to a tracker


@dataclass(frozen=True, slots=True)
class NewIssue:
    title: str
    body: str  # plain text, several paragraphs separated by blank lines
    marker: str  # unique to the follow-up: how a later attempt finds the issue if this one's answer is lost


@dataclass(frozen=True, slots=True)
class Issue:
    id: str  # GitHub's issue number, Jira's issue key
    url: str  # where people read it


class TrackerError(Exception):
    def __init__(
        self, message: str, *, ambiguous: bool = False, retry: bool = True, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.ambiguous = ambiguous  # the issue may have been created all the same
        # False: trying again cannot help until the configuration is fixed (a refused key, an unknown project, an
        # issue the tracker finds invalid); True: not now (rate limited, down, no answer). `retry_after`: seconds the
        # tracker asked to wait.
        self.retry = retry
        self.retry_after = retry_after


class Tracker(Protocol):
    name: str  # "GitHub", "Jira"
    target: str  # "github:owner/name", "jira:OPS": stored with each follow-up

    async def create(self, issue: NewIssue) -> Issue: ...

    async def find(self, marker: str, since: datetime) -> Issue | None: ...


def tracker_for(settings: FollowupSettings) -> Tracker | None:
    from bot.config import GitHubExport, JiraExport

    from .github import GitHubTracker
    from .jira import JiraTracker

    if isinstance(settings.export, GitHubExport):
        return GitHubTracker(settings.export)
    if isinstance(settings.export, JiraExport):
        return JiraTracker(settings.export)
    return None


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any  # parsed JSON, or the text when it is not JSON
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case

    @property
    def retry_after(self) -> float | None:
        """Retry-After in seconds, when the answer has it as a number."""
        try:
            return max(0.0, float(self.headers["retry-after"]))
        except (KeyError, ValueError):
            return None


async def call(
    name: str, method: str, url: str, *, headers: dict[str, str], payload: Any = None, params: Any = None
) -> Answer:
    """One HTTP call. A failure to connect is certain (nothing was sent); a drop or timeout after sending, or a 5xx,
    is ambiguous for a POST that creates."""
    try:
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as session,
            session.request(method, url, headers=headers, json=payload, params=params) as response,
        ):
            raw = await response.text()
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw
            answer = Answer(response.status, body, {k.lower(): v for k, v in response.headers.items()})
            if response.status >= 500:
                raise TrackerError(
                    f"{name} answered {response.status} (a problem on its side)",
                    ambiguous=True,
                    retry_after=answer.retry_after,
                )
            return answer
    except aiohttp.ClientConnectorError as e:
        raise TrackerError(f"I could not connect to {name} ({e.os_error or e})", ambiguous=False) from e
    except (aiohttp.ClientError, TimeoutError) as e:
        raise TrackerError(f"{name} did not answer (the connection failed: {type(e).__name__})", ambiguous=True) from e
