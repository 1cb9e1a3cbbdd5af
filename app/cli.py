"""The `coopledger` command: set-up and operations for admins.

Each command is one unit of work over the same service functions the API uses.
"""

from __future__ import annotations

import importlib
import sys
import uuid
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from app.core.audit import CLI_ACTOR
from app.core.cli import SESSION_SETUP_HOOKS, OrgOpt, fail, session_factory
from app.core.database import (
    bind_organisation,
    unit_of_work,
)
from app.core.errors import DomainError
from app.core.settings import get_settings
from app.models import load_all_models

# Never show local variables in a traceback: they hold DATABASE_URL and the secret key.
cli = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="coopledger administration",
    pretty_exceptions_show_locals=False,
)
db_cli = typer.Typer(no_args_is_help=True, help="the database schema")
orgs_cli = typer.Typer(no_args_is_help=True, help="organisations")
users_cli = typer.Typer(no_args_is_help=True, help="users who sign in")
keys_cli = typer.Typer(no_args_is_help=True, help="API keys for apps and fund offices")
cli.add_typer(db_cli, name="db")
cli.add_typer(orgs_cli, name="orgs")
cli.add_typer(users_cli, name="users")
cli.add_typer(keys_cli, name="api-keys")

# Feature packages add their command groups: each module's `COMMANDS` is a list of
# (name, typer.Typer) pairs, e.g. [("schemes", schemes_cli), ("dues", dues_cli)].
FEATURE_CLI_MODULES = [
    "app.schemes.cli",
    "app.members.cli",
    "app.collections.cli",
    "app.payments.cli",
    "app.remittances.cli",
]


def _add_feature_commands() -> None:
    for module_name in FEATURE_CLI_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # that feature has no commands yet
            raise
        for name, group in getattr(module, "COMMANDS", []):
            cli.add_typer(group, name=name)


# Every command's first session finds every model and every feature's hooks in place.
if load_all_models not in SESSION_SETUP_HOOKS:
    SESSION_SETUP_HOOKS.append(load_all_models)


def org_id(session: Session, code: str) -> uuid.UUID:
    from app.identity.service import organisation_by_code

    return organisation_by_code(session, code).id


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Migrate DATABASE_URL to the latest schema (alembic upgrade head)."""
    from app.core.migrations import upgrade

    settings = get_settings()
    if settings.is_sqlite:
        from pathlib import Path

        Path(settings.database_url.split("///", 1)[-1]).parent.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    typer.echo("database is at the latest schema")


@db_cli.command("backup")
def db_backup(
    path: Annotated[Path, typer.Argument(help="the backup file to write (must not exist)")],
) -> None:
    """Back up DATABASE_URL: SQLite's online backup API, or pg_dump (custom format)."""
    from app.core.backup import BackupError, backup

    try:
        backup(get_settings().database_url, path)
    except BackupError as exc:
        fail(exc.message)
    typer.echo(f"backup written to {path}")


@db_cli.command("restore")
def db_restore(
    path: Annotated[Path, typer.Argument(help="a file written by `coopledger db backup`")],
    yes: Annotated[
        bool, typer.Option("--yes", help="replace the database's contents without asking")
    ] = False,
) -> None:
    """Replace DATABASE_URL's contents with a backup; then run `db upgrade` and `verify`."""
    from app.core.backup import BackupError, restore

    if not yes and not typer.confirm("replace everything in the database with this backup?"):
        raise typer.Exit(1)
    try:
        restore(get_settings().database_url, path)
    except BackupError as exc:
        fail(exc.message)
    typer.echo(f"restored from {path}; now run `coopledger db upgrade` and `coopledger verify`")


