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

import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

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
from watchtower.channels.types import Kind, MonitoringRequest
from watchtower.errors import one_line
from watchtower.failpoints import failpoint
from watchtower.submit.decide import FeePolicy, Fees, Sent, backoff, bumped_fees, first_fees

log = structlog.get_logger("watchtower.channels")

UPDATE = "update"
SETTLE = "settle"
CLAIM = "claim"
CASH = "cash"
#: Where the contract's timing leaves no deadline (settle, cash): far enough to never expire.
NO_DEADLINE = 2**62
#: Blocks' worth the claim margin is at least (docs/channels.md §6).
MIN_MARGIN_BLOCKS = 10


class Status(enum.StrEnum):
    MISSING = "missing"  # no such channel
    OPEN = "open"
    CLOSING = "closing"  # state channel: unilateral close, window running
    SETTLED = "settled"  # state channel settled; payment channel claimed or reclaimed


@dataclass(frozen=True)
class Facts:
    """What L1 says about one guarded channel (or a chequebook beneficiary), as of one block."""

    status: Status
    nonce: int = 0  # state channel: the stored state's nonce
    deadline: int = 0  # state channel: end of the window; payment channel: expiration
    reward_monitor: bytes = b""  # state channel: who the stored reward pays
    reward: int = 0
    paid_out: int = 0  # chequebook: paidOut(beneficiary)
    liquid: int = 0  # chequebook: liquidBalance()
    victim_balance: int = 0  # state channel: the protected party's balance in the stored state
    #: state channel: (a, b); payment channel: (sender, recipient); chequebook: (issuer,)
    parties: tuple[bytes, ...] = ()
    closer: bytes = b""  # state channel, while closing
    deposit: int = 0  # payment channel


@dataclass(frozen=True)
class Head:
    number: int
    timestamp: int
    base_fee: int
    tip: int


@dataclass(frozen=True)
class TxReceipt:
    status: int
    block: int
    gas_used: int


@dataclass(frozen=True)
class ChannelEvent:
    """A followed event of a guarded contract (for alerts): ``name`` as in the ABI."""

    name: str
    contract: bytes
    channel_key: int
    block: int
    log_index: int
    fields: dict[str, Any] = field(default_factory=dict)


class ChannelChain(Protocol):
    """The guardian's view of L1 (an adapter over :mod:`watchtower.l1.channels` for a real node,
    an in-memory chain in the unit tests)."""

    def chain_id(self) -> int: ...
    def head(self) -> Head: ...
    def block_hash(self, number: int) -> bytes | None: ...
    def confirmed_nonce(self, address: str) -> int: ...
    def facts(self, kind: Kind, contract: bytes, channel_key: int) -> Facts: ...
    def build(self, action: str, request: MonitoringRequest, sender: str) -> dict[str, Any]:
        """The call of ``action`` for ``request``: ``{"to", "data", "gas"}``; raises when an
        ``eth_call`` of it reverts (:class:`ValueError` with the reason)."""
        ...

    def send_raw(self, raw: bytes) -> None: ...
    def receipt(self, tx_hash: bytes) -> TxReceipt | None: ...
    def events(self, contracts: Sequence[bytes], first: int, last: int) -> list[ChannelEvent]: ...


class Signer(Protocol):
    @property
    def address(self) -> Any: ...

    def sign_transaction(self, transaction_dict: Any) -> Any: ...


@dataclass(frozen=True)
class Planned:
    action: str
    request: StoredRequest
    deadline: int  # L1 time after which the action cannot land


@dataclass(frozen=True)
class GuardianPolicy:
    claim_margin: int = 3600
    block_time: int = 12
    confirmations: int = 2
    keep_blocks: int = 128


def claim_margin(policy: GuardianPolicy) -> int:
    return max(policy.claim_margin, MIN_MARGIN_BLOCKS * policy.block_time)


