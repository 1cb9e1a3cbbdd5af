"""The treasurer's pages for collectors' rounds (issue 13): payers added by number or plate,
one by one or for a collector group, shown with what each owes today, removed; what the pages
set is what the collector's app downloads (GET /api/v1/collectors/me/round)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.core import clock
from app.core.audit import CLI_ACTOR
from app.core.database import bind_organisation, unit_of_work
from tests.collections.factories import Book, add_dues, make_member, make_unit, standard_book
from tests.web.conftest import WebClient, WebOrg, sign_in_browser
from tests.web.test_browser_phone_width import MEASURE

LONG_NAME = "María de los Ángeles Rodríguez-Fernández de la Altagracia"


@dataclass
class Setting:
    web_org: WebOrg
    book: Book
    collector_id: str  # the API key's collector ("collector key")
    headers: dict[str, str]  # that key, for the API


def count(engine: Any, where: str = "") -> int:
    with engine.connect() as conn:
        sql = "SELECT count(*) FROM round_payer" + (f" WHERE {where}" if where else "")
        return int(conn.execute(sa.text(sql)).scalar_one())


@pytest.fixture
def setting(client, org, session_factory) -> Setting:  # type: ignore[no-untyped-def]
    """The standard book (M-001, M-002, BUS-1), M-003 with a long name, dues on BUS-1 (two
    days overdue, today's, tomorrow's), users who sign in, and the API key's collector."""
    from app.identity.service import create_user
    from tests.web.conftest import PASSWORD

    book = standard_book(session_factory, org)
    today = clock.today("UTC")
    bus = book.units["BUS-1"]
    add_dues(session_factory, book, "transport-daily", ("unit", bus), today - timedelta(2), 4, 5000)
    users = {"treasurer": "ana", "auditor": "olga", "collector": "cobra", "admin": "root"}
    with unit_of_work(session_factory) as s:
        bind_organisation(s, org.id)
        make_member(s, book, "M-003")
        for role, name in users.items():
            create_user(s, CLI_ACTOR, username=name, password=PASSWORD, role=role, locale="en")
        s.execute(
            sa.text("UPDATE member SET full_name = :n WHERE member_number = 'M-003'"),
            {"n": LONG_NAME},
        )
    me = client.get("/api/v1/collectors/me", headers=org.headers("collector"))
    assert me.status_code == 200, me.text
    return Setting(
        WebOrg(org.id, org.code, org.currency, users),
        book,
        me.json()["id"],
        org.headers("collector"),
    )


def signed_in(client: Any, setting: Setting, role: str = "treasurer") -> WebClient:
    client.cookies.clear()
    web = WebClient(client)
    web.sign_in(setting.web_org, role)
    return web


def form_key(html: str, action: str) -> str:
    m = re.search(
        r'<form method="post" action="' + re.escape(action) + r'"[^>]*>.*?name="form_key" '
        r'value="([^"]+)"',
        html,
        re.S,
    )
    assert m, f"no form posting to {action}"
    return m.group(1)


def rows(html: str, testid: str) -> dict[str, str]:
    """{number or plate: the row's text} of a round's table."""
    m = re.search(r'data-testid="' + testid + r'">(.*?)</table>', html, re.S)
    if not m:
        return {}
    out = {}
    for number, row in re.findall(r'<tr data-payer="([^"]+)">(.*?)</tr>', m.group(1), re.S):
        out[number] = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
    return out


def my_round(client: Any, setting: Setting) -> list[str]:
    r = client.get("/api/v1/collectors/me/round", headers=setting.headers)
    assert r.status_code == 200, r.text
    return [x["registration"] or x["member_number"] for x in r.json()["items"]]


