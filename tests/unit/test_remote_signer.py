"""The remote signer: transactions signed by another process over ``eth_signTransaction``, and
checked field by field before the service records or sends them (issue 14)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from watchtower.errors import InputError
from watchtower.submit.remote_signer import RemoteSigner, RemoteSignerError
from watchtower.submit.signer import load_signer

TX: dict[str, Any] = {
    "to": "0x" + "22" * 20,
    "value": 5,
    "gas": 100_000,
    "maxFeePerGas": 30 * 10**9,
    "maxPriorityFeePerGas": 10**9,
    "nonce": 7,
    "chainId": 31337,
    "data": b"\x12\x34",
    "type": 2,
}


def _from_request(params: dict[str, Any]) -> dict[str, Any]:
    """The transaction a signer rebuilds from the JSON-RPC request (hex quantities)."""
    tx = {k: int(v, 16) for k, v in params.items() if k not in ("from", "to", "data", "type")}
    return {**tx, "to": params["to"], "data": params["data"], "type": 2}


def _signer_process(
    key: LocalAccount, tamper: Callable[[dict[str, Any]], dict[str, Any]] = lambda t: t
) -> Callable[[str, bytes, float], bytes]:
    """A signer that signs what it is asked (after ``tamper``) with ``key``."""

    def post(_url: str, body: bytes, _timeout: float) -> bytes:
        request = json.loads(body)
        if request["method"] == "eth_accounts":
            return json.dumps({"id": request["id"], "result": [key.address]}).encode()
        tx = tamper(_from_request(request["params"][0]))
        raw = key.sign_transaction(tx).raw_transaction
        return json.dumps({"id": request["id"], "result": "0x" + bytes(raw).hex()}).encode()

    return post


def test_an_honest_signer_signs_exactly_what_was_asked() -> None:
    key = Account.create()
    signer = RemoteSigner("http://signer", key.address, post=_signer_process(key))
    signed = signer.sign_transaction(TX)
    assert signed.raw_transaction == key.sign_transaction(TX).raw_transaction
    assert signed.hash == key.sign_transaction(TX).hash
    assert signer.accounts() == [key.address]


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (lambda t: {**t, "to": "0x" + "66" * 20}, "changed to"),
        (lambda t: {**t, "value": t["value"] + 1}, "changed value"),
        (lambda t: {**t, "data": "0x"}, "changed data"),
        (lambda t: {**t, "nonce": t["nonce"] + 1}, "changed nonce"),
        (lambda t: {**t, "maxFeePerGas": t["maxFeePerGas"] * 10}, "changed maxFeePerGas"),
        (lambda t: {**t, "chainId": 1}, "changed chainId"),
    ],
)
def test_a_signer_that_changes_the_transaction_is_refused(
    tamper: Callable[[dict[str, Any]], dict[str, Any]], expected: str
) -> None:
    key = Account.create()
    signer = RemoteSigner("http://signer", key.address, post=_signer_process(key, tamper))
    with pytest.raises(RemoteSignerError, match=expected):
        signer.sign_transaction(TX)


def test_a_signer_that_signs_with_another_key_is_refused() -> None:
    key, other = Account.create(), Account.create()
    signer = RemoteSigner("http://signer", key.address, post=_signer_process(other))
    with pytest.raises(RemoteSignerError, match="signed as"):
        signer.sign_transaction(TX)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (b'{"id": 1, "error": {"code": -32000, "message": "locked"}}', "refused .*locked"),
        (b"<html>", "non-JSON"),
        (b'{"id": 1, "result": "0x02c0"}', "undecodable"),
        (b'{"id": 1, "result": null}', "no raw"),
    ],
)
def test_a_broken_signer_is_one_line(answer: bytes, expected: str) -> None:
    signer = RemoteSigner("http://signer", "0x" + "11" * 20, post=lambda *_: answer)
    with pytest.raises(RemoteSignerError, match=expected):
        signer.sign_transaction(TX)


def test_geth_style_answers_are_read() -> None:
    key = Account.create()
    raw = "0x" + bytes(key.sign_transaction(TX).raw_transaction).hex()
    body = json.dumps({"id": 1, "result": {"raw": raw, "tx": {}}}).encode()
    signer = RemoteSigner("http://signer", key.address, post=lambda *_: body)
    assert signer.sign_transaction(TX).raw_transaction.hex() == raw.removeprefix("0x")


def test_an_unreachable_signer_says_so() -> None:
    signer = RemoteSigner("http://127.0.0.1:1", "0x" + "11" * 20, timeout=2)
    with pytest.raises(RemoteSignerError, match="unreachable"):
        signer.sign_transaction(TX)


def test_a_remote_signer_excludes_a_local_key() -> None:
    with pytest.raises(InputError, match="choose one"):
        load_signer(key_env="K", remote_url="http://s", remote_address="0x" + "11" * 20)
    with pytest.raises(InputError, match="both"):
        load_signer(remote_url="http://s")
    with pytest.raises(InputError, match="not an address"):
        load_signer(remote_url="http://s", remote_address="0xnope")
