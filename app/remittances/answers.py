"""A fund's answer about a batch's lines, read once for both kinds of batch.

A line is decided once: each answer names a line of the batch (422 naming the entry if it
names none, or one already named in this answer), the same decision sent again changes
nothing, and a different one for a decided line is 409. What is left are the new decisions;
the batch is acknowledged once no line is pending (its table allows it).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.core.errors import Conflict, ValidationFailed
from app.core.messages import Message
from app.remittances.lifecycle import Batch, LineStatus, transition


@dataclass(frozen=True)
class Said:
    """What a kind of batch says about a bad answer (its own words, its own codes)."""

    where: Callable[[int], str]
    """The field an entry is named by, from its index."""
    twice: Callable[[Hashable], Message]
    missing: Callable[[Hashable], Message]
    decided: Callable[[Hashable, LineStatus, LineStatus], Message]
    """A decided line answered otherwise: (key, its status, the status asked for)."""


def new_decisions(
    answers: Sequence[tuple[Hashable, str]],
    current: Mapping[Hashable, str],
    said: Said,
    *,
    check: Callable[[int], None] | None = None,
) -> list[int]:
    """The indexes of the answers (line key, status) that decide a pending line (`current`:
    each line's status by key), in order; see the module docstring. `check(i)` refuses what
    a kind of batch further requires of an entry, before its line is compared."""
    seen: set[Hashable] = set()
    out: list[int] = []
    pending = LineStatus.pending.value
    for i, (key, wanted) in enumerate(answers):
        status = current.get(key)
        if status is None:
            raise ValidationFailed.field(said.where(i), said.missing(key))
        if key in seen:
            raise ValidationFailed.field(said.where(i), said.twice(key))
        seen.add(key)
        if check is not None:
            check(i)
        if status == wanted:
            continue  # the same decision sent again
        if status != pending:
            raise Conflict(said.decided(key, LineStatus(status), LineStatus(wanted)))
        out.append(i)
    return out


def reason_missing(status: str, reason: str | None) -> bool:
    """A fund's rejection of a line needs its reason: the rule every answer read from a person
    or a JSON body follows (a pain.002 status carries its own reason code)."""
    return status == LineStatus.rejected and not (reason and reason.strip())


def acknowledged_when_all_decided(batch: Batch, *, at: datetime) -> None:
    """The batch is acknowledged once every line is decided (kept if it is already)."""
    counts: Any = batch
    if counts.accepted_count + counts.rejected_count == counts.line_count:
        transition(batch, batch.lifecycle.statuses("acknowledged"), at=at)
