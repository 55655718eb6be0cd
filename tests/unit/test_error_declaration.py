"""An error class declares its code and HTTP status in its header (errors.py)."""

import pytest

from idp_extension import errors
from idp_extension.flows.first_login import AlreadyActivated, FlowProblem
from idp_extension.flows.tokens import LinkExpired, LinkError


def test_the_header_sets_code_status_and_bilingual():
    class Gone(errors.IspeksError, code="test.gone", status=410, bilingual=True):
        """A test error."""

    assert (Gone.code, Gone.http_status, Gone.bilingual) == ("test.gone", 410, True)
    err = Gone("detail for logs")
    assert (err.code, err.http_status, err.detail) == ("test.gone", 410, "detail for logs")


def test_what_the_header_leaves_out_is_inherited():
    class Teapot(errors.NotFound, code="test.teapot"):
        """A test error."""

    assert (Teapot.code, Teapot.http_status, Teapot.bilingual) == ("test.teapot", 404, False)
    assert issubclass(Teapot, errors.NotFound)
    assert errors.UnknownRealm.http_status == 404 and errors.UnknownRealm.bilingual


def test_a_subclass_own_attributes_are_set_by_the_header_too():
    assert AlreadyActivated.next_action == "login" and FlowProblem.next_action == "request"
    assert AlreadyActivated.http_status == 409
    assert LinkExpired.suffix == "link_expired" and LinkExpired.http_status == 410
    assert LinkError.http_status == 400
    assert LinkExpired("recovery").code == "recovery.link_expired"


def test_a_misspelt_keyword_is_refused():
    with pytest.raises(TypeError, match="no class attribute 'stauts'"):
        class Wrong(errors.IspeksError, stauts=400):  # noqa: F841
            """Misspelt."""
