"""The transition engine against Ethereum's GeneralStateTests (../shared/conformance).

Skipped with a clear message where the shared folder is absent; fails if it finds no case, so it
can never pass by finding nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from watchtower.conformance.runner import run_paths

SHARED = Path(
    os.environ.get(
        "WATCHTOWER_CONFORMANCE", Path(__file__).resolve().parents[3] / "shared" / "conformance"
    )
)
CANCUN = SHARED / "ethereum-tests"


@pytest.fixture(scope="module")
def results():  # type: ignore[no-untyped-def]
    if not CANCUN.is_dir():
        pytest.skip(f"conformance fixtures not found at {CANCUN} (set WATCHTOWER_CONFORMANCE)")
    return list(run_paths([CANCUN]))


def test_every_cancun_case_passes(results) -> None:  # type: ignore[no-untyped-def]
    assert len(results) > 0, "no state-test case found: the runner cannot pass by finding nothing"
    failures = [f"{r.case.label}: {r.detail}" for r in results if not r.passed]
    assert failures == []
    manifest = json.loads((SHARED / "manifest_cancun.json").read_text())
    assert len(results) == len(manifest) == 315


def test_cases_py_evm_alone_fails_are_fixed(results) -> None:  # type: ignore[no-untyped-def]
    manifest = json.loads((SHARED / "manifest_cancun.json").read_text())
    known = {
        (Path(m["file"]).name, m["test"], m["index"])
        for m in manifest
        if m["pyevm_0_12_1b1"] == "fail"
    }
    assert len(known) == 8
    ours = {(r.case.path.name, r.case.name, r.case.index): r.passed for r in results}
    assert all(ours[k] for k in known)
