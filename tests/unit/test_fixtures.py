"""Every fixture bundle gives the verdicts it was built to give; regeneration is reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import FIXTURES
from watchtower.cli import main
from watchtower.rollup.types import InvalidReason
from watchtower_dev.fixturegen import GENERATORS, generate_all

EXPECTED = json.loads((FIXTURES / "expected.json").read_text())


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_replay_gives_expected_verdicts(name: str) -> None:
    result = CliRunner().invoke(main, ["replay", "--json", str(FIXTURES / f"{name}.json")])
    expected = EXPECTED[name]
    assert result.exit_code == expected["exit"], result.output
    report = json.loads(result.stdout)
    assert [b["verdict"] for b in report["batches"]] == expected["verdicts"]
    if "fraud" in expected:
        fraud = report["fraud"]
        assert fraud["batch"] == expected["fraud"]["batch"]
        assert fraud["step"] == expected["fraud"]["step"]
        assert fraud["claimed_root"] == expected["fraud"]["claimed_root"]
        assert fraud["computed_root"] != fraud["claimed_root"]
    else:
        assert report["fraud"] is None
    for batch, steps in expected.get("invalid_steps", {}).items():
        assert report["batches"][int(batch)]["invalid_steps"] == steps


def test_invalid_kinds_cover_every_rollup_reason() -> None:
    reasons = {s["reason"] for s in EXPECTED["invalid-kinds"]["invalid_steps"]["0"]}
    assert reasons == {r.value for r in InvalidReason} - {"evm_rejected"}


def test_generation_is_reproducible(tmp_path: Path) -> None:
    generate_all(tmp_path)
    for path in sorted(FIXTURES.glob("*.json")):
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


def test_large_fixture_has_ten_thousand_accounts() -> None:
    document = json.loads((FIXTURES / "large-10k-accounts.json").read_text())
    assert len(document["genesis"]) >= 10_000
