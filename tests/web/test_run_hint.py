"""`make run` prints where to sign in and where the API documentation is: at the HOST and PORT
it serves on, not at a fixed 127.0.0.1:8000 (issue 11)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.core.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def run_cli(db_url, monkeypatch, tmp_path) -> Iterator:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("COOPLEDGER_ENV", raising=False)
    monkeypatch.chdir(tmp_path)  # data/demo-credentials.txt lands here, not in the tree
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(cli, list(args))
    get_settings.cache_clear()


def test_the_demo_hint_names_the_port_the_server_runs_on(run_cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = run_cli("demo", "--if-empty", "--host", "127.0.0.1", "--port", "8123")
    assert first.exit_code == 0, first.output
    urls = set(re.findall(r"https?://[^\s/]+", first.stdout))
    assert urls == {"http://127.0.0.1:8123"}, first.stdout
    assert "http://127.0.0.1:8123/docs" in first.stdout
    assert "http://127.0.0.1:8123/api/v1/auth/token" in first.stdout
    saved = (tmp_path / "data" / "demo-credentials.txt").read_text()
    assert "8000" not in saved and "http://127.0.0.1:8123/web" in saved

    # later starts add nothing, and still say where the pages and the documentation are
    second = run_cli("demo", "--if-empty", "--host", "0.0.0.0", "--port", "9001")
    assert second.exit_code == 0, second.output
    assert "no demo data added" in second.stdout
    # a server bound to every interface is reached on loopback from this machine
    assert set(re.findall(r"https?://[^\s/]+", second.stdout)) == {"http://127.0.0.1:9001"}
    assert "http://127.0.0.1:9001/docs" in second.stdout

    bad = run_cli("demo", "--if-empty", "--port", "0")
    assert bad.exit_code == 2


def test_make_run_passes_host_and_port_to_the_hint() -> None:
    # `make -n` prints the commands `make run` would run, without running them
    out = subprocess.run(
        ["make", "-n", "run", "HOST=127.0.0.2", "PORT=8123"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    demo = next(line for line in out.splitlines() if " demo " in line)
    assert "--host '127.0.0.2'" in demo and "--port '8123'" in demo, demo
    serve = next(line for line in out.splitlines() if "uvicorn" in line)
    assert "--host 127.0.0.2" in serve and "--port 8123" in serve, serve
