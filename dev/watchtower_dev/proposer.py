"""The reference proposer: builds batches of L2 transfers and posts them to the rollup contract.

It keeps its own L2 state (a :class:`StateDB`) and always builds on the contract's current tip,
so after one of its batches is rejected it continues from the last good root. A faulty proposer
is the same proposer with a :class:`~watchtower_dev.faults.Fault` for one batch.

Every batch starts with the deposits pending in the L1 queue (protocol.md §8.4: one deposit step
each, in queue order), then the L2 transactions users handed in (the :class:`L2Mempool`: e.g.
withdrawals, transfers to ``BRIDGE_ADDRESS``), then the devnet's own transfers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import Address
from web3.types import TxReceipt

from watchtower.execute.state import open_state
from watchtower.execute.statedb import PendingWrites, StateDB
from watchtower.execute.transition import RuleSet, apply_step
from watchtower.l1.rollup import RollupClient
from watchtower.rollup.bridge import Deposit, encode_deposit
from watchtower.rollup.codec import encode_batch
from watchtower.rollup.params import RollupParams
from watchtower.rollup.transactions import Transfer, check_transfer
from watchtower.rollup.types import Batch, BlockContext, GenesisAccount
from watchtower_dev.builder import build_batch
from watchtower_dev.faults import Fault, FaultKind, build_faulty_batch
from watchtower_dev.txgen import Account, Signer, accounts, transfer, withdrawal

ETHER = 10**18
DEVNET_SEED = b"watchtower-devnet"
DEVNET_COINBASE = bytes.fromhex("c0ffee00000000000000000000000000000000c0")


def devnet_users(count: int = 64) -> list[Account]:
    return accounts(count, DEVNET_SEED)


def devnet_genesis(count: int = 64) -> dict[bytes, GenesisAccount]:
    """The devnet's L2 genesis: ``count`` deterministic users with 1,000 ether each."""
    return {user.address: GenesisAccount(balance=1000 * ETHER) for user in devnet_users(count)}


class L2Mempool:
    """L2 transactions waiting for the proposer: a text file, one 0x-hex signed transaction a
    line (``l2-mempool`` in the proposer's data directory; ``watchtower l2-withdraw`` appends to
    it, the next ``watchtower propose`` includes them and removes those it posted)."""

    FILENAME = "l2-mempool"

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._memory: list[bytes] = []

    @classmethod
    def in_dir(cls, data_dir: Path) -> L2Mempool:
        return cls(data_dir / cls.FILENAME)

    def txs(self) -> list[bytes]:
        if self.path is None:
            return list(self._memory)
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="ascii").split()
        return [bytes.fromhex(line.removeprefix("0x")) for line in lines]

    def add(self, tx: bytes) -> None:
        if self.path is None:
            self._memory.append(tx)
            return
        with self.path.open("a", encoding="ascii") as f:
            f.write("0x" + tx.hex() + "\n")

    def remove(self, posted: Sequence[bytes]) -> None:
        left = [tx for tx in self.txs() if tx not in set(posted)]
        if self.path is None:
            self._memory = left
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join("0x" + tx.hex() + "\n" for tx in left), encoding="ascii")
        tmp.replace(self.path)


def l2_nonce(
    client: RollupClient, store: StateDB, params: RollupParams, mempool: L2Mempool, address: bytes
) -> int:
    """``address``'s next L2 nonce: on the contract's tip (in ``store``), after the
    transactions of ``mempool`` it signed."""
    index, root = client.next_index(), client.tip_root()
    context = BlockContext.of_batch(index, 0, DEVNET_COINBASE, params)
    nonce = open_state(PendingWrites(store), root, context).get_nonce(Address(address))
    for tx in mempool.txs():
        checked = check_transfer(tx, params)
        if isinstance(checked, Transfer) and checked.sender == address:
            nonce = max(nonce, checked.nonce + 1)
    return nonce


#: Deposit steps per batch: about 12,000 L1 gas each in submitBatch (protocol.md §8.4).
MAX_DEPOSITS_PER_BATCH = 1000
#: Seconds before a deposit is overdue from which the proposer treats it as overdue (its batch
#: is mined a little after it is built).
OVERDUE_MARGIN = 60

#: The share of the bridge's balance a forge-withdrawal proposer tries to take.
FORGE_SHARE = (9, 10)


