"""Whatever a client sends to the schemes and members endpoints, the answer is never a 500."""

from __future__ import annotations

import json

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.schemes.books import SCHEDULES, TRANSPORT_FUNDS, make_funds

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
TOP = ("code", "name", "kind", "currency", "versions")
VERSION = (
    "effective_from",
    "amount",
    "rest_days",
    "due_day",
    "every_months",
    "due_after_days",
    "grace_days",
    "fee",
    "split",
    "penalty",
)
ALLOWED = (200, 201, 409, 422)


def _base() -> dict:  # type: ignore[type-arg]
    base = yaml.safe_load((SCHEDULES / "transport-daily.yaml").read_text())
    base["versions"] = [dict(v, effective_from=str(v["effective_from"])) for v in base["versions"]]
    return dict(base)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    raw=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)),
    field=st.sampled_from(TOP + VERSION),
    junk=JSONISH,
)
def test_schedule_bodies_never_fail_the_server(client, org, raw, field, junk) -> None:  # type: ignore[no-untyped-def]
    if client.get("/api/v1/funds/PENSION", headers=org.headers("admin")).status_code == 404:
        make_funds(client, org, *TRANSPORT_FUNDS)
    h = org.headers("treasurer", **{"Content-Type": "application/yaml"})
    r = client.post("/api/v1/schemes", content=raw, headers=h)
    assert r.status_code in ALLOWED, r.text
    base = _base()
    if field in TOP:
        mutated = {**base, field: junk}
    else:
        first = {**base["versions"][0], field: junk}
        mutated = {**base, "versions": [first, *base["versions"][1:]]}
    try:
        body = json.dumps(mutated, allow_nan=True).encode()
    except (TypeError, ValueError):
        return
    r = client.post("/api/v1/schemes", content=body, headers=h)
    assert r.status_code in ALLOWED, r.text


MEMBER_FIELDS = (
    "member_number",
    "full_name",
    "joined_on",
    "phone",
    "status",
    "affiliations",
    "national_id",
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.dictionaries(st.sampled_from(MEMBER_FIELDS), JSONISH, max_size=6))
def test_member_bodies_never_fail_the_server(client, org, body) -> None:  # type: ignore[no-untyped-def]
    try:
        content = json.dumps(body, allow_nan=True).encode()
    except (TypeError, ValueError):
        return
    h = org.headers("treasurer", **{"Content-Type": "application/json"})
    r = client.post("/api/v1/members", content=content, headers=h)
    assert r.status_code in (201, 409, 422), r.text


def test_hostile_schedules_are_refused_with_422(client, org) -> None:  # type: ignore[no-untyped-def]
    h = org.headers("treasurer", **{"Content-Type": "application/yaml"})
    for body, why in [
        (b"[" * 20000, "nested too deeply"),
        (b'code: "\\ud800"', "surrogate"),
        (b'code: "a\\0b"', "NUL"),
        (b"\xff\xfe", "UTF-8"),
        (b"- 1\n- 2\n", "expected a mapping"),
    ]:
        r = client.post("/api/v1/schemes", content=body, headers=h)
        assert r.status_code == 422, (body[:20], r.text)
        assert why in r.json()["detail"], r.text
