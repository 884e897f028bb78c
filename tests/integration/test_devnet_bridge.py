"""The bridge from the devnet's side (issue 12, "Users of the rollup"): the proposer consumes the
deposit queue and includes withdrawals, users claim them once final, and every bridge fault has
its intended outcome on chain: refused, or accepted and fraudulent (then challenged, rejected,
and its forged withdrawal never claimable)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_typing import Address

from watchtower.execute.replay import init_genesis, replay_batch
from watchtower.execute.state import open_state
from watchtower.execute.statedb import PendingWrites, StateDB
from watchtower.l1.rollup import L1TransactionError, OnChainStatus
from watchtower.proof.fraud import build_fraud_proof
from watchtower.proof.withdrawal import claim_witness
from watchtower.rollup.bridge import claimed_withdrawals, encode_deposit
from watchtower.rollup.params import BRIDGE_ADDRESS, DEPOSIT_INCLUSION_DELAY
from watchtower.rollup.types import Batch, VerdictKind
from watchtower_dev import proposer as proposer_module
from watchtower_dev.builder import build_batch
from watchtower_dev.chain import fund
from watchtower_dev.devnet import Devnet, start_devnet
from watchtower_dev.faults import ATTACKER, Fault, FaultKind
from watchtower_dev.proposer import devnet_genesis
from watchtower_dev.txgen import KeyAccount
from watchtower_dev.users import (
    advance_time,
    claim,
    deposit,
    finalize_due,
    l1_account,
    withdrawals,
)

pytestmark = pytest.mark.integration
ETHER = 10**18


@pytest.fixture
def net() -> Iterator[Devnet]:
    with start_devnet("embedded", challenge_period=600) as devnet:
        yield devnet


@pytest.fixture
def watcher(tmp_path: Path, net: Devnet) -> Iterator[StateDB]:
    """An independent verifier's state: the genesis, then every accepted batch replayed."""
    with StateDB(tmp_path / "watcher", sync=False) as store:
        assert init_genesis(store, devnet_genesis()) == net.client.genesis_root()
        yield store


def _onchain(net: Devnet, receipt: object) -> Batch:
    block = receipt["blockNumber"]  # type: ignore[index]
    (event,) = net.client.batches_submitted(block, block)
    return net.client.fetch_batch(event, net.client.params())


def _user(net: Devnet) -> bytes:
    return bytes.fromhex(net.user.address[2:])


def _balance(store: StateDB, batch: Batch, address: bytes) -> int:
    """``address``'s L2 balance after ``batch`` in the verifier's state."""
    state = open_state(PendingWrites(store), batch.final_root, batch.context)
    return int(state.get_balance(Address(address)))


def test_genesis_is_backed(net: Devnet) -> None:
    supply = sum(a.balance for a in devnet_genesis().values())
    assert net.client.genesis_supply() == supply == net.client.bridge_balance() == 64_000 * ETHER
    assert net.w3.eth.get_balance(net.client.address) >= supply


