"""The channel guardian: every tick, for each guarded channel, facts from L1, a pure plan, and one
transaction per action through the write-ahead journal (docs/channels.md §6).

Shared with the rollup challenger, not copied: the fee policy and its bump arithmetic
(:func:`watchtower.submit.decide.first_fees`, :func:`~watchtower.submit.decide.bumped_fees`,
:class:`~watchtower.submit.decide.FeePolicy`), the backoff, the per-signer nonce space
(:meth:`ChannelStore.allocate_nonce` uses :func:`watchtower.store.journal.recorded_nonce`), the
sender lock (the runner holds :class:`~watchtower.store.journal.SenderLock`), the alert outbox
and the metrics.

Invariants (as the challenger's):

* an action (update, settle, claim, cash) is opened once per (contract, channel, sequence);
* its nonce is allocated and recorded before signing; every signed transaction is recorded
  before broadcast; replacements keep the nonce; a nonce taken by another transaction of the
  same key gets the action a fresh one;
* only a definite answer ends an action: our transaction mined (MINED), the chain shows the job
  done by someone else (SUPERSEDED), the deadline passed (FAILED). A MINED action whose receipt
  vanished (a reorg) is opened again while its deadline allows.

Policy ("as late as is safe, never too late"):

* **update** at once on a stale close (nothing is gained by waiting; fees double per bump in the
  last ``urgent_window`` seconds before the deadline);
* **settle** once the deadline passed, only when the stored reward names this guardian (that is
  what pays it; with no reward of ours, anyone, the victim included, may settle);
* **claim** a payment channel from ``expiration − claim_margin``: an online recipient can claim
  first; the margin is at least 10 blocks' worth;
* **cash** at-risk cheques (liquid balance below the uncashed amounts held) at once, largest
  first, only when the beneficiary signed a reward.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from watchtower.channels import decide
from watchtower.channels.facts import (
    CASH,
    CLAIM,
    MAX_REVERTS,
    NO_DEADLINE,
    SETTLE,
    UPDATE,
    ChannelChain,
    ChannelEvent,
    Facts,
    Head,
    Signer,
    Status,
    TxReceipt,
    done_by_others,
    journal_of,
    payment_view,
    state_view,
    still_needed,
    with_reward,
)
from watchtower.channels.store import (
    FAILED,
    MINED,
    OPEN,
    SUPERSEDED,
    ActionRow,
    ChannelStore,
    StoredRequest,
    TxRow,
)
from watchtower.channels.types import Kind
from watchtower.errors import one_line
from watchtower.failpoints import failpoint
from watchtower.submit.challenger import broadcast
from watchtower.submit.decide import FeePolicy, Fees, Sent, backoff, bumped_fees, first_fees

log = structlog.get_logger("watchtower.channels")


@dataclass(frozen=True)
class GuardianPolicy:
    claim_margin: int = 3600
    block_time: int = 12
    confirmations: int = 2
    keep_blocks: int = 128  # how far back block hashes are kept (and a first scan starts)
    chunk: int = 2000  # blocks per eth_getLogs


Alert = Callable[..., None]


@dataclass
class Guardian:
    chain: ChannelChain
    store: ChannelStore
    signer: Signer | None
    contracts: dict[bytes, Kind]
    alert: Alert
    fees: FeePolicy = field(default_factory=FeePolicy)
    policy: GuardianPolicy = field(default_factory=GuardianPolicy)
    metrics: Any = None
    start_block: int = 0
    clock: Callable[[], float] = time.time

    @property
    def address(self) -> str:
        return "" if self.signer is None else str(self.signer.address)

    @property
    def me(self) -> bytes:
        return bytes.fromhex(self.address.removeprefix("0x")) if self.address else b""

    # -- one tick -------------------------------------------------------------------------------
    def tick(self) -> dict[str, int]:
        """Follow the contracts' events, then decide and act for every guarded channel (one
        chequebook's cheques together). Returns counts."""
        head = self.chain.head()
        self.follow(head)
        report = {"guarded": 0, "acted": 0}
        at_risk = 0
        by_kind: dict[str, int] = {}
        policy = decide.DecidePolicy(
            guardian=self.me,
            claim_margin=self.policy.claim_margin,
            block_time=self.policy.block_time,
        )
        books: dict[str, list[tuple[StoredRequest, Facts]]] = {}
        for held in self.store.requests():
            contract = bytes.fromhex(held.contract.removeprefix("0x"))
            try:
                facts = self.chain.facts(held.kind, contract, held.channel_key)
            except Exception as exc:  # one unreadable channel never stops the others
                log.warning(
                    "channel_facts_failed",
                    contract=held.contract,
                    channel=held.channel_key,
                    error=one_line(exc),
                )
                continue
            if held.kind is Kind.CHEQUE:
                books.setdefault(held.contract, []).append((held, facts))
                continue
            if facts.status is Status.OPEN or facts.status is Status.CLOSING:
                report["guarded"] += 1
                by_kind[held.kind.value] = by_kind.get(held.kind.value, 0) + 1
            rows = self.store.actions(held.contract, held.channel_key)
            sent = journal_of(held.kind, rows)
            if held.kind is Kind.STATE:
                plan = decide.decide_state(
                    held.request, state_view(facts, head.timestamp), sent, policy
                )
            else:
                plan = decide.decide_payment(
                    held.request, payment_view(facts, head.timestamp), sent, policy
                )
            self._recheck(held, facts, head)
            self._carry_out(plan, {held.channel_key: (held, facts)}, head, report)
        for book, cheques in books.items():
            liquid = cheques[0][1].liquid
            uncashed = sum(max(h.sequence - f.paid_out, 0) for h, f in cheques)
            if uncashed > liquid:
                at_risk += uncashed
            report["guarded"] += sum(1 for h, f in cheques if h.sequence > f.paid_out)
            by_kind[Kind.CHEQUE.value] = by_kind.get(Kind.CHEQUE.value, 0) + sum(
                1 for h, f in cheques if h.sequence > f.paid_out
            )
            view = decide.ChequebookView(
                now=head.timestamp,
                liquid_balance=liquid,
                paid_out={h.channel_key.to_bytes(20, "big"): f.paid_out for h, f in cheques},
            )
            sent = [
                s
                for h, _ in cheques
                for s in journal_of(Kind.CHEQUE, self.store.actions(book, h.channel_key))
            ]
            plan = decide.decide_chequebook([h.request for h, _ in cheques], view, sent, policy)
            for h, f in cheques:
                self._recheck(h, f, head)
            self._carry_out(plan, {h.channel_key: (h, f) for h, f in cheques}, head, report)
        if self.metrics is not None:
            for kind in Kind:
                self.metrics.channels_guarded.labels(kind=kind.value).set(
                    by_kind.get(kind.value, 0)
                )
            self.metrics.channel_value_at_risk_wei.set(at_risk)
        return report

    def _carry_out(
        self,
        plan: decide.Plan,
        channels: dict[int, tuple[StoredRequest, Facts]],
        head: Head,
        report: dict[str, int],
    ) -> None:
        """Raise the plan's alerts (once each), open the actions it sends (once each, ever),
        then take the next step of every open action of these channels."""
        for decision in plan:
            if isinstance(decision, decide.Alert):
                fields = dict(decision.fields)
                key = decision.kind + ":" + json.dumps(fields, sort_keys=True)
                if decision.kind == decide.CHEQUE_AT_RISK:
                    # A condition, not an event: each new shortfall is an episode of its own,
                    # or the outbox (keyed by kind + contract) would send only the first ever.
                    fields["episode"] = head.number
                self._once(key, head.number, decision.kind, **fields)
            elif self.signer is not None and isinstance(
                decision, decide.SendUpdate | decide.SendSettle | decide.SendClaim
            ):
                self._open(decision, channels, head)
            elif self.signer is not None and isinstance(decision, decide.SendCash):
                for order in decision.orders:
                    self._open(order, channels, head)
        if self.signer is None:
            return
        for held, facts in channels.values():
            for action in self.store.actions(held.contract, held.channel_key):
                if action.state == OPEN:
                    due = action.sequence == held.sequence
                    report["acted"] += self.step(action, held, facts, head, due=due)

    def _open(
        self,
        decision: decide.SendUpdate | decide.SendSettle | decide.SendClaim | decide.CashOrder,
        channels: dict[int, tuple[StoredRequest, Facts]],
        head: Head,
    ) -> None:
        request = decision.request
        held, _ = channels[request.channel_key]
        if isinstance(decision, decide.SendUpdate):
            action, deadline = UPDATE, decision.deadline
        elif isinstance(decision, decide.SendSettle):
            action, deadline = SETTLE, NO_DEADLINE
        elif isinstance(decision, decide.SendClaim):
            action, deadline = CLAIM, decision.deadline - 1  # in a block before expiration
        else:
            action, deadline = CASH, NO_DEADLINE
        self.store.open_action(
            contract=held.contract,
            channel_key=held.channel_key,
            action=action,
            sequence=request.sequence,
            sender=self.address,
            deadline=deadline,
        )
        failpoint("channel.action_opened")
        del head

    def _pending(self, held: StoredRequest) -> bool:
        return any(a.state == OPEN for a in self.store.actions(held.contract, held.channel_key))

    def _once(self, key: str, at_block: int, kind: str, **fields: Any) -> None:
        """Raise ``kind`` once per ``key`` (a reorg below ``at_block`` forgets it)."""
        if self.store.alert_once(key, at_block):
            self.alert(kind, **fields)

    def _recheck(self, held: StoredRequest, facts: Facts, head: Head) -> None:
        """Mined actions whose transaction a reorg removed are opened again while their
        deadline allows (only those mined in the last ``keep_blocks`` blocks are read again)."""
        recent = head.number - self.policy.keep_blocks
        for action in self.store.actions(held.contract, held.channel_key):
            if action.state != MINED:
                continue
            mined = [t for t in self.store.txs(action.id) if t.state == "mined"]
            if all(t.l1_block is not None and t.l1_block < recent for t in mined):
                continue
            receipts = {t.tx_hash: self.chain.receipt(t.tx_hash) for t in mined}
            if any(r is not None and r.status == 1 for r in receipts.values()):
                continue
            if head.timestamp <= action.deadline and not done_by_others(action, facts):
                for tx in mined:
                    self.store.mark_tx(tx.tx_hash, "sent", None, None)
                self.store.set_state(action.id, OPEN, "reorged out: sending again")
                log.warning(
                    "channel_action_reorged",
                    action=action.action,
                    contract=action.contract,
                    channel=action.channel_key,
                )

    # -- one action -----------------------------------------------------------------------------
    def step(
        self, action: ActionRow, held: StoredRequest, facts: Facts, head: Head, *, due: bool
    ) -> int:
        """Take the next step of one open action; 1 if a transaction was signed. ``due``: the
        plan wants this action now (otherwise its transactions are only followed: a receipt, or
        the job done by someone else, ends it)."""
        assert self.signer is not None
        if self.clock() < action.retry_at:
            return 0
        txs = self.store.txs(action.id)
        receipts: dict[bytes, TxReceipt] = {}
        for tx in txs:
            receipt = self.chain.receipt(tx.tx_hash)
            if receipt is not None:
                receipts[tx.tx_hash] = receipt
                state = "mined" if receipt.status == 1 else "reverted"
                if tx.state != state:
                    self.store.mark_tx(tx.tx_hash, state, receipt.block, receipt.gas_used)
        for tx in txs:
            found = receipts.get(tx.tx_hash)
            if found is not None and found.status == 1:
                self._mined(action, held, tx, found)
                return 0
        if done_by_others(action, facts):
            self.store.set_state(action.id, SUPERSEDED, "done on chain by another transaction")
            log.info(
                "channel_action_superseded",
                action=action.action,
                contract=action.contract,
                channel=action.channel_key,
            )
            return 0
        if head.timestamp > action.deadline:
            # The decision core raises channel_update_missed / channel_claim_missed.
            self.store.set_state(action.id, FAILED, f"not landed by its deadline {action.deadline}")
            return 0
        reverted = [t for t in txs if t.tx_hash in receipts and receipts[t.tx_hash].status == 0]
        if len(reverted) >= MAX_REVERTS:
            # The decision core raises channel_action_failed for a FAILED action.
            self.store.set_state(action.id, FAILED, f"{len(reverted)} transactions reverted")
            return 0
        if not (due and still_needed(action, facts)):
            # Not wanted now (a newer request, or a reorg took the close away): nothing new is
            # signed, but a transaction of ours still without a receipt is re-broadcast, so that
            # its nonce is used (no gap for the actions after it); it may revert: gas only.
            pending = [t for t in txs if t.tx_hash not in receipts]
            if pending:
                self._broadcast(pending[-1])
            return 0
        try:
            confirmed = self.chain.confirmed_nonce(self.address)
            return self._send_or_bump(
                action=action, held=held, facts=facts, txs=txs, receipts=receipts,
                confirmed=confirmed, head=head,
            )  # fmt: skip
        except (ValueError, OSError) as exc:
            delay = backoff(action.attempts, self.fees)
            self.store.set_retry(
                action.id, action.attempts + 1, self.clock() + delay, one_line(exc)
            )
            log.warning(
                "channel_action_retry",
                action=action.action,
                contract=action.contract,
                channel=action.channel_key,
                reason=one_line(exc),
                retry_in=delay,
            )
            return 0

    def _send_or_bump(
        self,
        *,
        action: ActionRow,
        held: StoredRequest,
        facts: Facts,
        txs: list[TxRow],
        receipts: dict[bytes, TxReceipt],
        confirmed: int,
        head: Head,
    ) -> int:
        nonce = action.nonce
        mine = [t for t in txs if t.nonce == nonce and t.tx_hash not in receipts]
        reverted = any(t.nonce == nonce and t.tx_hash in receipts for t in txs)
        if nonce is not None and confirmed <= nonce and mine and not reverted:
            last = mine[-1]
            if self.clock() - last.sent_at < self.fees.bump_after:
                self._broadcast(last)
                return 0
            urgent = action.deadline - head.timestamp < self.fees.urgent_window
            sent = Sent(
                last.tx_hash, action.action, last.nonce, last.max_fee, last.tip, last.sent_at
            )
            bumped = bumped_fees(sent, urgent, self.fees)
            if bumped is None:
                log.warning("channel_fee_cap", action=action.action, contract=action.contract)
                self._broadcast(last)
                return 0
            failpoint("channel.bump_due")
            self._sign_and_send(action, held, facts, nonce, bumped[0])
            return 1
        if nonce is None or confirmed > nonce or reverted:
            nonce = self.store.allocate_nonce(action.id, self.address, confirmed)
        fees = first_fees(_view(head), self.fees)
        self._sign_and_send(action, held, facts, nonce, fees)
        return 1

    def _sign_and_send(
        self, action: ActionRow, held: StoredRequest, facts: Facts, nonce: int, fees: Fees
    ) -> None:
        assert self.signer is not None
        rewarded = with_reward(action.action, held.request, facts)
        call = self.chain.build(action.action, held.request, self.address, rewarded)
        tx = {
            "from": self.address,
            "to": call["to"],
            "data": call["data"],
            "gas": int(call["gas"]),
            "value": 0,
            "nonce": nonce,
            "maxFeePerGas": fees.max_fee,
            "maxPriorityFeePerGas": fees.tip,
            "chainId": self.chain.chain_id(),
            "type": 2,
        }
        signed = self.signer.sign_transaction(tx)
        failpoint("channel.signed")
        row = TxRow(
            tx_hash=bytes(signed.hash),
            action_id=action.id,
            nonce=nonce,
            max_fee=fees.max_fee,
            tip=fees.tip,
            raw=bytes(signed.raw_transaction),
            sent_at=self.clock(),
            state="sent",
            l1_block=None,
            gas_used=None,
        )
        first = not self.store.txs(action.id)
        self.store.record_tx(row, self.address)  # write-ahead: recorded before broadcast
        failpoint("channel.recorded")
        self._broadcast(row)
        failpoint("channel.broadcast")
        log.info(
            "channel_tx_sent",
            action=action.action,
            contract=action.contract,
            channel=action.channel_key,
            tx=row.tx_hash.hex(),
            nonce=nonce,
            max_fee=fees.max_fee,
        )
        if self.metrics is not None:
            self.metrics.channel_actions_sent.labels(action=action.action).inc()
        if first:
            kind = {UPDATE: "channel_update_sent", CLAIM: "payment_claim_sent"}.get(action.action)
            if kind is not None:
                self.alert(
                    kind,
                    contract=action.contract,
                    channel=action.channel_key,
                    nonce=action.sequence,
                    tx="0x" + row.tx_hash.hex(),
                )

    def _broadcast(self, tx: TxRow) -> None:
        broadcast(self.chain.send_raw, tx.raw, tx.tx_hash, tx.nonce)

    def _mined(self, action: ActionRow, held: StoredRequest, tx: TxRow, receipt: TxReceipt) -> None:
        fields = {
            "contract": action.contract,
            "channel": action.channel_key,
            "tx": "0x" + tx.tx_hash.hex(),
            "gas": receipt.gas_used,
        }
        reward = held.request.reward.amount if held.request.reward is not None else 0
        # Raised before the state records it: a crash in between raises it again (the outbox
        # deduplicates), never loses it.
        if action.action == UPDATE:
            self.alert("channel_update_landed", nonce=action.sequence, **fields)
        elif action.action in (SETTLE, CLAIM, CASH) and reward > 0:
            self.alert(
                "channel_reward_paid", action=action.action, reward_wei=str(reward), **fields
            )
            if self.metrics is not None:
                self.metrics.channel_rewards_wei.inc(reward)
        failpoint("channel.action_mined")  # alerted, the journal not told yet
        self.store.set_state(action.id, MINED, f"mined in block {receipt.block}")
        log.info("channel_tx_mined", action=action.action, l1_block=receipt.block, **fields)

    # -- following ------------------------------------------------------------------------------
    def follow(self, head: Head) -> None:
        """The guarded contracts' events up to the confirmed head (at most ``chunk`` blocks per
        tick), for the alerts that come from events (issuer_withdrew, cheque_bounced).

        The hash of the last block scanned is stored each tick (the recent ones kept): when the
        newest stored hash is no longer canonical, the stored ones are walked down to the first
        that still is, and the scan rewinds to just after it (the alerts of the removed blocks
        are forgotten, so events mined again alert again). A reorg between reading a range's
        last hash and its logs is seen by reading the hash again: nothing is recorded then."""
        if not self.contracts:
            return
        stored = sorted(self.store.recent_blocks(), reverse=True)
        if stored and self.chain.block_hash(stored[0][0]) != stored[0][1]:
            # Deeper than every hash kept: scan the kept window again.
            resume = max(0, stored[-1][0] - self.policy.keep_blocks)
            for number, block_hash in stored[1:]:
                if self.chain.block_hash(number) == block_hash:
                    resume = number + 1  # the last block still canonical: scan after it
                    break
            self.store.rewind(resume)
            log.warning("channel_reorg", from_block=resume)
        confirmed = head.number - self.policy.confirmations
        default = self.start_block or max(0, confirmed - self.policy.keep_blocks)
        first = self.store.next_block(default)
        last = min(confirmed, first + self.policy.chunk - 1)
        if last < first:
            return
        before = self.chain.block_hash(last)
        events = self.chain.events(list(self.contracts), first, last)
        if before is None or self.chain.block_hash(last) != before:
            return  # the range changed under us: read it again on the next tick
        for event in events:
            self._event_alert(event)
        self.store.record_scan(last + 1, [(last, before)], self.policy.keep_blocks)

    def _event_alert(self, event: ChannelEvent) -> None:
        """The chequebook events the decision core's alerts come from (with its fields):
        ``issuer_withdrew`` for every withdrawal, ``cheque_bounced`` for a held beneficiary's."""
        contract = "0x" + event.contract.hex()
        key = f"{event.name}:{contract}:{event.block}:{event.log_index}"
        if event.name == "IssuerWithdrew":
            self._once(
                key, event.block, decide.ISSUER_WITHDREW, contract=contract,
                amount=int(event.fields.get("amount", 0)),
                liquid_balance=int(event.fields.get("balance", 0)), block=event.block,
            )  # fmt: skip
        elif event.name == "ChequeBounced" and self.store.held(event.contract, event.channel_key):
            self._once(
                key, event.block, decide.CHEQUE_BOUNCED, contract=contract,
                beneficiary=_addr(event.channel_key),
                cumulative_payout=int(event.fields.get("cumulative_payout", 0)),
                paid=int(event.fields.get("paid", 0)), block=event.block,
            )  # fmt: skip


def _view(head: Head) -> Any:
    from watchtower.submit.decide import ChainView

    return ChainView(l1_time=head.timestamp, head=head.number, base_fee=head.base_fee, tip=head.tip)


def _addr(key: int) -> str:
    return "0x" + key.to_bytes(20, "big").hex()