@dataclass
class Proposer:
    client: RollupClient
    account: LocalAccount
    store: StateDB
    params: RollupParams
    users: list[Account] = field(default_factory=devnet_users)
    coinbase: bytes = DEVNET_COINBASE
    fresh_counter: int = 0
    mempool: L2Mempool = field(default_factory=L2Mempool)
    #: Deposit the missing part of the bond before a batch (a devnet's proposer); without it a
    #: batch the free bond cannot cover reverts ("free bond below proposerBond").
    top_up_bond: bool = True

    def pending_deposits(self) -> list[Deposit]:
        """The L1 queue entries no accepted batch consumed yet, oldest first (§8.4)."""
        consumed, count = self.client.deposits_consumed(), self.client.deposit_count()
        return [self.client.queued_deposit(i) for i in range(consumed, count)]

    def nonce(self, address: bytes) -> int:
        """``address``'s next L2 nonce: on the contract's tip, after the mempool's transactions."""
        return l2_nonce(self.client, self.store, self.params, self.mempool, address)

    def withdraw(self, user: Signer, amount: int) -> bytes:
        """Sign ``user``'s withdrawal of ``amount`` wei and hand it to the mempool: the next
        batch includes it (after the pending deposits)."""
        tx = withdrawal(
            user, nonce=self.nonce(user.address), value=amount, chain_id=self.params.chain_id
        )
        self.mempool.add(tx)
        return tx

    def transfers(
        self, root: bytes, count: int, index: int, prefix: Sequence[bytes] = ()
    ) -> list[bytes]:
        """``count`` valid transfers among the users on the state at ``root`` after the steps
        ``prefix`` (deposits, mempool transactions: nonces and balances are read after them).

        Every fifth goes to an address that does not exist yet (an account insertion).
        """
        state = open_state(PendingWrites(self.store), root, self._context(index))
        for k, tx in enumerate(prefix):
            apply_step(state, tx, RuleSet.ROLLUP, batch=index, step=k)
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
        if free < bond and self.top_up_bond:
            self.client.deposit_bond(self.account, bond - free)
        return self.client.submit_batch(self.account, data)

    def next_txs(self, count: int, fault: Fault | None = None) -> list[bytes]:
        """The next batch's steps: pending deposits (none with ``skip-deposit``), the mempool,
        then ``count`` devnet transfers."""
        index, root = self.client.next_index(), self.client.tip_root()
        if fault is not None and fault.kind is FaultKind.SKIP_DEPOSIT:
            prefix = self.mempool.txs()
            return prefix + self.transfers(root, count, index, prefix)
        pending = self.pending_deposits()
        deposits = [encode_deposit(d.index, d.recipient, d.amount) for d in pending]
        if len(pending) > MAX_DEPOSITS_PER_BATCH:
            # A backlog: this batch takes what fits; if the rest is overdue, the contract
            # accepts a batch of deposit steps alone (protocol.md §8.4).
            left = pending[MAX_DEPOSITS_PER_BATCH]
            now = int(self.client.w3.eth.get_block("latest")["timestamp"])
            deposits = deposits[:MAX_DEPOSITS_PER_BATCH]
            if now >= left.overdue_at() - OVERDUE_MARGIN:
                return deposits
        prefix = deposits + self.mempool.txs()
        return prefix + self.transfers(root, count, index, prefix)

    def forge_amount(self) -> int:
        """What a forge-withdrawal proposer tries to take: most of the bridge's balance."""
        num, den = FORGE_SHARE
        return max(self.client.bridge_balance() * num // den, 1)

    def propose(self, count: int, fault: Fault | None = None) -> tuple[Batch, Any]:
        index, root = self.client.next_index(), self.client.tip_root()
        txs = self.next_txs(count, fault)
        if fault is not None and fault.kind is FaultKind.SKIP_DEPOSIT:
            fault = None  # the fault was the choice of steps: the roots are honest
        elif fault is not None and fault.kind is FaultKind.FORGE_WITHDRAWAL and not fault.amount:
            fault = Fault(fault.kind, fault.step, self.forge_amount())
        batch = self._build(txs, fault, index, root)
        receipt = self.post(batch)
        self.mempool.remove(txs)
        return batch, receipt
