"""The EVM state the transition runs on: py-evm's Cancun state over the project's state database."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from eth.db.account import AccountDB
from eth.vm.execution_context import ExecutionContext
from eth.vm.forks.cancun.state import CancunState
from eth_hash.auto import keccak
from eth_typing import Address, BlockNumber, Hash32

from watchtower.errors import GenesisError
from watchtower.execute.trie import FastAccountDB
from watchtower.rollup.params import BLANK_ROOT, UINT256_MAX
from watchtower.rollup.types import BlockContext, GenesisAccount


class WatchtowerState(CancunState):
    """py-evm's Cancun state on :class:`FastAccountDB`, without system contracts.

    The rollup has no beacon-roots contract, and Ethereum's state tests run without
    system calls, so ``set_system_contracts`` does nothing.
    """

    account_db_class: type[AccountDB] = FastAccountDB

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
    db: Any, alloc: Mapping[bytes, GenesisAccount], *, rollup_rules: bool = True
) -> bytes:
    """Write a genesis allocation into ``db`` and return its state root.

    With ``rollup_rules`` the allocation must satisfy protocol.md §2 (no empty account, total
    balance below 2^256); Ethereum state tests may contain anything.
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
    accounts = AccountDB(db, Hash32(BLANK_ROOT))
    for raw_address, account in alloc.items():
        address = Address(raw_address)
        if len(address) != 20:
            raise GenesisError(f"genesis address 0x{address.hex()} is not 20 bytes")
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
