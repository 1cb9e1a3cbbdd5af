"""Bulk member import from CSV, over HTTP and on the command line: per-row results, dry run,
duplicates; a bad row writes nothing and never blocks the good ones."""

from __future__ import annotations

from typer.testing import CliRunner

from app.cli import cli
from tests.schemes.books import add_member, count, make_funds

GOOD_AND_BAD = (
    "\ufeffmember_number;full_name;national_id;phone;joined_on;affiliation:PENSION\n"
    "M-001;Ana Pérez;001-1;+18095550001;2026-01-05;SS-1\n"
    "M-002;;002-2;+18095550002;2026-01-05;\n"  # no name
    "M-003;José Díaz;003-3;;2026-02-30;\n"  # no such day
    "M-004;Luisa Peña;;;2026-03-01;SS-4\n"
    "M-001;Ana again;;;2026-01-05;\n"  # the same number twice in the file
    "M-EXIST;Already here;;;2026-01-01;\n"
)


def upload(client, org, content: str, dry_run: bool = False, role: str = "treasurer"):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/v1/members/import{'?dry_run=true' if dry_run else ''}",
        files={"file": ("members.csv", content.encode("utf-8"), "text/csv")},
        headers=org.headers(role),
    )


def test_import_reports_each_row_and_writes_only_the_good_ones(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    make_funds(client, org, "PENSION")
    existing = add_member(client, org, "M-EXIST")

    dry = upload(client, org, GOOD_AND_BAD, dry_run=True)
    assert dry.status_code == 200, dry.text
    body = dry.json()
    assert (
        body["dry_run"],
        body["created"],
        body["valid"],
        body["duplicates"],
        body["rejected"],
    ) == (True, 0, 2, 1, 3)
    assert count(engine, "member") == 1 and count(engine, "account", "code LIKE 'MEMBER:%'") == 1

    r = upload(client, org, GOOD_AND_BAD)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["created"], body["duplicates"], body["rejected"]) == (2, 1, 3)
    results = {row["row"]: row for row in body["results"]}
    assert [results[n]["status"] for n in range(2, 8)] == [
        "created",
        "rejected",
        "rejected",
        "created",
        "rejected",
        "duplicate",
    ]
    assert results[3]["errors"] == [
        {
            "field": "full_name",
            "message": "Field required",
            "code": "field.missing",
            "type": "missing",
        }
    ]
    assert results[4]["errors"][0]["field"] == "joined_on"
    assert results[6]["errors"] == [
        {
            "field": "member_number",
            "message": "M-001 appears already on line 2",
            "code": "member_import.number_repeated",
            "params": {"number": "M-001", "line": "2"},
        }
    ]
    assert results[7]["member_id"] == existing["id"]

    assert count(engine, "member") == 3
    assert count(engine, "account", "code LIKE 'MEMBER:%'") == 3
    assert count(engine, "member_affiliation") == 2
    ana = client.get(
        f"/api/v1/members/{results[2]['member_id']}", headers=org.headers("auditor")
    ).json()
    assert ana["full_name"] == "Ana Pérez" and ana["affiliations"] == {"PENSION": "SS-1"}
    assert count(engine, "audit_event", "action = 'member.import'") == 1

    # the same file again: nothing new, the good rows come back as duplicates
    again = upload(client, org, GOOD_AND_BAD).json()
    assert (again["created"], again["duplicates"], again["rejected"]) == (0, 3, 3)
    assert count(engine, "member") == 3


def test_a_file_that_cannot_be_read_is_refused_whole(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    cases = [
        ("full_name,joined_on\nAna,2026-01-01\n", "member_number"),
        ("member_number,full_name,joined_on,colour\nM,Ana,2026-01-01,red\n", "'colour'"),
        (
            "member_number,full_name,joined_on,affiliation:NOPE\nM,Ana,2026-01-01,1\n",
            "affiliation:NOPE",
        ),
        ("", "empty"),
    ]
    for content, why in cases:
        r = upload(client, org, content)
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == "file" and why in r.json()["detail"], r.text
    r = client.post(
        "/api/v1/members/import",
        files={"file": ("m.csv", b"member_number,full_name,joined_on\n\xff\xfe,x,y\n", "text/csv")},
        headers=org.headers("treasurer"),
    )
    assert r.status_code == 422 and "UTF-8" in r.json()["detail"]
    assert upload(client, org, GOOD_AND_BAD, role="collector").status_code == 403
    assert count(engine, "member") == 0


def test_cli_import_with_dry_run(client, org, cli_db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    make_funds(client, org, "PENSION")
    path = tmp_path / "members.csv"
    path.write_text(GOOD_AND_BAD, encoding="utf-8")
    dry = CliRunner().invoke(cli, ["members", "import", str(path), "--org", org.code, "--dry-run"])
    assert dry.exit_code == 1  # rows were rejected
    assert "3 member(s) would be created (dry run), 0 duplicate(s), 3 rejected" in dry.output
    assert f"{path}:3: rejected: full_name: Field required" in dry.output
    assert client.get("/api/v1/members", headers=org.headers("auditor")).json()["items"] == []

    real = CliRunner().invoke(cli, ["members", "import", str(path), "--org", org.code])
    assert "3 member(s) created, 0 duplicate(s), 3 rejected" in real.output
    numbers = [
        m["member_number"]
        for m in client.get("/api/v1/members", headers=org.headers("auditor")).json()["items"]
    ]
    assert numbers == ["M-001", "M-004", "M-EXIST"]

    clean = tmp_path / "clean.csv"
    clean.write_text("member_number,full_name,joined_on\nM-9,Nueve,2026-05-01\n")
    ok = CliRunner().invoke(cli, ["members", "import", str(clean), "--org", org.code])
    assert ok.exit_code == 0 and "1 member(s) created" in ok.output
    missing = CliRunner().invoke(
        cli, ["members", "import", str(tmp_path / "nope.csv"), "--org", org.code]
    )
    assert missing.exit_code == 1
