"""The command line: bad input gives one clear line and exit status 2."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import FIXTURES
from watchtower.cli import main


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def _bundle(tmp_path: Path, mutate) -> Path:  # type: ignore[no-untyped-def]
    document = json.loads((FIXTURES / "honest.json").read_text())
    mutate(document)
    path = tmp_path / "b.json"
    path.write_text(json.dumps(document))
    return path


def test_help_teaches() -> None:
    code, out, _ = _run("--help")
    assert code == 0
    assert "replay" in out and "conformance" in out and "Exit status" in out
    code, out, _ = _run("replay", "--help")
    assert code == 0 and "BUNDLE" in out and "fraud" in out


def test_replay_table_and_summary() -> None:
    code, out, _ = _run("replay", "-q", str(FIXTURES / "fraud-wrong-root.json"))
    assert code == 1
    assert "FRAUD in batch 1 at step 7" in out
    assert "skipped" in out


def _set_version(d: dict) -> None:  # type: ignore[type-arg]
    d["version"] = 9


def _bad_root(d: dict) -> None:  # type: ignore[type-arg]
    d["batches"][0]["steps"][0]["root"] = "0x1234"


def _broken_chain(d: dict) -> None:  # type: ignore[type-arg]
    d["batches"][1]["prev_root"] = "0x" + "ab" * 32


def _wrong_genesis(d: dict) -> None:  # type: ignore[type-arg]
    d["batches"][0]["prev_root"] = "0x" + "cd" * 32


def _empty_account(d: dict) -> None:  # type: ignore[type-arg]
    d["genesis"]["0x" + "00" * 19 + "01"] = {"balance": "0x0"}


def _gap(d: dict) -> None:  # type: ignore[type-arg]
    d["batches"][1]["index"] = 5


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (_set_version, "version 9 is not supported"),
        (_bad_root, "expected 32 bytes"),
        (_broken_chain, "bundle batch 1 builds on 0xabab"),
        (_wrong_genesis, "genesis allocation has root"),
        (_empty_account, "is empty"),
        (_gap, "expected 1 (consecutive)"),
    ],
)
def test_unusable_bundles_exit_2_with_one_line(tmp_path: Path, mutate, fragment: str) -> None:  # type: ignore[no-untyped-def]
    code, _, err = _run("replay", "-q", str(_bundle(tmp_path, mutate)))
    assert code == 2
    assert fragment in err
    assert err.count("\n") == 1 and err.startswith("error: ")


def test_missing_and_non_json_files(tmp_path: Path) -> None:
    code, _, err = _run("replay", str(tmp_path / "nope.json"))
    assert code == 2 and "cannot read" in err
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    code, _, err = _run("replay", str(junk))
    assert code == 2 and "invalid JSON at line 1" in err


def test_conformance_with_no_cases_is_an_error(tmp_path: Path) -> None:
    code, _, err = _run("conformance", str(tmp_path))
    assert code == 2 and "no Cancun state-test cases" in err


def test_conformance_reports_failures_with_roots(tmp_path: Path) -> None:
    source = next(
        (FIXTURES.parent.parent / "shared/conformance/ethereum-tests").rglob("add11.json"), None
    )
    if source is None:
        message = "shared conformance folder is absent (../shared/conformance)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)  # CI has the suite: a missing one is a failure, not a skip
        pytest.skip(message)
    document = json.loads(source.read_text())
    document["add11"]["post"]["Cancun"][0]["hash"] = "0x" + "11" * 32
    bad = tmp_path / "add11.json"
    bad.write_text(json.dumps(document))
    code, out, _ = _run("conformance", str(bad))
    assert code == 1
    assert "expected root 0x" + "11" * 32 in out
    assert out.rstrip().endswith("0 passed, 1 failed")