def test_proposer_consumes_deposits_and_includes_withdrawals(net: Devnet, watcher: StateDB) -> None:
    user = _user(net)
    first = deposit(net.client, net.user, user, 5 * ETHER)
    second = deposit(net.client, net.user, bytes(19) + b"\x77", 3 * ETHER)
    assert (first.index, second.index) == (0, 1) and first.sender == user
    batch, receipt = net.proposer.propose(4)
    onchain = _onchain(net, receipt)
    assert onchain.steps == batch.steps
    assert [s.tx for s in batch.steps[:2]] == [
        encode_deposit(0, user, 5 * ETHER),
        encode_deposit(1, bytes(19) + b"\x77", 3 * ETHER),
    ]
    assert net.client.deposits_consumed() == 2
    assert (net.client.batch(0).deposit_start, net.client.batch(0).deposit_end) == (0, 2)
    verdict = replay_batch(watcher, onchain)
    assert verdict.kind is VerdictKind.VALID
    assert [d.amount for d in verdict.flows.deposits] == [5 * ETHER, 3 * ETHER]
    assert _balance(watcher, onchain, user) == 5 * ETHER  # credited on L2

    # The user withdraws on L2: the next batch includes it, after no deposit (none pending).
    tx = net.proposer.withdraw(KeyAccount.from_hex(net.user.key.hex()), 2 * ETHER)
    assert net.proposer.mempool.txs() == [tx]
    batch, receipt = net.proposer.propose(3)
    assert batch.steps[0].tx == tx and net.proposer.mempool.txs() == []
    verdict = replay_batch(watcher, _onchain(net, receipt))
    assert verdict.kind is VerdictKind.VALID
    (made,) = verdict.flows.withdrawals
    assert (made.account, made.amount, made.step) == (user, 2 * ETHER, 0)
    assert _balance(watcher, batch, BRIDGE_ADDRESS) == 2 * ETHER

    # Claimable once final, exactly once; the value is owed to the user, paid by withdraw().
    (pending,) = withdrawals(net.client, user)
    assert pending.status is OnChainStatus.PENDING and not pending.claimed
    claims, waiting = claim(net.client, net.challenger)
    assert claims == [] and [w.withdrawal for w in waiting] == [made]
    advance_time(net.w3, 700)
    assert finalize_due(net.client, net.challenger) == [0, 1]
    before = net.client.bridge_balance()
    claims, waiting = claim(net.client, net.challenger)  # anyone may claim; the user is paid
    assert [c.withdrawal for c in claims] == [made] and waiting == []
    assert net.client.owed(net.user.address) == 2 * ETHER
    assert net.client.bridge_balance() == before - 2 * ETHER
    assert claim(net.client, net.challenger) == ([], [])  # claimed once
    assert withdrawals(net.client, user)[0].claimed


def test_invent_deposit(net: Devnet, watcher: StateDB) -> None:
    # A real 0x7E step with no queue entry behind it is refused ...
    txs = [encode_deposit(0, ATTACKER.address, 1000 * ETHER)]
    txs += net.proposer.transfers(net.client.tip_root(), 2, 0, txs)
    batch = build_batch(PendingWrites(net.proposer.store), 0, net.client.tip_root(),
                        net.proposer._context(0), txs)  # fmt: skip
    with pytest.raises(L1TransactionError, match="deposit step not in the queue"):
        net.proposer.post(batch)
    # ... so the accepted variant claims the credit as the root of a no-op step.
    batch, receipt = net.proposer.propose(4, Fault(FaultKind.INVENT_DEPOSIT, 1))
    assert batch.steps[1].tx == b""
    verdict = replay_batch(watcher, _onchain(net, receipt), commit=False)
    assert verdict.kind is VerdictKind.FRAUD and verdict.step == 1
    _challenge_and_reject(net, watcher, batch, 1)


def test_skip_deposit_is_accepted_while_young_and_refused_once_overdue(
    net: Devnet, watcher: StateDB
) -> None:
    deposit(net.client, net.user, _user(net), ETHER)
    _batch, receipt = net.proposer.propose(2, Fault(FaultKind.SKIP_DEPOSIT, 0))
    assert net.client.deposits_consumed() == 0  # left pending
    assert replay_batch(watcher, _onchain(net, receipt)).kind is VerdictKind.VALID
    advance_time(net.w3, DEPOSIT_INCLUSION_DELAY + 1)
    with pytest.raises(L1TransactionError, match="oldest pending deposit is overdue"):
        net.proposer.propose(2, Fault(FaultKind.SKIP_DEPOSIT, 0))
    assert net.client.next_index() == 1
    net.proposer.propose(2)  # an honest batch includes it
    assert net.client.deposits_consumed() == 1


