"""Organisations, users and API keys: creation and sign-in."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from babel.core import get_global
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core import audit, clock
from app.core.audit import Actor
from app.core.database import bind_organisation, utcnow
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.core.messages import N_, Template
from app.core.money import MoneyError, check_currency
from app.core.roles import Role
from app.core.security import hash_api_key, hash_password, new_api_key, verify_password
from app.identity.models import ApiKey, Organisation, User

_CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,31}$")
_USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD_LENGTH = 10

BAD_CODE = Template("organisation.bad_code", N_("2-32 capital letters, digits, '-' or '_'"))
ORGANISATION_TAKEN = Template("organisation.code_taken", N_("organisation %(code)s already exists"))
NO_ORGANISATION = Template("organisation.not_found", N_("no organisation %(code)s"))
UNKNOWN_COUNTRY = Template(
    "country.unknown", N_("unknown country %(code)s: give an ISO 3166 code such as DO")
)
SEVERAL_ZONES = Template(
    "country.several_time_zones",
    N_("country %(country)s has several time zones (%(zones)s): give the time zone"),
)
BAD_ROLE = Template("role.unknown", N_("one of %(roles)s"))
FUND_NEEDED = Template("role.fund_needed", N_("a fund_office principal is bound to one fund"))
FUND_NOT_ALLOWED = Template(
    "role.fund_not_allowed", N_("only a fund_office principal is bound to a fund")
)
BAD_USERNAME = Template("user.bad_username", N_("1-64 letters, digits, '.', '_', '@' or '-'"))
SHORT_PASSWORD = Template("user.short_password", N_("at least %(count)s characters"))
USER_TAKEN = Template("user.taken", N_("user %(name)s already exists in this organisation"))
BAD_KEY_NAME = Template("api_key.bad_name", N_("1-100 characters"))
KEY_NOT_FOUND = Template("api_key.not_found", N_("no API key %(id)s"))
KEY_REVOKED = Template("api_key.already_revoked", N_("API key %(name)s was already revoked"))

# Hooks run when a principal of a role is created (e.g. collections opens a collector's cash
# account). Registered by the feature that needs them, so identity depends on nobody.
PrincipalHook = Callable[[Session, Actor, str, "User | ApiKey"], None]
_on_principal_created: list[PrincipalHook] = []


def on_principal_created(hook: PrincipalHook) -> None:
    """Register `hook(session, actor, kind, principal_row)`, called after a user or key is made."""
    _on_principal_created.append(hook)


def create_organisation(
    session: Session,
    *,
    code: str,
    name: str,
    currency: str,
    time_zone: str | None = None,
    country: str | None = None,
) -> Organisation:
    """A new organisation. Its time zone is `time_zone` (an IANA name), else its country's
    zone where the country has one, else UTC (`clock.DEFAULT_ZONE`)."""
    if not _CODE_RE.match(code):
        raise ValidationFailed.field("code", BAD_CODE())
    try:
        check_currency(currency)
    except MoneyError as exc:
        raise ValidationFailed.field("currency", exc.message) from None
    country = check_country(country) if country is not None else None
    if time_zone is not None:
        zone = check_time_zone(time_zone)
    elif country is not None:
        zone = country_zone(country)
    else:
        zone = clock.DEFAULT_ZONE
    if session.scalar(select(Organisation.id).where(Organisation.code == code)) is not None:
        raise Conflict(ORGANISATION_TAKEN(code=code))
    org = Organisation(code=code, name=name, currency=currency, time_zone=zone, country=country)
    session.add(org)
    session.flush()
    bind_organisation(session, org.id)
    clock.remember_zone(session, zone)
    audit.record(
        session,
        audit.CLI_ACTOR,
        "organisation.create",
        "organisation",
        org.id,
        {"code": code, "currency": currency, "time_zone": zone, "country": country},
    )
    return org


def check_time_zone(name: str) -> str:
    """An IANA time zone name, else 422 naming `time_zone`."""
    try:
        return clock.check_zone(name)
    except clock.UnknownTimeZone as exc:
        raise ValidationFailed.field("time_zone", exc.message) from None


def check_country(code: str) -> str:
    """An ISO 3166-1 alpha-2 country code (CLDR's list, via Babel), upper-cased; else 422."""
    upper = code.strip().upper() if isinstance(code, str) else ""
    if len(upper) != 2 or not upper.isascii() or upper not in _territory_zones():
        raise ValidationFailed.field("country", UNKNOWN_COUNTRY(code=repr(str(code)[:10])))
    return upper


def country_zone(country: str) -> str:
    """The time zone of a country that has one (CLDR's territory zones, via Babel); a
    country with several (BR, CD, US, ...) needs the zone named (422 naming `time_zone`)."""
    zones = [z for z in _territory_zones().get(country, ()) if z in clock.known_zones()]
    if len(zones) != 1:
        listed = ", ".join(zones[:4]) + (", ..." if len(zones) > 4 else "")
        raise ValidationFailed.field("time_zone", SEVERAL_ZONES(country=country, zones=listed))
    return zones[0]


@lru_cache(maxsize=1)
def _territory_zones() -> dict[str, tuple[str, ...]]:
    data = get_global("territory_zones")
    return {str(k): tuple(v) for k, v in data.items() if len(k) == 2 and k.isalpha()}


def set_time_zone(
    session: Session, actor: Actor, org: Organisation, time_zone: str
) -> Organisation:
    """Change the organisation's time zone (audited). Entries already posted keep their
    dates; days counted from now on are the new zone's."""
    zone = check_time_zone(time_zone)
    if zone == org.time_zone:
        return org
    before = org.time_zone
    org.time_zone = zone
    session.flush()
    clock.remember_zone(session, zone)
    audit.record(
        session,
        actor,
        "organisation.time_zone",
        "organisation",
        org.id,
        {"from": before, "to": zone},
    )
    return org


def organisation_by_code(session: Session, code: str) -> Organisation:
    org = session.scalar(select(Organisation).where(Organisation.code == code))
    if org is None:
        raise NotFound(NO_ORGANISATION(code=code))
    return org


def _check_role(role: str, fund_code: str | None) -> Role:
    try:
        parsed = Role(role)
    except ValueError:
        raise ValidationFailed.field("role", BAD_ROLE(roles=tuple(Role))) from None
    if parsed is Role.fund_office and not fund_code:
        raise ValidationFailed.field("fund", FUND_NEEDED())
    if parsed is not Role.fund_office and fund_code:
        raise ValidationFailed.field("fund", FUND_NOT_ALLOWED())
    return parsed


def create_user(
    session: Session,
    actor: Actor,
    *,
    username: str,
    password: str,
    role: str,
    fund_code: str | None = None,
    locale: str = "en",
) -> User:
    if not _USERNAME_RE.match(username):
        raise ValidationFailed.field("username", BAD_USERNAME())
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed.field("password", SHORT_PASSWORD(count=MIN_PASSWORD_LENGTH))
    parsed = _check_role(role, fund_code)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(USER_TAKEN(name=username))
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=parsed.value,
        fund_code=fund_code,
        locale=locale,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor,
        "user.create",
        "user",
        user.id,
        {"username": username, "role": parsed.value, "fund_code": fund_code},
    )
    for hook in _on_principal_created:
        hook(session, actor, "user", user)
    return user


