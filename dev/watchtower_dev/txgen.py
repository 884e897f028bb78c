"""Deterministic keys and signed L2 transactions for fixtures, tests and benchmarks."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import rlp
from eth.vm.forks.cancun.transactions import CancunTransactionBuilder
from eth_hash.auto import keccak
from eth_keys.datatypes import PrivateKey
from eth_typing import Address

from watchtower.rollup.params import BRIDGE_ADDRESS, DEFAULT_BASE_FEE, SECP256K1_N, TRANSFER_GAS


@dataclass(frozen=True)
class Account:
    """A deterministic test account: key ``keccak(seed || index)``."""

    seed: bytes
    index: int

    @cached_property
    def key(self) -> PrivateKey:
        secret = int.from_bytes(keccak(self.seed + self.index.to_bytes(8, "big")), "big")
        return PrivateKey(((secret % (SECP256K1_N - 1)) + 1).to_bytes(32, "big"))

    @cached_property
    def address(self) -> bytes:
        return bytes(self.key.public_key.to_canonical_address())


@dataclass(frozen=True)
class KeyAccount:
    """An L2 account of a given private key (e.g. the key of an L1 account: a withdrawal pays
    its sender's own address on L1)."""

    key: PrivateKey

    @classmethod
    def from_hex(cls, key: str | bytes) -> KeyAccount:
        raw = bytes.fromhex(key.removeprefix("0x")) if isinstance(key, str) else key
        return cls(PrivateKey(raw))

    @property
    def address(self) -> bytes:
        return bytes(self.key.public_key.to_canonical_address())


#: Anything that signs L2 transactions.
Signer = Account | KeyAccount


def accounts(count: int, seed: bytes = b"watchtower") -> list[Account]:
    return [Account(seed, i) for i in range(count)]


def transfer(
    sender: Signer,
    to: bytes,
    *,
    nonce: int,
    value: int,
    chain_id: int,
    max_fee: int = 2 * DEFAULT_BASE_FEE,
    tip: int = DEFAULT_BASE_FEE // 10,
    gas: int = TRANSFER_GAS,
    data: bytes = b"",
    access_list: tuple[tuple[bytes, tuple[int, ...]], ...] = (),
) -> bytes:
    """A signed EIP-1559 transfer."""
    unsigned = CancunTransactionBuilder.new_unsigned_dynamic_fee_transaction(
        chain_id=chain_id,
        nonce=nonce,
        max_priority_fee_per_gas=tip,
        max_fee_per_gas=max_fee,
        gas=gas,
        to=Address(to),
        value=value,
        data=data,
        access_list=[(Address(a), list(slots)) for a, slots in access_list],
    )
    return bytes(unsigned.as_signed_transaction(sender.key).encode())


def legacy_transfer(
    sender: Account,
    to: bytes,
    *,
    nonce: int,
    value: int,
    chain_id: int | None,
    gas_price: int = 2 * DEFAULT_BASE_FEE,
    gas: int = TRANSFER_GAS,
    data: bytes = b"",
) -> bytes:
    """A signed legacy transfer (EIP-155 with ``chain_id``, pre-EIP-155 without)."""
    unsigned = CancunTransactionBuilder.create_unsigned_transaction(
        nonce=nonce, gas_price=gas_price, gas=gas, to=Address(to), value=value, data=data
    )
    signed = unsigned.as_signed_transaction(sender.key, chain_id=chain_id)  # type: ignore[arg-type]
    return bytes(rlp.encode(signed))


def with_high_s(tx_bytes: bytes) -> bytes:
    """The same EIP-1559 transaction with the signature's ``s`` replaced by ``n - s``.

    The signature still recovers the same sender, but EIP-2 forbids high ``s``.
    """
    assert tx_bytes[0] == 2
    fields = rlp.decode(tx_bytes[1:])
    y_parity = int.from_bytes(fields[9], "big")
    s = int.from_bytes(fields[11], "big")
    fields[9] = rlp.sedes.big_endian_int.serialize(1 - y_parity)
    fields[11] = rlp.sedes.big_endian_int.serialize(SECP256K1_N - s)
    return b"\x02" + bytes(rlp.encode(fields))


def withdrawal(sender: Signer, *, nonce: int, value: int, chain_id: int) -> bytes:
    """A signed withdrawal (protocol.md §8.3): a transfer of ``value`` to ``BRIDGE_ADDRESS``, paid
    on L1 to the sender's own address once its batch is final."""
    return transfer(sender, BRIDGE_ADDRESS, nonce=nonce, value=value, chain_id=chain_id)
