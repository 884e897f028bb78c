"""Replay benchmark: transfers per second with a state root after every step.

Usage: python bench/bench_replay.py [--accounts 10000] [--batches 3] [--steps 1000]
                                    [--no-worker] [--no-root-worker] [--no-baseline]

Measures, in one run on the same transactions:
  * watchtower: ``replay_batch`` (rollup rules, py-evm Cancun executor, cached trie, LMDB on disk,
    one commit per batch, fsync per commit) with a root after every step; the stateless checks
    (decoding, sender recovery) of the next batch run in a worker process while the current one
    executes (``--no-worker``: in place), and the per-step state roots are computed by a root
    worker process while the steps execute (``--no-root-worker``: in place);
  * naive baseline: py-evm ``CancunState.apply_transaction`` + ``make_state_root()`` per tx on
    an in-memory ``AtomicDB`` with py-evm's stock ``AccountDB``.
Signature recovery uses coincurve in both (py-evm's default when it is installed).

Also reported: the time to build the genesis state into LMDB (bulk, sorted), the state database
size per genesis account and its growth per batch (pages in use), and the peak RSS.

Accounts: up to 10,000 every account is a signer (as the first version of this bench); above,
senders are the first 10,000 accounts and the others (recipients too, spread over the whole
trie) are addresses without keys (deriving a million keys would take longer than the replay).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from eth.db.atomic import AtomicDB
from eth.db.backends.memory import MemoryDB
from eth.vm.forks.cancun.state import CancunState
from eth.vm.forks.cancun.transactions import CancunTransactionBuilder
from eth_hash.auto import keccak
from eth_keys.backends import get_backend

from watchtower.execute.precheck import Prechecker
from watchtower.execute.replay import init_genesis, replay_batch
from watchtower.execute.rootworker import RootWorker
from watchtower.execute.state import build_genesis, execution_context
from watchtower.execute.statedb import PendingWrites, StateDB
from watchtower.hashing import use_fast_keccak
from watchtower.rollup.params import RollupParams
from watchtower.rollup.types import Batch, BlockContext, GenesisAccount
from watchtower_dev.builder import build_batch
from watchtower_dev.txgen import accounts, transfer

MAX_SIGNERS = 10_000


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def addresses(count: int, signers: list[bytes]) -> list[bytes]:
    """``count`` addresses: the signers' first, then keyless ones."""
    extra = [
        bytes(keccak(b"bench-holder" + i.to_bytes(8, "big")))[:20]
        for i in range(count - len(signers))
    ]
    return signers + extra


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes (Linux /proc), 0 for those not found."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


