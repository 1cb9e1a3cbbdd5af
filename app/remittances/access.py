"""Who sees which batches and files: the remittances' access rules, in one place.

A fund office acts only for its own fund: another fund's batch (remittance or affiliation),
list or page is 404 to it, as if it did not exist. Everyone else the routers let in sees every
fund. A draft or cancelled remittance batch has no file. The services take the caller (a
`Principal`; None is the organisation itself, a command or a job) and ask here; the API and the
pages call the same services, so they cannot say different things.
"""

from __future__ import annotations

from typing import Any

from app.core.deps import Principal
from app.core.errors import Conflict, NotFound
from app.core.messages import N_, Template
from app.core.roles import Role
from app.funds.service import NO_FUND
from app.remittances.lifecycle import BatchStatus

NO_FILE = Template(
    "batch.no_file", N_("batch %(reference)s is %(status)s: seal it to have its file")
)

NO_FILE_STATUSES = (BatchStatus.draft, BatchStatus.cancelled)


def fund_scope(caller: Principal | None) -> str | None:
    """The one fund the caller acts for (a fund office), or None: every fund."""
    if caller is not None and caller.role == Role.fund_office:
        return caller.fund_code
    return None


class Nothing:
    """A list the caller may not see anything of (a fund office asking for another fund)."""


NOTHING = Nothing()


def listed_fund(caller: Principal | None, fund_code: str | None) -> str | Nothing | None:
    """The fund a list is narrowed to: the one asked for, within the caller's scope."""
    scope = fund_scope(caller)
    if scope is None:
        return fund_code
    if fund_code is not None and fund_code != scope:
        return NOTHING
    return scope


def require_fund(caller: Principal | None, code: str) -> None:
    """404 for a fund outside the caller's scope (its page, its list of batches)."""
    scope = fund_scope(caller)
    if scope is not None and scope != code:
        raise NotFound(NO_FUND(code=repr(code)))


def has_file(batch: Any) -> bool:
    """A remittance batch has a file once sealed, unless it was cancelled."""
    return batch.status not in NO_FILE_STATUSES


def require_file(batch: Any) -> None:
    """409 for a remittance batch that has no file yet (a draft) or never will (cancelled)."""
    if not has_file(batch):
        raise Conflict(NO_FILE(reference=batch.reference, status=BatchStatus(batch.status)))
