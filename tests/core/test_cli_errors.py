"""The `coopledger` script on bad configuration or bad input: one line, no traceback, exit 2.

Each case runs the installed script in its own process, as an admin's shell would, and
checks the whole of what it printed: a single `error: ...` line that says what is wrong and
what to do, nothing of a Python traceback, and no secret echoed back.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import explain

SCRIPT = str(Path(sys.executable).parent / "coopledger")


def coopledger(
    *args: str, cwd: Path, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("COOPLEDGER_") and k != "DATABASE_URL"
    }
    return subprocess.run(
        [SCRIPT, *args],
        env={**base, **env},
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_error_line(done: subprocess.CompletedProcess[str], *expected: str) -> str:
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert "Traceback" not in out and "╭" not in out, out
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), out
    for text in expected:
        assert text in lines[0], out
    return lines[0]


def test_production_without_a_secret_key_says_what_to_set(tmp_path: Path) -> None:
    line = one_error_line(
        coopledger("verify", cwd=tmp_path, COOPLEDGER_ENV="production"),
        "COOPLEDGER_SECRET_KEY",
        "at least 32 characters",
        "COOPLEDGER_ENV=production",
        "secrets.token_urlsafe",
    )
    assert "pydantic" not in line
    short = "tiny-secret-value"
    line = one_error_line(
        coopledger(
            "orgs", "create", "--code", "A1", "--name", "A", "--currency", "DOP",
            cwd=tmp_path, COOPLEDGER_ENV="production", COOPLEDGER_SECRET_KEY=short,
        ),
        "COOPLEDGER_SECRET_KEY",
    )  # fmt: skip
    assert short not in line  # the weak secret is not echoed


def test_an_unknown_environment_name_lists_the_allowed_ones(tmp_path: Path) -> None:
    one_error_line(
        coopledger("verify", cwd=tmp_path, COOPLEDGER_ENV="prod"),
        "COOPLEDGER_ENV",
        "'production'",
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://admin:hunter2-secret@127.0.0.1:1/books", "cannot use the database"),
        ("mysql+nosuchdriver://x/y", "not a database URL"),
        ("not a url", "not a database URL"),
        ("postgresql://admin:hunter2-secret@db:port/books", "not a valid URL"),
        ("sqlite:///:memory:", "in-memory SQLite"),
    ],
)
@pytest.mark.parametrize("command", [("verify",), ("db", "upgrade")])
def test_an_unusable_database_url_is_one_line(
    tmp_path: Path, url: str, expected: str, command: tuple[str, ...]
) -> None:
    line = one_error_line(coopledger(*command, cwd=tmp_path, DATABASE_URL=url), expected)
    assert "DATABASE_URL" in line
    assert "hunter2" not in line  # a password in the URL never reaches the terminal


def test_a_sqlite_file_that_cannot_be_opened(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    url = f"sqlite:///{tmp_path}/file/books.db"
    one_error_line(coopledger("verify", cwd=tmp_path, DATABASE_URL=url), "cannot use the database")


def test_a_database_without_the_schema_says_to_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/empty.db"
    one_error_line(
        coopledger("verify", cwd=tmp_path, DATABASE_URL=url), "coopledger db upgrade", "empty.db"
    )


def test_bad_input_on_a_migrated_database(db_url: str, tmp_path: Path) -> None:
    run = lambda *a, stdin="": coopledger(*a, cwd=tmp_path, stdin=stdin, DATABASE_URL=db_url)  # noqa: E731
    one_error_line(run("verify", "--org", "NOPE"), "no organisation NOPE")
    one_error_line(
        run("users", "create", "--org", "NOPE", "--username", "x", "--role", "admin",
            "--password-stdin", stdin="a-long-password\n"),
        "no organisation NOPE",
    )  # fmt: skip
    one_error_line(run("api-keys", "create", "--org", "NOPE", "--name", "x", "--role", "admin"))
    one_error_line(run("db", "restore", str(tmp_path / "missing.db"), "--yes"), "missing.db")
    one_error_line(
        run("receipts", "import", str(tmp_path / "missing.csv"), "--org", "NOPE"), "missing.csv"
    )
    one_error_line(
        run("remittances", "create", "--org", "NOPE", "--fund", "X", "--through", "2026-02-30"),
        "--through",
    )
    one_error_line(run("orgs", "create", "--code", "a b", "--name", "A", "--currency", "DOP"))


def test_refusals_that_exit_1_print_no_traceback(db_url: str, tmp_path: Path) -> None:
    """Commands whose own message and exit status (1) are part of their contract."""
    for args in (
        ("members", "import", str(tmp_path / "missing.csv"), "--org", "NOPE"),
        ("schemes", "load", str(tmp_path / "missing.yaml"), "--org", "NOPE"),
        ("dues", "generate", "--through", "2026-13-45", "--org", "NOPE"),
    ):
        done = coopledger(*args, cwd=tmp_path, DATABASE_URL=db_url)
        out = done.stdout + done.stderr
        assert done.returncode != 0 and "Traceback" not in out and "╭" not in out, out
        assert len(done.stderr.strip().splitlines()) == 1, out


def test_a_bug_is_one_line_unless_debugging(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert explain(RuntimeError("boom")) is None  # main() prints it as "unexpected", exit 1
    assert explain(FileNotFoundError(2, "No such file or directory", "x.csv")) == (
        "No such file or directory: x.csv",
        2,
    )
    from app import cli

    def bug() -> None:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(cli, "cli", bug)
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    with pytest.raises(SystemExit) as done:
        cli.main()
    assert done.value.code == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "error: unexpected RuntimeError: boom (run again with COOPLEDGER_DEBUG=1 for the traceback)"
    ]
    monkeypatch.setenv(cli.DEBUG_ENV, "1")  # the traceback, for whoever debugs
    with pytest.raises(RuntimeError, match="boom"):
        cli.main()
