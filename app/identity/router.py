"""Sign-in: `POST /auth/token` (OAuth2 password flow) and `GET /auth/me`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from pydantic import BaseModel

from app.core.deps import DbSession, Principal, authenticate
from app.core.errors import Unauthorized
from app.core.security import issue_access_token
from app.identity import service

router = APIRouter(tags=["auth"])


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


@router.post("/auth/token", response_model=TokenRead)
def token(
    request: Request,
    session: DbSession,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
    organisation: Annotated[str | None, Form(max_length=32)] = None,
) -> TokenRead:
    """Exchange a username and password for a bearer token.

    `username` may be `ORG/username`; a plain username works where it is unique.
    """
    user = service.sign_in(session, username=username, password=password, organisation=organisation)
    if user is None:
        raise Unauthorized("wrong username or password")
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
