"""Request dependencies: the request's session (one transaction) and the caller (Principal).

`Caller(...)` is how an endpoint says which roles may call it; the session it gets is then
bound to the caller's organisation (see `core.database`), so every query is scoped.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.audit import Actor
from app.core.clock import remember_zone
from app.core.database import bind_organisation
from app.core.errors import Forbidden, Unauthorized
from app.core.security import API_KEY_PREFIX, hash_api_key, read_access_token
from app.core.settings import Settings
from app.identity.models import ApiKey, Organisation, Role, User


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's unit of work: committed after the handler returns, rolled back if it raises.

    Used with `scope="function"` (DbSession below): the commit happens before the response
    leaves, so a client is never told 201 about a write whose commit then failed, and a
    client that reads right after a write sees it. A handler may commit itself (in its own
    thread, as `POST /receipts` does); then nothing is left to do here. Creating the session
    does no I/O, so it happens on the event loop; only a commit or rollback that has
    something to do goes to a worker thread (each thread hop costs CPU on every request).
    """
    factory = request.app.state.session_factory
    with factory() as session:
        try:
            yield session
            if session.in_transaction():
                await run_in_threadpool(session.commit)
        except BaseException:
            if session.in_transaction():
                await run_in_threadpool(session.rollback)
            raise


DbSession = Annotated[Session, Depends(get_session, scope="function")]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: one organisation, one role; a fund office is bound to one fund."""

    organisation_id: uuid.UUID
    organisation_code: str
    currency: str
    role: Role
    subject_kind: str  # "user" or "key"
    subject_id: uuid.UUID
    name: str
    fund_code: str | None
    actor: Actor
    time_zone: str = "UTC"  # the organisation's IANA zone: its day (app.core.clock)


_bearer = HTTPBearer(auto_error=False, description="An access token or an API key")


def _actor(request: Request, name: str) -> Actor:
    return Actor(
        name=name,
        remote_addr=request.client.host if request.client else None,
        request_id=getattr(request.state, "request_id", None),
    )


def authenticate(
    request: Request,
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("send `Authorization: Bearer <token>` (an access token or API key)")
    token = credentials.credentials
    if token.startswith(API_KEY_PREFIX):
        # columns, not entities: no ORM objects to build on every API call
        key_row = session.execute(
            select(
                Organisation.id,
                Organisation.code,
                Organisation.currency,
                Organisation.time_zone,
                ApiKey.role,
                ApiKey.id,
                ApiKey.name,
                ApiKey.fund_code,
            )
            .join(Organisation, Organisation.id == ApiKey.organisation_id)
            .where(ApiKey.key_hash == hash_api_key(token), ApiKey.revoked_at.is_(None))
        ).first()
        if key_row is None:
            raise Unauthorized("unknown or revoked API key")
        org_id, org_code, currency, time_zone, role, key_id, key_name, fund_code = key_row
        principal = Principal(
            org_id,
            org_code,
            currency,
            Role(role),
            "key",
            key_id,
            key_name,
            fund_code,
            _actor(request, f"key:{key_name}"),
            time_zone,
        )
    else:
        claims = read_access_token(request.app.state.settings.secret_key, token)
        if claims is None:
            raise Unauthorized("invalid or expired access token")
        try:
            user_id, org_id = uuid.UUID(claims["sub"]), uuid.UUID(claims["org"])
        except (ValueError, TypeError):
            raise Unauthorized("invalid access token") from None
        user_row = session.execute(
            select(User, Organisation)
            .join(Organisation, Organisation.id == User.organisation_id)
            .where(User.organisation_id == org_id, User.id == user_id, User.is_active.is_(True))
        ).first()
        if user_row is None:
            raise Unauthorized("this user no longer exists or is disabled")
        user, org = user_row
        principal = Principal(
            org.id,
            org.code,
            org.currency,
            Role(user.role),
            "user",
            user.id,
            user.username,
            user.fund_code,
            _actor(request, f"user:{user.username}"),
            org.time_zone,
        )
    bind_organisation(session, principal.organisation_id)
    remember_zone(session, principal.time_zone)
    request.state.principal = principal
    return principal


class Caller:
    """Dependency: the authenticated caller, refused (403) unless one of `roles`."""

    def __init__(self, *roles: Role) -> None:
        self.roles = frozenset(roles)

    async def __call__(self, principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        # async: a role check does no I/O, so it needs no worker thread
        if principal.role not in self.roles:
            allowed = ", ".join(sorted(r.value for r in self.roles))
            raise Forbidden(f"role {principal.role.value} may not do this (allowed: {allowed})")
        return principal


ALL_ROLES = tuple(Role)
READERS = (Role.admin, Role.treasurer, Role.auditor)
