"""Issue trackers that follow-ups are exported to: GitHub Issues and Jira Cloud, through their REST APIs.

Both have the same two calls: `create(issue)` files an issue and answers where it is; `find(marker, since)` looks for
an issue an earlier attempt may have filed (its answer lost), by the marker every issue carries. Every failure is a
`TrackerError` with a sentence for people and `ambiguous`: True when the issue may have been created all the same
(the connection dropped or timed out after the request was sent, or the tracker answered 5xx). Nothing here reads
the environment: tokens come from the Config (bot/config.py)."""

from __future__ import annotations

from .base import Issue, NewIssue, Tracker, TrackerError, tracker_for
from .github import GitHubTracker
from .jira import JiraTracker, adf_document

__all__ = [
    "GitHubTracker",
    "Issue",
    "JiraTracker",
    "NewIssue",
    "Tracker",
    "TrackerError",
    "adf_document",
    "tracker_for",
]
