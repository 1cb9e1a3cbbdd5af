"""What every `coopledger` command module shares: the session factory, the --org option and
the one-line error.

In the kernel so that the feature packages' command modules (app/*/cli.py) need nothing from
app.cli, which sits above them and gathers their commands. What must be in place before a
command's first session (every model and every feature's hooks: `app.models.load_all_models`)
app.cli registers in SESSION_SETUP_HOOKS; an organisation is looked up by its code with
`app.identity.service.organisation_by_code`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer
from sqlalchemy.orm import Session, sessionmaker

from app.core.database import make_engine, make_session_factory
from app.core.messages import Message
from app.core.settings import get_settings

OrgOpt = Annotated[str, typer.Option("--org", help="organisation code, e.g. AMUSSOL")]

SESSION_SETUP_HOOKS: list[Callable[[], None]] = []
"""Run (in order) each time a command asks for a session factory; app.cli adds
`load_all_models`, which is idempotent."""


def session_factory() -> sessionmaker[Session]:
    for hook in SESSION_SETUP_HOOKS:
        hook()
    return make_session_factory(make_engine(get_settings().database_url, pool_size=2))


def fail(message: Message | str, code: int = 2) -> None:
    """One line on stderr, in English (a Message is said as the API says it), and exit."""
    said = message.english() if isinstance(message, Message) else message
    typer.secho(f"error: {said}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)
