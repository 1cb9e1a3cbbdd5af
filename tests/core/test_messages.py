"""Every refusal is a code with parameters, said in English by the API and in the reader's
language by the pages, from one catalogue."""

from __future__ import annotations

import ast
import re
from datetime import date
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from app.core.errors import Conflict, DomainError, ValidationFailed
from app.core.messages import CODE, N_, FieldError, Message, Template
from app.main import create_app, every_template
from app.web import problems
from app.web.i18n import DOMAIN, LOCALE_DIR

APP = Path(__file__).resolve().parents[2] / "app"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def catalogue(locale: str) -> dict[str, str]:
    with (LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as fh:
        po = read_po(fh, locale=locale)
    return {str(m.id): str(m.string) for m in po if m.id and m.string and not m.fuzzy}


def test_every_code_is_well_formed_and_has_english_french_and_spanish_text() -> None:
    templates = every_template()
    assert len(templates) > 100  # every feature's refusals are loaded
    for locale in ("fr", "es"):
        said = catalogue(locale)
        untranslated = [t.code for t in templates.values() if t.text not in said]
        assert not untranslated, f"no {locale} text for {untranslated}"
        for t in templates.values():
            assert CODE.match(t.code), t.code
            theirs = sorted(PLACEHOLDER.findall(said[t.text]))
            assert theirs == sorted(PLACEHOLDER.findall(t.text)), (locale, t.code, said[t.text])


def test_a_template_needs_its_parameters_and_keeps_one_text_per_code() -> None:
    template = Template("test.greeting", N_("hello %(name)s, it is %(day)s"))
    with pytest.raises(TypeError, match="day"):
        template(name="Ana")
    with pytest.raises(ValueError, match="twice"):
        Template("test.greeting", "another text")
    message = template(name="Ana", day=date(2026, 12, 2))
    assert message.english() == "hello Ana, it is 2026-12-02"
    assert message.plain_params() == {"name": "Ana", "day": "2026-12-02"}


def test_a_refusal_says_its_code_and_params_in_the_problem_body() -> None:
    taken = Template("test.taken", N_("member number %(number)s is taken"))
    body = Conflict(taken(number="M-1")).to_problem("/api/v1/members")
    assert body["code"] == "test.taken"
    assert body["params"] == {"number": "M-1"}
    assert body["detail"] == "member number M-1 is taken"
    invalid = ValidationFailed.fields(
        [FieldError("amount", Message(every_template()["field.not_positive"]))]
    ).to_problem()
    assert invalid["detail"] == "amount: must be greater than zero"
    assert invalid["code"] == "field.not_positive"
    assert invalid["errors"] == [
        {"field": "amount", "message": "must be greater than zero", "code": "field.not_positive"}
    ]


def test_pages_say_a_message_in_the_readers_language_with_its_parameters() -> None:
    reversed_ = every_template()["receipt.already_reversed"]
    assert problems.say("fr", reversed_(number=42)) == "l\u2019encaissement 42 a déjà été annulé"
    assert problems.say("es", reversed_(number=42)) == "el recibo 42 ya fue anulado"
    assert problems.say("en", reversed_(number=42)) == "receipt 42 was already reversed"
    # a date is said in the reader's way
    dated = Template("test.dated", N_("must not be before %(day)s"))
    assert (
        problems.say("fr", dated(day=date(2026, 12, 2)))
        == "ne doit pas être antérieur au 2 déc. 2026"
    )


def test_the_openapi_lists_every_code_and_answers_refusals_as_problems() -> None:
    schema = create_app().openapi()
    problem = schema["components"]["schemas"]["Problem"]
    assert problem["properties"]["code"]["enum"] == sorted(every_template())
    post = schema["paths"]["/api/v1/receipts"]["post"]["responses"]
    for status in ("422", "4XX"):
        media = post[status]["content"]["application/problem+json"]
        assert media["schema"] == {"$ref": "#/components/schemas/Problem"}


# -- nothing is said in English text any more ----------------------------------------------------

ERRORS = {"DomainError", "ValidationFailed", "NotFound", "Conflict", "Forbidden"}
ERRORS |= {"Unauthorized", "PayloadTooLarge", "IdempotencyConflict"}


def _refusal_classes() -> set[str]:
    names = set(ERRORS)
    for path in APP.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(b, ast.Name) and b.id in names for b in node.bases
            ):
                names.add(node.name)
    return names


def _is_text(node: ast.expr) -> bool:
    return isinstance(node, ast.JoinedStr) or (
        isinstance(node, ast.Constant) and isinstance(node.value, str)
    )


THE_ONE_BUILDER = Path("app/core/messages.py")  # FieldError.to_json: the API's shape


def test_no_refusal_or_field_error_is_made_of_english_text() -> None:
    """A refusal's first argument is a Message, never a str; field errors are FieldErrors,
    never {"field": ..., "message": ...} dicts; validators raise templates, not ValueError text."""
    classes = _refusal_classes() | {"MoneyError", "FieldError"}
    found = []
    for path in APP.rglob("*.py"):
        where = path.relative_to(APP.parent)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                args = node.args[:2] if name in {"field", "FieldError"} else node.args[:1]
                if name in classes | {"field"} and any(_is_text(a) for a in args[-1:]):
                    found.append(f"{where}:{node.lineno} {name}(<text>)")
            if isinstance(node, ast.Dict) and where != THE_ONE_BUILDER:
                said = {
                    k.value: v
                    for k, v in zip(node.keys, node.values, strict=True)
                    if isinstance(k, ast.Constant)
                }
                if "field" in said and not isinstance(said.get("message", ast.Dict()), ast.Dict):
                    found.append(f"{where}:{node.lineno} a field error as a dict")
    assert not found, "\n".join(found)


def test_a_refusal_with_english_text_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        DomainError("some English")  # type: ignore[arg-type]


def test_a_validators_refusal_keeps_pydantics_type_and_gains_its_code() -> None:
    from pydantic import BaseModel, ValidationError

    from app.core.errors import validation_errors
    from app.core.schemas import AmountText

    class Body(BaseModel):
        amount: AmountText

    with pytest.raises(ValidationError) as caught:
        Body(amount="abc")
    [error] = [e.to_json() for e in validation_errors(caught.value.errors())]
    assert error["type"] == "value_error"  # as before validators raised templates
    assert error["code"] == "money.not_decimal" and error["params"] == {"text": "'abc'"}
