"""Commands an operator reaches for in an incident: list the batches and challenges the service
recorded, retry a failed challenge, finalize the batches whose window is over.

``watchtower challenge --batch N`` (challenge a batch now) lives in :mod:`watchtower.cli.challenge`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from watchtower import defaults
from watchtower.cli import _http_url, _out, main
from watchtower.errors import InputError

_DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path(defaults.DATA_DIR),
    show_default=True,
    help="The data directory of `watchtower run`.",
)


def _store(data_dir: Path) -> Any:
    from watchtower.store.db import Store

    path = data_dir / "watchtower.sqlite"
    if not path.is_file():
        raise InputError(f"--data-dir {data_dir} holds no watchtower store (watchtower.sqlite)")
    return Store(path)


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@main.command("batches")
@_DATA_DIR
@click.option(
    "--status",
    "statuses",
    type=click.Choice(["pending", "finalized", "rejected", "removed"]),
    multiple=True,
    help="Only batches with this status (repeatable).",
)
@click.option("--verdict", type=click.Choice(["valid", "fraud", "undecidable", "unreadable"]))
@click.option("--json", "as_json", is_flag=True)
def batches_command(
    data_dir: Path, statuses: tuple[str, ...], verdict: str | None, as_json: bool
) -> None:
    """List the batches the service recorded: index, status on L1, verdict, L1 block, deadline,
    batch transaction, and the fraudulent step or the reason where there is one.

    A batch index can appear more than once: a batch rejected (or reorged out) and the batch
    that replaced it at the same index.

    \b
    Examples:
      watchtower batches --data-dir /var/lib/watchtower
      watchtower batches --verdict fraud --json | jq '.[].tx'
    """
    from watchtower.store.db import BatchStatus

    with _store(data_dir) as store:
        rows = store.batches(tuple(BatchStatus(s) for s in statuses) if statuses else None)
    if verdict is not None:
        rows = [r for r in rows if r.verdict is not None and r.verdict.value == verdict]
    docs = [
        {
            "batch": r.idx,
            "status": r.status.value,
            "verdict": r.verdict.value if r.verdict is not None else None,
            "l1_block": r.l1_block,
            "deadline": r.deadline,
            "steps": r.count,
            "tx": "0x" + r.tx_hash.hex(),
            "fraud_step": r.fraud_step,
            "reason": r.reason or None,
        }
        for r in sorted(rows, key=lambda r: (r.idx, r.id))
    ]
    if as_json:
        click.echo(json.dumps(docs, indent=1))
        return
    if not docs:
        _out.print("no batches recorded" + (" with that filter" if statuses or verdict else ""))
        return
    now = time.time()
    for d in docs:
        left = d["deadline"] - now
        window = f"window {_ago(left)} left" if d["status"] == "pending" and left > 0 else ""
        extra = f"step {d['fraud_step']}" if d["fraud_step"] is not None else (d["reason"] or "")
        _out.print(
            f"batch {d['batch']:>6}  {d['status']:<9} {d['verdict'] or 'not verified':<12} "
            f"L1 block {d['l1_block']:<9} {d['steps']:>5} steps  {d['tx']}  {window} {extra}",
            markup=False,
        )


@main.command("challenges")
@_DATA_DIR
@click.option(
    "--retry",
    "retry_batch",
    type=click.IntRange(0),
    help="Retry the failed (or backing-off) challenge of this batch index: the running service "
    "acts on it at its next tick, with the same salt and recorded transactions.",
)
@click.option("--json", "as_json", is_flag=True)
def challenges_command(data_dir: Path, retry_batch: int | None, as_json: bool) -> None:
    """List the service's challenges (state, step, stake, transactions, last detail), or retry
    one with --retry.

    A challenge ends only on a definite answer (our reveal mined, the batch rejected by someone
    else, the deadline, or "no fraud", which is a bug). --retry reopens a failed challenge of a
    batch that is still pending (the service checks its window again by L1 time), and clears the
    backoff of one that is retrying; it never opens a second challenge, so it can never stake
    twice.

    \b
    Examples:
      watchtower challenges --data-dir /var/lib/watchtower
      watchtower challenges --retry 12 --data-dir /var/lib/watchtower
    """
    from watchtower.store.db import BatchStatus, ChallengeState
    from watchtower.store.journal import reopen

    with _store(data_dir) as store:
        by_id = {b.id: b for b in store.batches()}
        challenges = store.challenges()
        if retry_batch is not None:
            live = [
                c
                for c in challenges
                if by_id[c.batch_id].idx == retry_batch
                and by_id[c.batch_id].status is BatchStatus.PENDING
            ]
            if not live:
                raise InputError(f"no challenge of a pending batch {retry_batch} to retry")
            (challenge,) = live[-1:]
            row = by_id[challenge.batch_id]
            if challenge.state in (ChallengeState.SUCCEEDED, ChallengeState.ALREADY_REJECTED):
                raise InputError(
                    f"the challenge of batch {retry_batch} has ended: {challenge.state.value}"
                )
            state = reopen(store, challenge.batch_id, "retried by the operator")
            _out.print(
                f"challenge of batch {retry_batch} reopened ({state.value}): the running service "
                "acts on it at its next tick",
                markup=False,
            )
            if row.deadline <= time.time():  # the service decides by L1 time, not this clock
                _out.print(
                    f"note: by this machine's clock the window closed at {row.deadline}; if L1 "
                    "agrees, the service ends the challenge again ('challenge period over')",
                    markup=False,
                )
            return
        subs = {c.batch_id: store.submissions(c.batch_id) for c in challenges}
    docs = [
        {
            "batch": by_id[c.batch_id].idx,
            "step": c.step,
            "state": c.state.value,
            "stake_wei": c.stake,
            "transactions": [
                {"action": s.action, "tx": "0x" + s.tx_hash.hex(), "state": s.state}
                for s in subs[c.batch_id]
            ],
            "detail": c.detail,
        }
        for c in challenges
    ]
    if as_json:
        click.echo(json.dumps(docs, indent=1))
        return
    if not docs:
        _out.print("no challenges")
        return
    for d in docs:
        txs = ", ".join(f"{t['action']} {t['tx'][:12]}… {t['state']}" for t in d["transactions"])
        _out.print(
            f"batch {d['batch']:>6}  step {d['step']:<5} {d['state']:<16} stake {d['stake_wei']} "
            f"wei  [{txs or 'no transaction'}]  {d['detail']}",
            markup=False,
        )


@main.command("finalize")
@click.option("--l1-rpc", required=True, callback=_http_url, help="L1 JSON-RPC URL.")
@click.option("--rollup", "rollup_address", required=True, help="The rollup contract's address.")
@click.option("--key-env", help="Environment variable holding the sender's hex key.")
@click.option("--keystore", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--password-env", help="Environment variable holding the keystore password.")
@click.option("--password-file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--send", is_flag=True, help="Send the finalize transactions (default: list what is due)."
)
@click.option("--max", "limit", type=click.IntRange(1), default=100, show_default=True)
def finalize_command(l1_rpc: str, rollup_address: str, send: bool, limit: int, **key: Any) -> None:
    """Finalize, in order, the pending batches whose challenge window is over (anyone may; it
    returns each batch's bond to its proposer and makes its withdrawals claimable). A dry run
    by default: it lists the batches due; --send finalizes them with the given key.

    \b
    Examples:
      watchtower finalize --l1-rpc http://127.0.0.1:8545 --rollup 0x5FbD...
      KEY=0x... watchtower finalize --l1-rpc http://127.0.0.1:8545 --rollup 0x5FbD... \\
          --key-env KEY --send
    """
    from watchtower.l1.rollup import L1TransactionError, OnChainStatus, connect
    from watchtower.submit.signer import load_cli_signer

    (client,) = connect((l1_rpc,), rollup_address)
    now = int(client.w3.eth.get_block("latest")["timestamp"])
    first = int(client.contract.functions.finalizedCount().call())
    due = []
    for index in range(first, min(client.next_index(), first + limit)):
        batch = client.batch(index)
        if batch.status is not OnChainStatus.PENDING or batch.deadline >= now:
            break
        due.append(batch)
    if not due:
        left = ""
        if first < client.next_index():
            left = f"; batch {first}'s window ends in {client.batch(first).deadline - now + 1} s"
        _out.print(f"nothing to finalize{left}", markup=False)
        return
    if not send:
        _out.print(
            f"{len(due)} batch(es) due: {', '.join(str(b.index) for b in due)} "
            "(dry run: add --send and a key)",
            markup=False,
        )
        return
    signer = load_cli_signer(**key)
    if signer is None:
        raise InputError("finalize --send needs a key (--key-env or --keystore)")
    for batch in due:
        try:
            receipt = client.finalize(signer, batch.index)
        except L1TransactionError as exc:
            raise InputError(f"finalize batch {batch.index}: {exc}") from None
        _out.print(
            f"finalized batch {batch.index} in L1 block {receipt['blockNumber']}", markup=False
        )
