"""Forgotten password pages ("Lupa Kata Laluan") under ``/<realm>/recovery``, every state.

::

    GET  /recovery                   the ID form
    POST /recovery                   request_link → one confirmation for every valid ID
    GET  /recovery/link/<token>      open_link → token into a cookie → 303 /questions
    GET  /recovery/questions         two of the user's security questions
    POST /recovery/questions         answer_questions → proof into the cookie → 303 /password
    GET  /recovery/password          the new password (live checklist), "sign out everywhere"
    POST /recovery/password          complete → "log in again" (cookie deleted)

The views are thin: ``flows.recovery`` decides. As in activation, the link's token leaves
the URL at the first GET and lives in a signed HttpOnly cookie scoped to this path until
the link expires, together with the proof of the answers once they were right; every
request hands both back to the flow, which verifies them again against Keycloak.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Mapping, Sequence

from flask import (
    Blueprint, Response, make_response, redirect, render_template, request, url_for,
)

from idp_extension import errors
from idp_extension.flows import answers, password_rules
from idp_extension.flows import recovery as flow
from idp_extension.flows.common import PasswordRejectedByPolicy, PasswordRulesFailed
from idp_extension.i18n import format_page_time
from idp_extension.flows.ports import Clock
from idp_extension.flows.recovery import (
    AnswersRequired, RecoveryContext, RecoveryFlow, RecoveryLocked, WrongAnswers,
)
from idp_extension.flows.tokens import LinkError, LinkTampered
from idp_extension.web.emailed_link import (
    STEPS_PER_ADDRESS, LinkCookie, add_link_pages, link_flow_context, login_url,
)
from idp_extension.web.language import add_messages, current_locale
from idp_extension.web.page_messages import load_page_messages
from idp_extension.web.ratelimit import rate_limit
from idp_extension.web.tenant import current_tenant

bp = Blueprint("recovery", __name__, url_prefix="/recovery")

COOKIE_NAME = "ispeks_recovery"
COOKIE_SALT = "ispeks:recovery-cookie"
# Wrong answers lock the account after three: the limit per address only slows scripts.
ANSWERS_PER_ADDRESS = "10 per minute"


@bp.record_once
def _add_messages(state: Any) -> None:
    add_messages(state.app, load_page_messages("recovery"), load_page_messages("self_service"))


# -- collaborators ----------------------------------------------------------------------


def flow_context() -> RecoveryContext:
    """The recovery flow's collaborators for the current request's realm."""
    return link_flow_context(RecoveryContext)


# -- the cookie: the link's token, then also the answers' proof -------------------------


LINK_COOKIE = LinkCookie(COOKIE_NAME, COOKIE_SALT, flow.PURPOSE)


def _keep(response: Response, token: str, proof: str | None, expires_at: datetime,
          clock: Clock) -> None:
    LINK_COOKIE.keep(response, {"t": token, "p": proof}, expires_at, clock)


def _held() -> tuple[str, str | None]:
    """The token of the link this browser followed, and the answers' proof if any."""
    held = LINK_COOKIE.read()
    token = held.get("t") if isinstance(held, dict) else None
    proof = held.get("p") if isinstance(held, dict) else None
    if not isinstance(token, str):
        raise LinkTampered(flow.PURPOSE, "recovery cookie without a token")
    return token, proof if isinstance(proof, str) else None


def _page_at(step: flow.RecoveryStep, page: Callable[[RecoveryFlow], str]) -> Response | str:
    """``page`` if the held link (and proof) are at ``step``, else the step they are at
    (the questions, or the password once the answers were right)."""
    token, proof = _held()
    current = flow.current_flow(flow_context(), token, proof)
    if current.step is not step:
        return redirect(url_for(_STEP_PAGES[current.step]), 303)
    return page(current)


_STEP_PAGES = {flow.RecoveryStep.QUESTIONS: ".questions", flow.RecoveryStep.PASSWORD: ".password"}


# -- pages ------------------------------------------------------------------------------


# "Lupa Kata Laluan": the ID form and its answer; the emailed link, then the questions.
add_link_pages(bp, pages="recovery", flow_context=flow_context,
               request_link=flow.request_link, open_link=flow.open_link, next_page=".questions",
               keep=lambda response, token, opened, ctx: _keep(
                   response, token, None, opened.expires_at, ctx.clock))


@bp.get("/questions")
def questions() -> Response | str:
    """Two of the user's three security questions (the same two for the link's life)."""
    return _page_at(flow.RecoveryStep.QUESTIONS, _questions_page)


