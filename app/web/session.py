"""The browser's session: a signed, HttpOnly, SameSite=Lax cookie, and CSRF tokens.

The cookie holds the signed-in user and organisation, a random CSRF token, and a short
fingerprint of the user's password hash (changing the password ends every session). Before
sign-in it holds only the CSRF token and the chosen language, so the sign-in form itself is
protected too. Every form carries the CSRF token in a hidden field; a POST whose token does
not match its session's is refused (403) and writes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

COOKIE_NAME = "coopledger_session"
CSRF_FIELD = "csrf_token"
_SALT = "coopledger.web.session"


@dataclass
class WebSession:
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    user_id: uuid.UUID | None = None
    organisation_id: uuid.UUID | None = None
    password_mark: str | None = None
    locale: str | None = None
    flash: list[tuple[str, str]] = field(default_factory=list)
    changed: bool = False

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None and self.organisation_id is not None

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"c": self.csrf}
        if self.signed_in:
            payload.update(u=str(self.user_id), o=str(self.organisation_id), p=self.password_mark)
        if self.locale:
            payload["l"] = self.locale
        if self.flash:
            payload["f"] = self.flash[-5:]
        return payload

    def add_flash(self, kind: str, message: str) -> None:
        if (kind, message) in self.flash:  # a form sent twice says it once
            return
        self.flash.append((kind, message))
        self.changed = True

    def pop_flash(self) -> list[tuple[str, str]]:
        out, self.flash = self.flash, []
        if out:
            self.changed = True
        return out

    def sign_in(self, user_id: uuid.UUID, organisation_id: uuid.UUID, mark: str) -> None:
        # A new CSRF token at sign-in: a token planted before sign-in is worth nothing after.
        self.csrf = secrets.token_urlsafe(24)
        self.user_id, self.organisation_id, self.password_mark = user_id, organisation_id, mark
        self.changed = True

    def sign_out(self) -> None:
        self.csrf = secrets.token_urlsafe(24)
        self.user_id = self.organisation_id = None
        self.password_mark = None
        self.changed = True


def password_mark(password_hash: str) -> str:
    """A short fingerprint of the password hash: a new password invalidates old cookies."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=_SALT)


def load_session(request: Request) -> WebSession:
    """The request's session (cached on request.state); a new anonymous one if none is valid."""
    cached = getattr(request.state, "web_session", None)
    if isinstance(cached, WebSession):
        return cached
    settings = request.app.state.settings
    raw = request.cookies.get(COOKIE_NAME)
    session = WebSession(changed=True)
    if raw:
        try:
            data = _serializer(settings.secret_key).loads(
                raw, max_age=settings.access_token_minutes * 60
            )
            session = _from_payload(data)
        except (BadSignature, ValueError, TypeError, KeyError):
            session = WebSession(changed=True)
    request.state.web_session = session
    return session


def _from_payload(data: Any) -> WebSession:
    if not isinstance(data, dict) or not isinstance(data.get("c"), str):
        raise ValueError("not a session")
    session = WebSession(csrf=data["c"], locale=data.get("l"))
    if data.get("u") and data.get("o"):
        session.user_id = uuid.UUID(data["u"])
        session.organisation_id = uuid.UUID(data["o"])
        session.password_mark = data.get("p")
    flash = data.get("f") or []
    session.flash = [(str(k), str(m)) for k, m in flash][:5]
    return session


def save_session(request: Request, response: Response) -> None:
    """Write the cookie back if the session changed (and on every signed-in page, to slide)."""
    session = getattr(request.state, "web_session", None)
    if not isinstance(session, WebSession):
        return
    settings = request.app.state.settings
    value = _serializer(settings.secret_key).dumps(session.to_payload())
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=settings.access_token_minutes * 60,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )


def secure_cookies(request: Request) -> bool:
    """Secure cookies outside development and tests, and whenever the page came over HTTPS."""
    env = request.app.state.settings.env
    return env not in ("development", "test") or request.url.scheme == "https"


def csrf_ok(session: WebSession, submitted: object) -> bool:
    return isinstance(submitted, str) and hmac.compare_digest(
        submitted.encode(), session.csrf.encode()
    )
