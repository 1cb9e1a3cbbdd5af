"""How /collect/ is served (issue 13): the shell and its files compressed, nothing but the app's
own kinds of files, the manifest and service worker where a browser looks for them, and the
app's texts in en/fr/es from the one gettext catalogue (its own strings and every code)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.web.collect.strings import STRINGS
from app.web.routes.collect import APP_DIR

_T_CALL = re.compile(r"""\bt\(\s*(["'`])((?:\\.|(?!\1).)*)\1""")


def test_the_app_is_served_under_collect_compressed(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/collect", follow_redirects=False)
    assert r.status_code == 308 and r.headers["location"].endswith("/collect/")
    shell = client.get("/collect/", headers={"Accept-Encoding": "gzip"})
    assert shell.status_code == 200 and shell.headers["content-type"].startswith("text/html")
    assert shell.headers["content-encoding"] == "gzip"
    assert shell.headers["cache-control"] == "no-cache"
    assert 'rel="manifest"' in shell.text
    manifest = client.get("/collect/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    body = manifest.json()
    assert body["start_url"] == "/collect/" and body["display"] == "standalone"
    assert {i["sizes"] for i in body["icons"] if i["type"] == "image/png"} >= {"192x192", "512x512"}
    for icon in body["icons"]:
        assert client.get(icon["src"]).status_code == 200, icon
    worker = client.get("/collect/sw.js")
    assert worker.status_code == 200 and "javascript" in worker.headers["content-type"]


@pytest.mark.parametrize(
    "path", ["strings.py", "__init__.py", "__pycache__/strings.cpython-311.pyc"]
)
def test_the_apps_folder_serves_no_python(client, path: str) -> None:  # type: ignore[no-untyped-def]
    assert client.get(f"/collect/{path}").status_code == 404


def test_the_apps_texts_come_from_the_catalogue(client) -> None:  # type: ignore[no-untyped-def]
    fr = client.get("/collect/i18n/fr.json", headers={"Accept-Encoding": "gzip"})
    assert fr.status_code == 200 and fr.headers["content-encoding"] == "gzip"
    body = fr.json()
    assert body["locale"] == "fr"
    assert set(body["ui"]) == set(STRINGS)
    assert body["ui"]["Sync now"] != "Sync now"
    assert "aucun" in body["codes"]["sheet.unknown_payer"].lower()
    assert "%(payer)s" in body["codes"]["sheet.unknown_payer"]
    en = client.get("/collect/i18n/en.json").json()
    assert en["ui"]["Sync now"] == "Sync now"
    assert not any(code.startswith("test.") for code in en["codes"])
    assert client.get("/collect/i18n/xx.json").status_code == 404


@pytest.mark.parametrize("locale", ["fr", "es"])
def test_every_string_of_the_app_is_translated(client, locale: str) -> None:  # type: ignore[no-untyped-def]
    ui = client.get(f"/collect/i18n/{locale}.json").json()["ui"]
    untranslated = [s for s, said in ui.items() if said == s and any(c.isalpha() for c in s)]
    # a few words are the same in both languages (e.g. "Total"): none of the app's are
    assert untranslated == []


def test_every_text_the_script_says_is_in_the_catalogue() -> None:
    said: set[str] = set()
    for path in sorted(Path(APP_DIR, "js").glob("*.js")):
        for _, text in _T_CALL.findall(path.read_text(encoding="utf-8")):
            said.add(text.encode().decode("unicode_escape"))
    assert said, "the app says nothing through t()?"
    assert sorted(said - set(STRINGS)) == []
