"""Schemathesis against the app's own OpenAPI: generated requests to every operation, as a
treasurer; no answer is a 500 and every documented answer matches its schema.

Bounded for `make test`: FUZZ_EXAMPLES examples per operation (no shrinking), so the whole
run takes well under a minute per database. `make soak` raises it (COOPLEDGER_FUZZ_EXAMPLES).
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

FUZZ_EXAMPLES = int(os.environ.get("COOPLEDGER_FUZZ_EXAMPLES", "3"))


def _httpx_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Schemathesis speaks `requests`; the test client speaks httpx."""
    out = {
        k: v
        for k, v in kwargs.items()
        if k in {"method", "url", "headers", "params", "json", "files", "cookies"}
    }
    if not out.get("cookies"):  # always sent, empty: per-request cookies are deprecated
        out.pop("cookies", None)
    data = kwargs.get("data")
    if isinstance(data, bytes | str):
        out["content"] = data
    elif data is not None:
        out["data"] = data
    if out.get("files") and "headers" in out:  # let httpx write the multipart boundary
        out["headers"] = {k: v for k, v in out["headers"].items() if k.lower() != "content-type"}
    return out


def test_fuzz_every_operation(client, app, org) -> None:  # type: ignore[no-untyped-def]
    schema = schemathesis.openapi.from_dict(app.openapi())
    auth = {"Authorization": f"Bearer {org.keys['treasurer']}"}
    failures: list[str] = []
    skipped: list[str] = []
    calls = 0
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 75, "the schema lost operations"

    for operation in operations:

        @settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case) -> None:  # type: ignore[no-untyped-def]
            nonlocal calls
            calls += 1
            kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=auth)
            try:
                response = client.request(**_httpx_kwargs(kwargs))
                response.request.read()  # a multipart body is a stream; the checks read it
            except (TypeError, AttributeError) as exc:
                # httpx cannot encode what was generated (e.g. a number as a file): this is
                # the client refusing, not the server (its errors come back as 500s, never raise)
                skipped.append(str(exc))
                return
            try:
                case.validate_response(
                    response, checks=[not_a_server_error, response_schema_conformance]
                )
            except Exception as exc:  # collect every operation's failure, then report
                failures.append(
                    f"{case.method} {case.path}: {type(exc).__name__}: {str(exc)[:400]}"
                )
                return

        run()
    assert calls >= len(operations) and len(skipped) < calls / 10
    unique = sorted(set(failures))
    print(
        f"fuzz: {calls} generated requests over {len(operations)} operations, {len(skipped)} not encodable"
    )
    assert not unique, f"{len(unique)} failing operations of {len(operations)}:\n" + "\n".join(
        unique
    )
