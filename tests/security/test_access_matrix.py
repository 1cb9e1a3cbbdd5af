"""The access-control matrix: every route of the app, every role, another organisation's
token, an expired token and no token, against OUR expected policy (not read from the code).

A route missing from POLICY fails the test: whoever adds an endpoint says here who may call it.
"""

from __future__ import annotations

import re
import uuid

from fastapi.routing import APIRoute

from app.core.security import issue_access_token
from tests.conftest import TEST_SECRET
from tests.ledger.test_journal_api import entry, open_accounts
from tests.security.helpers import make_user, sign_in

PUBLIC = "public"
ADMIN, TREASURER, COLLECTOR, FUND_OFFICE, AUDITOR = (
    "admin",
    "treasurer",
    "collector",
    "fund_office",
    "auditor",
)
ROLES = (ADMIN, TREASURER, COLLECTOR, FUND_OFFICE, AUDITOR)
ALL = frozenset(ROLES)
BOOKS = frozenset({ADMIN, TREASURER, AUDITOR})  # read the books
DESK = frozenset({ADMIN, TREASURER})  # keep the registers
FIELD = BOOKS | {COLLECTOR}  # collectors look members up on the road
BATCH_READERS = BOOKS | {FUND_OFFICE}

POLICY: dict[tuple[str, str], frozenset[str] | str] = {
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("POST", "/api/v1/auth/token"): PUBLIC,
    ("GET", "/api/v1/auth/me"): ALL,
    # the caller's organisation (its time zone); an admin sets the zone
    ("GET", "/api/v1/organisation"): ALL,
    ("PATCH", "/api/v1/organisation"): frozenset({ADMIN}),
    # ledger
    ("POST", "/api/v1/accounts"): DESK,
    ("GET", "/api/v1/accounts"): BOOKS,
    ("GET", "/api/v1/accounts/{account_id}"): BOOKS,
    ("GET", "/api/v1/accounts/{account_id}/balance"): BOOKS,
    ("GET", "/api/v1/accounts/{account_id}/history"): BOOKS,
    ("POST", "/api/v1/journal"): frozenset({TREASURER}),
    ("GET", "/api/v1/journal"): BOOKS,
    ("GET", "/api/v1/journal/{entry_id}"): BOOKS,
    ("POST", "/api/v1/journal/{entry_id}/reverse"): frozenset({TREASURER}),
    # funds
    ("POST", "/api/v1/funds"): frozenset({ADMIN}),
    ("GET", "/api/v1/funds"): BOOKS,
    ("GET", "/api/v1/funds/{code}"): BOOKS,
    ("PATCH", "/api/v1/funds/{code}"): frozenset({ADMIN}),
    # members, units, enrolments, schemes, dues
    ("POST", "/api/v1/members"): DESK,
    ("GET", "/api/v1/members"): FIELD,
    ("POST", "/api/v1/members/import"): DESK,
    ("GET", "/api/v1/members/{member_id}"): FIELD,
    ("PATCH", "/api/v1/members/{member_id}"): DESK,
    ("GET", "/api/v1/members/{member_id}/dues"): FIELD,
    ("GET", "/api/v1/members/{member_id}/standing"): FIELD,
    ("GET", "/api/v1/members/{member_id}/statement"): FIELD,
    ("POST", "/api/v1/units"): DESK,
    ("GET", "/api/v1/units"): FIELD,
    ("GET", "/api/v1/units/{unit_id}"): FIELD,
    ("PATCH", "/api/v1/units/{unit_id}"): DESK,
    ("POST", "/api/v1/enrolments"): DESK,
    ("GET", "/api/v1/enrolments"): BOOKS,
    ("GET", "/api/v1/enrolments/{enrolment_id}"): BOOKS,
    ("PATCH", "/api/v1/enrolments/{enrolment_id}"): DESK,
    ("POST", "/api/v1/schemes"): DESK,
    ("GET", "/api/v1/schemes"): FIELD,
    ("GET", "/api/v1/schemes/{code}"): FIELD,
    ("GET", "/api/v1/schemes/{code}/quote"): FIELD,
    ("POST", "/api/v1/dues/generate"): DESK,
    ("GET", "/api/v1/dues"): BOOKS,
    ("POST", "/api/v1/harvests"): DESK,
    # collections
    ("GET", "/collect"): PUBLIC,  # leads to the collector app's files (/collect/, a mount)
    ("GET", "/api/v1/collectors/me"): frozenset({COLLECTOR}),
    ("GET", "/api/v1/collectors/me/round"): frozenset({COLLECTOR}),
    ("GET", "/api/v1/collectors/me/payers"): frozenset({COLLECTOR}),
    ("GET", "/api/v1/collectors/{collector_id}/round"): BOOKS,
    ("PUT", "/api/v1/collectors/{collector_id}/round"): DESK,
    ("GET", "/api/v1/collector-groups/{group}/round"): BOOKS,
    ("PUT", "/api/v1/collector-groups/{group}/round"): DESK,
    ("POST", "/api/v1/payment-channels"): frozenset({ADMIN}),
    ("GET", "/api/v1/payment-channels"): BOOKS,
    ("GET", "/api/v1/payment-channels/{code}"): BOOKS,
    ("POST", "/api/v1/payment-channels/{code}/statements"): DESK,
    ("GET", "/api/v1/payment-channels/{code}/report"): BOOKS,
    # a provider's notification: no bearer token, the channel's adapter authenticates it
    ("POST", "/api/v1/payment-channels/inbound/{token}"): PUBLIC,
    ("POST", "/api/v1/payment-channels/inbound/{token}/{step}"): PUBLIC,
    ("PUT", "/api/v1/payment-channels/inbound/{token}"): PUBLIC,
    ("PUT", "/api/v1/payment-channels/inbound/{token}/{step}"): PUBLIC,
    ("GET", "/api/v1/payment-notifications"): BOOKS,
    ("GET", "/api/v1/payment-notifications/{notification_id}"): BOOKS,
    ("POST", "/api/v1/payment-notifications/{notification_id}/match"): DESK,
    ("POST", "/api/v1/payment-notifications/{notification_id}/refund"): DESK,
    ("GET", "/api/v1/collectors"): BOOKS,
    ("GET", "/api/v1/collectors/{collector_id}"): BOOKS,
    ("PATCH", "/api/v1/collectors/{collector_id}"): DESK,
    ("POST", "/api/v1/handovers"): frozenset({COLLECTOR, TREASURER}),
    ("GET", "/api/v1/handovers"): FIELD,
    ("GET", "/api/v1/handovers/{handover_id}"): FIELD,
    ("POST", "/api/v1/receipts"): frozenset({COLLECTOR, TREASURER}),
    ("GET", "/api/v1/receipts"): FIELD,
    ("GET", "/api/v1/receipts/{receipt_id}"): FIELD,
    ("POST", "/api/v1/receipts/{receipt_id}/reverse"): frozenset({TREASURER}),
    ("POST", "/api/v1/collection-sheets"): frozenset({COLLECTOR, TREASURER}),
    ("POST", "/api/v1/imports/receipts"): frozenset({COLLECTOR, TREASURER}),
    # reports
    ("GET", "/api/v1/reports/arrears"): BOOKS,
    ("GET", "/api/v1/reports/collections"): BOOKS,
    ("GET", "/api/v1/reports/funds"): BATCH_READERS,  # a fund office sees its own fund's line
    # remittances and affiliations: a fund office acts on its own fund's batches only
    ("POST", "/api/v1/remittances"): DESK,
    ("GET", "/api/v1/remittances"): BATCH_READERS,
    ("GET", "/api/v1/funds/{code}/remittances"): BATCH_READERS,
    ("GET", "/api/v1/remittances/{batch_id}"): BATCH_READERS,
    ("GET", "/api/v1/remittances/{batch_id}/lines"): BATCH_READERS,
    ("GET", "/api/v1/remittances/{batch_id}/file"): BATCH_READERS,
    ("POST", "/api/v1/remittances/{batch_id}/seal"): DESK,
    ("POST", "/api/v1/remittances/{batch_id}/cancel"): DESK,
    ("POST", "/api/v1/remittances/{batch_id}/submit"): DESK,
    ("POST", "/api/v1/remittances/{batch_id}/acknowledgement"): frozenset({FUND_OFFICE, TREASURER}),
    ("POST", "/api/v1/remittances/{batch_id}/settlement"): frozenset({FUND_OFFICE, TREASURER}),
    ("POST", "/api/v1/affiliations"): DESK,
    ("GET", "/api/v1/affiliations"): BATCH_READERS,
    # the fund paying an affiliation batch's commissions: money into the bank
    ("POST", "/api/v1/affiliations/{batch_id}/commission-payment"): frozenset({TREASURER}),
    ("GET", "/api/v1/affiliations/{batch_id}"): BATCH_READERS,
    ("GET", "/api/v1/affiliations/{batch_id}/file"): BATCH_READERS,
    ("POST", "/api/v1/affiliations/{batch_id}/submit"): DESK,
    ("POST", "/api/v1/affiliations/{batch_id}/acknowledgement"): frozenset(
        {FUND_OFFICE, TREASURER}
    ),
    # the members' auditors
    ("GET", "/api/v1/audit-events"): frozenset({AUDITOR, ADMIN}),
    ("GET", "/api/v1/audit-events/head"): frozenset({AUDITOR, ADMIN}),
    ("GET", "/api/v1/verify"): frozenset({AUDITOR, ADMIN}),
}

