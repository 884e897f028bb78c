"""The stateless checks of a batch's steps, done ahead of replay (and in another process).

Decoding a transaction and recovering its sender (protocol.md §3.1 rules 1-9) do not depend on
the state, so they can run for the next batch while the current one executes: a
:class:`Prechecker` does them in a worker process (the replay itself stays on one core: every
step needs the root of the step before it). Replay then uses the results as if it had computed
them (:func:`watchtower.execute.replay.replay_batch`, ``prechecked``); results that are not for
the batch's steps (other transactions, parameters or rule set) are ignored and the checks are
done in place.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from watchtower.execute.transition import RuleSet
from watchtower.hashing import use_fast_keccak
from watchtower.rollup.bridge import decode_deposit
from watchtower.rollup.params import RollupParams
from watchtower.rollup.transactions import Rejected, Transfer, check_transfer
from watchtower.rollup.types import Batch

Check = Transfer | Rejected | None  # None: a deposit step (no stateless check)


class Prechecks(Protocol):
    """The stateless checks of one batch's steps (done, or being done by a worker)."""

    def fits(self, batch: Batch, rules: RuleSet) -> bool:
        """Whether these are the checks of ``batch``'s steps under ``rules``."""
        ...

    def check(self, step: int) -> Check:
        """``check_transfer`` of step ``step`` (None for a deposit step)."""
        ...


def _fits(
    rules: RuleSet, params: RollupParams, txs: tuple[bytes, ...], batch: Batch, asked: RuleSet
) -> bool:
    return (
        rules is asked
        and params == _params(batch)
        and len(txs) == len(batch.steps)
        and all(a == b.tx for a, b in zip(txs, batch.steps, strict=True))
    )


def _params(batch: Batch) -> RollupParams:
    ctx = batch.context
    return RollupParams(chain_id=ctx.chain_id, base_fee=ctx.base_fee, gas_limit=ctx.gas_limit)


def _check_all(txs: tuple[bytes, ...], params: RollupParams, rules: RuleSet) -> tuple[Check, ...]:
    results: list[Check] = []
    for tx in txs:
        if rules is RuleSet.ROLLUP and decode_deposit(tx) is not None:
            results.append(None)
        else:
            results.append(check_transfer(tx, params))
    return tuple(results)


@dataclass(frozen=True)
class Prechecked:
    """``check_transfer`` of every step of one batch, under one rule set."""

    rules: RuleSet
    params: RollupParams
    txs: tuple[bytes, ...]  # the steps' bytes the results are for
    results: tuple[Check, ...]

    def fits(self, batch: Batch, rules: RuleSet) -> bool:
        return _fits(self.rules, self.params, self.txs, batch, rules)

    def check(self, step: int) -> Check:
        return self.results[step]


def precheck(batch: Batch, rules: RuleSet = RuleSet.ROLLUP) -> Prechecked:
    """The stateless checks of ``batch``'s steps (rollup rule sets only)."""
    if rules is RuleSet.ETHEREUM:
        raise ValueError("the Ethereum rule set has no separate stateless checks")
    params = _params(batch)
    txs = tuple(step.tx for step in batch.steps)
    return Prechecked(rules, params, txs, _check_all(txs, params, rules))


class PendingChecks:
    """A batch's checks being done by a worker, in chunks of steps: replay waits only for the
    chunk of the step it is at, so it overlaps with the worker even on the first batch."""

    def __init__(
        self,
        rules: RuleSet,
        params: RollupParams,
        txs: tuple[bytes, ...],
        chunks: list[Future[tuple[Check, ...]]],
        chunk: int,
    ) -> None:
        self.rules, self.params, self.txs = rules, params, txs
        self._chunks = chunks
        self._chunk = chunk

    def fits(self, batch: Batch, rules: RuleSet) -> bool:
        return _fits(self.rules, self.params, self.txs, batch, rules)

    def check(self, step: int) -> Check:
        return self._chunks[step // self._chunk].result()[step % self._chunk]


def _init_worker(fast_keccak: bool) -> None:
    if fast_keccak:
        use_fast_keccak()


class Prechecker:
    """A worker process that prechecks batches ahead of replay. ``submit`` a batch before (or
    while) replaying the one before it; pass what it returns to ``replay_batch``."""

    def __init__(self, *, fast_keccak: bool = True, chunk: int = 100) -> None:
        # spawn: the worker must not inherit the parent's open LMDB environment or threads
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(
            max_workers=1, mp_context=context, initializer=_init_worker, initargs=(fast_keccak,)
        )
        self._chunk = chunk

    def submit(self, batch: Batch, rules: RuleSet = RuleSet.ROLLUP) -> PendingChecks:
        if rules is RuleSet.ETHEREUM:
            raise ValueError("the Ethereum rule set has no separate stateless checks")
        params = _params(batch)
        txs = tuple(step.tx for step in batch.steps)
        chunks = [
            self._pool.submit(_check_all, txs[i : i + self._chunk], params, rules)
            for i in range(0, len(txs), self._chunk)
        ]
        return PendingChecks(rules, params, txs, chunks, self._chunk)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Prechecker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Check", "PendingChecks", "Prechecked", "Prechecker", "Prechecks", "precheck"]
