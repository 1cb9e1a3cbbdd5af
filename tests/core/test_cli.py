"""The `coopledger` command: set-up an admin does from a shell, and refusals without tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from app.cli import cli
from app.core.settings import get_settings

PASSWORD = "s3cret-passw0rd"


@pytest.fixture
def run_cli(db_url, monkeypatch, tmp_path) -> Iterator:  # type: ignore[no-untyped-def]
    """`coopledger ...` in-process against the test database, from an empty directory."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("COOPLEDGER_ENV", raising=False)
    monkeypatch.chdir(tmp_path)  # the demo writes data/demo-credentials.txt here, not in the tree
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(cli, list(args), input=stdin)

    yield run
    get_settings.cache_clear()


@pytest.fixture
def run_process(db_url, tmp_path):  # type: ignore[no-untyped-def]
    """The installed `coopledger` script in its own process, as an admin's shell runs it."""

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COOPLEDGER_")}
        env["DATABASE_URL"] = db_url
        return subprocess.run(
            [str(Path(sys.executable).parent / "coopledger"), *args],
            env=env,
            cwd=tmp_path,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run


def count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_set_up_an_organisation_a_user_and_a_key(run_cli, client, engine) -> None:  # type: ignore[no-untyped-def]
    made = run_cli(
        "orgs", "create", "--code", "AMUSSOL", "--name", "Asociación Mutual", "--currency", "DOP"
    )
    assert made.exit_code == 0, made.output
    assert made.stdout.startswith("organisation AMUSSOL created (DOP, UTC)")  # its time zone

    user = run_cli(
        "users", "create", "--org", "AMUSSOL", "--username", "ana", "--role", "treasurer",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert user.exit_code == 0, user.output
    assert PASSWORD not in user.output
    # the password read from standard input (without its newline) is the one that signs in
    token = client.post(
        "/api/v1/auth/token", data={"username": "AMUSSOL/ana", "password": PASSWORD}
    )
    assert token.status_code == 200, token.text
    me = client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"}
    )
    assert me.json()["role"] == "treasurer" and me.json()["organisation"] == "AMUSSOL"

    key = run_cli(
        "api-keys", "create", "--org", "AMUSSOL", "--name", "union app", "--role", "auditor"
    )
    assert key.exit_code == 0, key.output
    lines = key.stdout.rstrip("\n").splitlines()
    secret = lines[-1]
    assert secret.startswith("clk_") and " " not in secret and len(secret) > 40
    assert secret not in "\n".join(lines[:-1])
    assert "not shown again" in lines[-2]
    h = {"Authorization": f"Bearer {secret}"}
    who = client.get("/api/v1/auth/me", headers=h).json()
    assert who["kind"] == "key" and who["name"] == "union app" and who["role"] == "auditor"
    assert client.get("/api/v1/accounts", headers=h).status_code == 200

    assert count(engine, "organisation") == 1 and count(engine, "app_user") == 1
    assert count(engine, "api_key") == 1


def test_demo_if_empty_adds_nothing_the_second_time(run_cli, engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = run_cli("demo", "--if-empty")
    assert first.exit_code == 0, first.output
    assert "Demo organisation DEMO created" in first.stdout
    tables = ("organisation", "app_user", "api_key", "journal_entry", "posting", "audit_event")
    after_first = {t: count(engine, t) for t in tables}
    assert after_first["organisation"] == 1 and after_first["app_user"] >= 4
    assert (tmp_path / "data" / "demo-credentials.txt").exists()

    second = run_cli("demo", "--if-empty")
    assert second.exit_code == 0, second.output
    assert "no demo data added" in second.stdout
    assert {t: count(engine, t) for t in tables} == after_first


def test_bad_input_is_refused_with_a_message_not_a_traceback(run_process, run_cli, engine) -> None:  # type: ignore[no-untyped-def]
    bad_currency = run_process(
        "orgs", "create", "--code", "AMUSSOL", "--name", "A", "--currency", "ZZZ"
    )
    assert bad_currency.returncode == 2
    assert "error: currency:" in bad_currency.stderr and "ZZZ" in bad_currency.stderr
    assert "Traceback" not in bad_currency.stderr + bad_currency.stdout
    assert count(engine, "organisation") == 0

    assert (
        run_cli("orgs", "create", "--code", "AMUSSOL", "--name", "A", "--currency", "DOP").exit_code
        == 0
    )
    bad_role = run_process(
        "users", "create", "--org", "AMUSSOL", "--username", "ana", "--role", "boss",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert bad_role.returncode == 2
    assert (
        "error: role: one of admin, treasurer, collector, fund_office, auditor" in bad_role.stderr
    )
    assert "Traceback" not in bad_role.stderr + bad_role.stdout

    unknown_org = run_cli(
        "api-keys", "create", "--org", "NOWHERE", "--name", "x", "--role", "collector"
    )
    assert unknown_org.exit_code != 0 and "no organisation NOWHERE" in str(unknown_org.exception)
    short = run_cli(
        "users", "create", "--org", "AMUSSOL", "--username", "ana", "--role", "treasurer",
        "--password-stdin",
        stdin="short\n",
    )  # fmt: skip
    assert short.exit_code != 0 and "at least 10 characters" in str(short.exception)
    assert count(engine, "organisation") == 1
    assert count(engine, "app_user") == 0 and count(engine, "api_key") == 0
