"""The helpdesk console "Pentadbiran Pengguna" (issue 13, section 1) under
``/<realm>/pentadbiran/``; its guard is the door for the report pages too::

    from idp_extension.web.console import bp, officer_required, current_officer

    @bp.get("/laporan")
    @officer_required()            # fresh=True for a change
    def report(): officer = current_officer(); ...
"""

from idp_extension.web.console.guard import (  # noqa: F401
    Officer, current_officer, officer_required,
)
from idp_extension.web.console.views import bp  # noqa: F401
from idp_extension.web.console import pages  # noqa: F401,E402  (registers the pages' routes)
