"""Sign-in: `POST /auth/token` (OAuth2 password flow) and `GET /auth/me`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from pydantic import BaseModel, Field

from app.core.deps import ALL_ROLES, Caller, DbSession, Principal, authenticate
from app.core.errors import NotFound, Unauthorized
from app.core.messages import N_, Template
from app.core.roles import Role
from app.core.schemas import Schema
from app.core.security import issue_access_token
from app.core.throttle import LoginThrottle, too_many_attempts
from app.identity import service
from app.identity.models import Organisation

router = APIRouter(tags=["auth"])

WRONG_PASSWORD = Template("auth.wrong_password", N_("wrong username or password"))
ORGANISATION_GONE = Template("organisation.gone", N_("no such organisation"))


class TokenRead(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105
    expires_in: int


class MeRead(BaseModel):
    organisation: str
    currency: str
    role: str
    name: str
    kind: str
    fund_code: str | None


@router.post(
    "/auth/token",
    response_model=TokenRead,
    responses={
        401: {"description": "wrong username or password"},
        429: {"description": "too many failed sign-ins; see the Retry-After header"},
    },
)
def token(
    request: Request,
    session: DbSession,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
    organisation: Annotated[str | None, Form(max_length=32)] = None,
) -> TokenRead:
    """Exchange a username and password for a bearer token.

    `username` may be `ORG/username`; a plain username works where it is unique.
    Too many wrong passwords for a username or from an address answer 429 with
    `Retry-After` (see `app/core/throttle.py`).
    """
    throttle: LoginThrottle = request.app.state.login_throttle
    keys = throttle.keys(username, organisation, request.client.host if request.client else None)
    wait = throttle.retry_after(keys)
    if wait is not None:
        return too_many_attempts(wait, request.url.path)  # type: ignore[return-value]
    user = service.sign_in(session, username=username, password=password, organisation=organisation)
    if user is None:
        throttle.failed(keys)
        raise Unauthorized(WRONG_PASSWORD())
    throttle.succeeded(keys)
    settings = request.app.state.settings
    minutes = settings.access_token_minutes
    access = issue_access_token(
        settings.secret_key,
        user_id=user.id,
        organisation_id=user.organisation_id,
        role=user.role,
        minutes=minutes,
    )
    return TokenRead(access_token=access, expires_in=minutes * 60)


@router.get("/auth/me", response_model=MeRead)
def me(who: Annotated[Principal, Depends(authenticate)]) -> MeRead:
    return MeRead(
        organisation=who.organisation_code,
        currency=who.currency,
        role=who.role.value,
        name=who.name,
        kind=who.subject_kind,
        fund_code=who.fund_code,
    )


class OrganisationRead(Schema):
    code: str
    name: str
    currency: str = Field(description="ISO 4217 book currency")
    time_zone: str = Field(
        description="IANA time zone: the organisation's day (reports, sheets, dues, "
        "journal dates) and the local times of its web forms",
        examples=["America/Santo_Domingo"],
    )
    country: str | None = Field(description="ISO 3166-1 alpha-2 code, if set")


class OrganisationUpdate(Schema):
    time_zone: str = Field(
        max_length=64, description="IANA time zone name", examples=["America/Santo_Domingo"]
    )


def _organisation(session: DbSession, who: Principal) -> Organisation:
    org = session.get(Organisation, who.organisation_id)
    if org is None:  # deleted under a valid token: nothing to show
        raise NotFound(ORGANISATION_GONE())
    return org


@router.get("/organisation", response_model=OrganisationRead, tags=["organisation"])
def get_organisation(
    session: DbSession, who: Annotated[Principal, Depends(Caller(*ALL_ROLES))]
) -> OrganisationRead:
    """The caller's organisation: its code, name, book currency and time zone.

    Instants in the API always carry explicit UTC offsets (an instant sent without one is
    refused with 422 naming the field); `time_zone` says which day an instant falls on for
    this organisation's journal dates and reports by day.
    """
    return OrganisationRead.model_validate(_organisation(session, who))


@router.patch(
    "/organisation",
    response_model=OrganisationRead,
    tags=["organisation"],
    responses={422: {"description": "not an IANA time zone name"}},
)
def update_organisation(
    body: OrganisationUpdate,
    session: DbSession,
    who: Annotated[Principal, Depends(Caller(Role.admin))],
) -> OrganisationRead:
    """Set the organisation's time zone (admin). Days are counted in the new zone from now
    on; journal entries already posted keep their dates."""
    org = service.set_time_zone(session, who.actor, _organisation(session, who), body.time_zone)
    return OrganisationRead.model_validate(org)
