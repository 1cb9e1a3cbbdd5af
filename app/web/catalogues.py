"""Keep the translation catalogues in step with the pages: `python -m app.web.catalogues`.

Extracts every marked message of app/ (the pages' templates, and the Python of every feature:
each `Template(code, text)` a service says) into locale/messages.pot,
then merges it into each language's messages.po (new messages arrive untranslated, messages
no longer used are dropped), and lists what is still untranslated. Exit status 1 if any is.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from app.web.i18n import DEFAULT_LOCALE, DOMAIN, LOCALE_DIR, LOCALES

ROOT = Path(__file__).resolve().parents[1]
METHODS = [
    ("web/templates/**.html", "jinja2"),
    ("**.py", "python"),
]
OPTIONS = {
    "web/templates/**.html": {
        "extensions": "jinja2.ext.i18n",
        "trim_blocks": "True",
        "lstrip_blocks": "True",
    }
}
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "N_": None,
    "translate": (2,),
    "Template": (2,),
}


def extract() -> Catalog:
    template = Catalog(project="coopledger", domain=DOMAIN, charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        ROOT, METHODS, options_map=OPTIONS, keywords=KEYWORDS
    ):
        if not message:
            continue
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def missing(locale: str) -> list[str]:
    """Messages of the pages that this language's catalogue leaves untranslated."""
    template = extract()
    with (LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    out = []
    for msg in template:
        if not msg.id:
            continue
        found = catalog.get(msg.id)
        if found is None or not found.string or found.fuzzy:
            out.append(str(msg.id))
    return out


def update() -> dict[str, list[str]]:
    template = extract()
    with (LOCALE_DIR / f"{DOMAIN}.pot").open("wb") as fh:
        write_po(fh, template, width=100, omit_header=False, sort_output=True)
    result = {}
    for locale in LOCALES:
        if locale == DEFAULT_LOCALE:
            continue
        path = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
        if path.exists():
            with path.open("rb") as fh:
                catalog = read_po(fh, locale=locale)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale=locale, domain=DOMAIN, project="coopledger", charset="utf-8")
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        with path.open("wb") as fh:
            write_po(fh, catalog, width=100, sort_output=True, include_previous=False)
        result[locale] = missing(locale)
    return result


def main() -> int:
    gaps = update()
    for locale, messages in gaps.items():
        print(f"{locale}: {len(messages)} untranslated")
        for m in messages:
            print(f"  {m!r}")
    return 1 if any(gaps.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
