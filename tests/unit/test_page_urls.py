"""The links in emails come from the routes the web layer serves, prefix and all.

Flows build them through their ``urls`` port (``flows/ports.PageUrls``): in the sidecar
the app's own URL map bound to the public URL (``web/tenant.TenantContext.urls``), in
the CLI and reminders the mailed pages' rules (``flows/ports.MAILED_PAGES``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from flask import g

from idp_extension.flows.ports import MAILED_PAGES, RouteUrls, public_pages
from idp_extension.web.tenant import current_context
from tests.support import worlds
from tests.support.worlds import SITE_SETTINGS

PUBLIC = "https://sso.ispeks.example.gov.my/idp"


class ProxiedSite(worlds.Site):
    """The sidecar at ``PUBLIC``: requests arrive as the proxy hands them over."""

    def __init__(self, public_url: str = PUBLIC) -> None:
        super().__init__(settings=SITE_SETTINGS.with_overrides(sidecar_public_url=public_url))

    def request(self, method: str, url: str, **kwargs):
        parts = urlsplit(url)
        return self.client.open(parts.path, method=method,
                                base_url=f"{parts.scheme}://{parts.netloc}",
                                environ_overrides={"SCRIPT_NAME": ""}, **kwargs)


def test_the_mailed_pages_are_the_apps_own_routes():
    app_rules = {rule.endpoint: rule.rule for rule in ProxiedSite().app.url_map.iter_rules()}
    mailed = list(MAILED_PAGES.iter_rules())
    assert len(mailed) == 5
    for rule in mailed:
        assert app_rules.get(rule.endpoint) == rule.rule, rule.endpoint


@pytest.mark.parametrize("public_url",
                         [PUBLIC, "https://h.example.test/a/b/", "http://127.0.0.1:5000"])
def test_the_cli_builds_the_same_links_as_the_sidecar(public_url):
    app = ProxiedSite(public_url).app
    for rule in MAILED_PAGES.iter_rules():
        values = {"token": "T.k-1"} if "token" in rule.arguments else {}
        assert (public_pages(public_url, "melaka").url(rule.endpoint, **values)
                == RouteUrls(app.url_map, public_url, "melaka").url(rule.endpoint, **values))
    assert (public_pages(public_url, "melaka").url("tenant.activation.follow_link", token="T")
            == public_url.rstrip("/") + "/melaka/activation/link/T")


def test_the_sidecars_builder_works_outside_the_request():
    # The sending runs in a background thread, after the request that asked for it; the
    # request's own Host never shows in a link.
    site = ProxiedSite()
    with site.app.test_request_context("/", base_url="https://elsewhere.test"):
        g.tenant = worlds.TENANTS["pahang"]
        urls = current_context().urls
    assert urls.url("tenant.recovery.follow_link", token="T") == f"{PUBLIC}/pahang/recovery/link/T"


@pytest.mark.parametrize("flow", ["activation", "recovery"])
def test_the_mailed_link_under_a_prefix_opens_the_page_that_serves_it(flow):
    site = ProxiedSite()
    user = site.pending() if flow == "activation" else site.active()
    asked = site.request("POST", f"{PUBLIC}/pahang/{flow}", data={"user_id": user.user_id})
    assert asked.status_code == 200, asked.status_code
    message = site.mail.last()
    link = worlds.link_pattern(flow, PUBLIC).search(message.text)
    assert link, message.text
    assert link.group(0) in message.html and link.group("realm") == "pahang"
    assert f"{PUBLIC}/pahang/{flow}\n" in message.text  # the page asking for a new link

    adapter = site.app.url_map.bind("sso.ispeks.example.gov.my", script_name="/idp")
    path = urlsplit(link.group(0)).path
    assert adapter.match(path.removeprefix("/idp")) == (
        f"tenant.{flow}.follow_link", {"realm": "pahang", "token": link.group("token")})
    opened = site.request("GET", link.group(0))
    assert opened.status_code in (302, 303), opened.status_code
    assert urlsplit(opened.headers["Location"]).path.startswith(f"/idp/pahang/{flow}/")
    assert site.request("GET", f"{PUBLIC}/pahang/{flow}").status_code == 200
