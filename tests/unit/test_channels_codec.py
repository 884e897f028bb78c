"""Monitoring requests as JSON: round trips, the schema, and every malformed input refused with
its path (docs/channels.md §5, docs/schemas/monitoring-request.v1.schema.json)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.channels_kit import (
    CHAIN_ID,
    CONTRACTS,
    GUARDIAN,
    A,
    B,
    cheque_request,
    payment_request,
    state_request,
)
from tests.conftest import ROOT
from tests.schema_check import errors
from watchtower.channels import codec
from watchtower.channels.intake import Accepted, ChainFacts, IntakePolicy, Status, check_request
from watchtower.channels.types import MonitoringRequest
from watchtower.errors import InputError, RequestError

SCHEMA = json.loads((ROOT / "docs/schemas/monitoring-request.v1.schema.json").read_text())

REQUESTS = [
    state_request(),
    state_request(reward=None),
    payment_request(),
    payment_request(reward=None),
    cheque_request(),
    cheque_request(reward=None),
]


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: f"{r.kind}-{r.reward is not None}")
def test_round_trip_and_schema(request_: MonitoringRequest) -> None:
    document = codec.to_json(request_)
    assert list(errors(SCHEMA, document)) == []
    assert codec.parse_request(document) == request_
    assert codec.loads(codec.dumps(request_)) == request_


def test_integers_and_lowercase_addresses_are_accepted() -> None:
    document = codec.to_json(state_request())
    document["state"]["nonce"] = 7
    document["state"]["balance_a"] = 4 * 10**18
    document["contract"] = document["contract"].lower()
    document["reward"]["monitor"] = "0x" + document["reward"]["monitor"][2:].upper()
    assert list(errors(SCHEMA, document)) == []
    assert codec.parse_request(document) == state_request()


DELETE = object()


def _edit(path: str, value: Any) -> Any:
    def apply(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for p in parents:
            node = node[p]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value

    return apply


SIG = "0x" + "11" * 65
BAD = [
    # (edit, the path named in the message, also refused by the schema)
    (_edit("colour", "red"), "colour: unknown key", True),
    (_edit("state.extra", 1), "state.extra: unknown key", True),
    (_edit("reward.extra", 1), "reward.extra: unknown key", True),
    (_edit("payment", {}), "payment: unknown key", True),
    (_edit("kind", "cheques"), "kind: 'cheques' is not one of", True),
    (_edit("kind", DELETE), "top level: missing field 'kind'", True),
    (_edit("kind", "payment"), "state: unknown key", True),
    (_edit("contract", DELETE), "missing field 'contract'", True),
    (_edit("state.signature_b", DELETE), "state: missing field 'signature_b'", True),
    (_edit("reward.signature", DELETE), "reward: missing field 'signature'", True),
    (_edit("contract", "0x1234"), "contract: expected 20 bytes", True),
    (_edit("contract", "5fbdb2315678afecb367f032d93f642f64180aa3"), "contract: expected 0x", True),
    (_edit("contract", "0x5fbDB2315678afecb367f032d93F642f64180aa3"), "wrong EIP-55", False),
    (_edit("state.nonce", -1), "state.nonce: -1 is negative", True),
    (_edit("state.nonce", True), "state.nonce: expected a number, got a boolean", True),
    (_edit("state.nonce", 1.5), "state.nonce: expected a number, got float", True),
    (_edit("state.nonce", "7"), "state.nonce: expected a 0x-prefixed hex quantity", True),
    (_edit("state.nonce", "0x"), "state.nonce: expected a 0x-prefixed hex quantity", True),
    (_edit("state.nonce", "0xzz"), "state.nonce: expected a 0x-prefixed hex quantity", True),
    (_edit("state.nonce", 2**256), "state.nonce: ", False),
    (_edit("state.nonce", "0x1" + "0" * 64), "does not fit in a uint256", True),
    (_edit("state.signature_a", SIG[:-2]), "state.signature_a: expected 65 bytes, got 64", True),
    (_edit("reward.signature", SIG + "00"), "reward.signature: expected 65 bytes, got 66", True),
    (_edit("reward.monitor", 5), "reward.monitor: expected 0x-prefixed hex", True),
    (_edit("reward", []), "reward: expected an object, got list", True),
]


@pytest.mark.parametrize(("edit", "message", "schema_refuses"), BAD, ids=[b[1] for b in BAD])
def test_malformed_is_refused_naming_the_path(
    edit: Any, message: str, schema_refuses: bool
) -> None:
    document = copy.deepcopy(codec.to_json(state_request()))
    edit(document)
    with pytest.raises(RequestError) as info:
        codec.parse_request(document)
    text = str(info.value)
    assert message in text, text
    assert "\n" not in text and text.startswith("monitoring request ")
    assert isinstance(info.value, InputError)
    assert bool(list(errors(SCHEMA, document))) is schema_refuses


@pytest.mark.parametrize("text", ["", "[", "[]", "null", '"state"', "\xff"])
def test_not_a_request_object(text: str) -> None:
    with pytest.raises(RequestError, match=r"^monitoring request top level: "):
        codec.loads(text)


def test_payment_and_cheque_keys() -> None:
    document = codec.to_json(payment_request())
    assert set(document["payment"]) == {"channel_id", "amount", "signature"}
    document["payment"]["nonce"] = 1
    with pytest.raises(RequestError, match=r"payment\.nonce: unknown key"):
        codec.parse_request(document)
    document = codec.to_json(cheque_request())
    document["cheque"]["beneficiary"] = "0x" + "ab" * 19
    with pytest.raises(RequestError, match=r"cheque\.beneficiary: expected 20 bytes, got 19"):
        codec.parse_request(document)


def test_the_example_of_the_spec_is_a_real_request() -> None:
    text = (ROOT / "docs/channels.md").read_text()
    section = text[text.index("## 5. Monitoring requests") : text.index("## 6.")]
    example = json.loads(section.split("```json\n", 1)[1].split("```", 1)[0])
    assert list(errors(SCHEMA, example)) == []
    request = codec.parse_request(example)
    assert request == state_request()
    chain = ChainFacts(0, Status.OPEN, A, B, 5 * 10**18, 5 * 10**18)
    policy = IntakePolicy(CHAIN_ID, GUARDIAN, {v: k for k, v in CONTRACTS.items()})
    assert check_request(request, None, chain, policy) == Accepted(request, B)
