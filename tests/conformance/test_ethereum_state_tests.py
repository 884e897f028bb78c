"""The transition engine against Ethereum's GeneralStateTests (../shared/conformance).

The fixtures are found at ``../shared/conformance`` next to the repository, or where
``WATCHTOWER_CONFORMANCE`` points. Where they are absent the test fails in CI (``CI`` set, as
every CI service does) and skips with the same message elsewhere: a CI run can never go green by
not running the suite.

What must hold: at least one case ran, every case of the manifest ran (whatever their number),
and none failed, including the cases py-evm 0.12.1b1 alone is known to fail (the manifest's
``pyevm_0_12_1b1: fail``): the runner runs them like any other, and Ethereum mode's own rules
(watchtower/execute/ethereum_rules.py) must make them pass.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from watchtower.conformance.runner import CaseResult, run_paths
from watchtower.execute.ethereum_rules import EthRule

SHARED = Path(
    os.environ.get(
        "WATCHTOWER_CONFORMANCE", Path(__file__).resolve().parents[3] / "shared" / "conformance"
    )
)
CANCUN = SHARED / "ethereum-tests"
MANIFEST = SHARED / "manifest_cancun.json"

CaseId = tuple[str, str, int]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing_suite(message: str) -> None:
    """Fail in CI, skip elsewhere, with the same message."""
    message += " (set WATCHTOWER_CONFORMANCE to the folder holding ethereum-tests/)"
    if in_ci():
        pytest.fail(f"CI: {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def manifest() -> list[dict[str, Any]]:
    if not CANCUN.is_dir() or not MANIFEST.is_file():
        missing_suite(f"conformance fixtures not found at {SHARED}")
    records: list[dict[str, Any]] = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return records


@pytest.fixture(scope="module")
def results(manifest: list[dict[str, Any]]) -> list[CaseResult]:
    return list(run_paths([CANCUN]))


def _id_of_record(record: dict[str, Any]) -> CaseId:
    file = Path(record["file"]).relative_to("ethereum-tests")
    return (str(file), record["test"], record["index"])


def _id_of_result(result: CaseResult) -> CaseId:
    case = result.case
    return (str(case.path.relative_to(CANCUN)), case.name, case.index)


def test_no_cancun_case_fails(results: list[CaseResult]) -> None:
    assert len(results) > 0, "no state-test case ran: the suite cannot pass by finding nothing"
    failures = [f"{r.case.label}: {r.detail or 'valid'}" for r in results if not r.passed]
    assert failures == [], f"{len(failures)} of {len(results)} cases failed"


def test_every_case_of_the_manifest_ran(
    manifest: list[dict[str, Any]], results: list[CaseResult]
) -> None:
    expected = {_id_of_record(record) for record in manifest}
    ran = [_id_of_result(result) for result in results]
    assert len(ran) == len(set(ran)), "a case ran twice"
    assert set(ran) == expected


def test_the_fixture_files_are_the_manifests(manifest: list[dict[str, Any]]) -> None:
    """Byte-identical to what the manifest recorded: a changed suite is not silently run."""
    digests = {record["file"]: record["file_sha256"] for record in manifest}
    for file, digest in digests.items():
        assert hashlib.sha256((SHARED / file).read_bytes()).hexdigest() == digest, file


def test_the_validity_verdict_is_the_expected_one(results: list[CaseResult]) -> None:
    """A case with ``expectException`` is an invalid transaction (state unchanged), every other
    case a valid one: checked apart from the roots, so a wrong verdict cannot hide behind an
    equal root."""
    wrong = [
        f"{r.case.label}: expected {r.case.expect_exception or 'valid'}, got "
        f"{'valid' if r.valid else r.detail}"
        for r in results
        if r.valid is (r.case.expect_exception is not None)
    ]
    assert wrong == []


#: The execution-spec-tests name of each invalid-transaction exception, and the Ethereum-mode
#: rules that name it (docs/protocol.md §3.3).
EXCEPTION_RULES: dict[str, set[EthRule]] = {
    "RLP_INVALID_VALUE": {EthRule.UNDECODABLE},
    "TYPE_NOT_SUPPORTED": {EthRule.UNDECODABLE},
    "INTRINSIC_GAS_TOO_LOW": {EthRule.INTRINSIC_GAS},
    "NONCE_IS_MAX": {EthRule.NONCE_OVERFLOW},
    "INITCODE_SIZE_EXCEEDED": {EthRule.INITCODE_TOO_LARGE},
    "GAS_ALLOWANCE_EXCEEDED": {EthRule.GAS_ABOVE_BLOCK_LIMIT},
    "TYPE_3_TX_BLOB_COUNT_EXCEEDED": {EthRule.BLOB_GAS_ABOVE_BLOCK_LIMIT},
    "TYPE_3_TX_MAX_BLOB_GAS_ALLOWANCE_EXCEEDED": {EthRule.BLOB_GAS_ABOVE_BLOCK_LIMIT},
    "INVALID_SIGNATURE_VRS": {
        EthRule.SIGNATURE_R,
        EthRule.SIGNATURE_S,
        EthRule.LEGACY_V,
        EthRule.Y_PARITY,
        EthRule.UNRECOVERABLE,
    },
    "INVALID_CHAINID": {EthRule.WRONG_CHAIN_ID, EthRule.LEGACY_V},
    "PRIORITY_GREATER_THAN_MAX_FEE_PER_GAS": {EthRule.PRIORITY_FEE_ABOVE_MAX_FEE},
    "INSUFFICIENT_MAX_FEE_PER_GAS": {
        EthRule.MAX_FEE_BELOW_BASE_FEE,
        EthRule.GAS_PRICE_BELOW_BASE_FEE,
    },
    "TYPE_3_TX_CONTRACT_CREATION": {EthRule.BLOB_TX_CREATE},
    "TYPE_3_TX_ZERO_BLOBS": {EthRule.BLOB_TX_NO_BLOBS},
    "TYPE_3_TX_INVALID_BLOB_VERSIONED_HASH": {EthRule.BLOB_HASH_VERSION},
    "INSUFFICIENT_MAX_FEE_PER_BLOB_GAS": {EthRule.BLOB_FEE_TOO_LOW},
    "NONCE_MISMATCH_TOO_LOW": {EthRule.NONCE_MISMATCH},
    "NONCE_MISMATCH_TOO_HIGH": {EthRule.NONCE_MISMATCH},
    "INSUFFICIENT_ACCOUNT_FUNDS": {EthRule.INSUFFICIENT_BALANCE},
    "GASLIMIT_PRICE_PRODUCT_OVERFLOW": {EthRule.INSUFFICIENT_BALANCE},
    "SENDER_NOT_EOA": {EthRule.SENDER_HAS_CODE},
}


def test_an_invalid_transaction_breaks_the_rule_the_test_names(results: list[CaseResult]) -> None:
    """Not only invalid: invalid for (one of) the reason(s) the test expects."""
    wrong = []
    for r in results:
        if r.valid or r.case.expect_exception is None:
            continue
        names = [name.rsplit(".", 1)[-1] for name in r.case.expect_exception.split("|")]
        unknown = [name for name in names if name not in EXCEPTION_RULES]
        assert unknown == [], f"{r.case.label}: no rule mapped for {unknown} (extend the table)"
        allowed = set().union(*(EXCEPTION_RULES[name] for name in names))
        if r.detail.split(":")[0] not in {rule.value for rule in allowed}:
            wrong.append(f"{r.case.label}: expected {names}, got {r.detail}")
    assert wrong == []


def test_cases_py_evm_alone_fails_run_and_pass(
    manifest: list[dict[str, Any]], results: list[CaseResult]
) -> None:
    known = {_id_of_record(m) for m in manifest if m["pyevm_0_12_1b1"] == "fail"}
    outcome = {_id_of_result(r): r.passed for r in results}
    assert known <= outcome.keys(), "a case py-evm alone fails was not run"
    assert [k for k in sorted(known) if not outcome[k]] == []
