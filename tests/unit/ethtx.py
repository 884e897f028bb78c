"""Signed Ethereum transactions of every Cancun type, built field by field for the rule tests.

Independent of py-evm's builders: the RLP and the signing hashes are written out here (EIP-155,
EIP-2930, EIP-1559, EIP-4844), so a test can produce bytes that py-evm's own builders refuse to
make (a high ``s``, a ``v`` of another chain, a blob transaction without a recipient...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import coincurve
import rlp
from eth_hash.auto import keccak

from watchtower.execute.state import WatchtowerState, build_genesis, open_state
from watchtower.execute.statedb import PendingWrites, StateDB
from watchtower.execute.transition import RuleSet, apply_step
from watchtower.rollup.types import BlockContext, GenesisAccount, StepOutcome

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
KEY = coincurve.PrivateKey(b"\x01" * 32)
SENDER = bytes(keccak(KEY.public_key.format(compressed=False)[1:]))[12:]
RECIPIENT = bytes.fromhex("00000000000000000000000000000000000000aa")
COINBASE = bytes.fromhex("00000000000000000000000000000000000000cc")
BLOB_HASH = b"\x01" + b"\x11" * 31
CHAIN_ID = 1
BASE_FEE = 10
GAS_LIMIT = 1_000_000


@dataclass(frozen=True)
class Tx:
    """The fields of a transaction; ``sign`` turns it into the bytes a block would carry."""

    type: int = 2
    chain_id: int | None = CHAIN_ID  # legacy: None = pre-EIP-155 (v = 27/28)
    nonce: int = 0
    gas_price: int = BASE_FEE  # types 0 and 1
    max_priority_fee: int = 1  # types 2 and 3
    max_fee: int = BASE_FEE  # types 2 and 3
    gas: int = 21_000
    to: bytes | None = RECIPIENT  # None = contract creation
    value: int = 1
    data: bytes = b""
    access_list: Sequence[tuple[bytes, Sequence[bytes]]] = ()
    max_fee_per_blob_gas: int = 1
    blob_hashes: Sequence[bytes] = (BLOB_HASH,)
    # Signature overrides, applied after signing (None = the true value).
    v: int | None = None
    r: int | None = None
    s: int | None = None
    key: coincurve.PrivateKey = field(default=KEY)

    def _payload(self) -> list[object]:
        """The fields that are signed (EIP-155's chain id suffix aside)."""
        to = b"" if self.to is None else self.to
        access = [[address, list(keys)] for address, keys in self.access_list]
        if self.type == 0:
            return [self.nonce, self.gas_price, self.gas, to, self.value, self.data]
        if self.type == 1:
            head = [self.chain_id, self.nonce, self.gas_price, self.gas, to, self.value]
            return [*head, self.data, access]
        fields: list[object] = [self.chain_id, self.nonce, self.max_priority_fee, self.max_fee]
        fields += [self.gas, to, self.value, self.data, access]
        if self.type == 3:
            fields += [self.max_fee_per_blob_gas, list(self.blob_hashes)]
        return fields

    def signing_hash(self) -> bytes:
        fields = self._payload()
        if self.type == 0:
            if self.chain_id is not None:
                fields = [*fields, self.chain_id, 0, 0]
            return bytes(keccak(rlp.encode(fields)))
        return bytes(keccak(bytes([self.type]) + rlp.encode(fields)))

    def sign(self) -> bytes:
        signature = self.key.sign_recoverable(self.signing_hash(), hasher=None)
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:64], "big")
        parity = signature[64]
        if self.type == 0:
            v = 27 + parity if self.chain_id is None else 35 + 2 * self.chain_id + parity
        else:
            v = parity
        v = v if self.v is None else self.v
        r = r if self.r is None else self.r
        s = s if self.s is None else self.s
        fields = [*self._payload(), v, r, s]
        if self.type == 0:
            return rlp.encode(fields)
        return bytes([self.type]) + rlp.encode(fields)

    def high_s(self) -> Tx:
        """The same signature with ``s`` replaced by ``n - s`` (and the parity flipped): it
        recovers the same sender, and EIP-2 forbids it."""
        signature = self.key.sign_recoverable(self.signing_hash(), hasher=None)
        s = int.from_bytes(signature[32:64], "big")
        flipped = 1 - signature[64]
        if self.type == 0:
            v = 27 + flipped if self.chain_id is None else 35 + 2 * self.chain_id + flipped
        else:
            v = flipped
        return replace(self, s=SECP256K1_N - s, v=v)


def block(**overrides: int) -> BlockContext:
    fields: dict[str, int] = {"base_fee": BASE_FEE, "gas_limit": GAS_LIMIT, "chain_id": CHAIN_ID}
    fields.update(overrides)
    return BlockContext(number=1, timestamp=1_000, coinbase=COINBASE, **fields)


def sender_account(balance: int = 10**18, nonce: int = 0, code: bytes = b"") -> GenesisAccount:
    return GenesisAccount(balance=balance, nonce=nonce, code=code, storage={})


def fresh_state(
    store: StateDB,
    ctx: BlockContext | None = None,
    alloc: Mapping[bytes, GenesisAccount] | None = None,
) -> WatchtowerState:
    alloc = {SENDER: sender_account()} if alloc is None else alloc
    writes = PendingWrites(store)
    root = build_genesis(writes, alloc, rollup_rules=False)
    store.commit_nodes(writes)
    state = open_state(PendingWrites(store), root, ctx or block())
    state.make_state_root()
    return state


def run(
    store: StateDB,
    raw: bytes,
    ctx: BlockContext | None = None,
    alloc: Mapping[bytes, GenesisAccount] | None = None,
) -> tuple[bytes, StepOutcome]:
    """Apply ``raw`` in Ethereum mode on a fresh state; the root before and the outcome."""
    state = fresh_state(store, ctx, alloc)
    before = bytes(state.state_root)
    return before, apply_step(state, raw, RuleSet.ETHEREUM)