@orgs_cli.command("create")
def orgs_create(
    code: Annotated[str, typer.Option(help="short unique code, e.g. AMUSSOL")],
    name: Annotated[str, typer.Option(help="full name")],
    currency: Annotated[str, typer.Option(help="ISO 4217 book currency, e.g. DOP")],
    time_zone: Annotated[
        str | None,
        typer.Option(
            "--time-zone",
            help="IANA time zone of the organisation's day, e.g. America/Santo_Domingo "
            "(default: the country's, else UTC)",
        ),
    ] = None,
    country: Annotated[
        str | None, typer.Option("--country", help="ISO 3166 country code, e.g. DO")
    ] = None,
) -> None:
    """Create an organisation."""
    from app.identity.service import create_organisation

    with unit_of_work(session_factory()) as session:
        org = create_organisation(
            session,
            code=code,
            name=name,
            currency=currency,
            time_zone=time_zone,
            country=country,
        )
    typer.echo(f"organisation {org.code} created ({org.currency}, {org.time_zone}), id {org.id}")


@orgs_cli.command("set-time-zone")
def orgs_set_time_zone(
    org: OrgOpt,
    time_zone: Annotated[str, typer.Argument(help="IANA name, e.g. America/Santo_Domingo")],
) -> None:
    """Set the organisation's time zone: days are counted in it from now on (entries already
    posted keep their dates)."""
    from app.identity.service import organisation_by_code, set_time_zone

    with unit_of_work(session_factory()) as session:
        found = organisation_by_code(session, org)
        bind_organisation(session, found.id)
        set_time_zone(session, CLI_ACTOR, found, time_zone)
    typer.echo(f"organisation {org}: time zone {time_zone}")


@users_cli.command("create")
def users_create(
    org: OrgOpt,
    username: Annotated[str, typer.Option()],
    role: Annotated[str, typer.Option(help="admin, treasurer, collector, fund_office or auditor")],
    fund: Annotated[
        str | None, typer.Option("--fund", help="the fund of a fund_office user")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input")
    ] = False,
    locale: Annotated[str, typer.Option(help="en, fr or es")] = "en",
) -> None:
    """Create a user who signs in with a password."""
    from app.identity.service import create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    with unit_of_work(session_factory()) as session:
        oid = org_id(session, org)
        from app.core.database import bind_organisation

        bind_organisation(session, oid)
        user = create_user(
            session,
            CLI_ACTOR,
            username=username,
            password=password,
            role=role,
            fund_code=fund,
            locale=locale,
        )
    typer.echo(f"user {user.username} ({user.role}) created in {org}")


@keys_cli.command("create")
def keys_create(
    org: OrgOpt,
    name: Annotated[str, typer.Option(help="what the key is for, e.g. 'union app'")],
    role: Annotated[str, typer.Option()],
    fund: Annotated[
        str | None, typer.Option("--fund", help="the fund of a fund_office key")
    ] = None,
) -> None:
    """Create an API key. It is printed once, alone on the last line; only its hash is kept."""
    from app.core.database import bind_organisation
    from app.identity.service import create_api_key

    with unit_of_work(session_factory()) as session:
        bind_organisation(session, org_id(session, org))
        made = create_api_key(session, CLI_ACTOR, name=name, role=role, fund_code=fund)
    typer.echo(
        f"API key {made.key.name!r} ({made.key.role}) created in {org}; store it now, it is not shown again:"
    )
    typer.echo(made.secret)


@cli.command("verify")
def verify(org: Annotated[str | None, typer.Option("--org")] = None) -> None:
    """Check the books' invariants; exit 1 on any breach."""
    from app.core import verify as checks

    with unit_of_work(session_factory()) as session:
        oid = org_id(session, org) if org else None
        names = checks.invariant_names()
        breaches = checks.run(session, oid)
    for name in names:
        mine = [b for b in breaches if b.invariant == name]
        mark = "ok  " if not mine else "FAIL"
        typer.echo(f"{mark} {name}")
        for b in mine:
            typer.echo(f"       {b.detail}")
    if breaches:
        typer.secho(f"{len(breaches)} breach(es) found", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo(f"all {len(names)} invariants hold")


@cli.command("demo")
def demo(
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="do nothing if any organisation exists")
    ] = False,
    host: Annotated[
        str, typer.Option(help="the address the server listens on (`make run`: HOST)")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="the server's port (`make run`: PORT)")
    ] = 8000,
) -> None:
    """Create a demo organisation with users and data, for a first look; the sign-in hint
    and the documentation link name the server at --host and --port."""
    from app.demo import base_url, seed_demo, where_to_look

    url = base_url(host, port)
    with unit_of_work(session_factory()) as session:
        result = seed_demo(session, if_empty=if_empty, url=url)
    if result is None:
        typer.echo("an organisation exists already; no demo data added\n" + where_to_look(url))
        return
    typer.echo(result)


