"""docs/schemas: every fixture and a real proof file validate; malformed documents are refused
by the schema and by the parser alike (the validator: tests/schema_check.py)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import FIXTURES, ROOT
from tests.schema_check import errors
from watchtower.cli import main
from watchtower.errors import InputError
from watchtower.proof.fraud import FraudProof
from watchtower.rollup.bundle import parse_bundle

SCHEMAS = ROOT / "docs" / "schemas"
BUNDLE_SCHEMA = json.loads((SCHEMAS / "bundle.schema.json").read_text())
PROOF_SCHEMA = json.loads((SCHEMAS / "proof.schema.json").read_text())
BUNDLES = sorted(p for p in FIXTURES.glob("*.json") if p.name != "expected.json")


@pytest.fixture(scope="module")
def honest() -> dict[str, Any]:
    return json.loads((FIXTURES / "honest.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def proof_document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("proof") / "proof.json"
    result = CliRunner().invoke(
        main, ["prove", str(FIXTURES / "fraud-wrong-root.json"), "--batch", "1", "-o", str(out)]
    )
    assert result.exit_code == 0, result.stderr
    return json.loads(out.read_text())  # type: ignore[no-any-return]


@pytest.mark.parametrize("path", BUNDLES, ids=lambda p: p.name)
def test_every_fixture_bundle_validates(path: Path) -> None:
    assert list(errors(BUNDLE_SCHEMA, json.loads(path.read_text()))) == []


def test_a_proof_file_validates(proof_document: dict[str, Any]) -> None:
    assert list(errors(PROOF_SCHEMA, proof_document)) == []


Edit = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Edit:
    """An edit setting ``a.b.0.c`` (``DELETE`` removes the key)."""

    def edit(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is DELETE:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return edit


DELETE = object()


def _first_account(edit: Callable[[dict[str, Any]], None]) -> Edit:
    def apply(document: dict[str, Any]) -> None:
        edit(document["genesis"][next(iter(document["genesis"]))])

    return apply


def _bad_address(document: dict[str, Any]) -> None:
    document["genesis"]["0x1234"] = {"balance": "0x1"}


MALFORMED_BUNDLES: dict[str, Edit] = {
    "wrong format": _set("format", "watchtower-bundel"),
    "version 2": _set("version", 2),
    "version as a string": _set("version", "1"),
    "no genesis": _set("genesis", DELETE),
    "no batches": _set("batches", DELETE),
    "batches not a list": _set("batches", {}),
    "unknown top-level key": _set("extra", 1),
    "misspelled params key": _set("params.chainid", 5),
    "negative base fee": _set("params.base_fee", -1),
    "base fee not a number": _set("params.base_fee", "lots"),
    "unknown batch key": _set("batches.0.final_root", "0x" + "00" * 32),
    "unknown context key": _set("batches.0.context.difficulty", 1),
    "missing coinbase": _set("batches.0.context.coinbase", DELETE),
    "short coinbase": _set("batches.0.context.coinbase", "0x1234"),
    "prev_root not 32 bytes": _set("batches.0.prev_root", "0x1234"),
    "empty steps": _set("batches.0.steps", []),
    "unknown step key": _set("batches.0.steps.0.gas", 21000),
    "step without a root": _set("batches.0.steps.0.root", DELETE),
    "tx without 0x": _set("batches.0.steps.0.tx", "abcd"),
    "odd-length tx": _set("batches.0.steps.0.tx", "0xabc"),
    "unknown account key": _first_account(lambda a: a.update(balanse="0x1")),
    "account not an object": _first_account(lambda a: a.update(storage=[])),
    "genesis address not 20 bytes": _bad_address,
}


@pytest.mark.parametrize("name", list(MALFORMED_BUNDLES))
def test_malformed_bundles_are_refused_by_schema_and_parser(
    name: str, honest: dict[str, Any]
) -> None:
    document = copy.deepcopy(honest)
    MALFORMED_BUNDLES[name](document)
    assert list(errors(BUNDLE_SCHEMA, document)), "the schema accepts it"
    with pytest.raises(InputError):
        parse_bundle(document)


MALFORMED_PROOFS: dict[str, Edit] = {
    "wrong format": _set("format", "watchtower-bundle"),
    "version 2": _set("version", 2),
    "no tx": _set("tx", DELETE),
    "no state nodes": _set("state_nodes", DELETE),
    "post_root not 32 bytes": _set("post_root", "0x1234"),
    "post_proof not a list": _set("post_proof", 5),
    "a short hash in prev_proof": _set("prev_proof", ["0x1234"]),
    "coinbase not 20 bytes": _set("coinbase", "0x12"),
    "params missing gas_limit": _set("params.gas_limit", DELETE),
    "computed_root not hex": _set("computed_root", "0x" + "zz" * 32),
    "batch not a number": _set("batch", "one"),
    "unknown key": _set("signature", "0x"),
    "unknown params key": _set("params.chainid", 1),
}


@pytest.mark.parametrize("name", list(MALFORMED_PROOFS))
def test_malformed_proofs_are_refused_by_schema_and_parser(
    name: str, proof_document: dict[str, Any]
) -> None:
    document = copy.deepcopy(proof_document)
    MALFORMED_PROOFS[name](document)
    assert list(errors(PROOF_SCHEMA, document)), "the schema accepts it"
    with pytest.raises(InputError):
        FraudProof.from_json(document)


def test_the_validator_refuses_keywords_it_does_not_check() -> None:
    with pytest.raises(ValueError, match="does not support"):
        list(errors({"oneOf": []}, 1))
