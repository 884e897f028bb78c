"""Fraud-proof build time: median and worst, by the position of the wrong step in its batch.

Usage: python bench/bench_proof.py [--accounts 10000] [--steps 1000] [--positions 9] [--repeat 1]

A genesis of ``--accounts`` funded accounts (bulk build, LMDB), one honest batch of ``--steps``
transfers (senders among the first 10,000 accounts, recipients over all of them), then, for
``--positions`` steps spread over the batch (the first and the last included), the same batch
claiming a wrong root from that step on. Each proof is built with ``build_fraud_proof`` (replay
of the batch up to the step in a scratch overlay, the witness of the touched accounts, the
step re-executed) on a cold node cache, and checked with ``check_fraud_proof`` (its witness
alone). The worst case is the last step: the whole batch before it is replayed.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

from eth_hash.auto import keccak

from watchtower.execute.replay import init_genesis
from watchtower.execute.statedb import PendingWrites, StateDB
from watchtower.hashing import use_fast_keccak
from watchtower.proof.fraud import build_fraud_proof, check_fraud_proof
from watchtower.rollup.params import RollupParams
from watchtower.rollup.types import BlockContext, GenesisAccount
from watchtower_dev.builder import build_batch, with_wrong_root
from watchtower_dev.txgen import accounts, transfer

MAX_SIGNERS = 10_000


def main() -> None:
    use_fast_keccak()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--positions", type=int, default=9)
    parser.add_argument("--repeat", type=int, default=1, help="proofs per position")
    args = parser.parse_args()
    params = RollupParams()
    signers = accounts(min(args.accounts, MAX_SIGNERS), b"bench")
    everyone = [a.address for a in signers] + [
        bytes(keccak(b"bench-holder" + i.to_bytes(8, "big")))[:20]
        for i in range(args.accounts - len(signers))
    ]
    genesis = {address: GenesisAccount(balance=10**21) for address in everyone}
    txs = [
        transfer(
            signers[(i * 7919) % len(signers)],
            everyone[(i * 6007) % len(everyone)],
            nonce=0,
            value=10**12,
            chain_id=params.chain_id,
        )
        for i in range(min(args.steps, len(signers)))
    ]
    ctx = BlockContext(
        number=0,
        timestamp=1_700_000_000,
        coinbase=b"\xc0" * 20,
        base_fee=params.base_fee,
        gas_limit=params.gas_limit,
        chain_id=params.chain_id,
    )
    n = len(txs)
    positions = sorted(
        {round(p * (n - 1) / max(1, args.positions - 1)) for p in range(args.positions)}
    )
    with tempfile.TemporaryDirectory(prefix="wt-bench-proof-") as tmp:
        store = StateDB(Path(tmp) / "state", sync=False)
        started = time.perf_counter()
        root = init_genesis(store, genesis)
        genesis_seconds = time.perf_counter() - started
        honest = build_batch(PendingWrites(store), 0, root, ctx, txs)  # nodes not kept
        builds: list[float] = []
        checks: list[float] = []
        for step in positions:
            bad = with_wrong_root(honest, step, b"\x66" * 32)
            for _ in range(args.repeat):
                store.node_cache.clear()  # cold, as a verifier that just found the fraud
                t0 = time.perf_counter()
                proof = build_fraud_proof(store, bad, step, params)
                built = time.perf_counter() - t0
                t0 = time.perf_counter()
                result = check_fraud_proof(proof)
                checked = time.perf_counter() - t0
                assert result.fraud, (step, result)
                builds.append(built)
                checks.append(checked)
                print(
                    f"step {step:>5}: built in {built * 1000:7.0f} ms, checked in "
                    f"{checked * 1000:5.0f} ms, {len(proof.state_nodes)} witness nodes",
                    flush=True,
                )
        store.close()
    print(
        f"{args.accounts} accounts (genesis {genesis_seconds:.1f} s), batches of {n} steps, "
        f"{len(builds)} proofs at steps {positions[0]}..{positions[-1]}"
    )
    print(
        f"build: median {statistics.median(builds) * 1000:.0f} ms, worst "
        f"{max(builds) * 1000:.0f} ms; check: median {statistics.median(checks) * 1000:.0f} ms, "
        f"worst {max(checks) * 1000:.0f} ms; peak RSS "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
