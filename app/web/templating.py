"""Jinja2 environments, one per language, with Babel's formatting as filters."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from app.core.clock import DEFAULT_ZONE
from app.web import i18n, problems, vocabulary
from app.web.session import CSRF_FIELD, load_session, save_session

TEMPLATE_DIR = Path(__file__).parent / "templates"
PREFIX = "/web"


def _zone(ctx: Context) -> str:
    """The time zone instants are shown in: the signed-in user's organisation's."""
    return getattr(ctx.get("who"), "time_zone", DEFAULT_ZONE)


@lru_cache(maxsize=len(i18n.LOCALES))
def environment(locale: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html", "svg", "xml"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    tr = i18n.translations(locale)
    env.install_gettext_translations(tr, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(
        money=lambda minor, currency: i18n.format_money(minor, currency, locale),
        amount=lambda minor, currency: i18n.format_amount(minor, currency, locale),
        amount_input=i18n.amount_input_value,
        # instants in the signed-in organisation's time zone (`who.time_zone`)
        date=pass_context(
            lambda ctx, value, fmt="medium": i18n.format_date(value, locale, fmt, _zone(ctx))
        ),
        datetime=pass_context(
            lambda ctx, value, fmt="medium": i18n.format_datetime(value, locale, fmt, _zone(ctx))
        ),
        local_input=pass_context(lambda ctx, value: i18n.local_input(value, _zone(ctx))),
        number=lambda value: i18n.format_number(value, locale),
        # option lists for select(): codes named by a function, or rows by two attributes
        options=lambda codes, namer: [(c, namer(c)) for c in codes],
        pairs=lambda rows, key, label: [(str(getattr(r, key)), getattr(r, label)) for r in rows],
    )

    def word(table: dict[str, str]) -> Any:
        return lambda code: tr.gettext(table[code]) if code in table else code

    def nav_items(who: Any) -> list[tuple[str, str, tuple[str, ...]]]:
        return [
            (href, tr.gettext(label), roles)
            for href, label, roles in vocabulary.NAV
            if who is not None and who.role.value in roles
        ]

    env.globals.update(
        role_name=word(vocabulary.ROLES),
        status_name=word(vocabulary.STATUSES),
        account_type_name=word(vocabulary.ACCOUNT_TYPES),
        channel_name=word(vocabulary.CHANNELS),
        crew_role_name=word(vocabulary.CREW_ROLES),
        fund_kind_name=word(vocabulary.FUND_KINDS),
        scheme_kind_name=word(vocabulary.SCHEME_KINDS),
        statement_kind=word(vocabulary.STATEMENT_KINDS),
        group_name=word(vocabulary.GROUPS),
        period_name=word(vocabulary.PERIODS),
        nav_items=nav_items,
        service_text=lambda error: problems.say_field(locale, error),
        PREFIX=PREFIX,
        LOCALES=i18n.LOCALES,
        LOCALE_NAMES=i18n.LOCALE_NAMES,
        CSRF_FIELD=CSRF_FIELD,
        locale=locale,
    )
    return env


def request_locale(request: Request) -> str:
    """The signed-in user's language, else the one chosen in this browser, else Accept-Language."""
    chosen = getattr(request.state, "web_locale", None)
    if isinstance(chosen, str):
        return chosen
    session = load_session(request)
    if session.locale:
        return i18n.normalise_locale(session.locale)
    return i18n.negotiate(request.headers.get("accept-language"))


def translate(request: Request, message: str, **params: Any) -> str:
    """A message in the request's language, with %(name)s parameters filled in."""
    text = i18n.gettext(request_locale(request), message)
    return text % params if params else text


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status: int = 200,
    cache: str = "no-store",
) -> HTMLResponse:
    locale = request_locale(request)
    session = load_session(request)
    ctx: dict[str, Any] = {
        "request": request,
        "csrf_token": session.csrf,
        "who": getattr(request.state, "web_user", None),
        "flashes": session.pop_flash(),
        "path": request.url.path,
    }
    ctx.update(context or {})
    html = environment(locale).get_template(template).render(ctx)
    response = HTMLResponse(html, status_code=status)
    response.headers["Cache-Control"] = cache
    response.headers["Content-Language"] = locale
    save_session(request, response)
    return response


def redirect(request: Request, url: str, status: int = 303) -> Response:
    response = RedirectResponse(url, status_code=status)
    save_session(request, response)
    return response
