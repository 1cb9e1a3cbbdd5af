"""Request dependencies: the request's session (one transaction) and the caller (Principal).

`Caller(...)` is how an endpoint says which roles may call it; the session it gets is then
bound to the caller's organisation (see `core.database`), so every query is scoped.

The kernel reads the bearer credential (an access token or an API key) but not the tables
that say whose it is: those are `app.identity`'s, a floor above. The app gives it a
`PrincipalSource` at start (`app.state.principal_source`, set by `app.main.create_app` to
`app.identity.principals.IdentityPrincipals`), which answers with a `PrincipalRow`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, NamedTuple, Protocol

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.core.audit import Actor
from app.core.clock import remember_zone
from app.core.database import bind_organisation
from app.core.errors import Forbidden, Unauthorized
from app.core.messages import N_, Template
from app.core.roles import Role
from app.core.security import API_KEY_PREFIX, hash_api_key, read_access_token
from app.core.settings import Settings


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


class PrincipalRow(NamedTuple):
    """What the identity tables say about a credential's holder (a user or an API key)."""

    organisation_id: uuid.UUID
    organisation_code: str
    currency: str
    time_zone: str
    role: str
    subject_id: uuid.UUID
    name: str  # the username, or the API key's name
    fund_code: str | None


class PrincipalSource(Protocol):
    """Finds who holds a credential; the app registers one at start (see the module's doc)."""

    def by_api_key(self, session: Session, key_hash: str) -> PrincipalRow | None:
        """The unrevoked API key with this hash (`hash_api_key`), or None."""
        ...

    def by_user(
        self, session: Session, organisation_id: uuid.UUID, user_id: uuid.UUID
    ) -> PrincipalRow | None:
        """The organisation's active user with this id, or None."""
        ...


SEND_BEARER = Template(
    "auth.no_credentials",
    N_("send `Authorization: Bearer <token>` (an access token or API key)"),
)
UNKNOWN_KEY = Template("auth.unknown_api_key", N_("unknown or revoked API key"))
EXPIRED_TOKEN = Template("auth.expired_token", N_("invalid or expired access token"))
INVALID_TOKEN = Template("auth.invalid_token", N_("invalid access token"))
USER_GONE = Template("auth.user_gone", N_("this user no longer exists or is disabled"))
ROLE_REFUSED = Template(
    "auth.role_refused", N_("role %(role)s may not do this (allowed: %(allowed)s)")
)

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
        raise Unauthorized(SEND_BEARER())
    token = credentials.credentials
    source: PrincipalSource = request.app.state.principal_source
    if token.startswith(API_KEY_PREFIX):
        row = source.by_api_key(session, hash_api_key(token))
        if row is None:
            raise Unauthorized(UNKNOWN_KEY())
        kind = "key"
    else:
        claims = read_access_token(request.app.state.settings.secret_key, token)
        if claims is None:
            raise Unauthorized(EXPIRED_TOKEN())
        try:
            user_id, org_id = uuid.UUID(claims["sub"]), uuid.UUID(claims["org"])
        except (ValueError, TypeError):
            raise Unauthorized(INVALID_TOKEN()) from None
        row = source.by_user(session, org_id, user_id)
        if row is None:
            raise Unauthorized(USER_GONE())
        kind = "user"
    principal = Principal(
        row.organisation_id,
        row.organisation_code,
        row.currency,
        Role(row.role),
        kind,
        row.subject_id,
        row.name,
        row.fund_code,
        _actor(request, f"{kind}:{row.name}"),
        row.time_zone,
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
            allowed = sorted(self.roles)
            raise Forbidden(ROLE_REFUSED(role=principal.role, allowed=allowed))
        return principal


ALL_ROLES = tuple(Role)
READERS = (Role.admin, Role.treasurer, Role.auditor)
