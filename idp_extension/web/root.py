"""Routes outside any state: the list of states (probes and metrics: health.py)."""

from __future__ import annotations

from flask import Blueprint, render_template

from idp_extension.web.services import current_tenants

bp = Blueprint("root", __name__)


@bp.get("/")
def index() -> str:
    """List the states, for people who arrive without a state in the URL."""
    tenants = sorted(current_tenants().values(), key=lambda t: t.state_name)
    return render_template("index.html", tenants=tenants)
