"""The reference proposer: builds batches of L2 transfers and posts them to the rollup contract.

It keeps its own L2 state (a :class:`StateDB`) and always builds on the contract's current tip,
so after one of its batches is rejected it continues from the last good root. A faulty proposer
is the same proposer with a :class:`~watchtower_dev.faults.Fault` for one batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import Address
from web3.types import TxReceipt

from watchtower.execute.state import open_state
from watchtower.execute.statedb import PendingWrites, StateDB
from watchtower.l1.rollup import RollupClient
from watchtower.rollup.codec import encode_batch
from watchtower.rollup.params import RollupParams
from watchtower.rollup.types import Batch, BlockContext, GenesisAccount
from watchtower_dev.builder import build_batch
from watchtower_dev.faults import Fault, build_faulty_batch
from watchtower_dev.txgen import Account, accounts, transfer

ETHER = 10**18
DEVNET_SEED = b"watchtower-devnet"
DEVNET_COINBASE = bytes.fromhex("c0ffee00000000000000000000000000000000c0")


def devnet_users(count: int = 64) -> list[Account]:
    return accounts(count, DEVNET_SEED)


def devnet_genesis(count: int = 64) -> dict[bytes, GenesisAccount]:
    """The devnet's L2 genesis: ``count`` deterministic users with 1,000 ether each."""
    return {user.address: GenesisAccount(balance=1000 * ETHER) for user in devnet_users(count)}


@dataclass
class Proposer:
    client: RollupClient
    account: LocalAccount
    store: StateDB
    params: RollupParams
    users: list[Account] = field(default_factory=devnet_users)
    coinbase: bytes = DEVNET_COINBASE
    fresh_counter: int = 0

    def transfers(self, root: bytes, count: int, index: int) -> list[bytes]:
        """``count`` valid transfers among the users on the state at ``root``.

        Every fifth goes to an address that does not exist yet (an account insertion).
        """
        state = open_state(PendingWrites(self.store), root, self._context(index))
        nonces: dict[bytes, int] = {}
        txs = []
        for i in range(count):
            sender = self.users[(index * 7 + i) % len(self.users)]
            if sender.address not in nonces:
                nonces[sender.address] = state.get_nonce(Address(sender.address))
            if i % 5 == 2:
                self.fresh_counter += 1
                to = (0xF0 << 152 | index << 32 | self.fresh_counter).to_bytes(20, "big")
            else:
                to = self.users[(index * 13 + i * 3 + 1) % len(self.users)].address
            txs.append(
                transfer(
                    sender,
                    to,
                    nonce=nonces[sender.address],
                    value=(i + 1) * 10**15,
                    chain_id=self.params.chain_id,
                )
            )
            nonces[sender.address] += 1
        return txs

    def _context(self, index: int) -> BlockContext:
        # The time is set by L1 on inclusion; it does not affect the state.
        return BlockContext.of_batch(index, 0, self.coinbase, self.params)

    def build(self, txs: list[bytes], fault: Fault | None = None) -> Batch:
        """A batch on the contract's current tip (honest, or with ``fault``)."""
        return self._build(txs, fault, self.client.next_index(), self.client.tip_root())

    def _build(self, txs: list[bytes], fault: Fault | None, index: int, root: bytes) -> Batch:
        pending = PendingWrites(self.store)
        context = self._context(index)
        if fault is not None:
            return build_faulty_batch(pending, index, root, context, txs, fault=fault)
        batch = build_batch(pending, index, root, context, txs)
        # Only honest states are kept: the proposer continues from good roots.
        self.store.commit_nodes(pending)
        return batch

    def post(self, batch: Batch) -> TxReceipt:
        """Submit ``batch``, first topping the free bond up when it cannot cover the bond the
        batch locks (protocol.md §7.3: every pending batch locks its own)."""
        data = encode_batch(batch.index, batch.prev_root, batch.steps)
        bond = self.client.proposer_bond()
        free = self.client.free_bond(self.account.address)
        if free < bond:
            self.client.deposit_bond(self.account, bond - free)
        return self.client.submit_batch(self.account, data)

    def propose(self, count: int, fault: Fault | None = None) -> tuple[Batch, Any]:
        index, root = self.client.next_index(), self.client.tip_root()
        batch = self._build(self.transfers(root, count, index), fault, index, root)
        return batch, self.post(batch)
