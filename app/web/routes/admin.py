"""The administrator's pages: users (list, create) and API keys (list, create with the secret
shown once, revoke); and the audit trail, read by auditors and administrators."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from starlette.responses import Response

from app.core.audit import AuditEvent
from app.core.errors import DomainError
from app.core.roles import Role
from app.funds import service as funds
from app.identity import service as identity
from app.identity.models import ApiKey, User
from app.web import forms
from app.web.deps import DbSession, Form, WebRole, WebUser
from app.web.i18n import LOCALE_NAMES, LOCALES
from app.web.session import load_session
from app.web.templating import PREFIX, redirect, render, translate
from app.web.vocabulary import N_

router = APIRouter(prefix=PREFIX)

Admin = Annotated[WebUser, Depends(WebRole(Role.admin))]
TrailReader = Annotated[WebUser, Depends(WebRole(Role.admin, Role.auditor))]

ROLES = [r.value for r in Role]
AUDIT_PAGE = 100


def _fund_options(db: DbSession) -> list[tuple[str, str]]:
    return [(f.code, f"{f.code} · {f.name}") for f in funds.list_funds(db)]


# -- users --------------------------------------------------------------------------------------


def _users_page(request: Request, db: DbSession, **ctx: Any) -> Response:
    ctx.setdefault("errors", {})
    ctx.setdefault("values", {"role": "treasurer", "locale": "en"})
    ctx.setdefault("form_key", forms.new_form_key())
    return render(
        request,
        "admin/users.html",
        {
            "users": list(db.scalars(select(User).order_by(User.username))),
            "roles": ROLES,
            "fund_options": _fund_options(db),
            "locale_options": [(c, LOCALE_NAMES[c]) for c in LOCALES],
            **ctx,
        },
        status=422 if ctx["errors"] else 200,
    )


@router.get("/admin/users")
def users(request: Request, db: DbSession, who: Admin) -> Response:
    return _users_page(request, db)


@router.post("/admin/users")
def create_user(request: Request, db: DbSession, who: Admin, form: Form) -> Response:
    values = forms.values_of(form, "username", "role", "fund_code", "locale")
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    errors: dict[str, str] = {}
    if values["role"] not in ROLES:
        errors["role"] = forms.say(request, forms.CHOOSE_ONE())
    if values["locale"] not in LOCALES:
        errors["locale"] = forms.say(request, forms.CHOOSE_ONE())
    if errors:
        return _users_page(request, db, values=values, errors=errors)
    fund_code = values["fund_code"] if values["role"] == Role.fund_office.value else None
    try:
        forms.run_once(
            db,
            who,
            forms.text(form, forms.FORM_KEY, 64),
            "admin/users",
            {k: v for k, v in values.items()},  # never the password
            lambda: {
                "id": str(
                    identity.create_user(
                        db,
                        who.actor,
                        username=values["username"],
                        password=password,
                        role=values["role"],
                        fund_code=fund_code or None,
                        locale=values["locale"],
                    ).id
                )
            },
        )
    except DomainError as exc:
        fields = {f: f for f in ("username", "password", "role")} | {"fund": "fund_code"}
        errors = forms.domain_errors(request, exc, fields, "username")
        return _users_page(request, db, values=values, errors=errors)
    load_session(request).add_flash(
        "info",
        translate(request, N_("User %(name)s was created."), name=values["username"]),
    )
    return redirect(request, f"{PREFIX}/admin/users")


# -- API keys -----------------------------------------------------------------------------------


def _keys_page(request: Request, db: DbSession, **ctx: Any) -> Response:
    ctx.setdefault("errors", {})
    ctx.setdefault("values", {"role": "collector"})
    ctx.setdefault("form_key", forms.new_form_key())
    return render(
        request,
        "admin/keys.html",
        {
            "keys": list(db.scalars(select(ApiKey).order_by(ApiKey.created_at.desc()))),
            "roles": ROLES,
            "fund_options": _fund_options(db),
            **ctx,
        },
        status=422 if ctx["errors"] else 200,
    )


@router.get("/admin/api-keys")
def api_keys(request: Request, db: DbSession, who: Admin) -> Response:
    return _keys_page(request, db)


@router.post("/admin/api-keys")
def create_api_key(request: Request, db: DbSession, who: Admin, form: Form) -> Response:
    """The new key's secret is on this answer only: it is stored nowhere but as a hash. The same
    form sent again creates nothing and says the secret was shown already."""
    values = forms.values_of(form, "name", "role", "fund_code")
    if values["role"] not in ROLES:
        errors = {"role": forms.say(request, forms.CHOOSE_ONE())}
        return _keys_page(request, db, values=values, errors=errors)
    fund_code = values["fund_code"] if values["role"] == Role.fund_office.value else None
    shown: dict[str, str] = {}

    def operation() -> dict[str, Any]:
        made = identity.create_api_key(
            db, who.actor, name=values["name"], role=values["role"], fund_code=fund_code or None
        )
        shown["secret"] = made.secret  # kept out of the stored answer
        return {"id": str(made.key.id)}

    try:
        forms.run_once(
            db, who, forms.text(form, forms.FORM_KEY, 64), "admin/api-keys", values, operation
        )
    except DomainError as exc:
        fields = {"name": "name", "role": "role", "fund": "fund_code"}
        errors = forms.domain_errors(request, exc, fields, "name")
        return _keys_page(request, db, values=values, errors=errors)
    response = _keys_page(
        request, db, secret=shown.get("secret"), created=values["name"], replayed=not shown
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/admin/api-keys/{key_id}/revoke")
def revoke_api_key(
    request: Request, db: DbSession, who: Admin, key_id: uuid.UUID, form: Form
) -> Response:
    session = load_session(request)
    try:
        key = identity.revoke_api_key(db, who.actor, key_id)
    except DomainError as exc:
        db.rollback()
        session.add_flash("error", forms.refusal(request, exc))
        return redirect(request, f"{PREFIX}/admin/api-keys")
    session.add_flash(
        "info", translate(request, N_("API key %(name)s was revoked."), name=key.name)
    )
    return redirect(request, f"{PREFIX}/admin/api-keys")


# -- the audit trail ----------------------------------------------------------------------------


@router.get("/audit")
def audit_trail(
    request: Request,
    db: DbSession,
    who: TrailReader,
    actor: str | None = None,
    action: str | None = None,
    before: int | None = None,
) -> Response:
    """Who did what, when, to which object: newest first, filtered by actor or action."""
    actor = (actor or "").strip()[:120] or None
    action = (action or "").strip()[:64] or None
    stmt = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(AUDIT_PAGE + 1)
    if actor:
        stmt = stmt.where(AuditEvent.actor == actor)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if before is not None and 0 < before < 2**63:
        stmt = stmt.where(AuditEvent.seq < before)
    rows = list(db.scalars(stmt))
    page = rows[:AUDIT_PAGE]
    return render(
        request,
        "admin/audit.html",
        {
            "events": page,
            "actor": actor or "",
            "action": action or "",
            "next": page[-1].seq if len(rows) > AUDIT_PAGE else None,
        },
    )
