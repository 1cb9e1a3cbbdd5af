"""Demo data for a first look: an organisation, its users, and (as features land) its books."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.audit import CLI_ACTOR
from app.identity.models import Organisation
from app.identity.service import create_organisation, create_user

DEMO_CODE = "DEMO"
CREDENTIALS_FILE = Path("data/demo-credentials.txt")

# Features add their demo data here: fn(session, organisation) after the users exist.
DEMO_STEPS: list[Callable[[Session, Organisation], None]] = []


def _members_and_schemes_step(session: Session, org: Organisation) -> None:
    from app.schemes.demo import transport_members_and_dues

    transport_members_and_dues(session, org)


# Funds, the transport-daily scheme, members, units with crews, enrolments, dues through today.
DEMO_STEPS.append(_members_and_schemes_step)


def _collections_step(session: Session, org: Organisation) -> None:
    from app.collections.demo import week_of_collections

    week_of_collections(session, org)


# Collections takes receipts on the dues the members/schemes step creates: keep it after that step.
DEMO_STEPS.append(_collections_step)


def base_url(host: str = "127.0.0.1", port: int = 8000) -> str:
    """The address a browser on this machine uses for a server bound to `host`:`port`
    (an all-interfaces bind, 0.0.0.0 or ::, is reached on loopback)."""
    if host in ("", "0.0.0.0", "::", "[::]"):  # noqa: S104 - a bind address, not a bind
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal in a URL
    return f"http://{host}:{port}"


def where_to_look(url: str) -> str:
    """The pages and the API documentation of the server at `url`."""
    return (
        f"Web pages: {url}/web\nCollector app (a phone's browser): {url}/collect/\n"
        f"API documentation: {url}/docs"
    )


def seed_demo(
    session: Session, *, if_empty: bool = False, url: str = "http://127.0.0.1:8000"
) -> str | None:
    """Create the DEMO organisation (DOP) with an admin, a treasurer, a collector and an auditor.

    Passwords are random, printed once and written to data/demo-credentials.txt; the hint
    names the server at `url` (`make run` passes its HOST and PORT).
    """
    if if_empty and session.scalar(select(Organisation.id).limit(1)) is not None:
        return None
    org = create_organisation(
        session,
        code=DEMO_CODE,
        name="Asociación Mutual de Transporte (demo)",
        currency="DOP",
        time_zone="America/Santo_Domingo",
        country="DO",
    )
    password = secrets.token_urlsafe(12)
    for username, role in [
        ("admin", "admin"),
        ("tesorera", "treasurer"),
        ("cobrador", "collector"),
        ("auditor", "auditor"),
    ]:
        create_user(
            session, CLI_ACTOR, username=username, password=password, role=role, locale="es"
        )
    for step in DEMO_STEPS:
        step(session, org)
    text = (
        f"Demo organisation {DEMO_CODE} created.\n"
        f"Sign in as DEMO/tesorera (treasurer), DEMO/admin, DEMO/cobrador (collector) or "
        f"DEMO/auditor, password: {password}\n"
        f"  curl -s -X POST {url}/api/v1/auth/token "
        f"-d username=DEMO/tesorera -d password={password}\n" + where_to_look(url)
    )
    try:
        CREDENTIALS_FILE.parent.mkdir(parents=True, exist_ok=True)
        CREDENTIALS_FILE.write_text(text + "\n")
        CREDENTIALS_FILE.chmod(0o600)
    except OSError:
        pass
    return text


def _seal_a_remittance_batch(session: Session, org: Organisation) -> None:
    from app.remittances.demo import seal_a_demo_batch

    seal_a_demo_batch(session, org)


# Keep last: it batches and seals what the steps above collected for a fund.
DEMO_STEPS.append(_seal_a_remittance_batch)
