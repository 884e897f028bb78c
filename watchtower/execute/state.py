"""The EVM state the transition runs on: py-evm's Cancun state over the project's state database."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, cast

from eth.db.account import AccountDB
from eth.rlp.accounts import Account
from eth.vm.execution_context import ExecutionContext
from eth.vm.forks.cancun.state import CancunState
from eth_hash.auto import keccak
from eth_typing import Address, BlockNumber, Hash32
from eth_utils.logging import ExtendedDebugLogger, get_extended_debug_logger

from watchtower.errors import GenesisError
from watchtower.execute.trie import FastAccountDB, build_trie_sorted, encode_account, encode_node
from watchtower.rollup.params import BLANK_ROOT, EMPTY_CODE_HASH, UINT256_MAX
from watchtower.rollup.types import BlockContext, GenesisAccount


class WatchtowerState(CancunState):
    """py-evm's Cancun state on :class:`FastAccountDB`, without system contracts.

    The rollup has no beacon-roots contract, and Ethereum's state tests run without
    system calls, so ``set_system_contracts`` does nothing.
    """

    account_db_class: type[AccountDB] = FastAccountDB

    @property
    def logger(self) -> ExtendedDebugLogger:
        # py-evm looks the logger up by name on every use (several times a transaction)
        return _state_logger(type(self).__name__)

    def set_system_contracts(self) -> None:
        return None

    def has_code_or_nonce(self, address: Address) -> bool:
        """Whether deploying to ``address`` collides with an existing account.

        py-evm 0.12 looks at code and nonce only; Ethereum (EIP-7610, applied retroactively by
        geth and EELS) also refuses an address whose storage is not empty. Emptiness for EIP-161
        is unchanged: it is decided by the account DB, not here.
        """
        if super().has_code_or_nonce(address):
            return True
        account_db = cast(FastAccountDB, self._account_db)
        return account_db.storage_root_of(address) != BLANK_ROOT


class StockTrieState(WatchtowerState):
    """The same state on py-evm's stock ``AccountDB`` and py-trie: no node cache, no fast path.

    Used where only the database's own contents may be visible (checking a proof's witness).
    """

    account_db_class = AccountDB


@functools.cache
def _state_logger(name: str) -> ExtendedDebugLogger:
    return get_extended_debug_logger(f"eth.vm.state.{name}")


def _blockhash_for(number: int) -> bytes:
    # The convention of Ethereum's state tests, also used for L2 blocks: no real chain of headers.
    return bytes(keccak(str(number).encode()))


def execution_context(ctx: BlockContext) -> ExecutionContext:
    prev_hashes = [
        Hash32(_blockhash_for(n)) for n in range(ctx.number - 1, max(-1, ctx.number - 257), -1)
    ]
    return ExecutionContext(
        coinbase=Address(ctx.coinbase),
        timestamp=ctx.timestamp,
        block_number=BlockNumber(ctx.number),
        difficulty=ctx.difficulty,
        mix_hash=Hash32(ctx.prev_randao),
        gas_limit=ctx.gas_limit,
        prev_hashes=prev_hashes,
        chain_id=ctx.chain_id,
        base_fee_per_gas=ctx.base_fee,
        excess_blob_gas=ctx.excess_blob_gas,
    )


def open_state(
    db: Any, root: bytes, ctx: BlockContext, *, stock_trie: bool = False
) -> WatchtowerState:
    """A py-evm state at ``root`` over ``db`` (a py-evm ``AtomicDatabaseAPI``)."""
    state_class = StockTrieState if stock_trie else WatchtowerState
    return state_class(db, execution_context(ctx), Hash32(root))


def build_genesis(
    db: Any,
    alloc: Mapping[bytes, GenesisAccount],
    *,
    rollup_rules: bool = True,
    reference: bool = False,
) -> bytes:
    """Write a genesis allocation into ``db`` and return its state root.

    With ``rollup_rules`` the allocation must satisfy protocol.md §2 (no empty account, total
    balance below 2^256); Ethereum state tests may contain anything. The tries are built bottom
    up from sorted keys (:func:`~watchtower.execute.trie.build_trie_sorted`: a million accounts
    in seconds); ``reference`` builds them with py-evm's ``AccountDB`` instead, one account at
    a time (the same nodes and root: the differential tests compare the two).
    """
    if rollup_rules:
        total = 0
        for address, account in alloc.items():
            if account.is_empty:
                raise GenesisError(
                    f"genesis account 0x{address.hex()} is empty (nonce 0, balance 0, no code): "
                    "protocol.md §2 forbids it"
                )
            total += account.balance
        if total > UINT256_MAX:
            raise GenesisError("genesis balances add up to 2^256 or more (protocol.md §2)")
    for raw_address in alloc:
        if len(raw_address) != 20:
            raise GenesisError(f"genesis address 0x{raw_address.hex()} is not 20 bytes")
    if not reference:
        return _build_genesis_sorted(db, alloc)
    accounts = AccountDB(db, Hash32(BLANK_ROOT))
    for raw_address, account in alloc.items():
        address = Address(raw_address)
        if account.balance:
            accounts.set_balance(address, account.balance)
        if account.nonce:
            accounts.set_nonce(address, account.nonce)
        if account.code:
            accounts.set_code(address, account.code)
        for slot, value in account.storage.items():
            if value:
                accounts.set_storage(address, slot, value)
    accounts.persist()
    return bytes(accounts.state_root)


def _build_genesis_sorted(db: Any, alloc: Mapping[bytes, GenesisAccount]) -> bytes:
    def write(key: bytes, value: bytes) -> None:
        db[key] = value

    leaves: list[tuple[bytes, bytes]] = []
    for raw_address, account in alloc.items():
        if account.is_empty and not any(account.storage.values()):
            continue  # py-evm never writes an account it was given nothing for
        storage_root = BLANK_ROOT
        slots = sorted(
            (bytes(keccak(slot.to_bytes(32, "big"))), encode_node(_int_bytes(value)))
            for slot, value in account.storage.items()
            if value
        )
        if slots:
            storage_root = build_trie_sorted(slots, write)
        code_hash = EMPTY_CODE_HASH
        if account.code:
            code_hash = bytes(keccak(account.code))
            write(code_hash, account.code)
        fields = Account(account.nonce, account.balance, storage_root, code_hash)
        leaves.append((bytes(keccak(raw_address)), encode_account(fields)))
    leaves.sort()
    return build_trie_sorted(leaves, write)


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")
