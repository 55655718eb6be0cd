"""Account activation pages (manuals 000, 001, 002) under ``/<realm>/activation``.

::

    GET  /activation                     "Emel Pengaktifan Akaun": the ID form (Langkah 2-3)
    POST /activation                     request_link → one confirmation for every valid ID
    GET  /activation/link/<token>        open_link → token into a cookie → 303 /account
    GET  /activation/account             the account page at its step
    POST /activation/account/questions   set_security_questions → 303 /account
    POST /activation/account/password    complete → "Tahniah" (cookie deleted)

Only states that onboard by activation link have these pages (404 elsewhere). The views
are thin: the flow (``flows.activation``) decides, they translate. The link's token
leaves the URL at the first GET (so it is in no later Referer, history entry or access
log line) and lives in a signed HttpOnly cookie scoped to this path until the link
expires; every later request hands it back to the flow's verbs, which verify it again.
"""

from __future__ import annotations


from typing import Any, Mapping, Sequence

from flask import (
    Blueprint, Response, make_response, redirect, render_template, request, url_for,
)

from idp_extension import errors
from idp_extension.flows import activation as flow
from idp_extension.flows import answers, password_rules

from idp_extension.i18n import format_page_date, format_page_time
from idp_extension.flows.activation import (
    ActivationContext, ActivationFlow, ActivationStep,
    PasswordRejectedByPolicy, PasswordRulesFailed, QuestionsInvalid, QuestionsRequired,
)
from idp_extension.flows.tokens import LinkError, LinkTampered
from idp_extension.tenants import Onboarding
from idp_extension.web.emailed_link import (  # noqa: F401  (the limits: tests read them here)
    LINKS_PER_ADDRESS, REQUESTS_PER_ADDRESS, REQUESTS_PER_ID, STEPS_PER_ADDRESS, LinkCookie,
    add_link_pages, link_flow_context, login_url,
)
from idp_extension.web.language import add_messages, current_locale
from idp_extension.web.page_messages import load_page_messages
from idp_extension.web.ratelimit import rate_limit
from idp_extension.web.tenant import current_tenant

bp = Blueprint("activation", __name__, url_prefix="/activation")

COOKIE_NAME = "ispeks_activation"
COOKIE_SALT = "ispeks:activation-cookie"
QUESTION_SLOTS = answers.QUESTIONS_REQUIRED


@bp.record_once
def _add_messages(state: Any) -> None:
    # The pages' texts live in messages/activation/; the flows' sentences
    # (flows/data/messages) are in the app's catalogue from the start.
    add_messages(state.app, load_page_messages("activation"))


@bp.before_request
def only_for_activation_link_states() -> None:
    """Hide the pages in states that onboard by temporary password instead."""
    tenant = current_tenant()
    if tenant.onboarding is not Onboarding.ACTIVATION_LINK:
        raise errors.NotFound(f"{tenant.realm} does not onboard by activation link")


# -- collaborators ----------------------------------------------------------------------


def flow_context() -> ActivationContext:
    """The activation flow's collaborators for the current request's realm."""
    return link_flow_context(ActivationContext)


# -- the token cookie -------------------------------------------------------------------


LINK_COOKIE = LinkCookie(COOKIE_NAME, COOKIE_SALT, flow.PURPOSE)


def _token() -> str:
    """The token of the link this browser followed, or raise a LinkError."""
    token = LINK_COOKIE.read()
    if not isinstance(token, str):
        raise LinkTampered(flow.PURPOSE, "activation cookie without a token")
    return token


# -- pages ------------------------------------------------------------------------------


# Langkah 2-3: the ID form and its answer; Langkah 4-5: the emailed link, then the account.
add_link_pages(bp, pages="activation", flow_context=flow_context,
               request_link=flow.request_link, open_link=flow.open_link, next_page=".account",
               keep=lambda response, token, opened, ctx: LINK_COOKIE.keep(
                   response, token, opened.expires_at, ctx.clock))


