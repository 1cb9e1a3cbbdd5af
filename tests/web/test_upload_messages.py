"""Upload results in the user's language (issue 11): each rejected row of a receipts or
members CSV says what is wrong in French or Spanish, the per-row messages of the importers
and Pydantic's messages for a cell included (`unit_registration: no unit 'AM-9999'` stayed
English). Over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re

import pytest

from tests.web.book import make_book

RECEIPTS = (
    "client_id;member_number;unit_registration;amount;received_at;channel;currency;collector;reference\n"
    "c-1;;AM-9999;300.00;2026-11-21;cash;;;\n"
    "c-2;M-9999;;50.00;2026-11-21;cash;;;\n"
    "c-3;M-0002;;12.345;2026-11-21;cash;;;\n"
    "c-4;M-0002;;abc;2026-11-21;cash;;;\n"
    "c-5;M-0002;;10;yesterday;cash;;;\n"
    "c-6;M-0002;;10;2026-11-21;cheque;;;\n"
    "c-7;M-0002;;10;2026-11-21;cash;USD;;\n"
    "c-8;M-0002;;10;2026-11-21;cash;;nobody;\n"
    ";M-0002;;10;2026-11-21;cash;;;\n"
    "c-9;M-0002;A123456;10;2026-11-21;cash;;;\n"
    "c-10;M-0002;;-10;2026-11-21;cash;;;\n"
    "c-11;M-0002;;10;2099-11-21;cash;;;\n"
    "c-12;M-0002;;10;2026-11-21T10:00;cash;;;\n"
    "c-13;M-0002;;10;2026-11-21;cash;XX;;\n"
    "c-14;M-0002;;10;2026-11-21;cash;;;" + "r" * 200 + "\n"
    "c-15;M-0002;;0;2026-11-21;cash;;;\n"
)
MEMBERS = (
    "member_number,full_name,joined_on,phone,status,national_id,sector,affiliation:PENSION\n"
    "M-0101,,2026-02-01,,,,,\n"
    "M-0102,Bob,yesterday,,,,,\n"
    "M-0103,Bob,2026-02-01,abc,,,,\n"
    "M-0104,Bob,2026-02-01,,dead,,,\n"
    "bad number!,Bob,2026-02-01,,,,,\n"
    "M-0105,Ana,2026-02-01,,,,,\n"
    "M-0105,Ana,2026-02-01,,,,,\n"
    "M-0001,Ana,2026-02-01,,,,,\n"
    "M-0106,Bob,2026-02-01,,,,,,extra\n"
    ",,,,,,,\n"
    "M-0107," + "x" * 300 + ",2026-02-01,,,,,\n"
    "M-0108,Bob,2026-02-01,12,,,,\n"
    "M-0109,Bob,2026-02-01,,,,," + "9" * 80 + "\n"
)


def wrongs(page: str) -> list[str]:
    """The "what is wrong" cell of each row, as text."""
    rows = re.findall(r'<tr class="row-\w+">(.*?)</tr>', page, re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[-1] for row in rows]
    return [html.unescape(re.sub(r"<[^>]+>", " ", c)).strip() for c in cells]


def dry_run(web, kind: str, content: str) -> list[str]:  # type: ignore[no-untyped-def]
    web.get(f"/web/uploads/{kind}")
    r = web.c.post(
        f"/web/uploads/{kind}",
        data={"csrf_token": web.csrf, "action": "check"},
        files={"file": (f"{kind}.csv", content.encode(), "text/csv")},
    )
    assert r.status_code == 200, r.text
    return wrongs(r.text)


def set_language(web, locale: str) -> None:  # type: ignore[no-untyped-def]
    web.get("/web/")
    r = web.post("/web/language", {"locale": locale, "next": "/web/"}, follow_redirects=False)
    assert r.status_code == 303


@pytest.mark.parametrize("locale", ["fr", "es"])
def test_every_rejected_row_is_explained_in_the_users_language(
    web, make_web_org, session_factory, locale: str
) -> None:  # type: ignore[no-untyped-def]
    org = make_web_org(locale=locale)
    make_book(session_factory, org.id)
    web.sign_in(org)
    for kind, content in (("receipts", RECEIPTS), ("members", MEMBERS)):
        translated = dry_run(web, kind, content)
        set_language(web, "en")
        english = dry_run(web, kind, content)
        set_language(web, locale)
        assert len(translated) == len(english) >= 12
        said = "\n".join(translated)
        for row, (theirs, ours) in enumerate(zip(english, translated, strict=True), start=2):
            if not theirs:  # a good row
                continue
            assert theirs != ours, f"{kind} row {row} stays English in {locale}: {ours!r}"
            # no English message survives on the page, whole or as the part after its column
            for message in re.split(r"\s{2,}|\n", theirs):
                text = message.partition(": ")[2] or message
                assert text not in said, f"{kind} row {row}: {text!r} in {locale}"
        if kind == "receipts":
            wanted = {"fr": "aucun véhicule 'AM-9999'", "es": "no existe la unidad 'AM-9999'"}
            assert translated[0].endswith(wanted[locale]), translated[0]
            assert translated[0].startswith("unit_registration")
        else:  # a cell longer than the column allows, said by Pydantic
            assert {"fr": "au plus 200 caractères", "es": "como máximo 200 caracteres"}[
                locale
            ] in said