@bp.post("/questions")
@rate_limit(ANSWERS_PER_ADDRESS)
def save_answers() -> Response | tuple[str, int]:
    """Check the answers: right → the password step; wrong → count, and lock at three."""
    ctx = flow_context()
    token, _ = _held()
    # Fields are named after the questions ("answer_<id>"); the flow reads only its two.
    given = {key[len("answer_"):]: value for key, value in request.form.items()
             if key.startswith("answer_")}
    try:
        accepted = flow.answer_questions(ctx, token, given, current_locale())
    except WrongAnswers as exc:
        return _questions_page(flow.current_flow(ctx, token), error=exc), exc.http_status
    response = redirect(url_for(".password"), 303)
    _keep(response, token, accepted.proof, accepted.flow.expires_at, ctx.clock)
    return response


@bp.get("/password")
def password() -> Response | str:
    """The new password: the checklist, "Tunjuk Kata Laluan", and "sign out everywhere"."""
    return _page_at(flow.RecoveryStep.PASSWORD, _password_page)


@bp.post("/password")
@rate_limit(STEPS_PER_ADDRESS)
def save_password() -> Response | tuple[str, int]:
    """Set the password, end the other sessions if asked, then "log in again"."""
    ctx = flow_context()
    token, proof = _held()
    end_others = request.form.get("end_sessions") == "on"
    try:
        done = flow.complete(ctx, token, proof, request.form.get("password", ""),
                             request.form.get("confirm", ""), end_other_sessions=end_others,
                             locale=current_locale())
    except AnswersRequired:
        return redirect(url_for(".questions"), 303)
    except PasswordRulesFailed as exc:
        keys = [failure.message_key for failure in exc.failures]
        return _password_error(ctx, token, proof, keys, exc.field_errors, exc.http_status,
                               end_others)
    except PasswordRejectedByPolicy as exc:
        return _password_error(ctx, token, proof, [exc.reason_key], exc.field_errors,
                               exc.http_status, end_others)
    response = make_response(render_template(
        "recovery/done.html", flow=done.flow, sessions_ended=done.sessions_ended,
        unlocked=done.unlocked, login_url=login_url()))
    LINK_COOKIE.forget(response)
    return response


@bp.errorhandler(LinkError)
def link_error(error: LinkError) -> Response:
    """An unusable link: say why, and offer to ask for a new one."""
    page = render_template("recovery/problem.html", error=error, request_again=True,
                           login_url=login_url())
    response = make_response(page, error.http_status)
    LINK_COOKIE.forget(response)
    return response


@bp.errorhandler(RecoveryLocked)
@bp.errorhandler(flow.AccountBlocked)
def blocked(error: errors.IspeksError) -> Response:
    """Locked or blocked: nothing to retry here; the helpdesk (in the footer) can help."""
    page = render_template("recovery/problem.html", error=error, request_again=False,
                           login_url=login_url())
    response = make_response(page, error.http_status)
    LINK_COOKIE.forget(response)
    return response


# -- helpers ----------------------------------------------------------------------------


def _expires(current: RecoveryFlow) -> str:
    return format_page_time(current.expires_at)


def _questions_page(current: RecoveryFlow, *, error: WrongAnswers | None = None) -> str:
    tenant = current_tenant()
    locale = current_locale()
    asked = []
    for question_id in current.question_ids:
        question = tenant.question(question_id)
        asked.append((question_id, question.text(locale) if question else question_id))
    return render_template(
        "recovery/questions.html", flow=current, asked=asked, error=error,
        expires_at=_expires(current), max_answer=answers.MAX_ANSWER_LENGTH,
        login_url=login_url(),
    )


def _password_page(current: RecoveryFlow, *, field_errors: Mapping[str, str] | None = None,
                   error_keys: Sequence[str] = (), end_sessions: bool = True) -> str:
    return render_template(
        "recovery/password.html", flow=current, expires_at=_expires(current),
        field_errors=dict(field_errors or {}), error_keys=list(error_keys),
        checklist=[rule for rule in password_rules.RULES if rule.checklist],
        rules=password_rules.rules_as_data(), max_password=password_rules.MAX_LENGTH,
        end_sessions=end_sessions, login_url=login_url(),
    )


def _password_error(ctx: RecoveryContext, token: str, proof: str | None,
                    message_keys: Sequence[str], field_errors: Mapping[str, str], status: int,
                    end_sessions: bool) -> tuple[str, int]:
    current = flow.current_flow(ctx, token, proof)
    page = _password_page(current, field_errors=field_errors,
                          error_keys=list(dict.fromkeys(message_keys)), end_sessions=end_sessions)
    return page, status
