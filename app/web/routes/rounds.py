"""Collectors' rounds: which payers each collector collects from, set by the treasurer one by
one or for a whole collector group (a union branch, a route). Each round is shown with what
every payer owes today. Every change goes through `app.collections.rounds.set_round`, the
same service as `PUT /api/v1/collectors/{id}/round` and `PUT /api/v1/collector-groups/{group}/round`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from babel.lists import format_list
from fastapi import APIRouter, Request
from sqlalchemy import and_, func, or_, select
from starlette.exceptions import HTTPException
from starlette.responses import Response

from app.collections import cash, rounds
from app.collections.models import Collector, RoundPayer
from app.core import clock
from app.core.errors import DomainError
from app.web import forms
from app.web.deps import Bookkeeper, DbSession, Form, Reader, WebUser
from app.web.routes.cash import collectors_with_cash
from app.web.session import load_session
from app.web.templating import PREFIX, redirect, render, request_locale, translate
from app.web.vocabulary import N_

router = APIRouter(prefix=PREFIX)

PAYERS = "payers"
GROUP = "group"
GROUP_MAX = 120  # as Collector.group and the API's path
TYPED_MAX = 100_000  # characters of the textarea: thousands of numbers and plates
ITEM_MAX = 64
# the service's field names -> the form's (a round too long is said at the textarea)
SERVICE_FIELDS = {"member_ids": PAYERS, "unit_ids": PAYERS}


@dataclass(frozen=True, slots=True)
class Holder:
    """Whose round a form changes: one collector's own, or a collector group's."""

    collector: Collector | None = None
    group: str | None = None

    @property
    def url(self) -> str:
        if self.collector is not None:
            return f"{PREFIX}/collectors/{self.collector.id}"
        return f"{PREFIX}/collector-groups/{quote(self.group or '')}"

    @property
    def action(self) -> str:
        """Names the form for its one-time key."""
        if self.collector is not None:
            return f"collectors/{self.collector.id}/round"
        return f"collector-groups/{self.group}/round"


def _group_name(group: str) -> str:
    group = group.strip()
    if not group or len(group) > GROUP_MAX:
        raise HTTPException(404)
    return group


def _payers(db: DbSession, holder: Holder) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """The holder's own payers (a collector's without its group's), members and units."""
    if holder.group is not None:
        return rounds.group_payers(db, holder.group)
    assert holder.collector is not None
    rows = db.execute(
        select(RoundPayer.member_id, RoundPayer.unit_id)
        .where(RoundPayer.collector_id == holder.collector.id)
        .order_by(RoundPayer.id)
    )
    members: list[uuid.UUID] = []
    units: list[uuid.UUID] = []
    for member_id, unit_id in rows:
        if member_id is not None:
            members.append(member_id)
        elif unit_id is not None:
            units.append(unit_id)
    return members, units


def _split(typed: str) -> list[str]:
    """The numbers and plates typed, one per line or separated by commas (or semicolons),
    each once however it was spelled."""
    seen: dict[str, str] = {}
    for item in re.split(r"[\n\r,;]+", typed):
        item = item.strip()[:ITEM_MAX]
        if item and rounds.payer_key(item) not in seen:
            seen[rounds.payer_key(item)] = item
    return list(seen.values())


def _said_list(request: Request, items: list[str]) -> str:
    return format_list(items, locale=request_locale(request))


# -- pages ------------------------------------------------------------------------------------


def _round_counts(db: DbSession) -> dict[uuid.UUID, int]:
    """Payers on each collector's round, its own and its group's (each payer once)."""
    payer = func.coalesce(RoundPayer.member_id, RoundPayer.unit_id)
    rows = db.execute(
        select(Collector.id, func.count(func.distinct(payer)))
        .join(
            RoundPayer,
            or_(
                RoundPayer.collector_id == Collector.id,
                and_(Collector.group.is_not(None), RoundPayer.collector_group == Collector.group),
            ),
        )
        .group_by(Collector.id)
    )
    return {cid: int(n) for cid, n in rows}


@router.get("/collectors")
def list_collectors(request: Request, db: DbSession, who: Reader) -> Response:
    held = sorted(collectors_with_cash(db), key=lambda r: (r["collector"].name, r["collector"].id))
    counts = _round_counts(db)
    group_rounds: dict[str, int] = {
        g: int(n)
        for g, n in db.execute(
            select(RoundPayer.collector_group, func.count())
            .where(RoundPayer.collector_group.is_not(None))
            .group_by(RoundPayer.collector_group)
        )
        if g is not None
    }
    members: dict[str, int] = {}
    for r in held:
        if r["collector"].group is not None:
            members[r["collector"].group] = members.get(r["collector"].group, 0) + 1
    groups = [
        {"name": g, "collectors": members.get(g, 0), "payers": group_rounds.get(g, 0)}
        for g in sorted(set(members) | set(group_rounds))
    ]
    return render(
        request, "collectors/list.html", {"held": held, "counts": counts, "groups": groups}
    )


