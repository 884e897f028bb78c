"""``watchtower export``: a bundle (protocol.md §6, format 2) of a live rollup, read from L1, for
auditors who replay it offline.

What it holds: the genesis given (checked against the contract's ``genesisRoot``), the batches
the contract holds at indexes ``0 .. to_index`` at the export block (the latest submission at
each index: an earlier one there was rejected), their calldata (checked against the
``BatchSubmitted`` event) and the deposit queue entries they consume. Batches are fetched one
transaction at a time, so a long export is **resumable**: every fetched batch is appended to
``OUT.partial`` (one JSON line each) and a second run with the same arguments reuses those
whose transaction is still the live one, fetching only the rest.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchtower.errors import InputError
from watchtower.l1.rollup import BatchSubmitted, RollupClient
from watchtower.rollup.bridge import Deposit, decode_deposit
from watchtower.rollup.bundle import Bundle, bundle_to_json
from watchtower.rollup.params import RollupParams
from watchtower.rollup.types import Batch, BlockContext, GenesisAccount, Step, hex0x


@dataclass(frozen=True)
class ExportPlan:
    """What an export will fetch: the live event of each index, up to ``to_block``."""

    to_block: int
    events: tuple[BatchSubmitted, ...]  # index order: the live batch at 0, 1, ...


def live_events(events: list[BatchSubmitted], next_index: int) -> tuple[BatchSubmitted, ...]:
    """The event of the live batch at each index below ``next_index``: the latest submission at
    that index (a batch is only ever submitted again at an index after the one there was
    rejected). Raises :class:`InputError` if an index has no submission."""
    latest: dict[int, BatchSubmitted] = {}
    for event in sorted(events, key=lambda e: (e.block_number, e.log_index)):
        latest[event.index] = event
    missing = [i for i in range(next_index) if i not in latest]
    if missing:
        raise InputError(
            f"no BatchSubmitted event for batch {missing[0]} in the blocks scanned: "
            "start the scan at the contract's deployment block (--start-block)"
        )
    return tuple(latest[i] for i in range(next_index))


def plan_export(
    client: RollupClient, start_block: int, confirmations: int, to_index: int | None, chunk: int
) -> ExportPlan:
    head = int(client.w3.eth.block_number)
    to_block = max(start_block, head - confirmations)
    next_index = int(client.contract.functions.nextIndex().call(block_identifier=to_block))
    if to_index is not None:
        if to_index >= next_index:
            raise InputError(
                f"--to-index {to_index}: the rollup holds batches 0 .. {next_index - 1} "
                f"at block {to_block}"
            )
        next_index = to_index + 1
    events: list[BatchSubmitted] = []
    for first in range(start_block, to_block + 1, chunk):
        events += client.batches_submitted(first, min(first + chunk - 1, to_block))
    return ExportPlan(to_block, live_events(events, next_index))


def _batch_line(event: BatchSubmitted, batch: Batch) -> str:
    return json.dumps(
        {
            "tx": hex0x(event.tx_hash),
            "index": batch.index,
            "timestamp": batch.context.timestamp,
            "coinbase": hex0x(batch.context.coinbase),
            "prev_root": hex0x(batch.prev_root),
            "steps": [[hex0x(s.tx), hex0x(s.root)] for s in batch.steps],
        }
    )


def _read_partial(path: Path, params: RollupParams) -> dict[bytes, Batch]:
    """The batches a previous run fetched, by transaction hash (a torn last line is dropped)."""
    done: dict[bytes, Batch] = {}
    if not path.exists():
        return done
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            doc = json.loads(line)
            context = BlockContext.of_batch(
                doc["index"], doc["timestamp"], bytes.fromhex(doc["coinbase"][2:]), params
            )
            steps = tuple(
                Step(bytes.fromhex(tx[2:]), bytes.fromhex(root[2:])) for tx, root in doc["steps"]
            )
            batch = Batch(doc["index"], bytes.fromhex(doc["prev_root"][2:]), context, steps)
        except (ValueError, KeyError, TypeError):
            continue  # an interrupted write: fetched again
        done[bytes.fromhex(doc["tx"][2:])] = batch
    return done


def consumed_deposits(batches: tuple[Batch, ...]) -> int:
    """How many queue entries the batches consume (deposit steps are consumed in order)."""
    last = -1
    for batch in batches:
        for step in batch.steps:
            deposit = decode_deposit(step.tx)
            if deposit is not None:
                last = max(last, deposit.index)
    return last + 1


def check_genesis(client: RollupClient, genesis_root: bytes) -> None:
    on_chain = client.genesis_root()
    if on_chain != genesis_root:
        raise InputError(
            f"the genesis given has root 0x{genesis_root.hex()}, the contract's genesisRoot() is "
            f"0x{on_chain.hex()}: not this rollup's genesis"
        )


def export_bundle(
    client: RollupClient,
    genesis: Mapping[bytes, GenesisAccount],
    genesis_root: bytes,
    out: Path,
    *,
    start_block: int = 0,
    confirmations: int = 0,
    to_index: int | None = None,
    chunk: int = 2000,
    progress: Callable[[int, int, bool], None] = lambda done, total, fetched: None,
    plan: ExportPlan | None = None,
) -> tuple[Bundle, int]:
    """Write the bundle to ``out`` and return it with the number of batches fetched in this run
    (the others came from ``OUT.partial``). ``progress(done, total, fetched)`` is called per
    batch."""
    check_genesis(client, genesis_root)
    params = client.params()
    if plan is None:
        plan = plan_export(client, start_block, confirmations, to_index, chunk)
    partial = out.with_name(out.name + ".partial")
    done = _read_partial(partial, params)
    batches: list[Batch] = []
    fetched = 0
    with partial.open("a", encoding="utf-8") as log:
        for n, event in enumerate(plan.events):
            batch = done.get(event.tx_hash)
            if batch is None:
                batch = client.fetch_batch(event, params)
                log.write(_batch_line(event, batch) + "\n")
                log.flush()
                fetched += 1
            batches.append(batch)
            progress(n + 1, len(plan.events), event.tx_hash not in done)
    consumed = consumed_deposits(tuple(batches))
    deposits: list[Deposit] = []
    if consumed:
        for first in range(start_block, plan.to_block + 1, chunk):
            deposits += client.deposits_queued(first, min(first + chunk - 1, plan.to_block))
            if len(deposits) >= consumed:
                break
        deposits = sorted(deposits, key=lambda d: d.index)[:consumed]
        if [d.index for d in deposits] != list(range(consumed)):
            raise InputError(
                f"the batches consume deposits 0 .. {consumed - 1} but the blocks scanned hold "
                f"{len(deposits)} DepositQueued events: start at the deployment block"
            )
    bundle = Bundle(
        params=params,
        genesis=dict(genesis),
        batches=tuple(batches),
        version=2,
        deposits=tuple(deposits),
    )
    document: Any = bundle_to_json(bundle)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    partial.unlink()
    return bundle, fetched
