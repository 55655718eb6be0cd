"""In-memory services for the flows' and the pages' unit tests.

``World`` is one realm's services: the in-memory directory (``memory_users``), mail,
audit, a manual clock and one-time claims, and a few synthetic people. A flow's tests
subclass it and add the flow's context (``ctx``) and steps. ``Site`` is a ``World``
behind the sidecar app (``create_app``) with Flask's test client; sending runs inline,
so when a request returns, every mail it caused is in ``mail.sent``.
"""

from __future__ import annotations

import dataclasses
import html
import re
from typing import Any, Callable, ClassVar

from idp_extension.audit import MemoryAuditLog
from idp_extension.demo_users import synthetic_people
from idp_extension.flows.answers import ANSWERS_ATTRIBUTE, hash_answers
from idp_extension.flows.ports import InlineWork, ManualClock, MemoryClaims
from idp_extension.gateway.users import ACTIVATION_STATE, ACTIVE, DirectoryUser
from idp_extension.mail.sender import MemoryMailSender
from idp_extension.realms.profile import attribute_names
from idp_extension.settings import Settings, load_settings
from idp_extension.tenants import Tenant, load_tenant, load_tenants
from idp_extension.web import Services, create_app
from idp_extension.flows.ports import public_pages
from tests.support.constants import ANSWERS, FAST_HASHER, OLD_PASSWORD, PUBLIC_URL, SECRET
from tests.support.memory_users import InMemoryUserDirectory

# What the pages' unit tests run with: a known secret, a public URL the links start with.
SITE_SETTINGS = load_settings({}).with_overrides(
    secret_key=SECRET, sidecar_public_url="http://sidecar.test")
TENANTS = load_tenants(SITE_SETTINGS.realm_templates_dir)


def tenant(realm: str) -> Tenant:
    """The realm's tenant as its values file describes it."""
    return load_tenant(Settings().realm_templates_dir, realm)


def link_pattern(page: str, public_url: str = PUBLIC_URL) -> re.Pattern:
    """A ``page`` link (activation, recovery) in a mail: its realm and token."""
    return re.compile(
        re.escape(public_url) + rf"/(?P<realm>[a-z]+)/{page}/link/(?P<token>[A-Za-z0-9_.\-]+)")


def link_token(message, page: str) -> str:
    """The token of the ``page`` link in both parts of ``message``."""
    found = link_pattern(page).search(message.text)
    assert found, message.text
    assert found.group(0) in message.html
    return found.group("token")


class World:
    """One realm's in-memory services and synthetic people."""

    realm: ClassVar[str] = "pahang"
    people_count: ClassVar[int] = 6
    seed: ClassVar[str] = "flow-tests"
    # Attributes every ``active`` user has besides the activation state and answers.
    active_attributes: ClassVar[dict[str, list[str]]] = {}

    def __init__(self, realm: str | None = None, *, tenant: Tenant | None = None,
                 clock: ManualClock | None = None, claims: MemoryClaims | None = None,
                 **directory_options: Any) -> None:
        self.realm = realm or type(self).realm
        self.tenant = tenant or globals()["tenant"](self.realm)
        self.clock = clock or ManualClock()
        self.directory = InMemoryUserDirectory(
            self.realm, declared_attributes=attribute_names(), **directory_options)
        self.mail = MemoryMailSender()
        self.audit = MemoryAuditLog()
        self.claims = claims or MemoryClaims(self.clock.monotonic)
        self.people = synthetic_people(self.tenant, self.people_count, seed=self.seed)

    def pending(self, index: int = 0) -> DirectoryUser:
        """A user registered from payroll, not yet activated."""
        user, _ = self.directory.register_pending(self.people[index])
        return user

    def active(self, index: int = 0, *, answers: bool = True) -> DirectoryUser:
        """An activated user with ``OLD_PASSWORD``, the three answers and one portal session."""
        user = self.pending(index)
        changes = {ACTIVATION_STATE: [ACTIVE], **self.active_attributes}
        if answers:
            changes[ANSWERS_ATTRIBUTE] = [hash_answers(ANSWERS, FAST_HASHER)]
        self.directory.update_attributes(user.id, changes)
        self.directory.set_password(user.id, OLD_PASSWORD)
        self.directory.open_session(user.id)
        return self.directory.get(user.id)

    def link_context(self, context_class, **changes):
        """An emailed-link flow's context (activation, recovery) over these services."""
        base = context_class(
            tenant=self.tenant, secret_key=SECRET,
            urls=public_pages(PUBLIC_URL, self.tenant.realm),
            directory=self.directory, mailer=self.mail, audit=self.audit, claims=self.claims,
            clock=self.clock, answer_hasher=FAST_HASHER,
        )
        return dataclasses.replace(base, **changes)

    def one_mail(self, send: Callable[[], object]):
        """Call ``send``; assert that it sent exactly one message and return that message."""
        before = len(self.mail.sent)
        send()
        assert len(self.mail.sent) == before + 1, self.mail.sent[before:]
        return self.mail.sent[-1]

    def attribute(self, uuid: str, name: str) -> str | None:
        values = self.directory.get(uuid).attributes.get(name) or []
        return values[0] if values else None

    def events(self, name: str) -> list[dict]:
        return [e for e in self.audit.entries if e["event"] == name]


class Site(World):
    """A ``World`` behind the sidecar app, with a browser-like test client."""

    settings: ClassVar[Settings] = SITE_SETTINGS

    def __init__(self, realm: str | None = None, *, settings: Settings | None = None,
                 csrf: bool = False, **directory_options: Any) -> None:
        super().__init__(realm, tenant=TENANTS[realm or type(self).realm], **directory_options)
        self.settings = settings or type(self).settings
        self.app = create_app(self.settings, tenants=TENANTS, services=self.services())
        self.app.config.update(TESTING=True, WTF_CSRF_ENABLED=csrf)
        self.client = self.app.test_client()

    def services(self) -> Services:
        return Services(audit=self.audit, mail=self.mail, directories=self.directory_of,
                        claims=self.claims, clock=self.clock, work=InlineWork())

    def directory_of(self, realm: str) -> InMemoryUserDirectory:
        return self.directory

    def text(self, path: str) -> str:
        """GET ``path``; assert a 200 and return the page's text."""
        answer = self.client.get(path)
        assert answer.status_code == 200, (path, answer.status_code)
        return html.unescape(answer.get_data(as_text=True))


def text_of(response) -> str:
    """A test client response's body, HTML entities resolved."""
    return html.unescape(response.get_data(as_text=True))
