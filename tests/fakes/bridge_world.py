"""A rollup with a bridge over the in-memory L1 (tests/fakes/l1.py), for millisecond service tests:
a proposer that builds real batches (deposit steps, withdrawals, transfers; replayed for real by
the service) and a watchtower in watch mode that records every alert it raises.

    world = BridgeWorld(tmp_path)
    world.chain.mine(DepositTx(FRESH, 2 * ETHER))
    world.chain.mine(world.propose([deposit(0, FRESH, 2 * ETHER), withdraw(ALICE, 0, ETHER)]))
    world.tower.tick()
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.fakes.l1 import BLOCK_TIME, FakeChain, FakeL1, Submit
from watchtower.clock import SYSTEM_CLOCK, Clock
from watchtower.execute.replay import init_genesis, replay_batch
from watchtower.execute.statedb import PendingWrites, StateDB
from watchtower.metrics import Metrics
from watchtower.rollup.bridge import encode_deposit, genesis_balance
from watchtower.rollup.codec import encode_batch
from watchtower.rollup.params import BRIDGE_ADDRESS, TRANSFER_GAS, RollupParams
from watchtower.rollup.types import Batch, BlockContext, GenesisAccount
from watchtower.service import ServiceConfig, ServiceMode, Watchtower
from watchtower_dev.builder import build_batch, with_wrong_root
from watchtower_dev.txgen import accounts, transfer

PARAMS = RollupParams()
ETHER = 10**18
FEE = TRANSFER_GAS * PARAMS.base_fee
ALICE, BOB, MINER = accounts(3, b"bridge-watch")
FRESH = b"\x42" * 20
ALLOC: Mapping[bytes, GenesisAccount] = {
    ALICE.address: GenesisAccount(balance=10 * ETHER),
    BOB.address: GenesisAccount(balance=1 * ETHER),
}
GENESIS_SUPPLY = genesis_balance(ALLOC)


def deposit(index: int, recipient: bytes, amount: int) -> bytes:
    return encode_deposit(index, recipient, amount)


def withdraw(sender: Any, nonce: int, value: int) -> bytes:
    return transfer(sender, BRIDGE_ADDRESS, nonce=nonce, value=value, chain_id=PARAMS.chain_id)


def send(sender: Any, to: bytes, nonce: int, value: int) -> bytes:
    return transfer(sender, to, nonce=nonce, value=value, chain_id=PARAMS.chain_id)


class Alerts:
    def __init__(self) -> None:
        self.raised: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, kind: str, **fields: Any) -> None:
        self.raised.append((kind, fields))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.raised]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [fields for k, fields in self.raised if k == kind]


class Proposer:
    """Builds honest batches on its own state database (each on the last one built), and can
    claim a wrong root from a step on (a fraudulent batch, not built upon)."""

    def __init__(self, alloc: Mapping[bytes, GenesisAccount]) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.state = StateDB(Path(self._tmp.name) / "state")
        self.genesis_root = init_genesis(self.state, alloc)
        self.index = 0

    def build(self, txs: Sequence[bytes], *, wrong_from: int | None = None) -> Batch:
        head = self.state.head_root()
        assert head is not None
        context = BlockContext.of_batch(
            self.index, 1_700_000_000 + self.index, MINER.address, PARAMS
        )
        pending = PendingWrites(self.state)
        batch = build_batch(pending, self.index, head, context, txs)
        if wrong_from is not None:
            return with_wrong_root(batch, wrong_from, b"\xba" * 32)
        verdict = replay_batch(self.state, batch)
        assert verdict.kind.value == "valid", verdict
        self.index += 1
        return batch

    def close(self) -> None:
        self.state.close()
        self._tmp.cleanup()


def submit(batch: Batch, **kwargs: Any) -> Submit:
    data = encode_batch(batch.index, batch.prev_root, batch.steps)
    return Submit(
        data, timestamp=batch.context.timestamp, coinbase=batch.context.coinbase, **kwargs
    )


class BridgeWorld:
    """A bridge-enabled fake rollup and a watchtower (watch mode) on it."""

    def __init__(
        self,
        path: Path,
        *,
        endpoints: int = 1,
        genesis_supply: int = GENESIS_SUPPLY,
        alert: Callable[..., None] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.proposer = Proposer(ALLOC)
        self.chain = FakeChain(
            genesis_root=self.proposer.genesis_root, params=PARAMS, genesis_supply=genesis_supply
        )
        self.l1: list[FakeL1] = [self.chain.endpoint(f"node-{i}:8545") for i in range(endpoints)]
        self.alerts = Alerts()
        self.metrics = Metrics()
        self.path = path
        self.tower = Watchtower(
            ServiceConfig(path, mode=ServiceMode.WATCH, confirmations=2),
            [],
            ALLOC,
            alert=alert or self.alerts,
            metrics=self.metrics,
            readers=self.l1,
            clock=clock,
        )

    def propose(self, txs: Sequence[bytes], **kwargs: Any) -> Submit:
        return submit(self.proposer.build(txs, **kwargs))

    def wait(self, seconds: int) -> None:
        """Mine empty blocks until ``seconds`` of L1 time have passed."""
        self.chain.mine_empty(seconds // BLOCK_TIME + 1)

    def metric(self, name: str) -> float:
        value = self.metrics.registry.get_sample_value(name)
        assert value is not None, name
        return value

    def close(self) -> None:
        self.tower.close()
        self.proposer.close()
