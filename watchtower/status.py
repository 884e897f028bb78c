"""The status document: what the service has done, built from the store alone.

One function, :func:`status_document`, builds it for ``watchtower status --data-dir`` (reading the
store on disk) and for ``GET /status`` of the running service (:class:`~watchtower.metrics.
HealthServer`), so that both print the same JSON. What needs L1 (the L1 time for the seconds to
each deadline, the stakes owed) is passed in by the caller, read or not.
"""

from __future__ import annotations

from typing import Any

from watchtower.follow.guard import status_document as bridge_status
from watchtower.rollup.types import VerdictKind
from watchtower.store.db import BatchStatus, ChallengeState, Store, verification_halt

#: Store meta keys the service writes for status (and for itself).
META_SIGNER = "signer"
META_CONFIRMATIONS = "confirmations"
META_START_BLOCK = "start_block"
META_HISTORY_BEFORE = "history_before"
META_MODE = "mode"


def status_document(
    store: Store, *, l1_time: int | None = None, owed: int | None = None, signer: str | None = None
) -> dict[str, Any]:
    """The status of the service whose store is ``store``: ``l1_time`` (None: not read) gives
    the seconds to each running deadline, ``owed`` the stakes owed on chain to ``signer``
    (default: the signer the service recorded)."""
    batches = store.batches()
    challenges = store.challenges()
    rollup = store.get_meta("rollup")
    next_block = store.next_block(0)
    by_id = {b.id: b for b in batches}
    subs = {c.batch_id: store.submissions(c.batch_id) for c in challenges}
    challenged = {c.batch_id for c in challenges}
    challenging = store.get_meta(META_MODE) == "challenge"
    verified = [
        b for b in batches if b.verdict is VerdictKind.VALID and b.status is not BatchStatus.REMOVED
    ]
    confirmations = store.get_meta(META_CONFIRMATIONS)
    start_block = store.get_meta(META_START_BLOCK)
    history_before = store.get_meta(META_HISTORY_BEFORE)
    document: dict[str, Any] = {
        "rollup": rollup,
        "last_scanned_block": None if rollup is None else next_block - 1,
        "start_block": None if start_block is None else int(start_block),
        "history_before": None if history_before is None else int(history_before),
        "confirmations": _confirmations(confirmations),
        "last_verified_batch": max((b.idx for b in verified), default=None),
        "batches_verified": len(verified),
        "fraud_found": [
            {"batch": b.idx, "step": b.fraud_step, "status": b.status.value}
            for b in batches
            if b.verdict is VerdictKind.FRAUD
        ],
        "unreadable": [
            {
                "batch": b.idx,
                "tx": "0x" + b.tx_hash.hex(),
                "l1_block": b.l1_block,
                "status": b.status.value,
                "reason": b.reason,
            }
            for b in batches
            if b.verdict is VerdictKind.UNREADABLE and b.status is not BatchStatus.REMOVED
        ],
        "waiting_for_confirmations": [],
        "verification_halted": None,
        "challenges": [],
        "signer": signer if signer is not None else store.get_meta(META_SIGNER),
        "stakes_owed_wei": owed,
        "withdrawn_wei": store.withdrawn_total(),
        "bridge": bridge_status(store, l1_time),
        "channels": _channels(store, l1_time),
    }
    needed = document["confirmations"]
    if rollup is not None and needed is not None:
        last = next_block - 1
        for b in batches:
            if b.status is not BatchStatus.PENDING:
                continue
            behind = b.l1_block + needed - last if isinstance(needed, int) else None
            if behind is not None and behind <= 0:
                continue
            waits = challenging and b.verdict is VerdictKind.FRAUD and b.id not in challenged
            if behind is None and not waits:
                continue  # safe/finalized: only a challenge that has not started is shown
            document["waiting_for_confirmations"].append(
                {
                    "batch": b.idx,
                    "l1_block": b.l1_block,
                    "verdict": None if b.verdict is None else str(b.verdict),
                    "blocks_needed": behind,
                    "challenge_waits": waits,
                }
            )
    halt = verification_halt(batches)
    if halt is not None:
        document["verification_halted"] = {
            "batch": halt.batch.idx,
            "tx": "0x" + halt.batch.tx_hash.hex(),
            "verdict": str(halt.batch.verdict),
            "reason": halt.batch.reason,
            "waiting": [b.idx for b in halt.waiting],
        }
    for c in challenges:
        row = by_id[c.batch_id]
        mined = [s for s in subs[c.batch_id] if s.state == "mined" and s.action == "reveal"]
        document["challenges"].append(
            {
                "batch": row.idx,
                "step": c.step,
                "state": c.state.value,
                "stake_wei": c.stake if c.state is not ChallengeState.ALREADY_REJECTED else 0,
                "transactions": len(subs[c.batch_id]),
                "mined_tx": "0x" + mined[0].tx_hash.hex() if mined else None,
                # only where it still runs: an ended challenge has no deadline to watch
                "seconds_to_deadline": (
                    row.deadline - l1_time
                    if l1_time is not None
                    and c.state in (ChallengeState.PREPARED, ChallengeState.SENT)
                    else None
                ),
                "detail": c.detail,
            }
        )
    return document


def _channels(store: Store, l1_time: int | None) -> list[dict[str, Any]]:
    """The channels and cheques the guardian holds requests for, with their actions and, where
    an action has a deadline that still runs, the seconds left (docs/channels.md)."""
    from watchtower.channels.api import channel_list
    from watchtower.channels.store import ChannelStore

    rows = channel_list(ChannelStore(store))
    for row in rows:
        for action in row["actions"]:
            deadline = action["deadline"]
            running = action["state"] == "open"
            action["seconds_to_deadline"] = (
                deadline - l1_time
                if l1_time is not None and deadline is not None and running
                else None
            )
    return rows


def _confirmations(recorded: str | None) -> int | str | None:
    if recorded is None:
        return None
    return int(recorded) if recorded.isdigit() else recorded
