"""EIP-712 digests, strict signature recovery and signing for the channel messages
(docs/channels.md §1), and the guardian's receipt (§5). Pure: no I/O.

:func:`digest` equals eth-account's ``encode_typed_data(...)`` hashed for signing
(``keccak(0x1901 || domainSeparator || hashStruct(message))``); the tests check it against
eth-account. :func:`recover` accepts only a 65-byte ``r || s || v`` with ``v ∈ {27, 28}``,
``1 ≤ r < n`` and ``1 ≤ s ≤ n/2`` (EIP-2) and answers ``None`` for anything else.
"""

from __future__ import annotations

from eth_hash.auto import keccak
from eth_keys.datatypes import PrivateKey, Signature
from eth_keys.exceptions import BadSignature
from eth_utils.exceptions import ValidationError

from watchtower.channels.types import (
    DOMAIN_NAMES,
    DOMAIN_VERSION,
    ChannelState,
    Cheque,
    Domain,
    Message,
    MonitoringRequest,
    Payment,
    Reward,
)

#: The order of the secp256k1 group.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HALF_N = SECP256K1_N // 2

DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
STATE_TYPE = "State(uint256 channelId,uint256 nonce,uint256 balanceA,uint256 balanceB)"
PAYMENT_TYPE = "Payment(uint256 channelId,uint256 amount)"
CHEQUE_TYPE = "Cheque(address beneficiary,uint256 cumulativePayout)"
REWARD_TYPE = "Reward(uint256 channelId,uint256 nonce,uint256 amount,address monitor)"

DOMAIN_TYPEHASH = keccak(DOMAIN_TYPE.encode())
STATE_TYPEHASH = keccak(STATE_TYPE.encode())
PAYMENT_TYPEHASH = keccak(PAYMENT_TYPE.encode())
CHEQUE_TYPEHASH = keccak(CHEQUE_TYPE.encode())
REWARD_TYPEHASH = keccak(REWARD_TYPE.encode())

UINT256_MAX = 2**256 - 1


def _word(value: int) -> bytes:
    if not 0 <= value <= UINT256_MAX:
        raise ValueError(f"{value} does not fit in a uint256")
    return value.to_bytes(32, "big")


def _address(value: bytes) -> bytes:
    if len(value) != 20:
        raise ValueError(f"an address is 20 bytes, got {len(value)}")
    return bytes(12) + value


def domain_separator(domain: Domain) -> bytes:
    """``hashStruct(EIP712Domain)`` of the contract ``domain`` names."""
    return keccak(
        DOMAIN_TYPEHASH
        + keccak(DOMAIN_NAMES[domain.kind].encode())
        + keccak(DOMAIN_VERSION.encode())
        + _word(domain.chain_id)
        + _address(domain.contract)
    )


def hash_struct(message: Message | Reward) -> bytes:
    """``hashStruct`` of one message (docs/channels.md §1 types)."""
    if isinstance(message, ChannelState):
        return keccak(
            STATE_TYPEHASH
            + _word(message.channel_id)
            + _word(message.nonce)
            + _word(message.balance_a)
            + _word(message.balance_b)
        )
    if isinstance(message, Payment):
        return keccak(PAYMENT_TYPEHASH + _word(message.channel_id) + _word(message.amount))
    if isinstance(message, Cheque):
        return keccak(
            CHEQUE_TYPEHASH + _address(message.beneficiary) + _word(message.cumulative_payout)
        )
    return keccak(
        REWARD_TYPEHASH
        + _word(message.channel_id)
        + _word(message.nonce)
        + _word(message.amount)
        + _address(message.monitor)
    )


def digest(domain: Domain, message: Message | Reward) -> bytes:
    """The 32 bytes that are signed: ``keccak(0x1901 || domainSeparator || hashStruct)``."""
    return keccak(b"\x19\x01" + domain_separator(domain) + hash_struct(message))


def recover(message_digest: bytes, signature: bytes) -> bytes | None:
    """The 20-byte address that signed ``message_digest``, or ``None`` when the signature is not
    a strict one (65 bytes, ``v ∈ {27, 28}``, ``1 ≤ r < n``, ``1 ≤ s ≤ n/2``) or recovers to
    no key."""
    if len(message_digest) != 32 or len(signature) != 65:
        return None
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    v = signature[64]
    if v not in (27, 28) or not 1 <= r < SECP256K1_N or not 1 <= s <= HALF_N:
        return None
    try:
        public = Signature(vrs=(v - 27, r, s)).recover_public_key_from_msg_hash(message_digest)
    except (BadSignature, ValidationError, ValueError):
        return None
    return bytes(public.to_canonical_address())


def sign_digest(private_key: bytes, message_digest: bytes) -> bytes:
    """A strict 65-byte ``r || s || v`` signature (low ``s``, ``v ∈ {27, 28}``). For tests and
    development tools: the service signs receipts through its own signer."""
    sig = PrivateKey(private_key).sign_msg_hash(message_digest)
    r, s, v = int(sig.r), int(sig.s), int(sig.v)
    if s > HALF_N:  # eth-keys already answers low s; kept so the result is strict regardless
        s, v = SECP256K1_N - s, v ^ 1
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([27 + v])


def sign(private_key: bytes, domain: Domain, message: Message | Reward) -> bytes:
    """Sign one message under ``domain`` (tests and development tools)."""
    return sign_digest(private_key, digest(domain, message))


def address_of(private_key: bytes) -> bytes:
    """The 20-byte address of a private key."""
    return bytes(PrivateKey(private_key).public_key.to_canonical_address())


def request_digest(request: MonitoringRequest) -> bytes:
    """What a receipt commits to: ``keccak(digest(message) || digest(reward) or 32 zero
    bytes)``, both under the request's domain (docs/channels.md §5)."""
    reward = digest(request.domain, request.reward) if request.reward is not None else bytes(32)
    return keccak(digest(request.domain, request.message) + reward)


def receipt_digest(request: MonitoringRequest, accepted_at: int) -> bytes:
    """The EIP-191 (``personal_sign``, version ``0x45``) hash the guardian signs as a receipt:
    of the 32-byte ``keccak(request_digest(request) || uint256(accepted_at))``."""
    inner = keccak(request_digest(request) + _word(accepted_at))
    return bytes(keccak(b"\x19Ethereum Signed Message:\n32" + inner))


def sign_receipt(private_key: bytes, request: MonitoringRequest, accepted_at: int) -> bytes:
    """The guardian's receipt signature (the service may sign :func:`receipt_digest` with its
    own signer instead)."""
    return sign_digest(private_key, receipt_digest(request, accepted_at))
