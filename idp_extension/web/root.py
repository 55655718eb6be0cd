"""Routes outside any state: the health check and the list of states."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template

from idp_extension.web.services import current_tenants

bp = Blueprint("root", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """Answer the load balancer; touches no dependency, so Keycloak outages don't cascade."""
    return jsonify(status="ok")


@bp.get("/")
def index() -> str:
    """List the states, for people who arrive without a state in the URL."""
    tenants = sorted(current_tenants().values(), key=lambda t: t.state_name)
    return render_template("index.html", tenants=tenants)
