"""The services' refusals, said in the user's language.

Services raise `DomainError`s whose titles and messages are English (they are also the API's
problem+json). The pages translate them here, without changing the services: each message
below is the English text a service writes, with its variable parts as `%(name)s`; it is both
the pattern that recognises the service's text and the gettext message id (so it sits in the
catalogues with the pages' other messages). A service text that matches none is shown as it
is, in English, rather than guessed.

Per-row results of uploads (members, receipts, collection sheets) carry Pydantic's own
messages for a cell that does not fit the schema ("Field required", "Input should be 'cash',
'mobile_money' or 'bank'"): PYDANTIC says those in the user's language, recognised by the
message templates pydantic-core itself renders for each error type (not by typed English).
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

from babel.lists import format_list
from pydantic_core import PydanticKnownError

from app.core.errors import DomainError
from app.web import i18n
from app.web.vocabulary import N_, SCHEME_KINDS, STATUSES

# problem+json titles, by problem type
TITLES = {
    "bad-request": N_("Bad request"),
    "validation-error": N_("The request is not valid"),
    "not-found": N_("Not found"),
    "conflict": N_("Conflict with the current state"),
    "idempotency-key-reused": N_("This form was already sent with other values"),
    "unauthorized": N_("Authentication required"),
    "forbidden": N_("Not allowed for this role"),
    "payload-too-large": N_("Too large"),
    "fund-unreachable": N_("The fund did not take the batch"),
}

# Pydantic's error types in a row of an upload, said in the user's language. `%(expected)s`
# is the list of allowed values, joined with the language's "or".
PYDANTIC = {
    "missing": N_("is required"),
    "string_type": N_("is required"),
    "string_too_short": N_("at least %(min_length)s characters"),
    "string_too_long": N_("at most %(max_length)s characters"),
    "string_pattern_mismatch": N_("has characters that are not allowed here"),
    "literal_error": N_("must be one of %(expected)s"),
    "enum": N_("must be one of %(expected)s"),
    "date_parsing": N_("enter a date as YYYY-MM-DD"),
    "date_from_datetime_parsing": N_("enter a date as YYYY-MM-DD"),
    "date_type": N_("enter a date as YYYY-MM-DD"),
    "datetime_parsing": N_("enter a date and time such as 2026-11-21T09:30-04:00"),
    "datetime_from_date_parsing": N_("enter a date and time such as 2026-11-21T09:30-04:00"),
    "datetime_type": N_("enter a date and time such as 2026-11-21T09:30-04:00"),
    "timezone_aware": N_("must carry a UTC offset"),
    "uuid_parsing": N_("is not a valid id"),
    "uuid_type": N_("is not a valid id"),
    "int_parsing": N_("enter a whole number"),
    "bool_parsing": N_("enter true or false"),
    "dict_type": N_("must be an object"),
}

MESSAGES = [
    # common field messages
    N_("must be greater than zero"),
    N_("must not be null"),
    N_("is in the future"),
    N_("must carry a UTC offset"),
    N_("must not be before %(day)s"),
    N_("must not be before starts_on"),
    N_("must not be before from"),
    N_("no such member in this organisation"),
    N_("no such unit in this organisation"),
    N_("no such transport unit in this organisation"),
    N_("no such collector in this organisation"),
    N_("no unit %(registration)s"),
    N_("no such account in this organisation"),
    # a payer kind other than the two above (after them: %(payer)s would take "member" in)
    N_("no such %(payer)s in this organisation"),
    N_("receipts are taken in %(currency)s"),
    N_("no organisation %(code)s"),
    N_("organisation %(code)s already exists"),
    N_("2-32 capital letters, digits, '-' or '_'"),
    # an organisation's time zone and country
    N_("unknown time zone %(name)s: give an IANA name such as America/Santo_Domingo"),
    N_("unknown country %(code)s: give an ISO 3166 code such as DO"),
    N_("country %(country)s has several time zones (%(zones)s): give the time zone"),
    N_("no format %(format)s"),
    # money
    N_("enter an amount"),
    N_("use one decimal sign, e.g. %(example)s"),
    N_('amount must be a decimal string such as "150.00"'),
    N_('%(text)s is not a decimal amount such as "150.00"'),
    N_("%(text)s is not a decimal amount"),
    N_("%(currency)s has no minor unit: amounts are whole numbers"),
    N_("%(currency)s allows at most %(count)s decimals"),
    N_("amount must not be negative"),
    N_("amount is beyond the supported range"),
    N_("at most %(count)s rows per file; split it"),
    N_("has more than %(count)s rows; split it"),
    N_("at most %(count)s characters"),  # (before the next: its %(amount)s takes any words)
    N_("at most %(amount)s"),
    # members and units
    N_("member number %(number)s is taken"),
    N_("affiliation number %(number)s at %(fund)s is held by member %(holder)s"),
    N_("no fund %(code)s in this organisation"),
    N_("an affiliation number has 1-%(count)s characters"),
    N_("a unit with registration %(registration)s exists already"),
    N_("a unit has one owner"),
    N_("this member is listed twice"),
    N_("differs from the crew member whose role is owner"),
    N_("the owner is listed in the crew with another role"),
    # funds
    N_("a fund's currency must be the organisation's (%(currency)s)"),
    N_("a fund with code %(code)s already exists"),
    N_("fund adapter %(adapter)s is installed but does not load: %(error)s"),
    N_("no fund adapter named %(adapter)s (known: %(names)s)"),
    N_(
        "the custody account still holds money for this fund; custody cannot be turned off "
        "until it is paid out"
    ),
    # enrolments and harvests
    N_("%(scheme)s is daily per unit: it enrols transport units"),
    N_("%(scheme)s is %(kind)s: it enrols members"),
    N_("%(scheme)s has no version in force on %(day)s (its first is effective %(first)s)"),
    N_("%(scheme)s has no version in force on %(day)s"),
    N_("%(scheme)s takes a share of the member's income: give it"),
    N_("%(scheme)s does not take a share of income"),
    N_("%(scheme)s takes a share of income: it cannot be removed"),
    # (the "to" one first: the other's %(start)s would take "... to ..." in)
    N_(
        "already enrolled in %(scheme)s from %(start)s to %(end)s (enrolment %(id)s); periods "
        "would be owed twice"
    ),
    N_(
        "already enrolled in %(scheme)s from %(start)s (enrolment %(id)s); periods would be owed twice"
    ),
    N_(
        "dues of this enrolment exist for periods through %(day)s; an end before that would "
        "rewrite them (dues are never rewritten)"
    ),
    N_(
        "the due for the period ending %(day)s was prorated to the old end; enrol again from "
        "the next day instead of moving the end"
    ),
    N_("the new end overlaps enrolment %(id)s in %(scheme)s"),
    N_("no scheme %(scheme)s in this organisation"),
    N_("scheme %(scheme)s is %(kind)s, not per_harvest"),
    N_("member %(number)s is not enrolled in %(scheme)s on %(day)s"),
    N_("%(scheme)s takes a share of the declared harvest value: give it"),
    N_("too small: the due would be zero"),
    N_("%(scheme)s has no version"),
    N_("%(scheme)s takes a share of the monthly income: give it"),
    N_("%(scheme)s takes a share of the expected harvest value: give it"),
    N_("no scheme %(code)s"),
    N_("a harvest of member %(number)s in %(scheme)s on %(day)s is recorded already"),
    # receipts and hand-overs
    N_("receipt %(number)s was already reversed"),
    N_(
        "member %(number)s has no enrolment of their own: their contributions are owed on "
        "unit %(units)s, where they are covered crew; post the receipt to the unit (unit_id)"
    ),
    N_(
        "this unit has no covered crew member and no owner to count its contributions for; "
        "add its crew first"
    ),
    N_(
        "the payer's prepaid credit was moved outside receipts (e.g. by a manual journal "
        "entry): this receipt's credit cannot be taken back; correct that entry first"
    ),
    N_(
        "the journal entry of receipt %(number)s was reversed directly in the journal; the "
        "receipt cannot be reversed again"
    ),
    N_("must be an asset account (bank or treasury)"),
    N_("is the collector's own cash account"),
    N_("holds %(held)s, not %(currency)s"),
    N_("the collector's cash account holds %(held)s minor units, less than this"),
    N_("a collector hands over its own cash only"),
    N_("the caller is not a collector"),
    N_(
        "this receipt's contributions are in draft remittance batch %(reference)s: cancel "
        "that batch first (its lines become owed again), then reverse"
    ),
    N_(
        "this receipt's contributions are in remittance batch %(reference)s, which is "
        "%(status)s: money sealed for a fund cannot be taken back by reversing the receipt"
    ),
    # uploads
    N_("is not UTF-8 text"),
    N_("the file is not UTF-8 text"),
    N_("the file is empty"),
    N_("is empty: the first row must name the columns"),
    N_("the file is empty: the first line names the columns"),
    N_("the header lacks column(s): %(columns)s"),
    N_("the header has no column %(column)s"),
    N_("a column is named twice in the header"),
    N_("name the payer: a member_number, member_id, unit_registration or unit_id column"),
    N_("no collector named %(name)s"),
    N_("a collector imports only its own receipts"),
    N_("name one payer per row"),
    N_("more values than the header has columns"),
    N_("empty row"),
    N_("exists already; not changed"),
    N_("%(number)s appears already on line %(line)s"),
    N_("the header names column %(column)s twice"),
    N_("unknown column(s) %(columns)s; allowed: %(allowed)s"),
    N_("unknown column %(column)s; the columns are %(columns)s"),
    N_("is not valid CSV: %(error)s"),
    N_("column %(column)s names no fund of this organisation"),
    N_(
        "another request created some of these members meanwhile; nothing was imported: "
        "send the file again (existing members come back as duplicates)"
    ),
    # a row of an upload or an item of a sheet
    N_("a scheme of this payer splits to fund %(fund)s, which does not exist"),
    N_("give member_id or unit_id: exactly one of them"),
    N_("repeats an earlier item of this request, which was rejected"),
    N_("each receipt must be a JSON object"),
    N_("text must not contain the NUL character (U+0000)"),
    # hand-overs and reversals (issue 11)
    N_(
        "%(amount)s minor units is more than %(factor)s times the amount handed over; check "
        "the count"
    ),
    N_("a reversal needs a reason"),
    # entries and accounts a service owns (issue 11)
    N_(
        "account %(code)s belongs to %(owner)s: a manual entry may touch only accounts opened "
        "for manual use"
    ),
    N_("must be a bank or treasury account; account %(code)s belongs to %(owner)s"),
    N_("this entry belongs to %(owner)s: %(remedy)s"),
    N_("codes starting %(prefix)s are kept for the accounts of %(owner)s"),
    # remittances and affiliations
    N_("no fund with code %(code)s in this organisation"),
    N_("batch %(reference)s is %(status)s: only a batch that is %(allowed)s can be %(action)s"),
    N_("nothing is owed to fund %(fund)s for periods ending on or before %(day)s"),
    N_("fund %(fund)s's adapter %(adapter)s is not installed: installed are %(names)s"),
    N_("fund %(fund)s's adapter %(adapter)s is not installed"),
    N_("every line of batch %(reference)s was rejected: nothing to settle"),
    N_("line %(line)s was already %(status)s; it cannot now be %(wanted)s"),
    N_("no line %(line)s in batch %(reference)s"),
    N_("%(line)s is listed twice"),
    N_("a custody fund settles into its custody account at the intermediary"),
    N_("custody fund %(fund)s has no custody account"),
    N_("must be an asset account in %(currency)s"),
    N_("not a well-formed XML document: %(error)s"),
    N_("expected an ISO 20022 pain.002 Document (urn:iso:std:iso:20022:tech:xsd:pain.002.001.xx)"),
    N_("no CstmrPmtStsRpt in the document"),
    N_("a TxInfAndSts lacks OrgnlEndToEndId or TxSts"),
    N_("listed twice"),
    N_("no member %(id)s"),
    N_("already affiliated with %(fund)s as %(number)s"),
    N_("member %(id)s is already waiting for %(fund)s in batch %(reference)s"),
    N_("affiliation batch %(reference)s is %(status)s: only an open one is submitted"),
    N_("not in batch %(reference)s"),
    N_("an accepted affiliation needs its number"),
    N_("a rejection needs a reason"),
    N_("member %(id)s was already %(status)s"),
    N_("fund %(fund)s's commission_per_affiliation is not valid: %(error)s"),
    N_(
        "affiliation batch %(reference)s is %(status)s: its commissions are paid once the "
        "fund has answered for every member"
    ),
    N_("no commission was booked for affiliation batch %(reference)s"),
    N_("the commissions of affiliation batch %(reference)s were already paid on %(day)s"),
    # accounts and journal entries
    N_("an account with code %(code)s already exists"),
    N_("account code %(code)s is given twice"),
    N_("an entry needs at least two postings"),
    N_("a posting's amount must not be zero"),
    # (one currency first: the last one's %(amounts)s would take its words in)
    N_("postings do not balance (%(currency)s debits exceed credits by %(amount)s minor units)"),
    N_("postings do not balance (%(currency)s credits exceed debits by %(amount)s minor units)"),
    N_("postings do not balance (%(amounts)s minor units)"),
    N_("this entry is itself a reversal and cannot be reversed"),
    N_("entry %(id)s was already reversed by entry %(by)s"),
    N_("entry %(id)s was already reversed"),
    # forms sent twice (the form's key is the write's Idempotency-Key)
    N_("this Idempotency-Key was already used with a different request; use a new key"),
    N_("a request with this Idempotency-Key is still in progress; retry shortly"),
    N_("a request with this Idempotency-Key is in progress; retry"),
    N_("1-255 printable characters"),
    # users and API keys
    N_("1-64 letters, digits, '.', '_', '@' or '-'"),
    N_("at least %(count)s characters"),
    N_("one of %(roles)s"),
    N_("a fund_office principal is bound to one fund"),
    N_("only a fund_office principal is bound to a fund"),
    N_("user %(name)s already exists in this organisation"),
    N_("1-100 characters"),
    N_("API key %(name)s was already revoked"),
    N_("no API key %(id)s"),
    # not found
    N_("no member %(id)s"),
    N_("no transport unit %(id)s"),
    N_("no enrolment %(id)s"),
    N_("no receipt %(id)s"),
    N_("no collector %(id)s"),
    N_("no hand-over %(id)s"),
    N_("no remittance batch %(id)s"),
    N_("no affiliation batch %(id)s"),
    N_("no fund %(code)s"),
    N_("no account %(id)s"),
    N_("no journal entry %(id)s"),
]

_PARAM = re.compile(r"%\\\((\w+)\\\)s")


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[re.Pattern[str], str]]:
    out = []
    for msgid in dict.fromkeys(MESSAGES):
        seen: set[str] = set()

        def group(m: re.Match[str], seen: set[str] = seen) -> str:
            name = m.group(1)
            if name in seen:  # a name used twice must say the same thing twice
                return f"(?P={name})"
            seen.add(name)
            return f"(?P<{name}>.+?)"

        out.append((re.compile(_PARAM.sub(group, re.escape(msgid)), re.DOTALL), msgid))
    # the most specific first (most words of its own): "no fund with code %(code)s ..." before
    # "no fund %(code)s ...", whose %(code)s would take "with code X" in and leave it English
    return sorted(out, key=lambda p: -len(re.sub(r"%\(\w+\)s", "", p[1])))


_FIELD = re.compile(r"\\\{(\w+)\\\}")


@lru_cache(maxsize=1)
def _pydantic_patterns() -> list[tuple[re.Pattern[str], str]]:
    """(pattern of Pydantic's message for an error type, the type), from pydantic-core's own
    templates: `String should have at most {max_length} character{expected_plural}`."""
    out: list[tuple[re.Pattern[str], str, int]] = []
    for kind in PYDANTIC:
        try:
            template = PydanticKnownError(kind, _SAMPLE_CONTEXT.get(kind)).message_template  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError):  # a type this pydantic-core no longer has
            continue
        regex = _FIELD.sub(lambda m: f"(?P<{m.group(1)}>.*?)", re.escape(template))
        out.append((re.compile(regex, re.DOTALL), kind, len(re.sub(r"\{\w+\}", "", template))))
    # the most specific first: "Input should be a valid date or datetime, {error}" before
    # "Input should be {expected}"
    return [(p, kind) for p, kind, _ in sorted(out, key=lambda t: -t[2])]


# the context some error types need before pydantic-core gives their template
_SAMPLE_CONTEXT: dict[str, dict[str, object]] = {
    "string_too_short": {"min_length": 1},
    "string_too_long": {"max_length": 1},
    "string_pattern_mismatch": {"pattern": "x"},
    "literal_error": {"expected": "x"},
    "enum": {"expected": "x"},
    "date_parsing": {"error": "x"},
    "date_from_datetime_parsing": {"error": "x"},
    "datetime_parsing": {"error": "x"},
    "datetime_from_date_parsing": {"error": "x"},
    "uuid_parsing": {"error": "x"},
}


def _say_pydantic(locale: str, text: str) -> str | None:
    """Pydantic's message in `locale`, or None if `text` is not one of PYDANTIC's."""
    for pattern, kind in _pydantic_patterns():
        m = pattern.fullmatch(text)
        if m is None:
            continue
        params = dict(m.groupdict())
        if "expected" in params:
            choices = re.findall(r"'([^']*)'", params["expected"]) or [params["expected"]]
            params["expected"] = format_list(
                [f"\u00ab\u00a0{c}\u00a0\u00bb" if locale == "fr" else f"'{c}'" for c in choices],
                style="or",
                locale=locale,
            )
        translated = i18n.gettext(locale, PYDANTIC[kind])
        try:
            return translated % params if "%(" in translated else translated
        except (KeyError, ValueError, TypeError):
            return None
    return None


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _word(locale: str, value: str) -> str:
    """A part of a service's message, for `locale`: a status word translated, a date formatted."""
    words = {**STATUSES, **SCHEME_KINDS}
    if value in words:
        return i18n.gettext(locale, words[value])
    if _ISO_DAY.fullmatch(value):
        try:
            return i18n.format_date(date.fromisoformat(value), locale)
        except ValueError:
            return value
    return value


def say(locale: str, text: str) -> str:
    """A service's message in `locale` (as it is if it is not one of MESSAGES). Status words
    inside it (`sealed`, `accepted`, ...) are translated too."""
    if not text or locale == i18n.DEFAULT_LOCALE:
        return text
    for pattern, msgid in _patterns():
        m = pattern.fullmatch(text)
        if m is None:
            continue
        params = {k: _word(locale, v) for k, v in m.groupdict().items()}
        translated = i18n.gettext(locale, msgid)
        try:
            return translated % params if params else translated
        except (KeyError, ValueError, TypeError):
            return text
    return _say_pydantic(locale, text) or text


def title(locale: str, exc: DomainError) -> str:
    """The problem's title in `locale`."""
    msgid = TITLES.get(exc.slug)
    return i18n.gettext(locale, msgid) if msgid else exc.title


def detail(locale: str, exc: DomainError) -> str:
    """What the service said, in `locale`: its field messages (the detail otherwise)."""
    messages = [
        say(locale, str(e.get("message", ""))) for e in exc.errors or [] if e.get("message")
    ]
    if messages:
        return "; ".join(dict.fromkeys(messages))
    field, sep, rest = exc.detail.partition(": ")
    if sep and re.fullmatch(r"[\w.\[\]]+", field):
        return say(locale, rest)
    return say(locale, exc.detail)
