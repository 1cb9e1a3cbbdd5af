"""Uploads: a receipts CSV (collection sheet) and a members CSV. A dry run shows each row's
result before anything is written; the file then goes back with the page to be posted."""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.datastructures import UploadFile
from starlette.responses import Response

from app.collections import imports
from app.collections.models import Collector
from app.core.errors import DomainError
from app.core.roles import Role
from app.members import importer
from app.web import forms
from app.web.deps import Bookkeeper, DbSession, Form, WebUser
from app.web.routes.receipts import Taker
from app.web.session import load_session
from app.web.templating import PREFIX, redirect, render, translate
from app.web.vocabulary import N_

router = APIRouter(prefix=PREFIX)

MAX_UPLOAD = 2 * 1024 * 1024  # a web upload; bigger files go through the API or the CLI
KINDS = {"receipts", "members"}


async def _content(form: Any) -> bytes | None:
    """The file chosen, or the file a dry run sent back with its page."""
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read(MAX_UPLOAD + 1)
        return data
    carried = form.get("content")
    if isinstance(carried, str) and carried:
        try:
            return base64.b64decode(carried.encode(), validate=True)
        except (binascii.Error, ValueError):
            return None
    return None


def _page(request: Request, db: DbSession, who: WebUser, kind: str, **ctx: Any) -> Response:
    ctx.setdefault("errors", {})
    ctx.setdefault("result", None)
    ctx.setdefault("form_key", forms.new_form_key())
    ctx["kind"] = kind
    ctx["collectors"] = (
        list(db.scalars(select(Collector).order_by(Collector.name)))
        if kind == "receipts" and who.role is not Role.collector
        else []
    )
    return render(request, "uploads/page.html", ctx, status=422 if ctx["errors"] else 200)


@router.get("/uploads/receipts")
def receipts_form(request: Request, db: DbSession, who: Taker) -> Response:
    return _page(request, db, who, "receipts")


@router.get("/uploads/members")
def members_form(request: Request, db: DbSession, who: Bookkeeper) -> Response:
    return _page(request, db, who, "members")


def _run(db: DbSession, who: WebUser, kind: str, content: bytes, dry_run: bool, form: Any) -> Any:
    if kind == "members":
        return importer.import_members(db, who.actor, content, dry_run=dry_run, source="web upload")
    # whose rows these are: the API's rule (a collector's own; a treasurer may name one)
    named: uuid.UUID | None = None
    try:
        named = (
            uuid.UUID(forms.text(form, "collector_id", 64)) if form.get("collector_id") else None
        )
    except ValueError:
        named = None
    return imports.import_for(db, who.principal, content, dry_run=dry_run, collector_id=named)


async def _upload(request: Request, db: DbSession, who: WebUser, form: Any, kind: str) -> Response:
    from starlette.concurrency import run_in_threadpool

    content = await _content(form)
    values = {"collector_id": forms.text(form, "collector_id", 64)}
    if content is None or not content.strip():
        errors = {"file": translate(request, N_("Choose a CSV file."))}
        return _page(request, db, who, kind, errors=errors, values=values)
    if len(content) > MAX_UPLOAD:
        errors = {
            "file": translate(
                request, N_("The file is larger than 2 MB: split it, or use the API or the CLI.")
            )
        }
        return _page(request, db, who, kind, errors=errors, values=values)
    dry_run = forms.text(form, "action", 20) != "post"
    digest = hashlib.sha256(content).hexdigest()

    def work() -> Any:
        if dry_run:
            return _run(db, who, kind, content, True, form)
        return forms.run_once(
            db,
            who,
            forms.text(form, forms.FORM_KEY, 64),
            f"uploads/{kind}",
            {"sha256": digest, "collector_id": values["collector_id"]},
            lambda: _run(db, who, kind, content, False, form).model_dump(mode="json"),
        )

    try:
        result = await run_in_threadpool(work)
    except DomainError as exc:
        errors = forms.domain_errors(
            request, exc, {"file": "file", "collector_id": "collector_id"}, "file"
        )
        return _page(request, db, who, kind, errors=errors, values=values)
    if not dry_run:
        from app.members.schemas import ImportResult

        parsed = ImportResult.model_validate(result) if kind == "members" else None
        created = parsed.created if parsed else int(result.get("created", 0))
        load_session(request).add_flash(
            "info", translate(request, N_("%(count)s rows were written."), count=created)
        )
        if kind == "members":
            return redirect(request, f"{PREFIX}/members")
        return _page(request, db, who, kind, result=_as_dict(result), posted=True, values=values)
    return _page(
        request,
        db,
        who,
        kind,
        result=_as_dict(result),
        content=base64.b64encode(content).decode(),
        filename=getattr(form.get("file"), "filename", "") or forms.text(form, "filename", 200),
        values=values,
    )


def _as_dict(result: Any) -> dict[str, Any]:
    return result if isinstance(result, dict) else result.model_dump(mode="json")


@router.post("/uploads/receipts")
async def upload_receipts(request: Request, db: DbSession, who: Taker, form: Form) -> Response:
    return await _upload(request, db, who, form, "receipts")


@router.post("/uploads/members")
async def upload_members(request: Request, db: DbSession, who: Bookkeeper, form: Form) -> Response:
    return await _upload(request, db, who, form, "members")
