"""A monitoring request as JSON and back (docs/channels.md §5; the schema:
docs/schemas/monitoring-request.v1.schema.json). Strict like the bundle parser: an unknown key,
a missing field, a malformed address or quantity is a :class:`~watchtower.errors.RequestError`
naming its JSON path. Pure: no I/O.

::

    {"kind": "state", "chain_id": 31337, "contract": "0x…",
     "state": {"channel_id": 3, "nonce": 7, "balance_a": "0x…", "balance_b": "0x…",
               "signature_a": "0x<65 bytes>", "signature_b": "0x<65 bytes>"},
     "reward": {"channel_id": 3, "nonce": 7, "amount": 1000, "monitor": "0x…",
                "signature": "0x<65 bytes>"}}

``payment``: ``{"channel_id", "amount", "signature"}`` (the sender's); ``cheque``:
``{"beneficiary", "cumulative_payout", "signature"}`` (the issuer's). The message's key is the
request's ``kind``. Quantities are JSON integers or ``0x`` hex strings (written as hex strings:
a uint256 does not fit a JavaScript number); addresses are ``0x`` and 40 hex digits, in one
letter case or with a valid EIP-55 checksum.
"""

from __future__ import annotations

import json
import re
from typing import Any

from eth_utils.address import is_checksum_address, to_checksum_address

from watchtower.channels.types import (
    ChannelState,
    Cheque,
    Kind,
    Message,
    MonitoringRequest,
    Payment,
    Reward,
)
from watchtower.errors import RequestError

UINT256_MAX = 2**256 - 1
SIGNATURE_BYTES = 65

TOP_KEYS = {
    Kind.STATE: frozenset({"kind", "chain_id", "contract", "state", "reward"}),
    Kind.PAYMENT: frozenset({"kind", "chain_id", "contract", "payment", "reward"}),
    Kind.CHEQUE: frozenset({"kind", "chain_id", "contract", "cheque", "reward"}),
}
STATE_KEYS = frozenset(
    {"channel_id", "nonce", "balance_a", "balance_b", "signature_a", "signature_b"}
)
PAYMENT_KEYS = frozenset({"channel_id", "amount", "signature"})
CHEQUE_KEYS = frozenset({"beneficiary", "cumulative_payout", "signature"})
REWARD_KEYS = frozenset({"channel_id", "nonce", "amount", "monitor", "signature"})

_HEX = re.compile(r"^0x[0-9a-fA-F]*$")


