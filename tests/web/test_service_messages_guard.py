"""Guard: every refusal text a service writes is one the pages can translate.

`app/web/service_messages.py` recognises a service's English text by pattern; a text it does
not know is shown in English on a French or Spanish page. This reads the source of `app/`
(with `ast`, nothing runs) for the texts handed to the error classes of `app/core/errors.py`
(and their subclasses): the detail (unless `errors=` carries the field messages), the
messages in `errors=[{"field": ..., "message": ...}]` and `ValidationFailed.field`'s message;
and the per-row messages of uploads and sheets, which are no exception but results shown in a
table: `field_error(field, message)` and every `{"field": ..., "message": ...}` literal.
An f-string's placeholders stand for any value.

Left out: the API-only modules (API_ONLY, `*router.py`); and messages built in a variable
before the call (nothing to read statically).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from app.web import service_messages

APP = Path(__file__).resolve().parents[2] / "app"
BASE_ERRORS = {
    "DomainError",
    "ValidationFailed",
    "NotFound",
    "Conflict",
    "IdempotencyConflict",
    "Unauthorized",
    "Forbidden",
    "PayloadTooLarge",
}
SAMPLE = "VALUE"  # what an f-string's placeholder stands for


# The JSON API's own refusals, which no page shows: Bearer authentication, cursors, and the
# API routers (`*router.py`; the pages call the services, not the routers).
API_ONLY = {"core/errors.py", "core/deps.py", "core/pagination.py"}


def _sources() -> list[Path]:
    return sorted(
        p
        for p in APP.rglob("*.py")
        if p.relative_to(APP).as_posix() not in API_ONLY and not p.name.endswith("router.py")
    )


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _error_classes(trees: list[ast.Module]) -> set[str]:
    """The error classes and every subclass of them the app declares."""
    known = set(BASE_ERRORS)
    grew = True
    while grew:
        grew = False
        for tree in trees:
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.ClassDef)
                    and node.name not in known
                    and any(_name(b) in known for b in node.bases)
                ):
                    known.add(node.name)
                    grew = True
    return known


def _texts(node: ast.expr | None) -> list[str]:
    """A literal or f-string as text (placeholders as SAMPLE), both texts of `a if c else b`,
    every text of `a + b`; nothing for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [
            "".join(str(v.value) if isinstance(v, ast.Constant) else SAMPLE for v in node.values)
        ]
    if isinstance(node, ast.IfExp):
        return _texts(node.body) + _texts(node.orelse)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [a + b for a in _texts(node.left) for b in _texts(node.right)]
    return []


def _messages_in(node: ast.expr) -> Iterator[ast.expr]:
    """The `message` values of the dict literals in an `errors=` argument."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Dict):
            for k, v in zip(sub.keys, sub.values, strict=True):
                if isinstance(k, ast.Constant) and k.value == "message":
                    yield v


def service_texts() -> list[tuple[str, int, str, bool]]:
    """(file, line, text, is_detail) for each refusal text found."""
    trees = {p: ast.parse(p.read_text(), str(p)) for p in _sources()}
    classes = _error_classes(list(trees.values()))
    found = []
    for path, tree in trees.items():
        where = str(path.relative_to(APP.parent))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            candidates: list[tuple[ast.expr | None, bool]] = []
            if _name(func) in classes:
                errors = next((k.value for k in node.keywords if k.arg == "errors"), None)
                detail = node.args[0] if node.args else None
                detail = next((k.value for k in node.keywords if k.arg == "detail"), detail)
                if errors is None:
                    candidates.append((detail, True))
                else:
                    candidates += [(m, False) for m in _messages_in(errors)]
            elif (
                isinstance(func, ast.Attribute)
                and func.attr == "field"
                and _name(func.value) in classes
            ):
                message = node.args[1] if len(node.args) > 1 else None
                message = next((k.value for k in node.keywords if k.arg == "message"), message)
                candidates.append((message, False))
            elif _name(func) == "field_error" and len(node.args) > 1:
                candidates.append((node.args[1], False))  # a row's error in an upload's result
            for expr, is_detail in candidates:
                found += [(where, node.lineno, t, is_detail) for t in _texts(expr)]
        for node in ast.walk(tree):  # {"field": ..., "message": ...}: a row's error
            if isinstance(node, ast.Dict):
                keys = {k.value: v for k, v in zip(node.keys, node.values, strict=True)
                        if isinstance(k, ast.Constant)}  # fmt: skip
                if "field" in keys and "message" in keys:
                    found += [(where, node.lineno, t, False) for t in _texts(keys["message"])]
    return sorted(set(found))


def _shown(text: str, is_detail: bool) -> str:
    """What the pages pass to the patterns: a detail loses its `field: ` prefix, as
    `service_messages.detail` does."""
    if is_detail:
        field, sep, rest = text.partition(": ")
        if sep and re.fullmatch(r"[\w.\[\]]+", field):
            return rest
    return text


def recognised(text: str) -> bool:
    """A message recognises the text when each of its `%(name)s` stands for placeholders
    only: a part that swallows the service's own words (`from %(start)s` taking
    "VALUE (enrolment VALUE); periods would be owed twice") would leave them in English."""
    for pattern, _ in service_messages._patterns():
        m = pattern.fullmatch(text)
        if m is not None:  # the first message that matches is the one the pages say
            return not any(re.search(r"\s", v.replace(SAMPLE, "")) for v in m.groupdict().values())
    return False


def test_the_guard_reads_the_services() -> None:
    texts = service_texts()
    # enough texts that a broken reader (no file, no class found) cannot pass quietly
    assert len(texts) > 100
    files = {f for f, *_ in texts}
    assert "app/remittances/commissions.py" in files
    assert "app/schemes/enrolments.py" in files
    assert "app/collections/service.py" in files
    assert "app/ledger/posting.py" in files
    assert "app/collections/imports.py" in files and "app/members/importer.py" in files
    assert recognised(_shown("no member VALUE", True))
    assert not recognised("a text no service writes")


def test_every_service_refusal_is_translated_on_the_pages() -> None:
    unrecognised = sorted(
        {
            f"{where}:{line}: {text!r}"
            for where, line, text, is_detail in service_texts()
            if not recognised(_shown(text, is_detail))
        }
    )
    assert not unrecognised, (
        "service messages app/web/service_messages.py does not recognise (add them to "
        "MESSAGES, with fr and es translations in app/web/locale):\n" + "\n".join(unrecognised)
    )