# The treasurers' web pages sign in with a cookie, not a bearer token: without one, every
# page but these answers a redirect to the sign-in page (or 401/403), never the page.
WEB_PUBLIC = {
    ("GET", "/"),
    ("GET", "/web/sign-in"),
    ("POST", "/web/sign-in"),
    ("POST", "/web/sign-out"),
    ("POST", "/web/language"),
}


def app_routes(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(method, path) of every endpoint the app serves, whatever router it came from."""
    try:
        from fastapi.routing import iter_route_contexts

        contexts = [(c.path, c.methods, c.original_route) for c in iter_route_contexts(app.routes)]
    except ImportError:  # FastAPI before included-router contexts
        contexts = [(r.path, getattr(r, "methods", None), r) for r in app.routes]
    out = []
    for path, methods, route in contexts:
        if not methods:  # a mount (static files)
            continue
        for method in sorted(set(methods) - {"HEAD"}):
            out.append((method, path))
        assert route is not None
    return sorted(set(out))


def test_every_route_has_an_expected_policy(app) -> None:  # type: ignore[no-untyped-def]
    routes = app_routes(app)
    api = [r for r in routes if not r[1].startswith("/web") and r != ("GET", "/")]
    missing = [r for r in api if r not in POLICY]
    assert not missing, (
        "endpoints without an access policy: add each to POLICY in "
        f"tests/security/test_access_matrix.py, saying which roles may call it: {missing}"
    )
    stale = [r for r in POLICY if r not in routes]
    assert not stale, f"POLICY names endpoints the app no longer serves: {stale}"
    assert len(api) >= 75 and isinstance(app.routes, list) and APIRoute


def _fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), str(uuid.uuid4())), path)


def test_access_matrix(client, app, make_org, session_factory) -> None:  # type: ignore[no-untyped-def]
    org = make_org("AMUSSOL", "DOP")
    other = make_org("OTHERCOOP", "DOP")
    bank, fees = open_accounts(client, org, ("BANK", "asset"), ("FEES", "income"))
    posted = client.post(
        "/api/v1/journal", json=entry("x", bank, fees, "10.00"), headers=org.headers()
    )
    assert posted.status_code == 201
    ids = {"account_id": bank, "entry_id": posted.json()["id"], "code": "FUND"}
    secrets_of_a = [bank, fees, ids["entry_id"]]
    make_user(session_factory, org, "ana", "treasurer")
    token = sign_in(client, "AMUSSOL/ana").json()["access_token"]
    user_id = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert user_id.status_code == 200
    from app.core.security import read_access_token

    claims = read_access_token(TEST_SECRET, token)
    assert claims is not None
    expired = issue_access_token(
        TEST_SECRET,
        user_id=uuid.UUID(claims["sub"]),
        organisation_id=org.id,
        role="treasurer",
        minutes=-1,
    )
    forged = issue_access_token(
        "another-secret-key-that-is-long-enough-000000",
        user_id=uuid.UUID(claims["sub"]),
        organisation_id=org.id,
        role="treasurer",
        minutes=60,
    )

    failures: list[str] = []
    tried = 0

    def call(method: str, path: str, headers: dict[str, str]):  # type: ignore[no-untyped-def]
        nonlocal tried
        tried += 1
        kwargs = {"json": {}} if method in {"POST", "PATCH", "PUT"} else {}
        return client.request(method, path, headers=headers, **kwargs)

    for (method, template), policy in sorted(POLICY.items()):
        path = _fill(template, ids)
        if policy == PUBLIC:
            r = call(method, path, {})
            if r.status_code in (401, 403) or r.status_code >= 500:
                failures.append(f"{method} {template} public: {r.status_code}")
            continue
        for label, headers in (
            ("no token", {}),
            ("expired token", {"Authorization": f"Bearer {expired}"}),
            ("forged token", {"Authorization": f"Bearer {forged}"}),
            ("unknown key", {"Authorization": "Bearer clk_not-a-key"}),
        ):
            r = call(method, path, headers)
            if r.status_code != 401:
                failures.append(f"{method} {template} {label}: {r.status_code}, wanted 401")
        assert isinstance(policy, frozenset)
        for role in ROLES:
            r = call(method, path, org.headers(role))
            if role in policy:
                if r.status_code in (401, 403) or r.status_code >= 500:
                    failures.append(
                        f"{method} {template} as {role}: {r.status_code}, wanted allowed"
                    )
            elif r.status_code != 403:
                failures.append(f"{method} {template} as {role}: {r.status_code}, wanted 403")
        # another organisation's caller, with a role that is allowed: never sees A's objects
        role = sorted(policy)[0]
        r = call(method, path, other.headers(role))
        if r.status_code >= 500 or r.status_code in (401, 403):
            failures.append(f"{method} {template} other org as {role}: {r.status_code}")
        mine = "{" in template and any(k in template for k in ("account_id", "entry_id"))
        if mine and r.status_code != 404 and not (method != "GET" and r.status_code == 422):
            failures.append(f"{method} {template} other org: {r.status_code}, wanted 404")
        # (an id the caller sent may be echoed in a 404; any other of A's ids is a leak)
        leaked = [s for s in secrets_of_a if s in r.text and s not in path]
        if leaked:
            failures.append(f"{method} {template} other org sees {leaked}")

    # the user's own token works where the treasurer role does
    assert (
        client.get("/api/v1/accounts", headers={"Authorization": f"Bearer {token}"}).status_code
        == 200
    )
    # a fund office key is bound to its fund: another fund's batches are not its to see
    for path in ("/api/v1/funds/OTHERFUND/remittances", "/api/v1/remittances?fund_code=OTHERFUND"):
        r = client.get(path, headers=org.headers(FUND_OFFICE))
        if r.status_code == 200 and r.json()["items"] == []:
            continue  # answered with nothing of the other fund
        if r.status_code not in (403, 404):
            failures.append(f"GET {path} as fund_office of FUND: {r.status_code}, wanted 403/404")
    assert tried > 600
    print(
        f"access matrix: {tried} calls, {len(POLICY)} endpoints, {len(failures)} broke the policy"
    )
    assert not failures, f"{len(failures)} of {tried} calls broke the policy:\n" + "\n".join(
        failures
    )


def test_web_pages_need_a_signed_in_session(client, app) -> None:  # type: ignore[no-untyped-def]
    failures = []
    for method, template in app_routes(app):
        if not template.startswith("/web") or (method, template) in WEB_PUBLIC:
            continue
        path = _fill(template, {})
        r = client.request(method, path, follow_redirects=False)
        if r.status_code < 300 or r.status_code >= 500:
            failures.append(f"{method} {template}: {r.status_code} without signing in")
    assert not failures, "\n".join(failures)


# -- the web pages' roles ---------------------------------------------------------------------
# Who may open or post each web page added for issue 6's remaining gaps (signed in with a
# session cookie): another role gets the 403 page, nothing written.
WEB_BOOKS = frozenset({ADMIN, TREASURER, AUDITOR})
WEB_POLICY: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/web/handovers"): WEB_BOOKS,
    ("POST", "/web/handovers"): frozenset({TREASURER}),
    ("GET", "/web/handovers/{handover_id}"): WEB_BOOKS,
    ("POST", "/web/enrolments/{enrolment_id}/end"): DESK,
    ("POST", "/web/units/{unit_id}/crew"): DESK,
    ("GET", "/web/affiliations"): BATCH_READERS,
    ("POST", "/web/affiliations/new"): DESK,
    ("GET", "/web/affiliations/{batch_id}"): BATCH_READERS,
    ("GET", "/web/affiliations/{batch_id}/file"): BATCH_READERS,
    ("POST", "/web/affiliations/{batch_id}/submit"): DESK,
    ("POST", "/web/affiliations/{batch_id}/acknowledgement"): frozenset({TREASURER, FUND_OFFICE}),
    ("GET", "/web/funds/{code}"): BATCH_READERS,
    ("GET", "/web/admin/users"): frozenset({ADMIN}),
    ("POST", "/web/admin/users"): frozenset({ADMIN}),
    ("GET", "/web/admin/api-keys"): frozenset({ADMIN}),
    ("POST", "/web/admin/api-keys"): frozenset({ADMIN}),
    ("POST", "/web/admin/api-keys/{key_id}/revoke"): frozenset({ADMIN}),
    ("GET", "/web/audit"): frozenset({ADMIN, AUDITOR}),
    ("GET", "/web/collectors"): WEB_BOOKS,
    ("GET", "/web/collectors/{collector_id}"): WEB_BOOKS,
    ("GET", "/web/collector-groups/{group:path}"): WEB_BOOKS,
    ("POST", "/web/collectors/{collector_id}/round/add"): DESK,
    ("POST", "/web/collectors/{collector_id}/round/remove"): DESK,
    ("POST", "/web/collectors/{collector_id}/group"): DESK,
    ("POST", "/web/collector-groups/{group:path}/round/add"): DESK,
    ("POST", "/web/collector-groups/{group:path}/round/remove"): DESK,
    ("GET", "/web/payment-channels"): WEB_BOOKS,
    ("POST", "/web/payment-channels"): frozenset({ADMIN}),
    ("GET", "/web/payment-channels/{code}"): WEB_BOOKS,
    ("GET", "/web/payment-channels/{code}/statements"): DESK,
    ("POST", "/web/payment-channels/{code}/statements"): DESK,
    ("GET", "/web/payment-channels/{code}/report"): WEB_BOOKS,
    ("GET", "/web/payments"): WEB_BOOKS,
    ("GET", "/web/payments/suspense"): WEB_BOOKS,
    ("GET", "/web/payments/{notification_id}"): WEB_BOOKS,
    ("POST", "/web/payments/{notification_id}/match"): DESK,
    ("POST", "/web/payments/{notification_id}/refund"): DESK,
}


def test_web_pages_by_role(client, app, session_factory) -> None:  # type: ignore[no-untyped-def]
    from app.core.audit import CLI_ACTOR
    from app.core.database import bind_organisation, unit_of_work
    from app.identity.service import create_organisation, create_user
    from tests.web.conftest import PASSWORD, WebClient, WebOrg

    routes = set(app_routes(app))
    stale = [r for r in WEB_POLICY if r not in routes]
    assert not stale, f"WEB_POLICY names pages the app no longer serves: {stale}"
    areas = (
        "/web/handovers",
        "/web/affiliations",
        "/web/funds",
        "/web/enrolments",
        "/web/admin",
        "/web/audit",
        "/web/collectors",
        "/web/collector-groups",
        "/web/payment-channels",
        "/web/payments",
    )
    unlisted = [
        r
        for r in routes
        if (r[1].startswith(areas) or r[1].endswith("/crew")) and r not in WEB_POLICY
    ]
    assert not unlisted, f"web pages without a policy in WEB_POLICY: {unlisted}"
    with unit_of_work(session_factory) as s:
        made = create_organisation(s, code="AMUSSOL", name="Amussol", currency="DOP")
        bind_organisation(s, made.id)
        for role in ROLES:
            create_user(
                s,
                CLI_ACTOR,
                username=role,
                password=PASSWORD,
                role=role,
                locale="en",
                fund_code="FUND" if role == FUND_OFFICE else None,
            )
        org = WebOrg(made.id, "AMUSSOL", "DOP", {r: r for r in ROLES})
    failures = []
    for role in ROLES:
        client.cookies.clear()
        web = WebClient(client)
        web.sign_in(org, role)
        for (method, template), allowed in sorted(WEB_POLICY.items()):
            path = _fill(template, {"code": "FUND"})
            if method == "GET":
                r = web.get(path, follow_redirects=False)
            else:
                r = web.post(path, {}, follow_redirects=False)
            if role in allowed and (r.status_code == 403 or r.status_code >= 500):
                failures.append(f"{method} {template} as {role}: {r.status_code}, wanted allowed")
            if role not in allowed and r.status_code != 403:
                failures.append(f"{method} {template} as {role}: {r.status_code}, wanted 403")
    assert not failures, "\n".join(failures)
