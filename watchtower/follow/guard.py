"""The service's bridge stage: what :class:`~watchtower.service.Watchtower` does about the bridge
(docs/protocol.md §8.8), between the store, L1 and the alerts. The decisions are the pure
functions of :mod:`watchtower.follow.bridge`; this module reads, records and alerts.

* at start-up: the genesis supply paid into the bridge against the genesis balances
  (``genesis_unbacked``);
* for each replayed batch: its deposit steps against the followed L1 queue
  (``deposit_mismatch``); a valid batch's flows (deposits, withdrawals, burned fees) and the L2
  supply after it are recorded; a fraudulent batch's value at risk (the withdrawals it claims)
  is recorded and goes into its ``fraud_detected``;
* after each tick's replay and challenges: every new claim on L1 is judged against the verified
  withdrawals (``withdrawal_forged``), pending deposits against the inclusion delay
  (``deposit_overdue`` / ``deposit_overdue_resolved``), the conservation invariant at the last
  scanned block (``conservation_violated`` / ``…_resolved``), and the bridge's metrics.

A deployment without a bridge (a v1 contract: :class:`~watchtower.l1.reader.NoBridgeError`)
turns all of it off.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import structlog

from watchtower.errors import MalformedBatchError
from watchtower.follow.bridge import (
    FORGED,
    BridgeSummary,
    PendingWithdrawal,
    bridge_summary,
    conservation,
    deposit_mismatches,
    genesis_shortfall,
    judge_claim,
    overdue_deposits,
)
from watchtower.l1.reader import L1Reader
from watchtower.metrics import Metrics
from watchtower.rollup import bridge as core
from watchtower.rollup.bridge import BridgeFlows
from watchtower.rollup.params import TRANSFER_GAS, RollupParams
from watchtower.rollup.types import Batch, GenesisAccount, Verdict, VerdictKind
from watchtower.store import bridge as records
from watchtower.store.db import BatchRow, Store

log = structlog.get_logger("watchtower.bridge")

Alert = Callable[..., None]

#: Blocks behind the head whose state any full node still has (geth keeps 128): the bridge
#: balance is read at the last scanned block, which may be older while catching up.
RECENT_STATE = 64


def value_at_risk(batch: Batch, params: RollupParams) -> int:
    """The withdrawals ``batch`` claims (in wei): what its finalization would let leave L1."""
    return sum(w.amount for w in core.claimed_withdrawals(batch, params))


def summarize(store: Store, snapshot: Mapping[str, int], l1_time: int) -> BridgeSummary:
    """The bridge at L1 time ``l1_time``, from the store and the last L1 ``snapshot``
    (:func:`~watchtower.store.bridge.save_snapshot`)."""
    live = records.live_withdrawals(store)
    return bridge_summary(
        bridge_balance=snapshot["bridge_balance"],
        l2_supply=records.l2_supply(store, snapshot["l2_genesis_supply"])[1],
        pending=records.deposits(store, snapshot["deposits_consumed"]),
        unclaimed=[(w.withdrawal, w.deadline) for w in live if not w.claimed],
        l1_time=l1_time,
        forged_claims=records.forged_count(store),
    )


def status_document(store: Store, l1_time: int | None) -> dict[str, Any] | None:
    """The ``bridge`` part of ``watchtower status --json`` (``None``: the service has not
    checked a bridge here). Without ``l1_time`` (no ``--l1-rpc``), ages and times left are
    counted at the L1 time of the last check."""
    snapshot = records.load_snapshot(store)
    if snapshot is None:
        return None
    at = snapshot["l1_time"] if l1_time is None else l1_time
    summary = summarize(store, snapshot, at)

    def row(p: PendingWithdrawal) -> dict[str, Any]:
        w = p.withdrawal
        return {"batch": w.batch, "step": w.step, "account": "0x" + w.account.hex(),
                "amount_wei": w.amount, "seconds_left": max(0, p.seconds_left)}  # fmt: skip

    return {
        "l1_block": snapshot["l1_block"],
        "l1_time": at,
        "locked_wei": summary.bridge_balance,
        "l2_supply_wei": summary.l2_supply,
        "pending_deposits": summary.pending_deposits,
        "oldest_pending_deposit_age_seconds": summary.oldest_deposit_age,
        "awaiting_finalization": [row(p) for p in summary.awaiting],
        "awaiting_finalization_wei": summary.awaiting_value,
        "claimable": [row(p) for p in summary.claimable],
        "claimable_wei": summary.claimable_value,
        "forged_claims": summary.forged_claims,
    }


class BridgeGuard:
    """The bridge checks of one service (see the module). ``condition`` and ``resolved`` are the
    service's episode alerts (one open episode per kind)."""

    def __init__(
        self,
        store: Store,
        reader: L1Reader,
        params: RollupParams,
        *,
        genesis_supply: int | None,
        genesis: Mapping[bytes, GenesisAccount],
        alert: Alert,
        condition: Alert,
        resolved: Alert,
        metrics: Metrics,
    ) -> None:
        self.store = store
        self.reader = reader
        self.params = params
        self.alert = alert
        self.condition = condition
        self.resolved = resolved
        self.metrics = metrics
        #: None: the contract has no bridge, nothing here runs.
        self.genesis_supply = genesis_supply
        #: the L2 supply at genesis (all balances but the bridge address's, §8.3)
        self.l2_genesis = core.genesis_supply(genesis)
        #: what the constructor must have been sent to back the genesis (§8.6)
        self.genesis_balance = core.genesis_balance(genesis)
        self.summary: BridgeSummary | None = None

    @property
    def enabled(self) -> bool:
        return self.genesis_supply is not None

    # -- start-up -------------------------------------------------------------------------------
    def check_genesis(self) -> None:
        if self.genesis_supply is None:
            return
        shortfall = genesis_shortfall(self.genesis_supply, self.genesis_balance)
        if shortfall:
            self.alert(
                "genesis_unbacked",
                genesis_supply=self.genesis_supply,
                genesis_balances=self.genesis_balance,
                shortfall=shortfall,
                rollup=self.reader.address,
            )

    # -- per replayed batch ---------------------------------------------------------------------
    def fraud_value(self, row: BatchRow, batch: Batch | None) -> int:
        """The value at risk of fraudulent ``row`` (recorded for the challenge order)."""
        if not self.enabled or batch is None:
            return 0
        value = value_at_risk(batch, self.params)
        records.record_value_at_risk(self.store, row.id, value)
        return value

    def replayed(self, row: BatchRow, verdict: Verdict, batch: Batch | None) -> None:
        """Check a replayed batch's deposit steps and record a valid one's flows (before its
        verdict is stored: a crash in between replays it and does this again)."""
        if not self.enabled or batch is None:
            return
        self._check_deposits(row, batch)
        if verdict.kind is VerdictKind.VALID:
            self._record_flows(row, verdict.flows)

    def accepted(self, row: BatchRow, load: Callable[[], Batch]) -> None:
        """A batch accepted as valid without a replay (already in the state database): its
        flows are normally recorded; if a crash lost them, they are what it claims (in a valid
        batch, what it claims is what it did)."""
        if not self.enabled or records.has_flows(self.store, row.id):
            return
        try:
            batch = load()
        except MalformedBatchError as exc:  # its calldata was dropped (pruned): nothing to read
            log.error("bridge_flows_lost", batch=row.idx, step=None, error=str(exc))
            return
        log.warning("bridge_flows_rebuilt", batch=row.idx, step=None, l1_block=row.l1_block)
        withdrawals = core.claimed_withdrawals(batch, self.params)
        deposits = tuple(
            d for d in (core.decode_deposit(s.tx) for s in batch.steps) if d is not None
        )
        # In a valid batch a step changed the root exactly when it was a valid transfer (its
        # base fee burned) or a deposit of more than nothing (§8.5 item 3, §8.2).
        before, transfers = batch.prev_root, 0
        for step in batch.steps:
            transfers += step.root != before and not core.is_deposit_type(step.tx)
            before = step.root
        burned = transfers * TRANSFER_GAS * batch.context.base_fee
        self._record_flows(row, BridgeFlows(deposits, withdrawals, burned))

    def _record_flows(self, row: BatchRow, flows: BridgeFlows) -> None:
        supply = records.record_flows(self.store, row.id, flows, self.l2_genesis)
        log.info(
            "bridge_flows",
            batch=row.idx,
            step=None,
            deposited=flows.deposited,
            withdrawn=flows.withdrawn,
            burned=flows.burned,
            l2_supply=supply,
        )

    def _check_deposits(self, row: BatchRow, batch: Batch) -> None:
        txs = [step.tx for step in batch.steps]
        if not any(core.is_deposit_type(tx) for tx in txs):
            return
        consumed = self._deposit_start(row)
        if consumed is None:
            return
        queue = {d.index: d for d in records.deposits(self.store, consumed)}
        for mismatch in deposit_mismatches(row.idx, txs, queue, consumed):
            self.alert(
                "deposit_mismatch",
                **mismatch.fields(),
                batch_tx="0x" + row.tx_hash.hex(),
                l1_block=row.l1_block,
                deposit_start=consumed,
            )

    def _deposit_start(self, row: BatchRow) -> int | None:
        """``depositStart`` of the batch, from the contract (``None`` if the index holds
        another batch now, or the contract does not say)."""
        try:
            on_chain = self.reader.batch(row.idx)
        except Exception as exc:  # the check waits for the next replay of a batch; say why
            log.warning("deposit_start_unknown", batch=row.idx, error=type(exc).__name__)
            return None
        if on_chain.final_root != row.final_root:
            return None
        return on_chain.deposit_start

    # -- after each tick ------------------------------------------------------------------------
    def check(self) -> None:
        """Claims, overdue deposits, conservation, and the metrics (see the module)."""
        if not self.enabled:
            return
        scanned = self.store.next_block(0) - 1
        if scanned < 0:
            return
        self._judge_claims()
        l1_time = self.reader.l1_time()
        consumed = self.reader.deposits_consumed()
        pending = records.deposits(self.store, consumed)
        self._check_overdue(pending, consumed, l1_time)
        try:
            balance = self.reader.bridge_balance(scanned)
        except Exception as exc:  # an old block's state, on a node that keeps only recent ones
            if self.reader.head() - scanned <= RECENT_STATE:
                raise
            # Catching up: the invariant is checked once the scan is near the head again.
            log.info("conservation_deferred", l1_block=scanned, error=type(exc).__name__)
            return
        self._check_conservation(balance, scanned)
        snapshot = {
            "bridge_balance": balance,
            "deposits_consumed": consumed,
            "l1_block": scanned,
            "l1_time": l1_time,
            "l2_genesis_supply": self.l2_genesis,
        }
        records.save_snapshot(self.store, snapshot)
        self.summary = summarize(self.store, snapshot, l1_time)
        self._measure(self.summary)

    def _judge_claims(self) -> None:
        for claim in records.claims(self.store, unchecked_only=True):
            verdict, withdrawal = records.backing(self.store, claim.batch, claim.step)
            already = records.backed_claim_exists(self.store, claim.batch, claim.step)
            judged = judge_claim(
                claim.batch,
                claim.step,
                account=claim.account,
                amount=claim.amount,
                verdict=verdict,
                withdrawal=withdrawal,
                already_backed=already,
            )
            if judged.verdict == FORGED:
                # Raised before the verdict is stored: a crash in between judges it again.
                self.alert(
                    "withdrawal_forged",
                    batch=claim.batch,
                    step=claim.step,
                    tx="0x" + claim.tx_hash.hex(),
                    account="0x" + claim.account.hex(),
                    amount=claim.amount,
                    l1_block=claim.l1_block,
                    reason=judged.reason,
                    rollup=self.reader.address,
                )
                self.metrics.withdrawals_forged.inc()
            else:
                log.info(
                    "withdrawal_claimed",
                    batch=claim.batch,
                    step=claim.step,
                    amount=claim.amount,
                    l1_block=claim.l1_block,
                )
            records.set_claim_verdict(self.store, claim, judged.verdict, judged.reason)

    def _check_overdue(self, pending: list[core.Deposit], consumed: int, l1_time: int) -> None:
        """``deposit_overdue`` for a deposit pending past the inclusion delay, once per episode;
        ``deposit_overdue_resolved`` once it is consumed, or once it is no longer on L1 (a reorg
        deleted it). The episode (0 the first time, then 1, 2, …; only a later one is sent as
        ``episode``) is what lets a deposit overdue again page again."""
        still_open: set[int] = set()
        for index, (tx, episode) in records.overdue_open(self.store).items():
            removed = records.deposit_tx(self.store, index) != tx
            if index >= consumed and not removed:
                still_open.add(index)
                continue
            fields: dict[str, Any] = {"tx": "0x" + tx.hex(), "deposit": index}
            fields["deposits_consumed"] = consumed
            if episode:
                fields["episode"] = episode
            if index >= consumed:
                fields["reason"] = "the deposit is no longer on L1 (a reorg removed it)"
            self.alert("deposit_overdue_resolved", **fields)
            records.close_overdue(self.store, index, tx)
        for dep in overdue_deposits(pending, l1_time):
            if dep.index in still_open:
                continue
            queued_tx = records.deposit_tx(self.store, dep.index) or b""
            episode = records.next_overdue_episode(self.store, dep.index, queued_tx)
            self.alert(
                "deposit_overdue",
                tx="0x" + queued_tx.hex() if queued_tx else None,
                deposit=dep.index,
                recipient="0x" + dep.recipient.hex(),
                amount=dep.amount,
                queued_at=dep.l1_timestamp,
                overdue_since=dep.overdue_at(),
                seconds_overdue=l1_time - dep.overdue_at(),
                l1_block=dep.l1_block,
                deposits_consumed=consumed,
                **({"episode": episode} if episode else {}),
            )
            records.open_overdue(self.store, dep.index, queued_tx, episode)

    def _check_conservation(self, balance: int, scanned: int) -> None:
        last, supply = records.l2_supply(self.store, self.l2_genesis)
        live = records.live_withdrawals(self.store)
        made = sum(w.withdrawal.amount for w in live)
        backed = sum(w.withdrawal.amount for w in live if w.claimed)
        check = conservation(balance, supply, made, backed)
        fields: dict[str, Any] = {"l1_block": scanned, "last_verified_batch": last}
        if check.holds:
            self.resolved("conservation_violated", **fields, **check.fields())
        else:
            self.condition("conservation_violated", **fields, **check.fields())

    def _measure(self, summary: BridgeSummary) -> None:
        m = self.metrics
        if summary.bridge_balance is not None:
            m.bridge_balance.set(summary.bridge_balance)
        m.l2_supply.set(summary.l2_supply)
        m.deposits_pending.set(summary.pending_deposits)
        m.deposit_oldest_age.set(summary.oldest_deposit_age or 0)
        m.withdrawals_pending.set(len(summary.awaiting))
        m.withdrawals_pending_value.set(summary.awaiting_value)
        m.withdrawals_claimable.set(len(summary.claimable))
        m.withdrawals_claimable_value.set(summary.claimable_value)