def main() -> None:
    fast = use_fast_keccak() == "pysha3"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument(
        "--no-worker", action="store_true", help="stateless checks in place (no precheck worker)"
    )
    parser.add_argument(
        "--no-root-worker",
        action="store_true",
        help="compute the per-step roots in the replaying process (no root worker)",
    )
    parser.add_argument(
        "--root-chunk", type=int, default=50, help="steps per message to the root worker"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the naive baseline")
    args = parser.parse_args()
    params = RollupParams()
    print(f"ECC backend: {type(get_backend()).__name__}")
    signers = accounts(min(args.accounts, MAX_SIGNERS), b"bench")
    everyone = addresses(args.accounts, [a.address for a in signers])
    genesis = {address: GenesisAccount(balance=10**21) for address in everyone}
    nonces = [0] * len(signers)
    txs_per_batch: list[list[bytes]] = []
    for b in range(args.batches):
        txs = []
        for i in range(args.steps):
            s = (i * 7919 + b * 104729) % len(signers)
            r = (i * 6007 + b * 7) % len(everyone)
            txs.append(
                transfer(
                    signers[s],
                    everyone[r],
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

    worker = None if args.no_worker else Prechecker(fast_keccak=fast)
    with tempfile.TemporaryDirectory(prefix="wt-bench-") as tmp:
        # Genesis into the verifier's store (timed), copied for the proposer.
        started = time.perf_counter()
        store = StateDB(Path(tmp) / "verifier", sync=True)
        genesis_root = init_genesis(store, genesis)
        genesis_seconds = time.perf_counter() - started
        genesis_used = store.used_bytes()
        store.close()
        shutil.copytree(Path(tmp) / "verifier", Path(tmp) / "proposer")

        # The proposer's honest batches (their claimed roots), built in a scratch store.
        scratch = StateDB(Path(tmp) / "proposer", sync=False)
        root = genesis_root
        batches: list[Batch] = []
        for b, txs in enumerate(txs_per_batch):
            pending = PendingWrites(scratch)
            batch = build_batch(pending, b, root, ctx(b), txs)
            scratch.commit_nodes(pending)
            batches.append(batch)
            root = batch.final_root
        scratch.close()
        shutil.rmtree(Path(tmp) / "proposer")

        store = StateDB(Path(tmp) / "verifier", sync=True)  # a cold start: empty node cache
        commit_seconds = [0.0]
        write = store._write_items

        def timed_write(items: list[tuple[bytes, bytes]], meta: list[tuple[bytes, bytes]]) -> None:
            started = time.perf_counter()
            write(items, meta)
            commit_seconds[0] += time.perf_counter() - started

        store._write_items = timed_write  # type: ignore[method-assign]
        if worker is not None:  # the worker process is up (not timed)
            assert worker.ready(), "the precheck worker did not start"
        roots = None if args.no_root_worker else RootWorker(fast_keccak=fast, chunk=args.root_chunk)
        if roots is not None:  # its process is up (not timed)
            roots.begin(store.path, genesis_root).abort()
        helpers = ([] if roots is None or roots.pid is None else [roots.pid]) + (
            [] if worker is None or worker.pid() is None else [worker.pid()]
        )
        helpers_cpu0 = cpu_seconds(helpers)
        t0, cpu0 = time.perf_counter(), time.process_time()
        ahead = worker.submit(batches[0]) if worker is not None else None
        for k, batch in enumerate(batches):
            prechecked = ahead
            if worker is not None and k + 1 < len(batches):
                ahead = worker.submit(batches[k + 1])  # queued behind this batch's chunks
            verdict = replay_batch(store, batch, prechecked=prechecked, roots=roots)
            assert verdict.kind.value == "valid", verdict
            assert roots is None or roots.last_fallback is None, roots.last_fallback
        ours, ours_cpu = time.perf_counter() - t0, time.process_time() - cpu0
        helpers_cpu = cpu_seconds(helpers) - helpers_cpu0
        if roots is not None:
            roots.close()
        used = store.used_bytes()
        disk = store.disk_bytes()
        rss_replay = peak_rss_mib()
        store.close()
    if worker is not None:
        worker.close()

    naive = 0.0
    if not args.no_baseline:
        db = AtomicDB(MemoryDB())
        build_genesis(db, genesis)
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
    how = "checks in place" if worker is None else "next batch's checks in a worker"
    how += (
        ", roots in place"
        if roots is None
        else f", roots in a root worker (chunks of {roots.chunk} steps)"
    )
    print(f"watchtower replay (LMDB, fsync per batch; {how}): {n / ours:8.0f} tx/s  ({ours:.2f} s)")
    print(f"  of which LMDB commits (write + fsync): {commit_seconds[0]:.2f} s")
    print(
        f"  replay process CPU time: {ours_cpu:.2f} s ({n / ours_cpu:.0f} tx per CPU-second of "
        "the replaying process: less sensitive to other load on a shared machine)"
    )
    print(
        f"  worker processes' CPU time: {helpers_cpu:.2f} s; all processes: "
        f"{ours_cpu + helpers_cpu:.2f} s ({n / (ours_cpu + helpers_cpu):.0f} tx per CPU-second)"
    )
    if naive:
        print(f"naive py-evm baseline (in-memory):        {n / naive:8.0f} tx/s  ({naive:.2f} s)")
        print(f"speed-up: {naive / ours:.2f}x")
    print(
        f"genesis: {args.accounts} accounts built into LMDB in {genesis_seconds:.1f} s; "
        f"state database {genesis_used / 2**20:.1f} MiB in use "
        f"({genesis_used / args.accounts:.0f} B/account)"
    )
    print(
        f"after replay: {used / 2**20:.1f} MiB in use "
        f"(+{(used - genesis_used) / args.batches / 2**20:.2f} MiB/batch, no pruning), "
        f"{disk / 2**20:.1f} MiB file"
    )
    print(f"peak RSS: {rss_replay:.0f} MiB after replay, {peak_rss_mib():.0f} MiB at the end")


if __name__ == "__main__":
    main()
