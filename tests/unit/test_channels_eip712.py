"""EIP-712 digests against eth-account's encode_typed_data, strict recovery, the receipt."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_defunct, encode_typed_data
from eth_utils import to_checksum_address

from watchtower.channels import eip712
from watchtower.channels.types import (
    DOMAIN_NAMES,
    ChannelState,
    Cheque,
    Domain,
    Kind,
    MonitoringRequest,
    Payment,
    Reward,
)

KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
CONTRACT = bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")
MONITOR = bytes.fromhex("70997970c51812dc3a010c7d01b50e0d17dc79c8")
N = eip712.SECP256K1_N

MESSAGES = [
    (Kind.STATE, ChannelState(3, 7, 10**18, 2 * 10**18)),
    (Kind.PAYMENT, Payment(5, 12345)),
    (Kind.CHEQUE, Cheque(MONITOR, 99)),
    (Kind.STATE, Reward(3, 7, 1000, MONITOR)),
]

TYPES = {
    "State": [
        ("channelId", "uint256"),
        ("nonce", "uint256"),
        ("balanceA", "uint256"),
        ("balanceB", "uint256"),
    ],
    "Payment": [("channelId", "uint256"), ("amount", "uint256")],
    "Cheque": [("beneficiary", "address"), ("cumulativePayout", "uint256")],
    "Reward": [
        ("channelId", "uint256"),
        ("nonce", "uint256"),
        ("amount", "uint256"),
        ("monitor", "address"),
    ],
}


def _typed(kind: Kind, message: object) -> dict[str, object]:
    if isinstance(message, ChannelState):
        name, data = (
            "State",
            {
                "channelId": message.channel_id,
                "nonce": message.nonce,
                "balanceA": message.balance_a,
                "balanceB": message.balance_b,
            },
        )
    elif isinstance(message, Payment):
        name, data = "Payment", {"channelId": message.channel_id, "amount": message.amount}
    elif isinstance(message, Cheque):
        name = "Cheque"
        data = {
            "beneficiary": to_checksum_address(message.beneficiary),
            "cumulativePayout": message.cumulative_payout,
        }
    else:
        assert isinstance(message, Reward)
        name = "Reward"
        data = {
            "channelId": message.channel_id,
            "nonce": message.nonce,
            "amount": message.amount,
            "monitor": to_checksum_address(message.monitor),
        }
    return {
        "domain": {
            "name": DOMAIN_NAMES[kind],
            "version": "1",
            "chainId": 31337,
            "verifyingContract": to_checksum_address(CONTRACT),
        },
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            name: [{"name": n, "type": t} for n, t in TYPES[name]],
        },
        "primaryType": name,
        "message": data,
    }


@pytest.mark.parametrize(("kind", "message"), MESSAGES)
def test_digest_equals_eth_account(kind: Kind, message: object) -> None:
    domain = Domain(kind, 31337, CONTRACT)
    expected = _hash_eip191_message(encode_typed_data(full_message=_typed(kind, message)))
    assert eip712.digest(domain, message) == expected  # type: ignore[arg-type]
    signed = Account.sign_typed_data(KEY, full_message=_typed(kind, message))
    assert eip712.recover(expected, bytes(signed.signature)) == eip712.address_of(KEY)
    assert eip712.sign(KEY, domain, message) == bytes(signed.signature)  # type: ignore[arg-type]


def test_another_domain_gives_another_digest() -> None:
    msg = Payment(1, 2)
    base = eip712.digest(Domain(Kind.PAYMENT, 1, CONTRACT), msg)
    assert base != eip712.digest(Domain(Kind.PAYMENT, 2, CONTRACT), msg)
    assert base != eip712.digest(Domain(Kind.PAYMENT, 1, MONITOR), msg)
    assert base != eip712.digest(Domain(Kind.STATE, 1, CONTRACT), msg)


def _parts(sig: bytes) -> tuple[int, int, int]:
    return int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]


def _join(r: int, s: int, v: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])


def test_recover_is_strict() -> None:
    d = eip712.digest(Domain(Kind.PAYMENT, 1, CONTRACT), Payment(1, 2))
    sig = eip712.sign_digest(KEY, d)
    r, s, v = _parts(sig)
    assert s <= eip712.HALF_N and v in (27, 28)
    assert eip712.recover(d, sig) == eip712.address_of(KEY)
    assert eip712.recover(d, _join(r, N - s, v ^ 1)) is None  # high s (the malleable twin)
    assert eip712.recover(d, _join(r, s, v - 27)) is None  # v 0/1
    assert eip712.recover(d, _join(r, s, 29)) is None
    assert eip712.recover(d, _join(0, s, v)) is None
    assert eip712.recover(d, _join(N, s, v)) is None
    assert eip712.recover(d, _join(r, 0, v)) is None
    assert eip712.recover(d, sig[:64]) is None
    assert eip712.recover(d, sig + b"\x00") is None
    assert eip712.recover(d, b"") is None
    assert eip712.recover(d[:31], sig) is None
    other = eip712.recover(d, _join(r, s, v ^ 1 ^ 27 ^ 27))  # the other recovery id
    assert other != eip712.address_of(KEY)


def test_receipt_is_eip191_over_request_digest_and_time() -> None:
    req = MonitoringRequest(Kind.PAYMENT, 1, CONTRACT, Payment(1, 2), (b"\x01" * 65,))
    inner = eip712.keccak(eip712.request_digest(req) + (1700000000).to_bytes(32, "big"))
    expected = _hash_eip191_message(encode_defunct(primitive=inner))
    assert eip712.receipt_digest(req, 1700000000) == expected
    assert eip712.receipt_digest(req, 1700000001) != expected
    sig = eip712.sign_receipt(KEY, req, 1700000000)
    assert Account.recover_message(encode_defunct(primitive=inner), signature=sig) == (
        to_checksum_address(eip712.address_of(KEY))
    )
    with_reward = MonitoringRequest(
        Kind.PAYMENT, 1, CONTRACT, Payment(1, 2), (b"\x01" * 65,), Reward(1, 2, 3, MONITOR)
    )
    assert eip712.request_digest(with_reward) != eip712.request_digest(req)