def _lines(db: DbSession, who: WebUser, payers: tuple[list[uuid.UUID], list[uuid.UUID]]) -> Any:
    return rounds.round_lines(db, payers[0], payers[1], clock.today(who.time_zone))


def _collector_page(
    request: Request, db: DbSession, who: WebUser, collector: Collector, **ctx: Any
) -> Response:
    ctx.setdefault("errors", {})
    ctx.setdefault("values", {})
    ctx["values"].setdefault(GROUP, collector.group or "")
    holder = Holder(collector=collector)
    own = _lines(db, who, _payers(db, holder))
    from_group = (
        _lines(db, who, rounds.group_payers(db, collector.group)) if collector.group else []
    )
    held = next(
        (r for r in collectors_with_cash(db) if r["collector"].id == collector.id),
        {"held": 0, "currency": who.currency},
    )
    everyone = {ln.id for ln in own} | {ln.id for ln in from_group}
    return render(
        request,
        "collectors/collector.html",
        {
            "collector": collector,
            "held": held,
            "own": own,
            "from_group": from_group,
            "on_round": len(everyone),
            "as_of": clock.today(who.time_zone),
            "action": holder.url,
            "add_key": forms.new_form_key(),
            "remove_key": forms.new_form_key(),
            **ctx,
        },
        status=422 if ctx["errors"] else 200,
    )


def _group_page(request: Request, db: DbSession, who: WebUser, group: str, **ctx: Any) -> Response:
    ctx.setdefault("errors", {})
    ctx.setdefault("values", {})
    holder = Holder(group=group)
    collectors = [
        r
        for r in sorted(collectors_with_cash(db), key=lambda r: r["collector"].name)
        if r["collector"].group == group
    ]
    return render(
        request,
        "collectors/group.html",
        {
            "group": group,
            "collectors": collectors,
            "own": _lines(db, who, _payers(db, holder)),
            "as_of": clock.today(who.time_zone),
            "action": holder.url,
            "add_key": forms.new_form_key(),
            "remove_key": forms.new_form_key(),
            **ctx,
        },
        status=422 if ctx["errors"] else 200,
    )


@router.get("/collectors/{collector_id}")
def collector_page(
    request: Request, db: DbSession, who: Reader, collector_id: uuid.UUID
) -> Response:
    return _collector_page(request, db, who, cash.get_collector(db, collector_id))


@router.get("/collector-groups/{group:path}")
def group_page(request: Request, db: DbSession, who: Reader, group: str) -> Response:
    return _group_page(request, db, who, _group_name(group))


# -- forms ------------------------------------------------------------------------------------


def _show_again(
    request: Request, db: DbSession, who: WebUser, holder: Holder, **ctx: Any
) -> Response:
    if holder.collector is not None:
        return _collector_page(request, db, who, holder.collector, **ctx)
    assert holder.group is not None
    return _group_page(request, db, who, holder.group, **ctx)


def _add(request: Request, db: DbSession, who: WebUser, holder: Holder, form: Form) -> Response:
    """The typed numbers and plates join the holder's round: all of them, or none if any names
    no payer or more than one."""
    typed = forms.text(form, PAYERS, TYPED_MAX)
    values = {PAYERS: typed}
    items = _split(typed)
    if not items:
        error = translate(request, N_("Enter at least one member number or plate."))
        return _show_again(request, db, who, holder, values=values, errors={PAYERS: error})
    found = rounds.resolve(db, items)
    unknown = [t for t in items if not found[t]]
    ambiguous = [t for t in items if len(found[t]) > 1]
    if unknown or ambiguous:
        wrong: list[str] = []
        if unknown:
            wrong.append(
                translate(
                    request,
                    N_("No member or transport unit has this number or plate: %(items)s."),
                    items=_said_list(request, unknown),
                )
            )
        if ambiguous:
            wrong.append(
                translate(
                    request,
                    N_("These name more than one payer: %(items)s."),
                    items=_said_list(request, ambiguous),
                )
            )
        return _show_again(
            request, db, who, holder, values=values, errors={PAYERS: " ".join(wrong)}
        )
    wanted = [found[t][0] for t in items]

    def operation() -> dict[str, Any]:
        members, units = _payers(db, holder)
        before = len(members) + len(units)
        have = set(members) | set(units)
        members += [pid for kind, pid in wanted if kind == "member" and pid not in have]
        units += [pid for kind, pid in wanted if kind == "unit" and pid not in have]
        rounds.set_round(
            db,
            who.actor,
            collector=holder.collector,
            group=holder.group,
            member_ids=members,
            unit_ids=units,
        )
        return {"added": len(members) + len(units) - before}

    payload = {"holder": holder.action, "payers": [f"{k}:{p}" for k, p in wanted]}
    try:
        result = forms.run_once(
            db,
            who,
            forms.text(form, forms.FORM_KEY, 64),
            holder.action + "/add",
            payload,
            operation,
        )
    except DomainError as exc:
        errors = forms.domain_errors(request, exc, SERVICE_FIELDS, PAYERS)
        return _show_again(request, db, who, holder, values=values, errors=errors)
    if result["added"]:
        said = translate(request, N_("Added to the round: %(count)s."), count=result["added"])
    else:
        said = translate(request, N_("Already on the round: nothing was added."))
    load_session(request).add_flash("info", said)
    return redirect(request, holder.url + "#round")


