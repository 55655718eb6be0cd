"""Pages the login page already links to, before their flow exists.

Keycloak's login page links every state to ``/<realm>/recovery`` ("Lupa Kata Laluan").
Until the recovery flow registers its own blueprint, this route says so clearly, in
Malay and English, instead of a bare 404. The first blueprint registered for a URL wins,
so this one stays last in ``app.REALM_BLUEPRINTS``; delete it once recovery lands.
"""

from __future__ import annotations

from flask import Blueprint, render_template

from idp_extension.i18n import SUPPORTED_LOCALES

bp = Blueprint("coming_soon", __name__)


@bp.get("/recovery")
def recovery() -> str:
    """Lupa Kata Laluan: not yet available."""
    return render_template("coming_soon.html", service_key="landing.recovery",
                           page_locales=SUPPORTED_LOCALES)
