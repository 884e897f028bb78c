"""Submitting a fraud proof with a stake: journal, replacement, deadline.

The invariant that makes "one stake per batch, ever" hold across crashes: every transaction of a
challenge uses the **same nonce**, chosen once and recorded before anything is signed, and every
signed transaction is recorded (hash and raw bytes) **before** it is broadcast. At most one
transaction per nonce can be mined, and a restart finds every hash it may have to look for.

Replacement follows the EIP-1559 rule (both fees up by at least 10 %; we use 12.5 % + 1 wei)
when nothing was mined within ``bump_after`` seconds; within ``urgent_window`` seconds of the
deadline fees double per bump. Nothing is sent once the L1 time is past the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import structlog
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import TransactionNotFound, Web3RPCError
from web3.types import Nonce, TxParams, Wei

from watchtower.errors import one_line
from watchtower.failpoints import failpoint
from watchtower.l1.rollup import BatchStatus as OnChainStatus
from watchtower.l1.rollup import L1TransactionError, RollupClient
from watchtower.proof.fraud import FraudProof
from watchtower.store.db import BatchRow, BatchStatus, ChallengeState, Store, SubmissionRow

log = structlog.get_logger("watchtower.submit")
#: How nodes say that a transaction (or one with the same nonce) is already pending or mined.
_ALREADY_THERE = ("already known", "already imported", "known transaction", "nonce too low")

Alert = Callable[..., None]


@dataclass(frozen=True)
class FeePolicy:
    bump_after: float = 24.0  # seconds without a receipt before a replacement
    bump_factor_num: int = 9  # x 9/8 = +12.5 % (the replacement minimum is +10 %)
    bump_factor_den: int = 8
    urgent_window: int = 3600  # seconds before the deadline when fees double per bump
    max_fee_cap: int = 500 * 10**9  # never pay more than this per gas
    gas_margin_percent: int = 25


@dataclass
class Challenger:
    client: RollupClient
    account: LocalAccount
    store: Store
    policy: FeePolicy
    alert: Alert
    #: First transactions whose ``challenge_submitted`` alert this process has raised.
    announced: set[bytes] = field(default_factory=set)

    @property
    def w3(self) -> Web3:
        return self.client.w3

    def l1_time(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    # -- starting a challenge -------------------------------------------------------------------
    def start(self, row: BatchRow, proof: FraudProof, stake: int) -> ChallengeState:
        """Open the challenge of ``row`` (once) and send its first transaction."""
        existing = self.store.challenge(row.id)
        if existing is not None and existing.state is not ChallengeState.PREPARED:
            return existing.state
        if self._rejected_on_chain(row):
            return self._already_rejected(row, "rejected on chain before we challenged")
        try:
            self.client.simulate_challenge(self.account.address, proof, stake)
        except L1TransactionError as exc:
            if self._rejected_on_chain(row):
                return self._already_rejected(row, exc.reason)
            self.store.open_challenge(row.id, proof.step, stake)
            self.store.update_challenge(row.id, ChallengeState.FAILED, f"eth_call: {exc.reason}")
            self.alert("challenge_failed", batch=row.idx, step=proof.step, reason=exc.reason)
            return ChallengeState.FAILED
        failpoint("challenge.simulated")
        self.store.open_challenge(row.id, proof.step, stake)
        failpoint("challenge.opened")
        return self._send(row, proof, stake, bump=0)

    def _send(self, row: BatchRow, proof: FraudProof, stake: int, bump: int) -> ChallengeState:
        now = self.l1_time()
        if now > row.deadline:
            self.store.update_challenge(row.id, ChallengeState.FAILED, "deadline passed")
            self.alert("challenge_failed", batch=row.idx, reason="deadline passed before sending")
            return ChallengeState.FAILED
        challenge = self.store.challenge(row.id)
        assert challenge is not None
        nonce = challenge.nonce
        if nonce is None:
            nonce = int(self.w3.eth.get_transaction_count(self.account.address, "pending"))
        previous = self.store.submissions(row.id)
        max_fee, tip = self._fees(previous, urgent=row.deadline - now < self.policy.urgent_window)
        fn = self.client.contract.functions.challenge(*proof.challenge_args())
        params: TxParams = {
            "from": self.account.address,
            "nonce": Nonce(nonce),
            "value": Wei(stake),
            "maxFeePerGas": Wei(max_fee),
            "maxPriorityFeePerGas": Wei(tip),
            "chainId": int(self.w3.eth.chain_id),
        }
        gas = self._gas(fn, params, previous)
        params["gas"] = gas
        tx = fn.build_transaction(params)
        signed = self.account.sign_transaction(cast(dict[str, Any], tx))
        failpoint("challenge.signed")
        sub = SubmissionRow(
            tx_hash=bytes(signed.hash),
            batch_id=row.id,
            nonce=nonce,
            max_fee=max_fee,
            max_priority_fee=tip,
            raw=bytes(signed.raw_transaction),
            sent_at=time.time(),
            state="sent",
            l1_block=None,
            gas_used=None,
        )
        self.store.record_submission(sub)  # write-ahead: recorded before broadcast
        failpoint("challenge.recorded")
        self._broadcast(sub)
        failpoint("challenge.broadcast")
        log.info(
            "challenge_submitted",
            batch=row.idx,
            step=proof.step,
            tx=sub.tx_hash.hex(),
            nonce=nonce,
            max_fee=max_fee,
            replacement=bump,
        )
        if bump == 0:
            self.announced.add(sub.tx_hash)
            self.alert("challenge_submitted", batch=row.idx, step=proof.step, tx=sub.tx_hash.hex())
        return ChallengeState.SENT

    def _fees(self, previous: list[SubmissionRow], urgent: bool) -> tuple[int, int]:
        if previous:
            last = previous[-1]
            num, den = (
                (2, 1) if urgent else (self.policy.bump_factor_num, self.policy.bump_factor_den)
            )
            tip = last.max_priority_fee * num // den + 1
            max_fee = last.max_fee * num // den + 1
        else:
            base = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
            try:
                tip = int(self.w3.eth.max_priority_fee)
            except (Web3RPCError, ValueError, NotImplementedError):
                tip = 10**9
            tip = max(tip, 1)
            max_fee = 2 * base + tip
        if max_fee > self.policy.max_fee_cap:
            self.alert("deadline_at_risk", reason=f"fee cap {self.policy.max_fee_cap} reached")
            max_fee = self.policy.max_fee_cap
            tip = min(tip, max_fee)
        return max_fee, tip

    def _gas(self, fn: Any, params: TxParams, previous: list[SubmissionRow]) -> int:
        try:
            estimate = int(fn.estimate_gas({k: v for k, v in params.items() if k != "nonce"}))
        except Exception:  # a replacement keeps going when estimation fails
            estimate = 3_000_000
        return estimate * (100 + self.policy.gas_margin_percent) // 100

    def _broadcast(self, sub: SubmissionRow) -> None:
        """Best effort: the journal, not the broadcast, is the source of truth. A node that
        already has the transaction, or has mined a sibling with the same nonce, says so in
        its own words; any other refusal, and any transport failure (the node may or may not
        have taken it), is logged and the next poll re-broadcasts or bumps."""
        try:
            self.w3.eth.send_raw_transaction(HexBytes(sub.raw))
        except (Web3RPCError, ValueError, OSError) as exc:
            text = str(exc).lower()
            if any(word in text for word in _ALREADY_THERE):
                return
            log.warning(
                "broadcast_refused", tx=sub.tx_hash.hex(), nonce=sub.nonce, error=one_line(exc)
            )

    # -- following a sent challenge -------------------------------------------------------------
    def poll(
        self, row: BatchRow, proof_for: Callable[[], tuple[FraudProof, int]]
    ) -> ChallengeState:
        """Look for receipts; replace with higher fees when stuck; finish the journal entry."""
        challenge = self.store.challenge(row.id)
        if challenge is None or challenge.state is not ChallengeState.SENT:
            return ChallengeState.PREPARED if challenge is None else challenge.state
        subs = self.store.submissions(row.id)
        if subs and subs[0].tx_hash not in self.announced:
            # A crash between the journal write and the alert loses it: raise it again (the
            # outbox's dedup key, kind + batch + step + tx, keeps it to one delivery).
            self.announced.add(subs[0].tx_hash)
            tx = subs[0].tx_hash.hex()
            self.alert("challenge_submitted", batch=row.idx, step=challenge.step, tx=tx)
        failpoint("poll.before_receipts")
        for sub in subs:
            try:
                receipt = self.w3.eth.get_transaction_receipt(HexBytes(sub.tx_hash))
            except TransactionNotFound:
                continue
            failpoint("poll.receipt_seen")
            mined = "mined" if receipt["status"] == 1 else "reverted"
            self.store.mark_submission(
                sub.tx_hash, mined, int(receipt["blockNumber"]), int(receipt["gasUsed"])
            )
            failpoint("poll.submission_marked")
            if receipt["status"] == 1:
                # Raised before the state records success: a crash in between raises it again
                # after the restart (deduplicated by the outbox), never loses it.
                self.alert(
                    "challenge_succeeded",
                    batch=row.idx,
                    tx=sub.tx_hash.hex(),
                    gas=int(receipt["gasUsed"]),
                )
                self.store.update_challenge(row.id, ChallengeState.SUCCEEDED, "rejected on chain")
                failpoint("poll.challenge_succeeded")
                self.store.set_status(row.id, BatchStatus.REJECTED, int(receipt["blockNumber"]))
                log.info(
                    "challenge_succeeded",
                    batch=row.idx,
                    tx=sub.tx_hash.hex(),
                    l1_block=int(receipt["blockNumber"]),
                    gas=int(receipt["gasUsed"]),
                )
                return ChallengeState.SUCCEEDED
            if self._rejected_on_chain(row):
                return self._already_rejected(row, "another challenger was first (ours reverted)")
            self.store.update_challenge(row.id, ChallengeState.FAILED, "challenge reverted")
            self.alert("challenge_failed", batch=row.idx, reason="challenge transaction reverted")
            return ChallengeState.FAILED
        # Nothing mined yet. Re-broadcast (a crash may have happened before the first send).
        for sub in subs[-1:]:
            self._broadcast(sub)
        if self._rejected_on_chain(row):
            if self._any_receipt(subs):  # ours was mined meanwhile (e.g. just re-broadcast)
                return self.poll(row, proof_for)
            return self._already_rejected(row, "rejected on chain by another challenger")
        now = self.l1_time()
        if now > row.deadline:
            self.store.update_challenge(row.id, ChallengeState.FAILED, "deadline passed")
            self.alert("challenge_failed", batch=row.idx, reason="deadline passed unmined")
            return ChallengeState.FAILED
        if row.deadline - now < self.policy.urgent_window:
            self.alert("deadline_at_risk", batch=row.idx, seconds_left=row.deadline - now)
        if subs and time.time() - subs[-1].sent_at >= self.policy.bump_after:
            failpoint("poll.bump_due")
            proof, stake = proof_for()
            return self._send(row, proof, stake, bump=len(subs))
        return ChallengeState.SENT

    # -- helpers --------------------------------------------------------------------------------
    def _any_receipt(self, subs: list[SubmissionRow]) -> bool:
        """Whether one of our transactions has been mined (successfully or not)."""
        for sub in subs:
            try:
                self.w3.eth.get_transaction_receipt(HexBytes(sub.tx_hash))
            except TransactionNotFound:
                continue
            return True
        return False

    def _rejected_on_chain(self, row: BatchRow) -> bool:
        """Whether the contract no longer holds this batch as pending (rejected or replaced)."""
        on_chain = self.client.batch(row.idx)
        if on_chain.steps_root != row.steps_root or on_chain.prev_root != row.prev_root:
            return True  # the index now holds another batch: ours was rejected
        return on_chain.status is OnChainStatus.REJECTED

    def record_already_rejected(self, row: BatchRow, detail: str) -> ChallengeState:
        return self._already_rejected(row, detail)

    def _already_rejected(self, row: BatchRow, detail: str) -> ChallengeState:
        self.store.open_challenge(row.id, row.fraud_step or 0, 0)
        self.store.update_challenge(row.id, ChallengeState.ALREADY_REJECTED, detail)
        # Seen in the contract's state as of the latest block: a reorg back to it undoes this.
        self.store.set_status(row.id, BatchStatus.REJECTED, int(self.w3.eth.block_number))
        log.info("batch_already_rejected", batch=row.idx, detail=detail)
        return ChallengeState.ALREADY_REJECTED
