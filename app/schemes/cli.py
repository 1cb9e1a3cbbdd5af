"""`coopledger schemes ...` and `coopledger dues ...`: load and check schedule files, generate dues."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from app.core.audit import CLI_ACTOR
from app.core.cli import OrgOpt, session_factory
from app.core.database import bind_organisation, unit_of_work
from app.core.errors import Conflict, PayloadTooLarge
from app.core.messages import N_, FieldError, Template
from app.schemes.schedule import MAX_SCHEDULE_BYTES, ScheduleInvalid, ScheduleUpload, read_schedule

NOT_CURRENCY_OF = Template(
    "schedule.not_currency_of", N_("must be %(org)s's currency (%(currency)s)")
)

schemes_cli = typer.Typer(no_args_is_help=True, help="contribution schemes (schedule files)")
dues_cli = typer.Typer(no_args_is_help=True, help="dues: what members and units owe")

COMMANDS = [("schemes", schemes_cli), ("dues", dues_cli)]

FileArg = Annotated[
    Path, typer.Argument(help="a schedule file, e.g. schedules/transport-daily.yaml")
]


def _read(path: Path) -> ScheduleUpload:
    """The file read and checked within the schedule bounds, before any transaction."""
    try:
        with path.open("rb") as f:
            content = f.read(MAX_SCHEDULE_BYTES + 1)
    except FileNotFoundError:
        typer.secho(f"{path}: no such file", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.secho(f"{path}: cannot be read: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    try:
        return read_schedule(content, str(path))
    except PayloadTooLarge:
        typer.secho(
            f"{path}: a schedule file is at most {MAX_SCHEDULE_BYTES} bytes",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(1) from None
    except ScheduleInvalid as exc:
        _report(exc.errors or [], str(path))
        raise typer.Exit(1) from None


def _report(errors: Sequence[FieldError], source: str) -> None:
    for e in errors:
        typer.secho(f"{source}: {e.field}: {e.message.english()}", fg=typer.colors.RED, err=True)
    typer.secho(f"{len(errors)} error(s) in {source}", fg=typer.colors.RED, err=True)


@schemes_cli.command("check")
def check(
    file: FileArg,
    org: Annotated[
        str | None,
        typer.Option("--org", help="also check the funds and currency against this organisation"),
    ] = None,
) -> None:
    """Validate a schedule file and list every error (file, field path, expectation); exit 1 on
    any. Needs no database unless --org is given."""
    from app.schemes.schedule import check_schedule, validate

    upload = _read(file)
    source = str(file)
    try:
        if org is None:
            schedule = upload.schedule or validate(upload.data, source)
        else:
            from app.funds.service import funds_by_code
            from app.identity.models import Organisation
            from app.identity.service import organisation_by_code

            with unit_of_work(session_factory()) as session:
                oid = organisation_by_code(session, org).id
                bind_organisation(session, oid)
                currency = session.get(Organisation, oid).currency  # type: ignore[union-attr]
                schedule = check_schedule(upload, source, funds_by_code(session))
            if schedule.currency != currency:
                raise ScheduleInvalid(
                    source, [FieldError("currency", NOT_CURRENCY_OF(org=org, currency=currency))]
                )
    except ScheduleInvalid as exc:
        _report(exc.errors or [], source)
        raise typer.Exit(1) from None
    typer.echo(
        f"{source}: ok: scheme {schedule.code} ({schedule.kind}, {schedule.currency}), "
        f"{len(schedule.versions)} version(s), funds {', '.join(sorted(schedule.fund_codes()))}"
    )


@schemes_cli.command("load")
def load(file: FileArg, org: OrgOpt) -> None:
    """Load a schedule file into an organisation: the scheme, or its new versions."""
    from app.identity.service import organisation_by_code
    from app.schemes.service import load_schedule

    upload = _read(file)  # read and checked before the transaction begins
    source = str(file)
    try:
        with unit_of_work(session_factory()) as session:
            bind_organisation(session, organisation_by_code(session, org).id)
            result = load_schedule(session, CLI_ACTOR, upload, source)
            code, added = result.scheme.code, [v.version for v in result.added]
            created = result.created
    except ScheduleInvalid as exc:
        _report(exc.errors or [], source)
        raise typer.Exit(1) from None
    except Conflict as exc:
        _report(exc.errors or [FieldError("(file)", exc.message)], source)
        raise typer.Exit(1) from None
    if created:
        typer.echo(f"scheme {code} created in {org} with version(s) {', '.join(map(str, added))}")
    elif added:
        typer.echo(f"scheme {code}: version(s) {', '.join(map(str, added))} added in {org}")
    else:
        typer.echo(f"scheme {code}: every version is loaded already; nothing new")


class _Progress:
    """A progress bar on a terminal; a line per step otherwise (logs of a cron job)."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.shown = 0
        self.tty = typer.get_text_stream("stderr").isatty()

    def __call__(self, done: int, total: int) -> None:
        if total == 0:
            return
        if not self.tty:
            typer.echo(f"dues: {done}/{total} enrolments", err=True)
            return
        if self.bar is None:
            self.bar = typer.progressbar(
                length=total, label="enrolments", file=typer.get_text_stream("stderr")
            )
            self.bar.__enter__()
        self.bar.update(done - self.shown)
        self.shown = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@dues_cli.command("generate")
def generate(
    org: OrgOpt,
    through: Annotated[
        str,
        typer.Option(
            "--through", help="make every due whose period ends by this date (YYYY-MM-DD)"
        ),
    ],
) -> None:
    """Generate the dues of every daily and monthly enrolment through a date. Running it again
    creates nothing new."""
    from app.core.schemas import EARLIEST_DATE, LATEST_DATE
    from app.identity.service import organisation_by_code
    from app.schemes.generation import generate_dues

    try:
        day = date.fromisoformat(through)
    except ValueError:
        typer.secho(
            f"--through: {through!r} is not a date such as 2026-11-30",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(2) from None
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        typer.secho(
            f"--through: must be between {EARLIEST_DATE} and {LATEST_DATE}",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(2)
    progress = _Progress()
    try:
        with unit_of_work(session_factory()) as session:
            bind_organisation(session, organisation_by_code(session, org).id)
            result = generate_dues(session, CLI_ACTOR, day, progress=progress)
    finally:
        progress.close()
    typer.echo(
        f"{result.created} dues created through {day} for {result.enrolments} enrolments "
        f"({result.payers} payers got new dues)"
    )