def test_a_treasurer_adds_payers_by_number_and_plate_sees_their_figures_and_removes_one(
    client, setting, engine
) -> None:  # type: ignore[no-untyped-def]
    web = signed_in(client, setting)
    cid = setting.collector_id
    index = web.get("/web/collectors")
    assert index.status_code == 200
    assert f'href="/web/collectors/{cid}"' in index.text and "collector key" in index.text
    assert 'href="/web/collectors" aria-current="page"' in index.text  # in the navigation

    url = f"/web/collectors/{cid}"
    page = web.get(url)
    assert page.status_code == 200 and "No payer on this round yet." in page.text
    assert "Member numbers or plates" in page.text
    # case, spaces and dashes set aside; commas or lines; a payer typed twice counts once
    typed = "bus 1\nm002, M-003\r\nm-002"
    add = {"payers": typed, "form_key": form_key(page.text, url + "/round/add")}
    r = web.post(url + "/round/add", add, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == url + "#round"
    # the same form sent again (a double click) writes nothing more
    again = web.post(url + "/round/add", add, follow_redirects=False)
    assert again.status_code == 303
    assert count(engine) == 3

    page = web.get(url)
    assert "Added to the round: 3." in page.text
    own = rows(page.text, "own-round")
    assert list(own) == ["BUS-1", "M-002", "M-003"]  # units first, then members by number
    # BUS-1: today's 50.00 unpaid, two days before it overdue, its first day unpaid
    assert "DOP 50.00 DOP 100.00 —" in own["BUS-1"]
    assert LONG_NAME in own["M-003"] and "DOP 0.00 DOP 0.00" in own["M-003"]
    assert '<dd data-testid="on-round">3</dd>' in page.text

    # M-002 leaves the round
    member_2 = setting.book.members["M-002"]
    remove = {"payer": f"member:{member_2}", "form_key": form_key(page.text, url + "/round/remove")}
    r = web.post(url + "/round/remove", remove, follow_redirects=False)
    assert r.status_code == 303
    page = web.get(url)
    assert "Removed from the round: M-002." in page.text
    assert list(rows(page.text, "own-round")) == ["BUS-1", "M-003"]
    assert count(engine) == 2
    # what the collector's app downloads is what the page set
    assert my_round(client, setting) == ["BUS-1", "M-003"]
    index = web.get("/web/collectors")
    assert re.search(rf'{cid}">collector key</a>.*?data-label="Payers on its round">2<', index.text)


def test_a_group_round_reaches_its_collectors_and_their_pages(client, setting, engine) -> None:  # type: ignore[no-untyped-def]
    web = signed_in(client, setting)
    cid = setting.collector_id
    url = f"/web/collectors/{cid}"
    web.get(url)
    group = "Ruta 5/Norte"  # a slash and a space: the address still names it
    r = web.post(url + "/group", {"group": f"  {group} "}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == url
    page = web.get(url)
    assert f"collector key is in the group {group} now." in page.text
    group_url = "/web/collector-groups/Ruta%205/Norte"
    assert f'<a href="{group_url}">{group}</a>' in page.text
    assert "No payer on the group's round yet." in page.text

    group_page = web.get(group_url)
    assert group_page.status_code == 200 and f"Group {group}" in group_page.text
    assert f'href="/web/collectors/{cid}">collector key</a>' in group_page.text
    action = "/web/collector-groups/Ruta%205/Norte/round/add"
    add = {"payers": "M-001, bus-1", "form_key": form_key(group_page.text, action)}
    r = web.post(action, add, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/web/collector-groups/Ruta%205/Norte#round"
    group_page = web.get(r.headers["location"].split("#")[0])
    assert list(rows(group_page.text, "own-round")) == ["BUS-1", "M-001"]
    assert count(engine, f"collector_group = '{group}'") == 2

    # the collector's page: its own round (empty) and, apart, its group's payers
    web.post(
        url + "/round/add",
        {"payers": "M-002", "form_key": form_key(web.get(url).text, url + "/round/add")},
    )
    page = web.get(url)
    assert list(rows(page.text, "own-round")) == ["M-002"]
    assert list(rows(page.text, "group-round")) == ["BUS-1", "M-001"]
    assert "<button" not in page.text.split('data-testid="group-round"')[1].split("</table>")[0]
    assert '<dd data-testid="on-round">3</dd>' in page.text
    assert my_round(client, setting) == ["BUS-1", "M-001", "M-002"]
    index = web.get("/web/collectors")
    assert re.search(r"Ruta 5/Norte</a></td><td[^>]*>1</td><td[^>]*>2</td>", index.text)

    # removed from the group's round; the collector leaves the group
    remove = {
        "payer": f"unit:{setting.book.units['BUS-1']}",
        "form_key": form_key(group_page.text, "/web/collector-groups/Ruta%205/Norte/round/remove"),
    }
    r = web.post(
        "/web/collector-groups/Ruta%205/Norte/round/remove", remove, follow_redirects=False
    )
    assert r.status_code == 303
    web.post(url + "/group", {"group": ""}, follow_redirects=False)
    page = web.get(url)
    assert "collector key is in no group now." in page.text
    assert 'data-testid="group">none<' in page.text and "group-round" not in page.text
    assert my_round(client, setting) == ["M-002"]
    assert count(engine, f"collector_group = '{group}'") == 1


def test_an_unknown_or_ambiguous_plate_is_named_and_nothing_is_written(
    client, setting, engine, session_factory
) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(session_factory, setting.book.org_id) as s:
        # a unit whose plate reads like member M-001's number
        make_unit(s, setting.book, "M 001", [], owner=None)
    web = signed_in(client, setting)
    url = f"/web/collectors/{setting.collector_id}"
    page = web.get(url)
    typed = "BUS-1\nZZ-999\nm001, qq 1"
    r = web.post(
        url + "/round/add", {"payers": typed, "form_key": form_key(page.text, url + "/round/add")}
    )
    assert r.status_code == 422
    assert "No member or transport unit has this number or plate: ZZ-999 and qq 1." in r.text
    assert "These name more than one payer: m001." in r.text
    assert 'aria-invalid="true"' in r.text and ">BUS-1\nZZ-999\nm001, qq 1</textarea>" in r.text
    assert 'href="#f-payers"' in r.text  # the summary leads to the field
    assert count(engine) == 0  # BUS-1 was good, but nothing is written while any is wrong
    assert my_round(client, setting) == []
    # nothing typed
    r = web.post(
        url + "/round/add", {"payers": " , ", "form_key": form_key(r.text, url + "/round/add")}
    )
    assert r.status_code == 422 and "Enter at least one member number or plate." in r.text
    # a group name too long
    r = web.post(url + "/group", {"group": "x" * 121})
    assert r.status_code == 422 and "This is too long." in r.text
    assert web.get("/web/collector-groups/" + "x" * 121).status_code == 404


def test_an_auditor_sees_rounds_without_forms_and_a_collector_is_refused(
    client, setting, engine
) -> None:  # type: ignore[no-untyped-def]
    cid = setting.collector_id
    url = f"/web/collectors/{cid}"
    web = signed_in(client, setting)
    page = web.get(url)
    web.post(
        url + "/round/add", {"payers": "BUS-1", "form_key": form_key(page.text, url + "/round/add")}
    )
    web.post(url + "/group", {"group": "north"})
    assert count(engine) == 1

    auditor = signed_in(client, setting, "auditor")
    for path in (url, "/web/collector-groups/north", "/web/collectors"):
        r = auditor.get(path)
        assert r.status_code == 200, path
        # only the page's own two forms: the language menu and sign-out
        assert r.text.count('method="post"') == 2, path
        assert "Add to the round" not in r.text and ">Remove<" not in r.text
    assert "BUS-1" in rows(auditor.get(url).text, "own-round")
    for path, data in (
        (url + "/round/add", {"payers": "M-001"}),
        (url + "/round/remove", {"payer": f"unit:{setting.book.units['BUS-1']}"}),
        (url + "/group", {"group": "south"}),
        ("/web/collector-groups/north/round/add", {"payers": "M-001"}),
    ):
        assert auditor.post(path, data).status_code == 403, path
    assert count(engine) == 1

    # an admin may change rounds, as through the API
    admin = signed_in(client, setting, "admin")
    page = admin.get(url)
    assert "Add to the round" in page.text

    collector = signed_in(client, setting, "collector")
    refused = collector.get("/web/handovers")  # another treasurer's page
    assert refused.status_code == 403
    title = re.search(r"<h1>(.*?)</h1>", refused.text, re.S)
    assert title
    for path in ("/web/collectors", url, "/web/collector-groups/north"):
        r = collector.get(path)
        assert r.status_code == 403 and title.group(0) in r.text, path
    r = collector.post(url + "/round/add", {"payers": "M-001"})
    assert r.status_code == 403
    assert 'href="/web/collectors"' not in collector.get("/web/").text  # not in its menu
    assert count(engine) == 1

    # no such collector: not found, as a page
    web = signed_in(client, setting)
    missing = web.get("/web/collectors/00000000-0000-7000-8000-000000000000")
    assert missing.status_code == 404 and "<h1>" in missing.text


def test_the_collector_page_fits_a_phone(browser, live_server, client, setting) -> None:  # type: ignore[no-untyped-def]
    web = signed_in(client, setting)
    url = f"/web/collectors/{setting.collector_id}"
    page = web.get(url)
    web.post(
        url + "/round/add",
        {"payers": "BUS-1, M-001, M-003", "form_key": form_key(page.text, url + "/round/add")},
    )
    web.post(url + "/group", {"group": "Sindicato de Transporte Ruta Norte"})
    g = "/web/collector-groups/Sindicato%20de%20Transporte%20Ruta%20Norte"
    web.post(
        g + "/round/add",
        {"payers": "M-002", "form_key": form_key(web.get(g).text, g + "/round/add")},
    )

    context = browser.new_context(
        base_url=live_server, locale="en-GB", viewport={"width": 360, "height": 740}
    )
    try:
        phone = context.new_page()
        sign_in_browser(phone, setting.web_org)
        phone.goto(url)
        assert phone.get_by_test_id("own-round").is_visible()
        assert phone.get_by_text(LONG_NAME).is_visible()
        problems = phone.evaluate(MEASURE, 360)
        assert problems == [], problems
        assert phone.evaluate("document.documentElement.scrollWidth") <= 360
        # the refused form too
        phone.get_by_label("Member numbers or plates").fill("ZZ-999-NOT-A-PLATE-AT-ALL-REALLY")
        phone.get_by_role("button", name="Add", exact=True).click()
        phone.wait_for_load_state()
        assert phone.get_by_text("ZZ-999-NOT-A-PLATE-AT-ALL-REALLY").first.is_visible()
        problems = phone.evaluate(MEASURE, 360)
        assert problems == [], problems
    finally:
        context.close()
