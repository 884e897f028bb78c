"""Properties of the channel core's encodings: EIP-712 digests equal eth-account's for any
values; recovery never raises and accepts only strict signatures; a request survives JSON and
every document the parser accepts is valid under the schema."""

from __future__ import annotations

import json
from typing import Any

from eth_account.messages import _hash_eip191_message, encode_typed_data
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import ROOT
from tests.schema_check import errors
from tests.unit.test_channels_eip712 import CONTRACT, _typed
from watchtower.channels import codec, eip712
from watchtower.channels.types import (
    ChannelState,
    Cheque,
    Domain,
    Kind,
    MonitoringRequest,
    Payment,
    Reward,
)
from watchtower.errors import RequestError

SCHEMA = json.loads((ROOT / "docs/schemas/monitoring-request.v1.schema.json").read_text())
u256 = st.integers(0, 2**256 - 1)
addresses = st.binary(min_size=20, max_size=20)
signatures = st.binary(min_size=65, max_size=65)
messages = st.one_of(
    st.builds(ChannelState, u256, u256, u256, u256),
    st.builds(Payment, u256, u256),
    st.builds(Cheque, addresses, u256),
)
rewards = st.builds(Reward, u256, u256, u256, addresses)
KIND_OF = {ChannelState: Kind.STATE, Payment: Kind.PAYMENT, Cheque: Kind.CHEQUE}


@given(kind=st.sampled_from(list(Kind)), message=st.one_of(messages, rewards))
def test_digest_equals_eth_account(kind: Kind, message: Any) -> None:
    typed = _typed(kind, message)
    expected = _hash_eip191_message(encode_typed_data(full_message=typed))
    # _typed uses chain 31337 and CONTRACT
    assert eip712.digest(Domain(kind, 31337, CONTRACT), message) == expected


@given(digest=st.binary(min_size=32, max_size=32), signature=st.binary(max_size=70))
def test_recover_never_raises_and_is_strict(digest: bytes, signature: bytes) -> None:
    signer = eip712.recover(digest, signature)
    if signer is not None:
        assert len(signature) == 65 and signature[64] in (27, 28)
        assert 1 <= int.from_bytes(signature[32:64], "big") <= eip712.HALF_N
        assert len(signer) == 20


@st.composite
def requests(draw: st.DrawFn) -> MonitoringRequest:
    message = draw(messages)
    kind = KIND_OF[type(message)]
    count = 2 if kind is Kind.STATE else 1
    reward = draw(st.one_of(st.none(), rewards))
    return MonitoringRequest(
        kind,
        draw(u256),
        draw(addresses),
        message,
        tuple(draw(signatures) for _ in range(count)),
        reward,
        draw(signatures) if reward is not None else b"",
    )


@given(request=requests())
def test_json_round_trip_and_schema(request: MonitoringRequest) -> None:
    document = codec.to_json(request)
    assert list(errors(SCHEMA, document)) == []
    assert codec.loads(codec.dumps(request)) == request


@given(
    request=requests(),
    path=st.lists(
        st.sampled_from(["kind", "contract", "state", "payment", "cheque", "reward"]), max_size=1
    ),
    value=st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=5), st.just([])),
)
def test_a_mangled_document_is_refused_or_schema_valid(
    request: MonitoringRequest, path: list[str], value: Any
) -> None:
    document = codec.to_json(request)
    for key in path:
        document[key] = value
    try:
        parsed = codec.parse_request(document)
    except RequestError as exc:
        assert "\n" not in str(exc)
    else:
        assert list(errors(SCHEMA, document)) == []
        assert codec.parse_request(codec.to_json(parsed)) == parsed
