"""A small, pure-Python reference of protocol.md §3 used to test the Solidity verifier.

It is written straight from the text, independently of both the Solidity code and
``watchtower.rollup``: its own strict RLP decoder, the validity table in order, and the effect of
§3.2 on a plain ``dict`` of accounts. Sender recovery uses libsecp256k1 (coincurve).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum

import coincurve
import rlp
from eth_utils import keccak
from trie import HexaryTrie

MAX_TX_BYTES = 4096
L2_GAS_LIMIT = 30_000_000
TX_GAS = 21_000
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
EMPTY_ROOT = keccak(rlp.encode(b""))
EMPTY_CODE_HASH = keccak(b"")
#: Cancun's precompiles are 0x…01 to 0x…0a; rule 13 refuses them as recipients.
PRECOMPILE_LAST = 0x0A


class Reason(IntEnum):
    """Row numbers of the table in protocol.md §3.1; 0 = valid."""

    VALID = 0
    UNDECODABLE = 1
    WRONG_CHAIN_ID = 2
    BAD_SIGNATURE = 3
    CONTRACT_CREATION = 4
    NONEMPTY_DATA = 5
    NONEMPTY_ACCESS_LIST = 6
    BAD_GAS_LIMIT = 7
    TIP_ABOVE_FEE_CAP = 8
    FEE_CAP_BELOW_BASE_FEE = 9
    SENDER_HAS_CODE = 10
    BAD_NONCE = 11
    INSUFFICIENT_BALANCE = 12
    RECIPIENT_HAS_CODE = 13


class UndecodableError(Exception):
    pass


# ---- strict RLP ---------------------------------------------------------------------------------

RlpValue = bytes | list["RlpValue"]


def _item(data: bytes, pos: int, end: int) -> tuple[RlpValue, int]:
    if pos >= end:
        raise UndecodableError("no item")
    b0 = data[pos]
    if b0 < 0x80:
        return data[pos : pos + 1], pos + 1
    if b0 < 0xB8 or 0xC0 <= b0 < 0xF8:
        is_list = b0 >= 0xC0
        length = b0 - (0xC0 if is_list else 0x80)
        start = pos + 1
    else:
        is_list = b0 >= 0xF8
        ll = b0 - (0xF7 if is_list else 0xB7)
        if pos + 1 + ll > end:
            raise UndecodableError("length runs past the end")
        raw_len = data[pos + 1 : pos + 1 + ll]
        if raw_len[0] == 0:
            raise UndecodableError("length with leading zero")
        length = int.from_bytes(raw_len, "big")
        if length <= 55:
            raise UndecodableError("long form for a short item")
        start = pos + 1 + ll
    stop = start + length
    if stop > end:
        raise UndecodableError("payload runs past the end")
    if not is_list:
        payload = data[start:stop]
        if length == 1 and payload[0] < 0x80:
            raise UndecodableError("single byte with a prefix")
        return payload, stop
    items: list[RlpValue] = []
    p = start
    while p < stop:
        it, p = _item(data, p, stop)
        items.append(it)
    return items, stop


def rlp_decode(data: bytes) -> RlpValue:
    value, stop = _item(data, 0, len(data))
    if stop != len(data):
        raise UndecodableError("trailing bytes")
    return value


def as_int(v: RlpValue) -> int:
    if not isinstance(v, bytes):
        raise UndecodableError("list where an integer is expected")
    if len(v) > 32:
        raise UndecodableError("integer wider than 32 bytes")
    if v[:1] == b"\x00":
        raise UndecodableError("integer with leading zero")
    return int.from_bytes(v, "big")


def as_bytes(v: RlpValue) -> bytes:
    if not isinstance(v, bytes):
        raise UndecodableError("list where a string is expected")
    return v


def as_to(v: RlpValue) -> bytes:
    b = as_bytes(v)
    if len(b) not in (0, 20):
        raise UndecodableError("to is neither empty nor 20 bytes")
    return b


def as_access_list(v: RlpValue) -> list[RlpValue]:
    if not isinstance(v, list):
        raise UndecodableError("access list is not a list")
    for entry in v:
        if not isinstance(entry, list) or len(entry) != 2:
            raise UndecodableError("access list entry is not a pair")
        if len(as_bytes(entry[0])) != 20:
            raise UndecodableError("access list address is not 20 bytes")
        keys = entry[1]
        if not isinstance(keys, list) or any(len(as_bytes(k)) != 32 for k in keys):
            raise UndecodableError("storage keys are not 32-byte strings")
    return v


# ---- transactions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tx:
    typed: bool
    chain_id: int
    nonce: int
    max_priority_fee: int
    max_fee: int
    gas: int
    to: bytes
    value: int
    data: bytes
    access_list: list[RlpValue]
    v: int  # legacy v, or y_parity
    r: int
    s: int
    signing_hash: bytes


def decode_tx(raw: bytes, chain_id: int) -> Tx:
    if not raw or len(raw) > MAX_TX_BYTES:
        raise UndecodableError("size")
    if raw[0] == 0x02:
        f = rlp_decode(raw[1:])
        if not isinstance(f, list) or len(f) != 12:
            raise UndecodableError("type 2 needs a list of 12")
        y = as_int(f[9])
        if y not in (0, 1):
            raise UndecodableError("y_parity")
        unsigned = f[:9]
        return Tx(
            True,
            as_int(f[0]),
            as_int(f[1]),
            as_int(f[2]),
            as_int(f[3]),
            as_int(f[4]),
            as_to(f[5]),
            as_int(f[6]),
            as_bytes(f[7]),
            as_access_list(f[8]),
            y,
            as_int(f[10]),
            as_int(f[11]),
            keccak(b"\x02" + rlp.encode(unsigned)),
        )
    f = rlp_decode(raw)
    if not isinstance(f, list) or len(f) != 9:
        raise UndecodableError("legacy needs a list of 9")
    price = as_int(f[1])
    unsigned = [*f[:6], chain_id, 0, 0]
    return Tx(
        False,
        0,
        as_int(f[0]),
        price,
        price,
        as_int(f[2]),
        as_to(f[3]),
        as_int(f[4]),
        as_bytes(f[5]),
        [],
        as_int(f[6]),
        as_int(f[7]),
        as_int(f[8]),
        keccak(rlp.encode(unsigned)),
    )


def recover(msg_hash: bytes, y_parity: int, r: int, s: int) -> bytes | None:
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([y_parity])
    try:
        pub = coincurve.PublicKey.from_signature_and_message(sig, msg_hash, hasher=None)
    except ValueError:
        return None
    return keccak(pub.format(compressed=False)[1:])[12:]


def check_stateless(
    raw: bytes, chain_id: int, base_fee: int
) -> tuple[Reason, Tx | None, bytes | None]:
    """Rules 1–9; returns (reason, tx, sender)."""
    try:
        tx = decode_tx(raw, chain_id)
    except UndecodableError:
        return Reason.UNDECODABLE, None, None
    if tx.typed:
        if tx.chain_id != chain_id:
            return Reason.WRONG_CHAIN_ID, tx, None
        y = tx.v
    else:
        if tx.v not in (2 * chain_id + 35, 2 * chain_id + 36):
            return Reason.WRONG_CHAIN_ID, tx, None
        y = tx.v - (2 * chain_id + 35)
    if not (1 <= tx.r < SECP256K1_N and 1 <= tx.s <= SECP256K1_N // 2):
        return Reason.BAD_SIGNATURE, tx, None
    sender = recover(tx.signing_hash, y, tx.r, tx.s)
    if sender is None:
        return Reason.BAD_SIGNATURE, tx, None
    if tx.to == b"":
        return Reason.CONTRACT_CREATION, tx, sender
    if tx.data:
        return Reason.NONEMPTY_DATA, tx, sender
    if tx.access_list:
        return Reason.NONEMPTY_ACCESS_LIST, tx, sender
    if not TX_GAS <= tx.gas <= L2_GAS_LIMIT:
        return Reason.BAD_GAS_LIMIT, tx, sender
    if tx.max_priority_fee > tx.max_fee:
        return Reason.TIP_ABOVE_FEE_CAP, tx, sender
    if tx.max_fee < base_fee:
        return Reason.FEE_CAP_BELOW_BASE_FEE, tx, sender
    return Reason.VALID, tx, sender


# ---- state and effect ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    nonce: int = 0
    balance: int = 0
    storage_root: bytes = EMPTY_ROOT
    code_hash: bytes = EMPTY_CODE_HASH

    def encode(self) -> bytes:
        return rlp.encode([self.nonce, self.balance, self.storage_root, self.code_hash])


State = dict[bytes, Account]


def state_trie(state: State) -> HexaryTrie:
    t = HexaryTrie({})
    for addr, acct in state.items():
        t[keccak(addr)] = acct.encode()
    return t


def execute(
    state: State, raw: bytes, chain_id: int, base_fee: int, coinbase: bytes
) -> tuple[Reason, bytes | None, State]:
    """Rules 1–13 and §3.2; returns (reason, sender, post-state)."""
    reason, tx, sender = check_stateless(raw, chain_id, base_fee)
    if reason != Reason.VALID:
        return reason, sender, state
    assert tx is not None and sender is not None
    s = state.get(sender, Account())
    if s.code_hash != EMPTY_CODE_HASH:
        return Reason.SENDER_HAS_CODE, sender, state
    if tx.nonce != s.nonce or tx.nonce >= 2**64 - 1:
        return Reason.BAD_NONCE, sender, state
    if s.balance < tx.gas * tx.max_fee + tx.value:
        return Reason.INSUFFICIENT_BALANCE, sender, state
    if (
        state.get(tx.to, Account()).code_hash != EMPTY_CODE_HASH
        or 1 <= int.from_bytes(tx.to, "big") <= PRECOMPILE_LAST
    ):
        return Reason.RECIPIENT_HAS_CODE, sender, state
    tip = min(tx.max_priority_fee, tx.max_fee - base_fee)
    price = base_fee + tip
    post = dict(state)
    post[sender] = replace(s, nonce=s.nonce + 1, balance=s.balance - TX_GAS * price - tx.value)
    if tx.value:
        t = post.get(tx.to, Account())
        post[tx.to] = replace(t, balance=t.balance + tx.value)
    if tip:
        c = post.get(coinbase, Account())
        post[coinbase] = replace(c, balance=c.balance + TX_GAS * tip)
    return Reason.VALID, sender, post


# ---- batches (protocol.md §4) -------------------------------------------------------------------

Steps = list[tuple[bytes, bytes]]  # (tx bytes, claimed root)


def encode_batch(index: int, prev_root: bytes, steps: Steps, version: int = 1) -> bytes:
    out = bytes([version]) + index.to_bytes(8, "big") + prev_root + len(steps).to_bytes(4, "big")
    for tx, root in steps:
        out += len(tx).to_bytes(4, "big") + tx + root
    return out


def step_leaf(k: int, tx_hash: bytes, root: bytes) -> bytes:
    return keccak(k.to_bytes(4, "big") + tx_hash + root)


def _levels(leaves: list[bytes]) -> list[list[bytes]]:
    size = 1
    while size < len(leaves):
        size *= 2
    level = leaves + [b"\x00" * 32] * (size - len(leaves))
    levels = [level]
    while len(level) > 1:
        level = [keccak(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        levels.append(level)
    return levels


def steps_root(steps: Steps) -> bytes:
    leaves = [step_leaf(k, keccak(tx), root) for k, (tx, root) in enumerate(steps)]
    return _levels(leaves)[-1][0]


def step_proof(steps: Steps, k: int) -> list[bytes]:
    leaves = [step_leaf(i, keccak(tx), root) for i, (tx, root) in enumerate(steps)]
    proof = []
    for level in _levels(leaves)[:-1]:
        proof.append(level[k ^ 1])
        k //= 2
    return proof


def state_proof(state: State, addrs: list[bytes]) -> list[bytes]:
    """The union of the account proofs of `addrs` in `state`, RLP-encoded, without duplicates."""
    if not state:
        return []
    t = state_trie(state)
    seen: dict[bytes, None] = {}
    for addr in addrs:
        for node in t.get_proof(keccak(addr)):
            seen.setdefault(rlp.encode(node), None)
    return list(seen)


def touched(raw: bytes, chain_id: int, base_fee: int, coinbase: bytes) -> list[bytes]:
    """Accounts a step may read: sender (if recoverable), `to`, coinbase."""
    _, tx, sender = check_stateless(raw, chain_id, base_fee)
    out = [coinbase]
    if sender is not None:
        out.append(sender)
    if tx is not None and tx.to:
        out.append(tx.to)
    return out


def sign_transfer(
    key: coincurve.PrivateKey,
    chain_id: int,
    nonce: int,
    to: bytes,
    value: int,
    *,
    typed: bool = True,
    max_fee: int = 2 * 10**9,
    prio: int = 10**9,
    gas: int = 21000,
) -> bytes:
    """A signed value transfer (type 2 or legacy EIP-155)."""
    if typed:
        unsigned: list[object] = [chain_id, nonce, prio, max_fee, gas, to, value, b"", []]
        sig = key.sign_recoverable(keccak(b"\x02" + rlp.encode(unsigned)), hasher=None)
        return b"\x02" + rlp.encode(
            [*unsigned, sig[64], int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big")]
        )
    unsigned = [nonce, max_fee, gas, to, value, b"", chain_id, 0, 0]
    sig = key.sign_recoverable(keccak(rlp.encode(unsigned)), hasher=None)
    v = 2 * chain_id + 35 + sig[64]
    return rlp.encode(
        [*unsigned[:6], v, int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big")]
    )


def address_of(key: coincurve.PrivateKey) -> bytes:
    return keccak(key.public_key.format(compressed=False)[1:])[12:]
