"""`coopledger members ...`: bulk import from CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.core.audit import CLI_ACTOR
from app.core.cli import session_factory
from app.core.database import bind_organisation, unit_of_work

members_cli = typer.Typer(no_args_is_help=True, help="members")

COMMANDS = [("members", members_cli)]


@members_cli.command("import")
def import_members(
    file: Annotated[Path, typer.Argument(help="CSV with a header row (see docs/members.md)")],
    org: Annotated[str, typer.Option("--org", help="organisation code")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="check every row, write nothing")
    ] = False,
) -> None:
    """Import members from CSV. Prints one line per row that is not created; exit 1 if any row
    was rejected (the good rows are imported all the same)."""
    from app.identity.service import organisation_by_code
    from app.members.importer import MAX_BYTES, read_members_csv
    from app.members.importer import import_members as run

    try:
        with file.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as exc:
        typer.secho(f"{file}: {exc.strerror or exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    content = read_members_csv(raw, str(file))  # bounded, before the transaction begins
    with unit_of_work(session_factory()) as session:
        bind_organisation(session, organisation_by_code(session, org).id)
        result = run(session, CLI_ACTOR, content, dry_run=dry_run, source=str(file))
        if dry_run:
            session.rollback()
    for r in result.results:
        if r.status in ("rejected", "duplicate"):
            why = "; ".join(f"{e['field']}: {e['message']}" for e in r.errors or [])
            colour = typer.colors.RED if r.status == "rejected" else typer.colors.YELLOW
            typer.secho(f"{file}:{r.row}: {r.status}: {why}", fg=colour, err=True)
    verb = "would be created (dry run)" if dry_run else "created"
    typer.echo(
        f"{result.valid if dry_run else result.created} member(s) {verb}, "
        f"{result.duplicates} duplicate(s), {result.rejected} rejected"
    )
    if result.rejected:
        raise typer.Exit(1)
