"""The activation campaign report, served from a summary kept in the shared state.

A request never lists a realm's users: it reads the state's last summary (one key of
the shared state) and says how old it is. A summary older than ``max_age`` is
refreshed by one paged scan of Keycloak (``gateway.user_scan``): in ``work`` (the web
layer's background threads) while the old numbers are served, or at once when there
are none yet. A claim in the shared state lets one worker of all scan a realm at a
time; the others keep serving what is stored.

::

    report(realm) ──► stored summary ──► fresh: serve it
                          │ stale: serve it, refresh in the background
                          └ none: refresh now, serve the result

For a page (or the CLI) to call::

    service = ActivationReport(scan=..., campaign=..., store=..., claims=..., clock=...)
    view = service.report("pahang")            # ReportView: summary, age, stale
    view.summary.totals / .departments / .activations_by_day
    service.pending_users("pahang", "Jabatan Pertanian")   # list[PendingUser]
    service.refresh("pahang")                  # scan now (state IT's "refresh" button)
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Iterable

from idp_extension.errors import ServiceUnavailable
from idp_extension.flows.ports import BackgroundWork, Clock, InlineWork, OneTimeClaims, SystemClock
from idp_extension.gateway.users import DirectoryUser
from idp_extension.reporting.campaign import Campaign
from idp_extension.reporting.store import ReportStore
from idp_extension.reporting.summary import (
    PendingUser, Summariser, Summary, pending_from_json, pending_to_json,
)

DEFAULT_MAX_AGE = timedelta(minutes=10)
# How long one refresh may hold the realm's claim (a scan of 100,000 users takes minutes).
REFRESH_CLAIM_SECONDS = 30 * 60
# How long a summary is kept at all: a stale one is still served while a new one is made.
KEEP_SECONDS = 7 * 24 * 3600
# When a first summary is being made by another worker: how long to wait for it.
WAIT_FOR_OTHER_SECONDS = 120.0
WAIT_STEP_SECONDS = 0.5


# The sentences behind this module's codes, for the web layer's catalogue.
MESSAGES: dict[str, dict[str, str]] = {
    "ms": {"report.not_ready": "Laporan sedang disediakan. Sila cuba semula sebentar lagi.",
           "report.not_ready.title": "Laporan Sedang Disediakan"},
    "en": {"report.not_ready": "The report is being prepared. Please try again in a moment.",
           "report.not_ready.title": "Report Being Prepared"},
}


class ReportNotReady(ServiceUnavailable, code="report.not_ready"):
    """No summary yet and another worker is still making the first one: try again soon."""


@dataclass(frozen=True)
class ReportView:
    """What a page shows: the numbers, how old they are, whether newer ones are coming."""

    summary: Summary
    age: timedelta
    stale: bool
    refreshing: bool = False

    @property
    def as_of(self) -> datetime:
        return self.summary.as_of


def _summary_key(realm: str) -> str:
    return f"{realm}:summary"


def _pending_key(realm: str, generation: str, department: str) -> str:
    digest = hashlib.sha256(department.encode("utf-8")).hexdigest()[:24]
    return f"{realm}:pending:{generation}:{digest}"


@dataclass
class ActivationReport:
    """The report's verbs for any state (``scan(realm)`` reads that realm's users)."""

    scan: Callable[[str], Iterable[DirectoryUser]]
    campaign: Callable[[str], Campaign]
    store: ReportStore
    claims: OneTimeClaims
    clock: Clock = field(default_factory=SystemClock)
    max_age: timedelta = DEFAULT_MAX_AGE
    work: BackgroundWork = field(default_factory=InlineWork)
    wait_for_other_seconds: float = WAIT_FOR_OTHER_SECONDS

    # -- reading -------------------------------------------------------------------------

    def stored(self, realm: str) -> Summary | None:
        """The last summary of ``realm`` in the store, however old, or None."""
        text = self.store.get(_summary_key(realm))
        if text is None:
            return None
        try:
            return Summary.from_json(text)
        except (ValueError, KeyError, TypeError):
            return None  # an older format: made again

    def report(self, realm: str, *, wait_if_missing: bool = True) -> ReportView:
        """The numbers of ``realm``: stored ones (refreshed in ``work`` when stale), or
        new ones when there are none yet. Raises KeycloakUnavailable, ReportNotReady.

        With no summary yet, a scan of a large realm takes minutes: a page passes
        ``wait_if_missing=False`` to start it in ``work`` and get ReportNotReady at once
        (its 503 page asks to come back in a minute); the CLI waits.
        """
        summary = self.stored(realm)
        if summary is None:
            if not wait_if_missing:
                self._refresh_in_background(realm)
                summary = self.stored(realm)  # inline work has made it already
                if summary is None:
                    raise ReportNotReady(f"the first summary of {realm} is being made")
                return self._view(summary)
            summary = self._first_summary(realm)
            return self._view(summary, refreshing=False)
        view = self._view(summary)
        if view.stale:
            self._refresh_in_background(realm)
            # Inline work has refreshed already; background work is still on its way.
            view = self._view(self.stored(realm) or summary)
            view = self._view(view.summary, refreshing=view.stale)
        return view

    def pending_users(self, realm: str, department: str) -> list[PendingUser]:
        """The pending users of one department (``""``: no department), as of the
        current summary (``report`` first, so they are never older than the counts)."""
        summary = self.report(realm).summary
        if department not in summary.departments:
            return []
        text = self.store.get(_pending_key(realm, summary.generation, department))
        return pending_from_json(text) if text else []

    # -- refreshing ----------------------------------------------------------------------

    def refresh(self, realm: str) -> Summary:
        """Scan ``realm`` now and store the result; another worker's scan is waited for."""
        claim = f"report-refresh:{realm}"
        if not self.claims.claim(claim, REFRESH_CLAIM_SECONDS):
            return self._wait_for_other(realm, newer_than=self.clock.now())
        try:
            return self._scan_and_store(realm)
        finally:
            self.claims.release(claim)

    def _scan_and_store(self, realm: str) -> Summary:
        campaign = self.campaign(realm)
        as_of = self.clock.now()
        started = self.clock.monotonic()
        summariser = Summariser(campaign, as_of)
        for user in self.scan(realm):
            summariser.add(user)
        generation = secrets.token_hex(8)
        summary, pending = summariser.finish(scan_seconds=self.clock.monotonic() - started,
                                             generation=generation)
        # The lists first, then the summary that names them: a reader sees one or the other
        # generation whole, never a new summary with missing lists.
        for department, users in pending.items():
            self.store.put(_pending_key(realm, generation, department),
                           pending_to_json(users), KEEP_SECONDS)
        self.store.put(_summary_key(realm), summary.to_json(), KEEP_SECONDS)
        return summary

    def _first_summary(self, realm: str) -> Summary:
        return self.refresh(realm)

    def _refresh_in_background(self, realm: str) -> bool:
        """Start a refresh unless one runs already; True if this call started one."""
        claim = f"report-refresh:{realm}"
        if not self.claims.claim(claim, REFRESH_CLAIM_SECONDS):
            return True  # another worker is on it

        def task() -> None:
            try:
                self._scan_and_store(realm)
            finally:
                self.claims.release(claim)

        self.work.run(task, within=0.0)
        return True

    def _wait_for_other(self, realm: str, newer_than: datetime) -> Summary:
        """Wait (``clock.sleep``) for the scan another worker is making."""
        deadline = self.clock.monotonic() + self.wait_for_other_seconds
        while True:
            summary = self.stored(realm)
            if summary is not None and summary.as_of >= newer_than - self.max_age:
                return summary
            if self.clock.monotonic() >= deadline:
                if summary is not None:
                    return summary
                raise ReportNotReady(f"the first summary of {realm} is still being made")
            self.clock.sleep(WAIT_STEP_SECONDS)

    def _view(self, summary: Summary, refreshing: bool = False) -> ReportView:
        age = summary.age(self.clock.now())
        return ReportView(summary=summary, age=age, stale=age > self.max_age,
                          refreshing=refreshing)
