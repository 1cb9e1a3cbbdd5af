"""`coopledger receipts ...`: receipts from the command line (CSV imports)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.core.audit import CLI_ACTOR
from app.core.cli import fail, session_factory
from app.core.database import bind_organisation, unit_of_work

receipts_cli = typer.Typer(no_args_is_help=True, help="receipts: CSV imports")


@receipts_cli.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="CSV file: UTF-8, comma or semicolon")],
    org: Annotated[str, typer.Option("--org", help="organisation code, e.g. AMUSSOL")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="validate every row; write nothing")
    ] = False,
    collector: Annotated[
        str | None,
        typer.Option("--collector", help="username of the collector for rows naming none"),
    ] = None,
) -> None:
    """Import receipts from a CSV file; one line per row. Exit 1 if any row is rejected.

    Importing the same file again creates nothing twice: each row's client_id is checked.
    """
    from app.collections import cash, imports
    from app.identity.models import Organisation
    from app.identity.service import organisation_by_code

    try:
        with file.open("rb") as f:
            raw = f.read(imports.CSV_BOUNDS.max_bytes + 1)
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}")
        return
    content = imports.read_receipts_file(raw)  # bounded, before the transaction begins
    with unit_of_work(session_factory()) as session:
        oid = organisation_by_code(session, org).id
        bind_organisation(session, oid)
        organisation = session.get(Organisation, oid)
        assert organisation is not None
        default = None
        if collector is not None:
            default = cash.collector_by_name(session, collector)
            if default is None:
                fail(f"no collector named {collector!r} in {org}")
        result = imports.import_receipts(
            session,
            CLI_ACTOR,
            content,
            book_currency=organisation.currency,
            dry_run=dry_run,
            caller_collector=None,
            default_collector=default,
        )
    for r in result.results:
        if r.status == "rejected":
            why = "; ".join(f"{e.field}: {e.message}" for e in r.errors or [])
            typer.echo(f"row {r.row}: rejected ({r.client_id or '-'}): {why}")
        elif r.receipt_number is not None:
            typer.echo(f"row {r.row}: {r.status} ({r.client_id}): receipt {r.receipt_number}")
        else:
            typer.echo(f"row {r.row}: {r.status} ({r.client_id})")
    verb = "would create" if dry_run else "created"
    count = result.valid if dry_run else result.created
    typer.echo(
        f"{verb} {count}, duplicates {result.duplicates}, rejected {result.rejected}"
        + (" (dry run: nothing written)" if dry_run else "")
    )
    if result.rejected:
        raise typer.Exit(1)


COMMANDS = [("receipts", receipts_cli)]