def test_wrong_deposit_amount(net: Devnet, watcher: StateDB) -> None:
    deposit(net.client, net.user, _user(net), ETHER)
    batch, receipt = net.proposer.propose(3, Fault(FaultKind.WRONG_DEPOSIT_AMOUNT, 0))
    assert net.client.deposits_consumed() == 1  # the step matches the queue: accepted
    assert batch.steps[0].tx == encode_deposit(0, _user(net), ETHER)
    onchain = _onchain(net, receipt)
    verdict = replay_batch(watcher, onchain, commit=False)
    assert verdict.kind is VerdictKind.FRAUD and verdict.step == 0
    _challenge_and_reject(net, watcher, batch, 0)
    assert net.client.deposits_consumed() == 0  # the deposit goes back to the queue


def test_forge_withdrawal_is_rejected_and_never_claimable(net: Devnet, watcher: StateDB) -> None:
    bridge = net.client.bridge_balance()
    batch, receipt = net.proposer.propose(3, Fault(FaultKind.FORGE_WITHDRAWAL, 2))
    onchain = _onchain(net, receipt)
    (forged,) = claimed_withdrawals(onchain, net.proposer.params)
    assert forged.account == ATTACKER.address and forged.step == 2
    assert forged.amount == bridge * 9 // 10  # most of the bridge's funds
    verdict = replay_batch(watcher, onchain, commit=False)
    assert verdict.kind is VerdictKind.FRAUD and verdict.step == 2
    _challenge_and_reject(net, watcher, batch, 2)
    attacker = l1_account(ATTACKER)
    fund(net.w3, attacker.address, ETHER)
    advance_time(net.w3, 700)
    with pytest.raises(L1TransactionError, match="batch is not finalized"):
        net.client.claim_withdrawal(attacker, batch.index, 2, claim_witness(onchain, 2))
    assert net.client.bridge_balance() == bridge


def test_forge_withdrawal_unchallenged_would_drain_the_bridge(net: Devnet) -> None:
    """The threat the watchtower exists for: nobody challenges, the batch becomes final, and
    the attacker is paid 90 % of the bridge."""
    bridge = net.client.bridge_balance()
    batch, _receipt = net.proposer.propose(3, Fault(FaultKind.FORGE_WITHDRAWAL, 0))
    advance_time(net.w3, 700)
    assert finalize_due(net.client, net.challenger) == [batch.index]
    claims, _ = claim(net.client, net.challenger, ATTACKER.address)
    assert [c.withdrawal.amount for c in claims] == [bridge * 9 // 10]
    assert net.client.owed(l1_account(ATTACKER).address) == bridge * 9 // 10


def _challenge_and_reject(net: Devnet, watcher: StateDB, batch: Batch, step: int) -> None:
    params = net.client.params()
    onchain = net.client.fetch_batch(
        next(e for e in net.client.batches_submitted(0, net.w3.eth.block_number)
             if e.index == batch.index),
        params,
    )  # fmt: skip
    proof = build_fraud_proof(watcher, onchain, step, params)
    net.client.challenge(net.challenger, proof, net.config.min_stake)
    assert net.client.batch(batch.index).status is OnChainStatus.REJECTED
    assert net.client.next_index() == batch.index


def test_an_overdue_backlog_is_consumed_by_batches_of_deposits_alone(
    net: Devnet, watcher: StateDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More pending deposits than a batch takes, and overdue: the proposer posts deposit steps
    alone until the backlog is no longer overdue (the contract's rule, protocol.md §8.4)."""
    monkeypatch.setattr(proposer_module, "MAX_DEPOSITS_PER_BATCH", 2)
    for n in range(5):
        deposit(net.client, net.user, _user(net), (n + 1) * ETHER)
    advance_time(net.w3, DEPOSIT_INCLUSION_DELAY + 1)
    sizes = []
    while net.client.deposits_consumed() < 5:
        batch, receipt = net.proposer.propose(3)
        assert replay_batch(watcher, _onchain(net, receipt)).kind is VerdictKind.VALID
        sizes.append((len(batch.steps), net.client.deposits_consumed()))
    assert sizes == [(2, 2), (2, 4), (1 + 3, 5)]  # the last one has room for transfers
    assert _balance(watcher, batch, _user(net)) == 15 * ETHER
