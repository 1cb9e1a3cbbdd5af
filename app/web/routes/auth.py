"""Sign-in, sign-out and the language switcher."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.core import audit
from app.core.audit import Actor
from app.core.database import bind_organisation
from app.core.messages import N_, Template
from app.identity import service as identity
from app.identity.models import User
from app.web import forms, i18n
from app.web.deps import DbSession, Form, SignInRequired, current_user
from app.web.session import load_session, password_mark
from app.web.templating import PREFIX, redirect, render, translate

NO_USERNAME = Template("sign_in.no_username", N_("Enter your username."))
NO_PASSWORD = Template("sign_in.no_password", N_("Enter your password."))
THROTTLED = Template(
    "sign_in.too_many_attempts",
    N_("Too many failed sign-ins. Wait %(minutes)s minutes and try again."),
)
WRONG = Template(
    "sign_in.wrong",
    N_("Wrong organisation, username or password. Check them and try again."),
)

router = APIRouter()


def _safe_next(target: str | None) -> str:
    """Only a path inside the web pages (no scheme, no host, no `//`): no open redirect."""
    if (
        not target
        or not target.startswith(PREFIX + "/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(ch) < 32 for ch in target)
    ):
        return PREFIX + "/"
    return target


@router.get("/")
def root() -> Response:
    from starlette.responses import RedirectResponse

    return RedirectResponse(PREFIX + "/", status_code=307)


@router.get(PREFIX + "/sign-in")
def sign_in_form(request: Request, next: str | None = None) -> Response:
    session = load_session(request)
    if session.signed_in:
        return redirect(request, _safe_next(next))
    return render(request, "sign_in.html", {"values": {}, "errors": {}, "next": _safe_next(next)})


@router.post(PREFIX + "/sign-in")
def sign_in(request: Request, db: DbSession, form: Form) -> Response:
    values = {
        "organisation": str(form.get("organisation", "")).strip()[:32],
        "username": str(form.get("username", "")).strip()[:200],
    }
    password = str(form.get("password", ""))[:1000]
    target = _safe_next(str(form.get("next", "")))
    errors: dict[str, str] = {}
    if not values["username"]:
        errors["username"] = forms.say(request, NO_USERNAME())
    if not password:
        errors["password"] = forms.say(request, NO_PASSWORD())
    user = None
    # The API's sign-in throttle (app.core.throttle), shared: failures count on both doors.
    throttle = getattr(request.app.state, "login_throttle", None)
    keys = (
        throttle.keys(
            values["username"],
            values["organisation"].upper() or None,
            request.client.host if request.client else None,
        )
        if throttle is not None
        else []
    )
    wait = throttle.retry_after(keys) if throttle is not None and not errors else None
    if wait is not None:
        errors["password"] = forms.say(request, THROTTLED(minutes=max(1, (wait + 59) // 60)))
    if not errors:
        user = identity.sign_in(
            db,
            username=values["username"],
            password=password,
            organisation=values["organisation"].upper() or None,
        )
        if throttle is not None:
            (throttle.failed if user is None else throttle.succeeded)(keys)
        if user is None:
            errors["password"] = forms.say(request, WRONG())
    if user is None:
        return render(
            request,
            "sign_in.html",
            {"values": values, "errors": errors, "next": target},
            status=(429 if wait is not None else 422) if errors else 200,
        )
    session = load_session(request)
    session.sign_in(user.id, user.organisation_id, password_mark(user.password_hash))
    bind_organisation(db, user.organisation_id)
    audit.record(
        db,
        Actor(
            f"user:{user.username}",
            request.client.host if request.client else None,
            getattr(request.state, "request_id", None),
        ),
        "web.sign_in",
        "user",
        user.id,
    )
    session.locale = None  # from now on the user's own preference
    return redirect(request, target)


@router.post(PREFIX + "/sign-out")
def sign_out(request: Request, db: DbSession, form: Form) -> Response:
    session = load_session(request)
    try:
        who = current_user(request, db)
    except SignInRequired:
        pass
    else:
        session.locale = who.locale  # the sign-in page that follows stays in their language
        audit.record(db, who.actor, "web.sign_out", "user", who.principal.subject_id)
    session.sign_out()
    session.add_flash("info", translate(request, "You are signed out."))
    return redirect(request, PREFIX + "/sign-in")


@router.post(PREFIX + "/language")
def choose_language(request: Request, db: DbSession, form: Form) -> Response:
    """Set the language: the signed-in user's preference (audited), or this browser's."""
    chosen = i18n.normalise_locale(str(form.get("locale", "")))
    session = load_session(request)
    back = _safe_next(str(form.get("next", "")))
    if session.signed_in:
        who = current_user(request, db)
        user = db.get(User, (who.organisation_id, who.principal.subject_id))
        if user is not None and user.locale != chosen:
            before = user.locale
            user.locale = chosen
            audit.record(
                db, who.actor, "user.locale", "user", user.id, {"from": before, "to": chosen}
            )
        request.state.web_locale = chosen
    else:
        session.locale = chosen
        session.changed = True
    return redirect(request, back)