def plan(
    held: StoredRequest, facts: Facts, l1_time: int, me: bytes, policy: GuardianPolicy
) -> Planned | None:
    """The action due for one guarded channel now, if any (pure)."""
    request = held.request
    if held.kind is Kind.STATE:
        if facts.status is not Status.CLOSING:
            return None
        if facts.nonce < held.sequence and l1_time <= facts.deadline:
            return Planned(UPDATE, held, facts.deadline)
        if l1_time > facts.deadline and facts.reward_monitor == me and facts.reward > 0:
            return Planned(SETTLE, held, NO_DEADLINE)
        return None
    if held.kind is Kind.PAYMENT:
        if facts.status is not Status.OPEN or held.sequence == 0:
            return None
        if facts.deadline - claim_margin(policy) <= l1_time < facts.deadline:
            return Planned(CLAIM, held, facts.deadline - 1)
        return None
    uncashed = held.sequence - facts.paid_out
    if uncashed > 0 and facts.liquid < uncashed and request.reward is not None:
        return Planned(CASH, held, NO_DEADLINE)
    return None


def done_by_others(action: ActionRow, facts: Facts) -> bool:
    """The chain shows the job done without a transaction of ours (pure)."""
    if action.action == UPDATE:
        return facts.status is Status.CLOSING and facts.nonce >= action.sequence
    if action.action == SETTLE:
        return facts.status is Status.SETTLED
    if action.action == CLAIM:
        return facts.status is not Status.OPEN
    return facts.paid_out >= action.sequence  # CASH


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
        """Follow the contracts' events, then act for every guarded channel. Returns counts."""
        head = self.chain.head()
        self.follow(head)
        report = {"guarded": 0, "acted": 0}
        at_risk = 0
        by_kind: dict[str, int] = {}
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
            if facts.status in (Status.SETTLED, Status.MISSING) and not self._pending(held):
                continue
            report["guarded"] += 1
            by_kind[held.kind.value] = by_kind.get(held.kind.value, 0) + 1
            if held.kind is Kind.CHEQUE:
                uncashed = max(held.sequence - facts.paid_out, 0)
                if uncashed > facts.liquid:
                    at_risk += uncashed
                    self._once(
                        f"cheque_at_risk:{held.contract}:{held.channel_key}:{held.sequence}",
                        head.number,
                        "cheque_at_risk",
                        contract=held.contract,
                        beneficiary=_addr(held.channel_key),
                        cumulative_payout=str(held.sequence),
                        uncashed_wei=str(uncashed),
                        liquid_wei=str(facts.liquid),
                    )
            stale = facts.status is Status.CLOSING and facts.nonce < held.sequence
            if held.kind is Kind.STATE and stale:
                self._once(
                    f"stale_close:{held.contract}:{held.channel_key}:{facts.deadline}",
                    head.number,
                    "stale_close_detected",
                    contract=held.contract,
                    channel=held.channel_key,
                    closed_nonce=facts.nonce,
                    held_nonce=held.sequence,
                    deadline=facts.deadline,
                )
            self._recheck(held, facts, head)
            planned = plan(held, facts, head.timestamp, self.me, self.policy)
            if planned is not None and self.signer is not None:
                report["acted"] += self.step(planned, facts, head)
        if self.metrics is not None:
            for kind in Kind:
                self.metrics.channels_guarded.labels(kind=kind.value).set(
                    by_kind.get(kind.value, 0)
                )
            self.metrics.channel_value_at_risk_wei.set(at_risk)
        return report

    def _pending(self, held: StoredRequest) -> bool:
        return any(a.state == OPEN for a in self.store.actions(held.contract, held.channel_key))

    def _once(self, key: str, block: int, kind: str, **fields: Any) -> None:
        if self.store.alert_once(key, block):
            self.alert(kind, **fields)

    def _recheck(self, held: StoredRequest, facts: Facts, head: Head) -> None:
        """Settled actions whose transaction a reorg removed are opened again (if still in
        time); the alerts of a landed update / paid reward are raised here, once."""
        for action in self.store.actions(held.contract, held.channel_key):
            if action.state != MINED:
                continue
            mined = [t for t in self.store.txs(action.id) if t.state == "mined"]
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
    def step(self, planned: Planned, facts: Facts, head: Head) -> int:
        """Take the next step of one planned action; 1 if a transaction was signed."""
        assert self.signer is not None
        held = planned.request
        action = self.store.open_action(
            contract=held.contract,
            channel_key=held.channel_key,
            action=planned.action,
            sequence=held.sequence,
            sender=self.address,
            deadline=planned.deadline,
        )
        failpoint("channel.action_opened")
        if action.state != OPEN:
            return 0
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
            self.store.set_state(action.id, FAILED, "deadline passed")
            kind = {UPDATE: "stale_close_detected", CASH: "cheque_at_risk"}.get(
                action.action, "channel_reward_unpaid"
            )
            self.alert(
                kind,
                contract=action.contract,
                channel=action.channel_key,
                reason=f"{action.action} not landed by its deadline {action.deadline}",
            )
            return 0
        try:
            confirmed = self.chain.confirmed_nonce(self.address)
            return self._send_or_bump(
                action=action, held=held, txs=txs, receipts=receipts, confirmed=confirmed, head=head
            )
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
            self._sign_and_send(action, held, nonce, bumped[0])
            return 1
        if nonce is None or confirmed > nonce or reverted:
            nonce = self.store.allocate_nonce(action.id, self.address, confirmed)
        fees = first_fees(_view(head), self.fees)
        self._sign_and_send(action, held, nonce, fees)
        return 1

    def _sign_and_send(
        self, action: ActionRow, held: StoredRequest, nonce: int, fees: Fees
    ) -> None:
        assert self.signer is not None
        call = self.chain.build(action.action, held.request, self.address)
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
        try:
            self.chain.send_raw(tx.raw)
        except (ValueError, OSError) as exc:
            text = str(exc).lower()
            if any(w in text for w in ("already known", "already imported", "known transaction")):
                return
            log.warning(
                "broadcast_refused", tx=tx.tx_hash.hex(), nonce=tx.nonce, error=one_line(exc)
            )

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
        self.store.set_state(action.id, MINED, f"mined in block {receipt.block}")
        failpoint("channel.action_mined")
        log.info("channel_tx_mined", action=action.action, l1_block=receipt.block, **fields)

    # -- following ------------------------------------------------------------------------------
    def follow(self, head: Head) -> None:
        """The guarded contracts' events up to the confirmed head, for the alerts that come from
        events (issuer_withdrew, cheque_bounced); a stored block hash no longer canonical is a
        reorg: rewind and scan again (the alerts of the removed blocks are raised again if the
        events come back)."""
        if not self.contracts:
            return
        for number, stored in sorted(self.store.recent_blocks()):
            if self.chain.block_hash(number) != stored:
                self.store.rewind(number)
                log.warning("channel_reorg", from_block=number)
                break
        first = self.store.next_block(self.start_block)
        last = head.number - self.policy.confirmations
        if last < first:
            return
        events = self.chain.events(list(self.contracts), first, last)
        for event in events:
            self._event_alert(event)
        hashes: list[tuple[int, bytes]] = []
        for number in range(max(first, last - self.policy.keep_blocks + 1), last + 1):
            h = self.chain.block_hash(number)
            if h is not None:
                hashes.append((number, h))
        self.store.record_scan(last + 1, hashes, self.policy.keep_blocks)

    def _event_alert(self, event: ChannelEvent) -> None:
        contract = "0x" + event.contract.hex()
        key = f"{event.name}:{contract}:{event.block}:{event.log_index}"
        if event.name == "IssuerWithdrew":
            self._once(
                key,
                event.block,
                "issuer_withdrew",
                contract=contract,
                amount_wei=str(event.fields.get("amount", 0)),
                balance_wei=str(event.fields.get("balance", 0)),
            )
        elif event.name == "ChequeBounced":
            self._once(
                key,
                event.block,
                "cheque_bounced",
                contract=contract,
                beneficiary=_addr(event.channel_key),
                cumulative_payout=str(event.fields.get("cumulative_payout", 0)),
                paid_wei=str(event.fields.get("paid", 0)),
            )
        elif event.name == "ChannelSettled":
            held = self.store.held(event.contract, event.channel_key)
            if held is None or held.request.reward is None:
                return
            if (
                bytes(event.fields.get("monitor", b"")) == self.me
                and int(event.fields.get("reward", 0)) < held.request.reward.amount
            ):
                self._once(
                    key,
                    event.block,
                    "channel_reward_unpaid",
                    contract=contract,
                    channel=event.channel_key,
                    reward_wei=str(event.fields.get("reward", 0)),
                    offered_wei=str(held.request.reward.amount),
                )


def _view(head: Head) -> Any:
    from watchtower.submit.decide import ChainView

    return ChainView(l1_time=head.timestamp, head=head.number, base_fee=head.base_fee, tip=head.tip)


def _addr(key: int) -> str:
    return "0x" + key.to_bytes(20, "big").hex()
