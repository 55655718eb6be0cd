"""A state's activation campaign, from the ``[campaign]`` table of its values file.

``go_live`` and ``deadline`` are dates in Malaysia time (UTC+8, no daylight saving):
the report counts activations per day from ``go_live`` and measures progress against
``deadline``; ``reminders_per_minute`` paces ``report remind`` for the state's SMTP relay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Mapping

from idp_extension.tenants import ValuesError, load_values

# Malaysia Time: every day the report speaks of is a day in this zone.
MALAYSIA = timezone(timedelta(hours=8), "MYT")
# Dates before this are the placeholders of defaults.toml, not a campaign.
EARLIEST_GO_LIVE = date(2000, 1, 1)
MAX_REMINDERS_PER_MINUTE = 600


@dataclass(frozen=True)
class Campaign:
    """One state's campaign: its go-live day, its deadline, its reminder pace."""

    realm: str
    go_live: date
    deadline: date
    reminders_per_minute: int

    def day_of(self, moment: datetime) -> date:
        """The Malaysian calendar day of a timezone-aware ``moment``."""
        return moment.astimezone(MALAYSIA).date()

    def days_left(self, today: date) -> int:
        """Whole days from ``today`` to the deadline (negative once it has passed)."""
        return (self.deadline - today).days


def _date(values: Mapping[str, Any], key: str) -> date:
    where = values.get("_values_file", "values file")
    value = (values.get("campaign") or {}).get(key)
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValuesError(f"{where}: [campaign] {key} must be a date like 2026-11-02, "
                          f"got {value!r}")
    if value < EARLIEST_GO_LIVE:
        raise ValuesError(f"{where}: [campaign] {key} is not set for this state "
                          f"(the {value} of defaults.toml is a placeholder)")
    return value


def campaign_from_values(values: Mapping[str, Any]) -> Campaign:
    """Return the campaign of merged state values; ValuesError names the file and key."""
    where = values.get("_values_file", "values file")
    if not isinstance(values.get("campaign"), Mapping):
        raise ValuesError(f"{where}: missing table [campaign] (go_live, deadline)")
    go_live, deadline = _date(values, "go_live"), _date(values, "deadline")
    if deadline <= go_live:
        raise ValuesError(f"{where}: [campaign] deadline {deadline} must come after "
                          f"go_live {go_live}")
    rate = values["campaign"].get("reminders_per_minute", 30)
    if isinstance(rate, bool) or not isinstance(rate, int) or not (
            1 <= rate <= MAX_REMINDERS_PER_MINUTE):
        raise ValuesError(f"{where}: [campaign] reminders_per_minute must be a whole number "
                          f"from 1 to {MAX_REMINDERS_PER_MINUTE}, got {rate!r}")
    return Campaign(realm=values["realm"], go_live=go_live, deadline=deadline,
                    reminders_per_minute=rate)


def load_campaign(templates_dir: Path, state: str) -> Campaign:
    """Return ``state``'s campaign from its values file (defaults.toml underneath)."""
    return campaign_from_values(load_values(templates_dir, state))
