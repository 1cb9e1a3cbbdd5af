"""Who is signed in to the web pages, what their role allows, and checked forms."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from app.core.audit import Actor
from app.core.clock import remember_zone
from app.core.database import bind_organisation
from app.core.deps import Principal, get_session
from app.core.roles import Role
from app.identity.models import Organisation, User
from app.web.session import CSRF_FIELD, csrf_ok, load_session, password_mark

# The request's unit of work (app.core.deps.get_session), committed when the page function
# returns and *before* the response leaves: a browser that follows the redirect after a form
# at once must find what the form wrote (PostgreSQL would otherwise race the commit).
DbSession = Annotated[Session, Depends(get_session, scope="function")]


class SignInRequired(Exception):
    """No valid session: the page answers with a redirect to the sign-in form."""


class CsrfRefused(Exception):
    """A form without this session's CSRF token: refused (403), nothing written."""


class WebForbidden(Exception):
    """The signed-in role may not open this page or do this (403)."""


@dataclass(frozen=True, slots=True)
class WebUser:
    principal: Principal
    organisation_name: str
    locale: str

    @property
    def role(self) -> Role:
        return self.principal.role

    @property
    def actor(self) -> Actor:
        return self.principal.actor

    @property
    def currency(self) -> str:
        return self.principal.currency

    @property
    def time_zone(self) -> str:
        """The organisation's IANA zone: forms take and show times in it."""
        return self.principal.time_zone

    @property
    def organisation_id(self) -> uuid.UUID:
        return self.principal.organisation_id

    def can(self, *roles: Role | str) -> bool:
        return self.role.value in {Role(r).value for r in roles}


def current_user(request: Request, session: DbSession) -> WebUser:
    """The signed-in user, still active and with the same password; the session gets bound to
    their organisation, so every query of the request is scoped to it."""
    web = load_session(request)
    if not web.signed_in:
        raise SignInRequired
    row = session.execute(
        select(User, Organisation)
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(
            User.organisation_id == web.organisation_id,
            User.id == web.user_id,
            User.is_active.is_(True),
        )
    ).first()
    if row is None or password_mark(row[0].password_hash) != web.password_mark:
        web.sign_out()
        raise SignInRequired
    user, org = row
    actor = Actor(
        name=f"user:{user.username}",
        remote_addr=request.client.host if request.client else None,
        request_id=getattr(request.state, "request_id", None),
    )
    principal = Principal(
        org.id,
        org.code,
        org.currency,
        Role(user.role),
        "user",
        user.id,
        user.username,
        user.fund_code,
        actor,
        org.time_zone,
    )
    bind_organisation(session, org.id)
    remember_zone(session, org.time_zone)
    from app.web.i18n import normalise_locale

    who = WebUser(principal, org.name, normalise_locale(user.locale))
    request.state.web_user = who
    request.state.web_locale = who.locale
    request.state.principal = principal
    return who


class WebRole:
    """Dependency: the signed-in user, refused (403 page) unless one of `roles`."""

    def __init__(self, *roles: Role) -> None:
        self.roles = frozenset(roles)

    def __call__(self, who: Annotated[WebUser, Depends(current_user)]) -> WebUser:
        if who.role not in self.roles:
            raise WebForbidden
        return who


READ_ROLES = (Role.admin, Role.treasurer, Role.auditor)
BOOK_ROLES = (Role.admin, Role.treasurer)

AnyUser = Annotated[WebUser, Depends(current_user)]
Reader = Annotated[WebUser, Depends(WebRole(*READ_ROLES))]
Treasurer = Annotated[WebUser, Depends(WebRole(Role.treasurer))]
Bookkeeper = Annotated[WebUser, Depends(WebRole(*BOOK_ROLES))]


async def checked_form(request: Request) -> FormData:
    """The posted form, once its CSRF token matches the session's (else 403, nothing written)."""
    form = await request.form()
    if not csrf_ok(load_session(request), form.get(CSRF_FIELD)):
        raise CsrfRefused
    return form


Form = Annotated[FormData, Depends(checked_form)]
