"""Submitting a fraud proof by commit and reveal: the executor of the challenge journal.

One :meth:`Challenger.step` per tick and challenge: **observe** L1 (:class:`ChainView`), ask the
pure :func:`~watchtower.submit.decide.decide` what to do, **act**, **record**. The invariants that
make "one stake per batch, ever" hold across crashes, restarts, reorgs and a second process with
the same key:

* the salt is recorded when the challenge is opened, before any commit is signed;
* a nonce is allocated and recorded (:func:`watchtower.store.journal.allocate_nonce`) **before**
  the transaction that uses it is signed, and every signed transaction is recorded (hash and raw
  bytes) **before** it is broadcast; replacements keep the nonce, so at most one transaction per
  nonce is mined and a restart finds every hash it may have to look for;
* the stake goes with the reveal only, and the contract accepts a reveal only from the address
  that committed, once: a copy of either transaction earns a copier nothing;
* nothing but a definite answer ends a challenge (our reveal mined; the batch rejected by someone
  else; "no fraud"; the deadline passed): RPC errors, timeouts, 429s and unknown reverts are
  retried with a growing wait (:class:`~watchtower.submit.decide.Retry`).

Replacement follows the EIP-1559 rule (both fees up by at least 10 %; we use 12.5 % + 1 wei)
when nothing was mined within ``bump_after`` seconds; within ``urgent_window`` seconds of the
deadline fees double per bump.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, cast

import structlog
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import TransactionNotFound, Web3RPCError
from web3.types import Nonce, TxParams, Wei

from watchtower.errors import one_line
from watchtower.failpoints import failpoint
from watchtower.l1.rollup import (
    L1TransactionError,
    OnChainStatus,
    RollupClient,
    _reason,
    challenge_commitment,
    estimate_gas,
    reverts,
)
from watchtower.proof.fraud import FraudProof
from watchtower.store import journal
from watchtower.store.db import BatchRow, BatchStatus, ChallengeState, Store, SubmissionRow
from watchtower.submit.decide import (
    COMMIT,
    REVEAL,
    Bump,
    ChainView,
    Decision,
    Done,
    End,
    FeePolicy,
    Fees,
    Rebroadcast,
    Receipt,
    Record,
    Retry,
    SendCommit,
    SendReveal,
    Sent,
    Simulate,
    TargetState,
    Wait,
    backoff,
    decide,
)
from watchtower.submit.gas import (
    COMMIT_GAS,
    choose_reveal_gas,
    reveal_gas_limit,
    reveal_visits,
)
from watchtower.submit.signer import TxSigner

__all__ = ["Challenger", "FeePolicy", "commitment_of"]

log = structlog.get_logger("watchtower.submit")
#: How nodes say that this very transaction is already pending or mined. ("nonce too low" is
#: not among them: it says the nonce was used, not by what; the journal finds out.)
_ALREADY_THERE = ("already known", "already imported", "known transaction")

Alert = Callable[..., None]
ProofSource = Callable[[], FraudProof]


def commitment_of(challenger: str, proof: FraudProof, salt: bytes) -> bytes:
    """``Rollup.challengeCommitment``: keccak256(abi.encode(challenger, index, step, post_root,
    salt)), ``post_root`` being the root the step really produces (the proof's computed root)."""
    return challenge_commitment(challenger, proof.batch, proof.step, proof.computed_root, salt)


def broadcast(send: Callable[[bytes], object], raw: bytes, tx_hash: bytes, nonce: int) -> None:
    """Send a signed transaction, best effort, for every journal (challenges and channel
    actions): a node that already has it says so in its own words; any other refusal and any
    transport failure is logged as ``broadcast_refused``, and the journal's next step
    re-broadcasts, bumps or renonces."""
    try:
        send(raw)
    except (Web3RPCError, ValueError, OSError) as exc:
        text = str(exc).lower()
        if any(word in text for word in _ALREADY_THERE):
            return
        log.warning("broadcast_refused", tx=tx_hash.hex(), nonce=nonce, error=one_line(exc))


@dataclass
class Challenger:
    client: RollupClient
    account: TxSigner
    store: Store
    policy: FeePolicy
    alert: Alert
    clock: Callable[[], float] = time.time
    #: First transactions whose ``challenge_submitted`` alert this process has raised.
    announced: set[bytes] = field(default_factory=set)
    _proofs: dict[int, FraudProof] = field(default_factory=dict)
    _reasons: dict[tuple[bytes, int], str] = field(default_factory=dict)  # (tx, block): reason

    @property
    def w3(self) -> Web3:
        return self.client.w3

    @property
    def address(self) -> str:
        return str(self.account.address)

    def l1_time(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    # -- one step -------------------------------------------------------------------------------
    def step(self, row: BatchRow, proof_source: ProofSource, stake: int) -> ChallengeState:
        """Open the challenge of ``row`` (once) and take its next step."""
        existing = journal.load(self.store, row.id)
        if existing is not None and existing.state not in (
            ChallengeState.PREPARED,
            ChallengeState.SENT,
        ):
            return existing.state
        if existing is None or existing.salt is None:
            existing = journal.open_challenge(
                self.store, row.id, row.fraud_step or 0, stake, self.address
            )
            failpoint("challenge.opened")
        if existing.sender is not None and existing.sender != self.address:
            # Its commitment (and nonces) belong to another key: this one cannot reveal it, and
            # mixing the two accounts' nonces in one journal would be wrong. A human decides.
            reason = (
                f"the challenge was started by signer {existing.sender}; this process signs as "
                f"{self.address}: restart with that key to finish it"
            )
            log.error("challenge_signer_changed", batch=row.idx, reason=reason)
            self.alert("deadline_at_risk", batch=row.idx, batch_tx=_hex(row.tx_hash), reason=reason)
            return existing.state
        now = self.clock()
        if now < existing.retry_at:
            return existing.state  # backing off after a transient failure
        record = existing.record(row.idx, row.deadline)
        subs = journal.sent(self.store, row.id)
        self._announce(row, record, subs)
        proof = partial(self._proof, row, proof_source)
        view = self.observe(row, record, subs, proof)
        decision = decide(record, subs, view, now, self.policy)
        if isinstance(decision, Simulate):
            view = self.simulate(view, record, subs, proof)
            decision = decide(record, subs, view, now, self.policy)
        return self.act(
            row, record=record, subs=subs, view=view, decision=decision,
            proof=lambda: self._proof(row, proof_source),
        )  # fmt: skip

    def _proof(self, row: BatchRow, source: ProofSource) -> FraudProof:
        proof = self._proofs.get(row.id)
        if proof is None:
            proof = self._proofs[row.id] = source()
        return proof

    def _announce(self, row: BatchRow, record: Record, subs: list[Sent]) -> None:
        if subs and subs[0].tx_hash not in self.announced:
            # A crash between the journal write and the alert loses it: raise it again (the
            # outbox's dedup key, kind + batch + step + tx, keeps it to one delivery).
            self.announced.add(subs[0].tx_hash)
            self.alert(
                "challenge_submitted",
                batch=row.idx,
                step=record.step,
                tx=subs[0].tx_hash.hex(),
                batch_tx=_hex(row.tx_hash),
                action=subs[0].action,
            )

    # -- observing ------------------------------------------------------------------------------
    def observe(
        self, row: BatchRow, record: Record, subs: list[Sent], proof: ProofSource
    ) -> ChainView:
        """One :class:`ChainView`; a failure anywhere gives a view with ``error`` set."""
        try:
            if subs:
                failpoint("poll.before_receipts")
            # The nonce first, then the batch, then receipts: a transaction of ours mined
            # between two reads shows up as a receipt, never as a nonce 'taken' by another.
            confirmed = int(self.w3.eth.get_transaction_count(self.account.address, "latest"))
            batch = self._batch_on_chain(row)
            receipts = self._receipts(row, subs)
            latest = self.w3.eth.get_block("latest")
            commitment = commitment_of(self.address, proof(), record.salt)
            committed = self.client.commitment_block(self.address, commitment)
            try:
                tip = int(self.w3.eth.max_priority_fee)
            except (Web3RPCError, ValueError, NotImplementedError):
                tip = 10**9
            return ChainView(
                l1_time=int(latest["timestamp"]),
                head=int(latest["number"]),
                confirmed_nonce=confirmed,
                batch=batch,
                receipts=receipts,
                commitment_block=committed or None,
                base_fee=int(latest.get("baseFeePerGas", 0) or 0),
                tip=tip,
            )
        except Exception as exc:  # any failure to observe is a retry, not an answer
            return ChainView(error=one_line(exc))

    def simulate(
        self, view: ChainView, record: Record, subs: list[Sent], proof: ProofSource
    ) -> ChainView:
        """``view`` with the ``eth_call`` of the reveal added (or an error)."""
        try:
            simulation = self._simulate(proof(), record)
        except Exception as exc:  # a transport failure is no answer: retried
            return replace(view, error=one_line(exc))
        if not subs:
            failpoint("challenge.simulated")
        return replace(view, simulation=simulation, simulated=True)

    def _simulate(self, proof: FraudProof, record: Record) -> str | None:
        """The reveal as an ``eth_call``: ``None`` when it would succeed, else the revert reason.
        Transport failures (a 429, a timeout) propagate: they are no answer at all."""
        fn = self.client.contract.functions.challenge(*proof.challenge_args(), record.salt)
        try:
            fn.call({"from": self.account.address, "value": Wei(record.stake)})
        except reverts(Web3RPCError) as exc:
            return _reason(exc)
        return None

    def _batch_on_chain(self, row: BatchRow) -> TargetState:
        on_chain = self.client.batch(row.idx)
        if on_chain.steps_root != row.steps_root or on_chain.prev_root != row.prev_root:
            return TargetState.GONE  # the index now holds another batch: ours was rejected
        if on_chain.status is OnChainStatus.REJECTED:
            return TargetState.GONE
        if on_chain.status is OnChainStatus.FINALIZED:
            return TargetState.FINALIZED
        return TargetState.PENDING

    def _receipts(self, row: BatchRow, subs: list[Sent]) -> dict[bytes, Receipt]:
        stored = {s.tx_hash: s for s in self.store.submissions(row.id)}
        found: dict[bytes, Receipt] = {}
        for sub in subs:
            try:
                receipt = self.w3.eth.get_transaction_receipt(HexBytes(sub.tx_hash))
            except TransactionNotFound:
                continue
            status, block = int(receipt["status"]), int(receipt["blockNumber"])
            gas_used = int(receipt["gasUsed"])
            reason = None
            if status != 1:
                key = (sub.tx_hash, block)
                if key not in self._reasons:  # replayed once, not on every tick
                    self._reasons[key] = self._revert_reason(stored[sub.tx_hash], block)
                reason = self._reasons[key]
            found[sub.tx_hash] = Receipt(status, block, gas_used, reason)
            state = "mined" if status == 1 else "reverted"
            before = stored[sub.tx_hash]
            if (before.state, before.l1_block) != (state, block):
                failpoint("poll.receipt_seen")
                self.store.mark_submission(sub.tx_hash, state, block, gas_used)
                failpoint("poll.submission_marked")
                log.info(
                    "challenge_tx_mined",
                    batch=row.idx,
                    action=sub.action,
                    tx=sub.tx_hash.hex(),
                    status=status,
                    l1_block=block,
                    gas=gas_used,
                    reason=reason,
                )
        return found

    def _revert_reason(self, sub: SubmissionRow, block: int) -> str:
        """The reason a transaction of ours reverted: re-run on the state before its block."""
        tx = self.w3.eth.get_transaction(HexBytes(sub.tx_hash))
        call: TxParams = {
            "from": self.account.address,
            "to": tx["to"],
            "data": tx["input"],
            "value": tx["value"],
            "gas": tx["gas"],
        }
        try:
            self.w3.eth.call(call, block - 1)
        except reverts() as exc:
            return _reason(exc)
        except Web3RPCError as exc:
            return _reason(exc)
        return f"out of gas? used all of {tx['gas']}"

    # -- acting ---------------------------------------------------------------------------------
    def act(
        self,
        row: BatchRow,
        *,
        record: Record,
        subs: list[Sent],
        view: ChainView,
        decision: Decision,
        proof: ProofSource,
    ) -> ChallengeState:
        if isinstance(decision, Done):
            return self._done(row, record, decision)
        if isinstance(decision, Retry):
            attempts = record.attempts + 1
            journal.set_retry(
                self.store, row.id, attempts, self.clock() + decision.delay, decision.reason
            )
            log.warning(
                "challenge_retry",
                batch=row.idx,
                reason=decision.reason,
                attempts=attempts,
                retry_in=round(decision.delay, 3),
            )
            self._at_risk(row, view)
            return self._state(row)
        try:
            if isinstance(decision, SendCommit | SendReveal):
                action = COMMIT if isinstance(decision, SendCommit) else REVEAL
                nonce = record.commit_nonce if action == COMMIT else record.reveal_nonce
                if decision.fresh_nonce or nonce is None:
                    nonce = journal.allocate_nonce(
                        self.store, row.id, action, self.address, view.confirmed_nonce
                    )
                self._send(
                    row, record, action=action, nonce=nonce, fees=decision.fees, proof=proof,
                    replacement=0,
                )  # fmt: skip
            elif isinstance(decision, Bump):
                failpoint("poll.bump_due")
                if decision.capped:
                    self.alert(
                        "deadline_at_risk",
                        batch=row.idx,
                        batch_tx=_hex(row.tx_hash),
                        reason=f"fee cap {self.policy.max_fee_cap} reached",
                    )
                replacement = sum(
                    1 for s in subs if s.action == decision.action and s.nonce == decision.nonce
                )
                self._send(
                    row, record, action=decision.action, nonce=decision.nonce,
                    fees=decision.fees, proof=proof, replacement=replacement,
                )  # fmt: skip
            elif isinstance(decision, Rebroadcast):
                (sub,) = [
                    s for s in self.store.submissions(row.id) if s.tx_hash == decision.tx_hash
                ]
                self._broadcast(sub)
            elif isinstance(decision, Wait):
                if decision.fee_cap_reached:
                    self.alert(
                        "deadline_at_risk",
                        batch=row.idx,
                        batch_tx=_hex(row.tx_hash),
                        reason=f"fee cap {self.policy.max_fee_cap} reached",
                    )
                log.debug("challenge_waiting", batch=row.idx, reason=decision.reason)
        except (L1TransactionError, Web3RPCError, OSError, ValueError) as exc:
            # Building or signing failed (an estimate, a read): no answer, try again later.
            delay = backoff(record.attempts, self.policy)
            journal.set_retry(
                self.store, row.id, record.attempts + 1, self.clock() + delay, one_line(exc)
            )
            log.warning("challenge_retry", batch=row.idx, reason=one_line(exc), retry_in=delay)
            return self._state(row)
        journal.clear_retry(self.store, row.id)
        self._at_risk(row, view)
        return self._state(row)

    def _state(self, row: BatchRow) -> ChallengeState:
        found = journal.load(self.store, row.id)
        return ChallengeState.PREPARED if found is None else found.state

    def _at_risk(self, row: BatchRow, view: ChainView) -> None:
        # Without an observation (L1 failing) the wall clock stands in for the L1 time.
        now = int(self.clock()) if view.error is not None else view.l1_time
        if row.deadline - now < self.policy.urgent_window:
            fields: dict[str, Any] = {}
            if view.error is not None:
                fields["reason"] = f"L1 unavailable: {view.error}"
            self.alert(
                "deadline_at_risk",
                batch=row.idx,
                batch_tx=_hex(row.tx_hash),
                seconds_left=row.deadline - now,
                **fields,
            )

    def _send(
        self,
        row: BatchRow,
        record: Record,
        *,
        action: str,
        nonce: int,
        fees: Fees,
        proof: ProofSource,
        replacement: int,
    ) -> None:
        params: TxParams = {
            "from": self.account.address,
            "nonce": Nonce(nonce),
            "maxFeePerGas": Wei(fees.max_fee),
            "maxPriorityFeePerGas": Wei(fees.tip),
            "chainId": int(self.w3.eth.chain_id),
        }
        if action == COMMIT:
            commitment = commitment_of(self.address, proof(), record.salt)
            fn = self.client.contract.functions.commitChallenge(commitment)
            params["value"] = Wei(0)
            # Fixed, not estimated: an estimate on a block where a commit of ours is already
            # pending skips the storage write, and the replacement then runs out of gas.
            params["gas"] = COMMIT_GAS
        else:
            built = proof()
            args = (*built.challenge_args(), record.salt)
            fn = self.client.contract.functions.challenge(*args)
            params["value"] = Wei(record.stake)
            calldata = self.client.contract.encode_abi("challenge", args=list(args))
            limit = reveal_gas_limit(reveal_visits(built), (len(calldata) - 2) // 2)
            params["gas"] = choose_reveal_gas(
                self._estimate(fn, params), limit, self.policy.gas_margin_percent
            )
        tx = fn.build_transaction(params)
        signed = self.account.sign_transaction(cast(dict[str, Any], tx))
        failpoint("challenge.signed")
        sub = SubmissionRow(
            tx_hash=bytes(signed.hash),
            batch_id=row.id,
            nonce=nonce,
            max_fee=fees.max_fee,
            max_priority_fee=fees.tip,
            raw=bytes(signed.raw_transaction),
            sent_at=self.clock(),
            state="sent",
            l1_block=None,
            gas_used=None,
            action=action,
        )
        journal.record_sent(self.store, sub)  # write-ahead: recorded before broadcast
        failpoint("challenge.recorded")
        self._broadcast(sub)
        failpoint("challenge.broadcast")
        log.info(
            "challenge_tx_sent",  # every transaction; the alert `challenge_submitted` is once
            batch=row.idx,
            step=record.step,
            action=action,
            tx=sub.tx_hash.hex(),
            nonce=nonce,
            max_fee=fees.max_fee,
            gas=int(params["gas"]),
            replacement=replacement,
        )
        self._announce(row, record, journal.sent(self.store, row.id))

    def _estimate(self, fn: Any, params: TxParams) -> int | None:
        try:
            # On the pending block: a commitment mined in the latest one counts as earlier.
            return estimate_gas(fn, {k: v for k, v in params.items() if k != "nonce"})  # type: ignore[arg-type]
        except Exception:  # a revert or an RPC failure: the proof-size limit alone
            return None

    def _broadcast(self, sub: SubmissionRow) -> None:
        """Best effort: the journal, not the broadcast, is the source of truth. A node that
        already has the transaction says so in its own words; any other refusal ("nonce too
        low" included: the journal tells whose transaction used the nonce), and any transport
        failure, is logged and the next step re-broadcasts, bumps or renonces."""
        broadcast(
            lambda raw: self.w3.eth.send_raw_transaction(HexBytes(raw)),
            sub.raw,
            sub.tx_hash,
            sub.nonce,
        )

    # -- ending ---------------------------------------------------------------------------------
    def _done(self, row: BatchRow, record: Record, done: Done) -> ChallengeState:
        if done.end is End.SUCCEEDED:
            assert done.tx_hash is not None and done.receipt is not None
            # Raised before the state records success: a crash in between raises it again
            # after the restart (deduplicated by the outbox), never loses it.
            self.alert(
                "challenge_succeeded",
                batch=row.idx,
                tx=done.tx_hash.hex(),
                batch_tx=_hex(row.tx_hash),
                gas=done.receipt.gas_used,
            )
            self.store.update_challenge(row.id, ChallengeState.SUCCEEDED, done.detail)
            failpoint("poll.challenge_succeeded")
            self.store.set_status(row.id, BatchStatus.REJECTED, done.receipt.block)
            log.info(
                "challenge_mined",  # the receipt; the alert `challenge_succeeded` is logged once
                batch=row.idx,
                tx=done.tx_hash.hex(),
                l1_block=done.receipt.block,
                gas=done.receipt.gas_used,
            )
            return ChallengeState.SUCCEEDED
        if done.end is End.ALREADY_REJECTED:
            return self._already_rejected(row, done.detail)
        if done.end is End.NO_FRAUD:
            reason = f"{done.detail} (our proof is wrong: a bug in the watchtower)"
        else:
            reason = done.detail
        self.alert(
            "challenge_failed",
            batch=row.idx,
            step=record.step,
            batch_tx=_hex(row.tx_hash),
            reason=reason,
        )
        self.store.update_challenge(row.id, ChallengeState.FAILED, reason)
        return ChallengeState.FAILED

    def record_already_rejected(self, row: BatchRow, detail: str) -> ChallengeState:
        return self._already_rejected(row, detail)

    def _already_rejected(self, row: BatchRow, detail: str) -> ChallengeState:
        self.store.open_challenge(row.id, row.fraud_step or 0, 0)
        self.store.update_challenge(row.id, ChallengeState.ALREADY_REJECTED, detail)
        # Seen in the contract's state as of the latest block: a reorg back to it undoes this.
        self.store.set_status(row.id, BatchStatus.REJECTED, int(self.w3.eth.block_number))
        log.info("batch_already_rejected", batch=row.idx, detail=detail)
        return ChallengeState.ALREADY_REJECTED


def _hex(value: bytes) -> str:
    return "0x" + value.hex()
