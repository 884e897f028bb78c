"""Replay benchmark: transfers per second with a state root after every step.

Usage: python bench/bench_replay.py [--accounts 10000] [--batches 3] [--steps 1000]

Measures, in one run on the same transactions:
  * watchtower: ``replay_batch`` (rollup rules, py-evm Cancun executor, cached trie, LMDB on disk,
    one commit per batch) with a root after every step;
  * naive baseline: py-evm ``CancunState.apply_transaction`` + ``make_state_root()`` per tx on
    an in-memory ``AtomicDB`` with py-evm's stock ``AccountDB``.
Signature recovery uses coincurve in both (py-evm's default when it is installed).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from eth.db.atomic import AtomicDB
from eth.db.backends.memory import MemoryDB
from eth.vm.forks.cancun.state import CancunState
from eth.vm.forks.cancun.transactions import CancunTransactionBuilder
from eth_keys.backends import get_backend

from watchtower.execute.replay import init_genesis, replay_batch
from watchtower.execute.state import build_genesis, execution_context
from watchtower.execute.statedb import PendingWrites, StateDB
from watchtower.hashing import use_fast_keccak
from watchtower.rollup.params import RollupParams
from watchtower.rollup.types import Batch, BlockContext, GenesisAccount
from watchtower_dev.builder import build_batch
from watchtower_dev.txgen import accounts, transfer


def main() -> None:
    use_fast_keccak()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    params = RollupParams()
    print(f"ECC backend: {type(get_backend()).__name__}")
    accts = accounts(args.accounts, b"bench")
    genesis = {a.address: GenesisAccount(balance=10**21) for a in accts}
    nonces = [0] * len(accts)
    txs_per_batch: list[list[bytes]] = []
    for b in range(args.batches):
        txs = []
        for i in range(args.steps):
            s = (i * 7919 + b * 104729) % len(accts)
            r = (i * 6007 + b * 7) % len(accts)
            txs.append(
                transfer(
                    accts[s],
                    accts[r].address,
                    nonce=nonces[s],
                    value=10**12,
                    chain_id=params.chain_id,
                )
            )
            nonces[s] += 1
        txs_per_batch.append(txs)
    coinbase = b"\xc0" * 20

    def ctx(n: int) -> BlockContext:
        return BlockContext(
            number=n,
            timestamp=1_700_000_000 + n,
            coinbase=coinbase,
            base_fee=params.base_fee,
            gas_limit=params.gas_limit,
            chain_id=params.chain_id,
        )

    with tempfile.TemporaryDirectory(prefix="wt-bench-") as tmp:
        # The proposer's honest batches (their claimed roots), built in a scratch store.
        scratch = StateDB(Path(tmp) / "proposer", sync=False)
        root = init_genesis(scratch, genesis)
        batches: list[Batch] = []
        for b, txs in enumerate(txs_per_batch):
            pending = PendingWrites(scratch)
            batch = build_batch(pending, b, root, ctx(b), txs)
            scratch.commit_nodes(pending)
            batches.append(batch)
            root = batch.final_root
        scratch.close()

        store = StateDB(Path(tmp) / "verifier", sync=True)
        init_genesis(store, genesis)
        store.node_cache.clear()  # start cold, as a restarted verifier does
        t0 = time.perf_counter()
        for batch in batches:
            verdict = replay_batch(store, batch)
            assert verdict.kind.value == "valid", verdict
        ours = time.perf_counter() - t0
        disk = store.disk_bytes()
        store.close()

    db = AtomicDB(MemoryDB())
    genesis_root = build_genesis(db, genesis)
    decoded = [[CancunTransactionBuilder.decode(tx) for tx in txs] for txs in txs_per_batch]
    t0 = time.perf_counter()
    root = genesis_root
    for b, txs in enumerate(decoded):
        state = CancunState(db, execution_context(ctx(b)), root)
        for tx in txs:
            state.apply_transaction(tx)
            state.make_state_root()
        state.persist()
        root = state.state_root
    naive = time.perf_counter() - t0
    assert root == batches[-1].final_root, "baseline and watchtower disagree on the final root"

    n = args.batches * args.steps
    print(
        f"{args.batches} batches x {args.steps} transfers over {args.accounts} accounts, "
        f"root after every step"
    )
    print(f"watchtower replay (LMDB, fsync per batch): {n / ours:8.0f} tx/s  ({ours:.2f} s)")
    print(f"naive py-evm baseline (in-memory):        {n / naive:8.0f} tx/s  ({naive:.2f} s)")
    print(f"speed-up: {naive / ours:.2f}x; state database on disk: {disk / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
