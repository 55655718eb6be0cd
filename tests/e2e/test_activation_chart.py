"""The activation chart (server-drawn SVG) in Chromium at phone and desktop widths.

No server is needed: the SVG is the one the report makes, placed in a page the way a
console page would (capped at 48rem); screenshots are saved for people to look at.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from idp_extension.gateway.users import ACTIVATED_AT, ACTIVATION_STATE, ACTIVE, DirectoryUser
from idp_extension.reporting.campaign import Campaign
from idp_extension.reporting.chart import activation_chart
from idp_extension.reporting.summary import summarise
from tests.e2e.conftest import DESKTOP, PHONE

CAMPAIGN = Campaign(realm="pahang", go_live=date(2026, 11, 2), deadline=date(2027, 1, 29),
                    reminders_per_minute=30)


def _summary():
    users = []
    for n in range(400):
        day = CAMPAIGN.go_live + timedelta(days=n % 28)
        when = datetime(day.year, day.month, day.day, 2, 0, tzinfo=timezone.utc)
        users.append(DirectoryUser(
            id=f"u{n}", user_id=f"9001010612{n:02d}", name="X", email="x@pahang.gov.my",
            enabled=True, attributes={ACTIVATION_STATE: [ACTIVE], "department": ["A"],
                                      ACTIVATED_AT: [when.isoformat()]}))
    summary, _ = summarise(users, CAMPAIGN,
                           datetime(2026, 11, 30, 4, 0, tzinfo=timezone.utc))
    return summary


PAGE = """<!doctype html><html lang="ms"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{margin:0;padding:8px;font-family:sans-serif}} figure{{margin:0;max-width:48rem}}</style>
</head><body><h1>Laporan Pengaktifan</h1><figure>{svg}</figure></body></html>"""


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["360px", "1280px"])
def test_chart_fits_and_its_labels_are_readable(new_page, screenshot, viewport):
    page = new_page(viewport=viewport)
    page.set_content(PAGE.format(svg=activation_chart(_summary())))

    box = page.locator("svg").bounding_box()
    assert box["width"] <= viewport["width"] - 16 + 0.5, "no horizontal scrolling"
    assert box["width"] >= min(viewport["width"] - 16, 768) - 1
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    # Every label at least 9 CSS px tall at 360 px, and none larger than 24 px at 1280.
    heights = page.evaluate(
        "[...document.querySelectorAll('svg text')].map(t => t.getBoundingClientRect().height)")
    assert heights and min(heights) >= 9 and max(heights) <= 24
    assert page.locator("svg rect").count() == 28
    accessible = page.evaluate(
        "document.getElementById('activation-chart-title').textContent")
    assert accessible.startswith("Pengaktifan sehari")
    screenshot(page, f"chart-{viewport['width']}")