def _remove(request: Request, db: DbSession, who: WebUser, holder: Holder, form: Form) -> Response:
    """One payer leaves the holder's round (already gone: nothing changes)."""
    kind, _, raw = forms.text(form, "payer", 80).partition(":")
    try:
        payer_id = uuid.UUID(raw)
    except ValueError:
        kind = ""
    if kind not in ("member", "unit"):
        load_session(request).add_flash(
            "error", translate(request, N_("Choose a payer of the round."))
        )
        return redirect(request, holder.url + "#round")

    def operation() -> dict[str, Any]:
        members, units = _payers(db, holder)
        rounds.set_round(
            db,
            who.actor,
            collector=holder.collector,
            group=holder.group,
            member_ids=[m for m in members if m != payer_id],
            unit_ids=[u for u in units if u != payer_id],
        )
        return {}

    payload = {"holder": holder.action, "payer": f"{kind}:{payer_id}"}
    try:
        forms.run_once(
            db,
            who,
            forms.text(form, forms.FORM_KEY, 64),
            holder.action + "/remove",
            payload,
            operation,
        )
    except DomainError as exc:
        load_session(request).add_flash("error", forms.refusal(request, exc))
        return redirect(request, holder.url + "#round")
    gone = rounds.round_lines(
        db,
        [payer_id] if kind == "member" else [],
        [payer_id] if kind == "unit" else [],
        clock.today(who.time_zone),
    )
    number = gone[0].number if gone else str(payer_id)
    load_session(request).add_flash(
        "info", translate(request, N_("Removed from the round: %(payer)s."), payer=number)
    )
    return redirect(request, holder.url + "#round")


@router.post("/collectors/{collector_id}/round/add")
def add_to_collector_round(
    request: Request, db: DbSession, who: Bookkeeper, collector_id: uuid.UUID, form: Form
) -> Response:
    holder = Holder(collector=cash.get_collector(db, collector_id))
    return _add(request, db, who, holder, form)


@router.post("/collectors/{collector_id}/round/remove")
def remove_from_collector_round(
    request: Request, db: DbSession, who: Bookkeeper, collector_id: uuid.UUID, form: Form
) -> Response:
    holder = Holder(collector=cash.get_collector(db, collector_id))
    return _remove(request, db, who, holder, form)


@router.post("/collector-groups/{group:path}/round/add")
def add_to_group_round(
    request: Request, db: DbSession, who: Bookkeeper, group: str, form: Form
) -> Response:
    return _add(request, db, who, Holder(group=_group_name(group)), form)


@router.post("/collector-groups/{group:path}/round/remove")
def remove_from_group_round(
    request: Request, db: DbSession, who: Bookkeeper, group: str, form: Form
) -> Response:
    return _remove(request, db, who, Holder(group=_group_name(group)), form)


@router.post("/collectors/{collector_id}/group")
def set_collector_group(
    request: Request, db: DbSession, who: Bookkeeper, collector_id: uuid.UUID, form: Form
) -> Response:
    """The collector's group (empty: none). Setting the same group again changes nothing, so
    the form needs no one-time key."""
    collector = cash.get_collector(db, collector_id)
    typed = forms.text(form, GROUP, 2000)
    if len(typed) > GROUP_MAX:
        errors = {GROUP: translate(request, N_("This is too long."))}
        return _collector_page(request, db, who, collector, values={GROUP: typed}, errors=errors)
    group = typed or None
    if group != collector.group:
        cash.set_group(db, who.actor, collector.id, group)
    if group is None:
        said = translate(request, N_("%(name)s is in no group now."), name=collector.name)
    else:
        said = translate(
            request, N_("%(name)s is in the group %(group)s now."), name=collector.name, group=group
        )
    load_session(request).add_flash("info", said)
    return redirect(request, f"{PREFIX}/collectors/{collector.id}")
