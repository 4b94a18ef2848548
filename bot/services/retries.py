"""Retries as scheduler jobs (bot/services/scheduler.py): a follow-up export that failed and a page (trigger or
resolve) the provider did not take are tried again later, with backoff.

One job per failure, not a periodic sweep: the failure is recorded and its retry scheduled in the same transaction
(`schedule_export_retry` in FollowupService.export, `schedule_page_retry` in Pager), so a retry exists exactly when a
failure does, nothing polls while nothing failed, and the jobs table gains rows only for failures. The key names the
thing and the attempt that failed (`followup-export:<id>:<attempt>`,
`page-send:<id>:<asked at, epoch s>:<trigger|resolve>:<attempt>`: a reopened incident's page is asked for anew):
one retry per failed attempt, however often the failure path runs. The delay doubles from 30 s up to an hour (a
provider's Retry-After wins), and after MAX_ATTEMPTS attempts no retry is scheduled: the failure stays told in the
channel and a person may ask again (`/incident followup export`, `/incident page`).

Only failures that may pass are retried: rate limits (429, and GitHub's rate-limit 403), 5xx and no answer. A refusal
that trying again cannot fix (a key or token refused, 401/403; an invalid event or issue, 400/422; an unknown
repository or project, 404) is told in the channel with the environment variable or setting to check, and not retried
until a person asks again.

The handlers only call what a person's request calls (`FollowupService.export`, `Pager.trigger`, `Pager.resolve`),
which are idempotent: an export already filed is not filed again, a page already accepted is not sent again, and
the provider's deduplication key keeps one alert. When another sender holds the follow-up or the page at that moment,
the handler raises and the scheduler's own backoff runs it again later.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.storage.jobs import JobStore

from .scheduler import JobRun, Scheduler

if TYPE_CHECKING:
    from .followups import FollowupService
    from .paging import Pager

log = logging.getLogger(__name__)

EXPORT_KIND = "followup-export"
PAGE_KIND = "page-send"
FIRST_DELAY = 30.0  # seconds before the first retry; doubling
MOST_DELAY = 3600.0
MAX_ATTEMPTS = 8  # attempts in all (the first included) after which no retry is scheduled


class StillBusy(Exception):
    """Another sender holds it now: the scheduler tries this job again later."""


def retry_delay(attempts: int, hint: float | None = None) -> timedelta:
    """How long after the `attempts`-th failed attempt the next one is made."""
    if hint is not None:
        return timedelta(seconds=max(hint, 1.0))
    return timedelta(seconds=min(FIRST_DELAY * 2 ** max(attempts - 1, 0), MOST_DELAY))


async def schedule_export_retry(
    jobs: JobStore, followup_id: int, attempts: int, now: datetime, retry_after: float | None = None
) -> bool:
    """After the `attempts`-th export of the follow-up failed: its retry (False: it gave up)."""
    if attempts >= MAX_ATTEMPTS:
        return False
    key = f"{EXPORT_KIND}:{followup_id}:{attempts}"
    due = now + retry_delay(attempts, retry_after)
    await jobs.schedule(EXPORT_KIND, key, due, {"followup_id": followup_id}, now=now)
    return True


async def schedule_page_retry(
    jobs: JobStore,
    page_id: int,
    action: str,
    attempts: int,
    actor: str,
    now: datetime,
    retry_after: float | None = None,
    *,
    round_: int = 0,
) -> bool:
    """After the `attempts`-th `action` ("trigger" or "resolve") of the page failed: its retry (False: gave up).
    `round_` tells one life of the page from the next (an incident reopened pages again: its attempts count anew)."""
    if attempts >= MAX_ATTEMPTS:
        return False
    key = (
        f"{PAGE_KIND}:{page_id}:{action}:{attempts}"
        if not round_
        else f"{PAGE_KIND}:{page_id}:{round_}:{action}:{attempts}"
    )
    payload = {"page_id": page_id, "action": action, "actor": actor}
    await jobs.schedule(PAGE_KIND, key, now + retry_delay(attempts, retry_after), payload, now=now)
    return True


class Retries:
    def __init__(self, followups: FollowupService, pager: Pager) -> None:
        self._followups = followups
        self._pager = pager

    def register(self, scheduler: Scheduler) -> None:
        scheduler.register(EXPORT_KIND, self.export)
        scheduler.register(PAGE_KIND, self.page)

    async def export(self, run: JobRun) -> None:
        await run.check()
        outcome = await self._followups.export(int(run.payload["followup_id"]))
        if outcome.state == "busy":
            raise StillBusy(f"follow-up {run.payload['followup_id']} is being exported by another attempt")
        # failed: its own failure path scheduled the next retry; exported, off, gone: nothing more to do

    async def page(self, run: JobRun) -> None:
        await run.check()
        page_id, action = int(run.payload["page_id"]), str(run.payload["action"])
        if action == "trigger":
            sent = await self._pager.trigger(page_id)
        else:
            sent = await self._pager.resolve(page_id, str(run.payload.get("actor") or ""))
        if not sent and await self._pager.busy(page_id, action):
            raise StillBusy(f"page {page_id} is being sent by another sender")