_add_feature_commands()


DEBUG_ENV = "COOPLEDGER_DEBUG"


def _where(url: str) -> str:
    """The database a URL names, without its password: `host:port/name` or the SQLite file."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # an unparsable URL is described elsewhere
        return "DATABASE_URL"
    if parsed.get_backend_name() == "sqlite":
        return f"the SQLite file {parsed.database}"
    port = f":{parsed.port}" if parsed.port else ""
    return (
        f"{parsed.get_backend_name()} at {parsed.host or 'localhost'}{port}/{parsed.database or ''}"
    )


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = [ln.strip() for ln in str(orig).splitlines() if ln.strip()]
    return lines[0] if lines else type(orig).__name__


def explain(exc: BaseException) -> tuple[str, int] | None:
    """One line for an error an admin can fix (and the exit status), or None for a bug."""
    from pydantic import ValidationError
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, DomainError):
        return exc.detail, 2
    if isinstance(exc, ValidationError):  # the settings read from the environment
        problems = []
        for err in exc.errors():
            msg = str(err.get("msg", "invalid"))
            msg = msg.removeprefix("Value error, ")
            where = ".".join(str(p) for p in err.get("loc", ()))
            problems.append(f"{where}: {msg}" if where and where not in msg else msg)
        return "configuration: " + "; ".join(problems), 2
    if isinstance(exc, sa_exc.ArgumentError):  # NoSuchModuleError included
        return (
            f"DATABASE_URL is not a database URL coopledger can use ({_first_line(exc)}); "
            "set it to e.g. sqlite:///data/coopledger.db or postgresql://user@host:5432/coopledger",
            2,
        )
    if isinstance(exc, sa_exc.DBAPIError):
        where = _where(get_settings().database_url)
        text = _first_line(exc)
        missing_table = "no such table" in text or (
            type(getattr(exc, "orig", None)).__name__ in {"UndefinedTable", "UndefinedColumn"}
        )
        if missing_table:
            return (
                f"{where} has no coopledger schema or an old one ({text}); "
                "run `coopledger db upgrade`",
                2,
            )
        if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
            return f"cannot use the database ({where}): {text}; check DATABASE_URL", 2
        return None
    if isinstance(exc, OSError):
        name = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{name}", 2
    if isinstance(exc, ValueError):
        if str(exc).startswith("an in-memory SQLite"):
            return f"DATABASE_URL: {exc}", 2
        if _unparsable_url():
            return (
                f"DATABASE_URL is not a valid URL ({exc}); e.g. postgresql://user@host:5432/name",
                2,
            )
    return None


def _unparsable_url() -> bool:
    from sqlalchemy.engine import make_url

    try:
        make_url(get_settings().database_url)
    except Exception:  # an unparsable URL, whatever the reason
        return True
    return False


def main() -> None:
    """The `coopledger` script: an error an admin can fix is one line on stderr, not a
    traceback; exit 2. Anything else is a bug: one line too, with the traceback under
    COOPLEDGER_DEBUG=1."""
    import os

    from app.core.logging import configure_logging

    configure_logging("WARNING")
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        cli()
    except KeyboardInterrupt:
        typer.secho("interrupted", fg=typer.colors.RED, err=True)
        sys.exit(130)
    except Exception as exc:
        if debug:
            raise
        known = explain(exc)
        if known is None:
            typer.secho(
                f"error: unexpected {type(exc).__name__}: {_first_line(exc)} "
                f"(run again with {DEBUG_ENV}=1 for the traceback)",
                fg=typer.colors.RED,
                err=True,
            )
            sys.exit(1)
        message, code = known
        typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
        sys.exit(code)


if __name__ == "__main__":
    main()
