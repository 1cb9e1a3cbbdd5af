from __future__ import annotations

from datetime import date

from typer.testing import CliRunner

from app.cli import cli
from app.core.settings import get_settings
from tests.remittances.factories import make_fund, make_member, owe


def test_cli_creates_seals_and_lists_batches(org, books, db_url, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with books() as s:
        fund = make_fund(s, "FUND")
        owe(s, make_member(s, "M-1"), fund, 15050, date(2026, 11, 1), date(2026, 11, 30))
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        made = runner.invoke(
            cli,
            [
                "remittances",
                "create",
                "--org",
                org.code,
                "--fund",
                "FUND",
                "--through",
                "2026-11-30",
                "--seal",
            ],
        )
        assert made.exit_code == 0, made.output
        assert made.output.split("\t")[:4] == ["RB000001", "FUND", "sealed", "1 lines"]
        again = runner.invoke(
            cli,
            [
                "remittances",
                "create",
                "--org",
                org.code,
                "--fund",
                "FUND",
                "--through",
                "2026-11-30",
            ],
        )
        assert again.exit_code == 1 and "nothing is owed" in again.output
        bad = runner.invoke(
            cli,
            ["remittances", "create", "--org", org.code, "--fund", "FUND", "--through", "30/11"],
        )
        assert bad.exit_code == 2 and "--through" in bad.output
        listed = runner.invoke(cli, ["remittances", "list", "--org", org.code])
        assert listed.exit_code == 0 and listed.output.strip().endswith("150.50 DOP")
    finally:
        get_settings.cache_clear()