@dataclass(frozen=True)
class NewApiKey:
    key: ApiKey
    secret: str  # shown once


def create_api_key(
    session: Session, actor: Actor, *, name: str, role: str, fund_code: str | None = None
) -> NewApiKey:
    if not name or len(name) > 100:
        raise ValidationFailed.field("name", BAD_KEY_NAME())
    parsed = _check_role(role, fund_code)
    secret = new_api_key()
    key = ApiKey(
        name=name,
        prefix=secret[:12],
        key_hash=hash_api_key(secret),
        role=parsed.value,
        fund_code=fund_code,
    )
    session.add(key)
    session.flush()
    audit.record(
        session,
        actor,
        "api_key.create",
        "api_key",
        key.id,
        {"name": name, "role": parsed.value, "prefix": key.prefix, "fund_code": fund_code},
    )
    for hook in _on_principal_created:
        hook(session, actor, "key", key)
    return NewApiKey(key, secret)


def sign_in(
    session: Session, *, username: str, password: str, organisation: str | None = None
) -> User | None:
    """The active user these credentials name, or None. `ORG/username` names the organisation."""
    if organisation is None and "/" in username:
        organisation, username = username.split("/", 1)
    stmt = select(User).where(User.username == username, User.is_active.is_(True))
    if organisation:
        stmt = stmt.join(Organisation, Organisation.id == User.organisation_id).where(
            Organisation.code == organisation
        )
    candidates = session.scalars(stmt.limit(2)).all()
    user = candidates[0] if len(candidates) == 1 else None
    stored = user.password_hash if user else None
    # End the read here: Argon2 (~50 ms) then runs outside any transaction (on SQLite, whose
    # transactions take the write lock, that lock is not held through it), and the sign-in
    # throttle records the outcome in its own transaction without waiting for this one.
    # Nothing was written; the session's objects stay loaded (expire_on_commit=False).
    if session.in_transaction() and not (session.new or session.dirty or session.deleted):
        session.commit()
    if not verify_password(stored, password):
        return None
    return user


def user_organisation(session: Session, user: User) -> Organisation:
    org = session.get(Organisation, user.organisation_id)
    assert org is not None
    return org


def revoke_api_key(session: Session, actor: Actor, key_id: uuid.UUID) -> ApiKey:
    """Revoke an API key of the organisation: it authenticates no more. Revoking a revoked key
    is refused (409), so the trail records each revocation once."""
    key = session.scalar(select(ApiKey).where(ApiKey.id == key_id))
    if key is None:
        raise NotFound(KEY_NOT_FOUND(id=key_id))
    if key.revoked_at is not None:
        raise Conflict(KEY_REVOKED(name=key.name))
    key.revoked_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor,
        "api_key.revoke",
        "api_key",
        key.id,
        {"name": key.name, "prefix": key.prefix},
    )
    return key