def _object(value: Any, where: str, allowed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RequestError(where, f"expected an object, got {type(value).__name__}")
    for key in value:
        if key not in allowed:
            path = key if where == "top level" else f"{where}.{key}"
            raise RequestError(str(path), f"unknown key (allowed: {', '.join(sorted(allowed))})")
    for key in sorted(allowed - {"reward"}):
        if key not in value:
            raise RequestError(where, f"missing field {key!r}")
    return value


def _quantity(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise RequestError(where, "expected a number, got a boolean")
    if isinstance(value, int):
        result = value
    elif isinstance(value, str):
        if not _HEX.match(value) or len(value) < 3:
            raise RequestError(where, f"expected a 0x-prefixed hex quantity, got {value!r:.80}")
        result = int(value, 16)
    else:
        raise RequestError(where, f"expected a number, got {type(value).__name__}")
    if result < 0:
        raise RequestError(where, f"{result} is negative")
    if result > UINT256_MAX:
        raise RequestError(where, f"{value!r:.80} does not fit in a uint256")
    return result


def _hexbytes(value: Any, where: str, length: int) -> bytes:
    if not isinstance(value, str) or not _HEX.match(value):
        raise RequestError(where, f"expected 0x-prefixed hex, got {value!r:.80}")
    if len(value) != 2 + 2 * length:
        raise RequestError(where, f"expected {length} bytes, got {(len(value) - 2) / 2:g}")
    return bytes.fromhex(value[2:])


def _address(value: Any, where: str) -> bytes:
    raw = _hexbytes(value, where, 20)
    digits = value[2:]
    if digits != digits.lower() and digits != digits.upper() and not is_checksum_address(value):
        raise RequestError(where, f"{value} has a wrong EIP-55 checksum (mixed letter case)")
    return raw


def parse_request(document: Any) -> MonitoringRequest:
    """Validate a decoded JSON document and build the :class:`MonitoringRequest`."""
    if not isinstance(document, dict):
        raise RequestError("top level", f"expected an object, got {type(document).__name__}")
    if "kind" not in document:
        raise RequestError("top level", "missing field 'kind'")
    raw_kind = document["kind"]
    if not isinstance(raw_kind, str) or raw_kind not in {k.value for k in Kind}:
        raise RequestError("kind", f"{raw_kind!r:.40} is not one of state, payment, cheque")
    kind = Kind(raw_kind)
    _object(document, "top level", TOP_KEYS[kind])
    chain_id = _quantity(document["chain_id"], "chain_id")
    contract = _address(document["contract"], "contract")
    raw = document[kind.value]
    message: Message
    signatures: tuple[bytes, ...]
    if kind is Kind.STATE:
        _object(raw, "state", STATE_KEYS)
        message = ChannelState(
            channel_id=_quantity(raw["channel_id"], "state.channel_id"),
            nonce=_quantity(raw["nonce"], "state.nonce"),
            balance_a=_quantity(raw["balance_a"], "state.balance_a"),
            balance_b=_quantity(raw["balance_b"], "state.balance_b"),
        )
        signatures = (
            _hexbytes(raw["signature_a"], "state.signature_a", SIGNATURE_BYTES),
            _hexbytes(raw["signature_b"], "state.signature_b", SIGNATURE_BYTES),
        )
    elif kind is Kind.PAYMENT:
        _object(raw, "payment", PAYMENT_KEYS)
        message = Payment(
            channel_id=_quantity(raw["channel_id"], "payment.channel_id"),
            amount=_quantity(raw["amount"], "payment.amount"),
        )
        signatures = (_hexbytes(raw["signature"], "payment.signature", SIGNATURE_BYTES),)
    else:
        _object(raw, "cheque", CHEQUE_KEYS)
        message = Cheque(
            beneficiary=_address(raw["beneficiary"], "cheque.beneficiary"),
            cumulative_payout=_quantity(raw["cumulative_payout"], "cheque.cumulative_payout"),
        )
        signatures = (_hexbytes(raw["signature"], "cheque.signature", SIGNATURE_BYTES),)
    reward: Reward | None = None
    reward_signature = b""
    if "reward" in document:
        raw_reward = _object(document["reward"], "reward", REWARD_KEYS)
        reward = Reward(
            channel_id=_quantity(raw_reward["channel_id"], "reward.channel_id"),
            nonce=_quantity(raw_reward["nonce"], "reward.nonce"),
            amount=_quantity(raw_reward["amount"], "reward.amount"),
            monitor=_address(raw_reward["monitor"], "reward.monitor"),
        )
        reward_signature = _hexbytes(raw_reward["signature"], "reward.signature", SIGNATURE_BYTES)
    return MonitoringRequest(
        kind=kind,
        chain_id=chain_id,
        contract=contract,
        message=message,
        signatures=signatures,
        reward=reward,
        reward_signature=reward_signature,
    )


def loads(text: str | bytes) -> MonitoringRequest:
    """Parse JSON text; invalid JSON is a :class:`RequestError` too."""
    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError("top level", f"not JSON: {' '.join(str(exc).split())}") from None
    return parse_request(document)


def _q(value: int) -> str:
    return hex(value)


def _h(value: bytes) -> str:
    return "0x" + value.hex()


def to_json(request: MonitoringRequest) -> dict[str, Any]:
    """The JSON document of ``request`` (``parse_request(to_json(r)) == r`` for every request
    whose signatures are 65 bytes)."""
    message = request.message
    body: dict[str, Any]
    if isinstance(message, ChannelState):
        body = {
            "channel_id": _q(message.channel_id),
            "nonce": _q(message.nonce),
            "balance_a": _q(message.balance_a),
            "balance_b": _q(message.balance_b),
            "signature_a": _h(request.signatures[0]),
            "signature_b": _h(request.signatures[1]),
        }
    elif isinstance(message, Payment):
        body = {
            "channel_id": _q(message.channel_id),
            "amount": _q(message.amount),
            "signature": _h(request.signatures[0]),
        }
    else:
        body = {
            "beneficiary": to_checksum_address(message.beneficiary),
            "cumulative_payout": _q(message.cumulative_payout),
            "signature": _h(request.signatures[0]),
        }
    document: dict[str, Any] = {
        "kind": request.kind.value,
        "chain_id": request.chain_id,
        "contract": to_checksum_address(request.contract),
        request.kind.value: body,
    }
    if request.reward is not None:
        document["reward"] = {
            "channel_id": _q(request.reward.channel_id),
            "nonce": _q(request.reward.nonce),
            "amount": _q(request.reward.amount),
            "monitor": to_checksum_address(request.reward.monitor),
            "signature": _h(request.reward_signature),
        }
    return document


def dumps(request: MonitoringRequest) -> str:
    """``to_json`` as compact JSON text with sorted keys."""
    return json.dumps(to_json(request), sort_keys=True, separators=(",", ":"))