@bp.get("/account")
def account() -> str:
    """The account page at the user's step: security questions, then the password."""
    return _account_page(flow.current_flow(flow_context(), _token()))


@bp.post("/account/questions")
@rate_limit(STEPS_PER_ADDRESS)
def save_questions() -> Response | tuple[str, int]:
    """Langkah 5 "Seterusnya": store three questions and answers, then the password step."""
    ctx, token = flow_context(), _token()
    choices = _choices(request.form)
    try:
        flow.set_security_questions(ctx, token, choices)
    except QuestionsInvalid as exc:
        current = flow.current_flow(ctx, token)
        page = _account_page(current, step=ActivationStep.QUESTIONS,
                             field_errors=exc.field_errors, choices=choices)
        return page, exc.http_status
    return redirect(url_for(".account"), 303)


@bp.post("/account/password")
@rate_limit(STEPS_PER_ADDRESS)
def save_password() -> Response | tuple[str, int]:
    """Langkah 6-7 "Selesai": set the password, activate, congratulate."""
    ctx, token = flow_context(), _token()
    try:
        done = flow.complete(ctx, token, request.form.get("password", ""),
                             request.form.get("confirm", ""))
    except QuestionsRequired:
        return redirect(url_for(".account"), 303)
    except PasswordRulesFailed as exc:
        keys = [failure.message_key for failure in exc.failures]
        return _password_error(ctx, token, keys, exc.field_errors, exc.http_status)
    except PasswordRejectedByPolicy as exc:
        return _password_error(ctx, token, [exc.reason_key], exc.field_errors, exc.http_status)
    response = make_response(_account_page(done.flow))
    LINK_COOKIE.forget(response)
    return response


@bp.errorhandler(LinkError)
def link_error(error: LinkError) -> Response:
    """An unusable link: say why, and offer to request a new one ("ulangi Langkah 2")."""
    page = render_template("activation/link_error.html", error=error, login_url=login_url())
    response = make_response(page, error.http_status)
    LINK_COOKIE.forget(response)
    return response


# -- helpers ----------------------------------------------------------------------------


def _choices(form: Mapping[str, str]) -> list[tuple[str, str]]:
    """The three (question, answer) slots of the form, blanks included.

    Always three, so that a blank row gets its own field errors ("choose a question",
    "enter an answer") rather than one "choose three" for the whole form.
    """
    return [(form.get(f"question_{n}", "").strip(), form.get(f"answer_{n}", ""))
            for n in range(1, QUESTION_SLOTS + 1)]


def _password_error(
    ctx: ActivationContext, token: str, message_keys: Sequence[str],
    field_errors: Mapping[str, str], status: int,
) -> tuple[str, int]:
    current = flow.current_flow(ctx, token)
    page = _account_page(current, step=ActivationStep.PASSWORD, field_errors=field_errors,
                         error_keys=list(dict.fromkeys(message_keys)))
    return page, status


def _account_page(
    current: ActivationFlow,
    *,
    step: ActivationStep | None = None,
    field_errors: Mapping[str, str] | None = None,
    choices: Sequence[tuple[str, str]] | None = None,
    error_keys: Sequence[str] = (),
) -> str:
    step = step or current.step
    tenant = current_tenant()
    locale = current_locale()
    slots = list(choices or [])
    slots += [("", "")] * (QUESTION_SLOTS - len(slots))
    return render_template(
        "activation/account.html",
        flow=current,
        step=step.value,
        registered=format_page_date(current.registration_date),
        expires_at=format_page_time(current.expires_at),
        questions=[(q.id, q.text(locale)) for q in tenant.security_questions],
        slots=slots,
        field_errors=dict(field_errors or {}),
        error_keys=list(error_keys),
        checklist=[rule for rule in password_rules.RULES if rule.checklist],
        rules=password_rules.rules_as_data(),
        min_answer=answers.MIN_ANSWER_LENGTH,
        max_answer=answers.MAX_ANSWER_LENGTH,
        max_password=password_rules.MAX_LENGTH,
        login_url=login_url(),
    )
