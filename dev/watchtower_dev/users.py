"""Users of the rollup: deposit on L1, withdraw on L2, claim on L1 once final (protocol.md §8).

The functions behind the ``deposit``, ``l2-withdraw`` and ``claim`` commands, on any
:class:`RollupClient` (anvil, a node, or the embedded chain of a devnet or the demo). The L2
side of a withdrawal is the proposer's (:meth:`~watchtower_dev.proposer.Proposer.withdraw`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from eth_account import Account as EthAccount
from eth_account.signers.local import LocalAccount
from web3 import Web3

from watchtower.errors import InputError
from watchtower.l1.rollup import BatchSubmitted, OnChainStatus, RollupClient
from watchtower.proof.withdrawal import claim_witness
from watchtower.rollup.bridge import Deposit, Withdrawal, claimed_withdrawals
from watchtower.rollup.params import RollupParams
from watchtower.rollup.types import Batch
from watchtower_dev.txgen import Signer

ETHER = 10**18


def parse_ether(text: str, option: str = "--amount") -> int:
    """``"1.5"`` → 1.5 ether in wei; a one-line :class:`InputError` for anything else."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InputError(f"{option} {text!r} is not an amount of ether (e.g. 1.5)") from None
    wei = value * ETHER
    if not value.is_finite() or wei != wei.to_integral_value():
        raise InputError(f"{option} {text!r} is not a whole number of wei")
    if wei <= 0:
        raise InputError(f"{option} {text!r} must be more than zero")
    return int(wei)


def parse_address(text: str, option: str) -> bytes:
    if not Web3.is_address(text):
        raise InputError(f"{option} {text!r} is not an address (0x and 40 hex digits)")
    return bytes.fromhex(text.removeprefix("0x").removeprefix("0X"))


def eth(wei: int) -> str:
    """Exact ether: ``57,643.2 ETH``."""
    whole, rest = divmod(wei, ETHER)
    fraction = f"{rest:018d}".rstrip("0")
    return f"{whole:,}{'.' + fraction if fraction else ''} ETH"


def l1_account(user: Signer) -> LocalAccount:
    """The L1 account with the same key as the L2 ``user`` (a withdrawal pays its sender's own
    address on L1)."""
    account: LocalAccount = EthAccount.from_key(user.key.to_bytes())
    return account


def deposit(client: RollupClient, sender: LocalAccount, recipient: bytes, amount: int) -> Deposit:
    """Deposit ``amount`` wei for ``recipient`` on L2; the queue entry it appended."""
    receipt = client.deposit(sender, recipient, amount)
    block = int(receipt["blockNumber"])
    for entry in reversed(client.deposits_queued(block, block)):
        if entry.recipient == recipient and entry.amount == amount:
            return entry
    return client.queued_deposit(client.deposit_count() - 1)


def finalize_due(client: RollupClient, sender: LocalAccount) -> list[int]:
    """Finalize, in order, every pending batch whose challenge period is over (anyone may)."""
    done = []
    now = int(client.w3.eth.get_block("latest")["timestamp"])
    index = int(client.contract.functions.finalizedCount().call())
    while index < client.next_index():
        batch = client.batch(index)
        if batch.status is not OnChainStatus.PENDING or batch.deadline >= now:
            break
        client.finalize(sender, index)
        done.append(index)
        index += 1
    return done


@dataclass(frozen=True)
class Claimable:
    """A withdrawal of an accepted batch, and where it stands on L1."""

    withdrawal: Withdrawal
    status: OnChainStatus
    deadline: int
    claimed: bool


def accepted_batches(client: RollupClient, params: RollupParams) -> list[Batch]:
    """The batches the contract holds now (below ``nextIndex``), read from their calldata:
    for an index that was reused after a rejection, the submission that matches the contract."""
    latest = int(client.w3.eth.block_number)
    by_index: dict[int, BatchSubmitted] = {}
    for event in client.batches_submitted(0, latest):
        by_index[event.index] = event  # later submissions replace rejected ones
    out = []
    for index in range(client.next_index()):
        found = by_index.get(index)
        if found is None or client.batch(index).steps_root != found.steps_root:
            continue
        out.append(client.fetch_batch(found, params))
    return out


def withdrawals(client: RollupClient, account: bytes | None = None) -> list[Claimable]:
    """Every withdrawal of the accepted batches (of ``account`` only, if given)."""
    params = client.params()
    out = []
    for batch in accepted_batches(client, params):
        on_chain = client.batch(batch.index)
        for w in claimed_withdrawals(batch, params):
            if account is not None and w.account != account:
                continue
            claimed = client.withdrawal_claimed(batch.index, w.step)
            out.append(Claimable(w, on_chain.status, on_chain.deadline, claimed))
    return out


@dataclass(frozen=True)
class Claim:
    withdrawal: Withdrawal
    l1_block: int
    tx_hash: bytes


def claim(
    client: RollupClient, sender: LocalAccount, account: bytes | None = None
) -> tuple[list[Claim], list[Claimable]]:
    """Claim every unclaimed withdrawal of the finalized batches (of ``account`` only, if
    given); the claims made, and the withdrawals still waiting for their batch to be final."""
    params = client.params()
    claims: list[Claim] = []
    waiting: list[Claimable] = []
    batches = {b.index: b for b in accepted_batches(client, params)}
    for item in withdrawals(client, account):
        w = item.withdrawal
        if item.claimed:
            continue
        if item.status is not OnChainStatus.FINALIZED:
            waiting.append(item)
            continue
        witness = claim_witness(batches[w.batch], w.step)
        receipt = client.claim_withdrawal(sender, w.batch, w.step, witness)
        claims.append(Claim(w, int(receipt["blockNumber"]), bytes(receipt["transactionHash"])))
    return claims, waiting


def advance_time(w3: Web3, seconds: int) -> int:
    """Move the L1 clock on by ``seconds`` and mine a block (the embedded chain, or anvil);
    the new head's timestamp."""
    tester = getattr(w3.provider, "ethereum_tester", None)
    now = int(w3.eth.get_block("latest")["timestamp"])
    if tester is not None:
        tester.time_travel(now + seconds)
    else:
        w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    return int(w3.eth.get_block("latest")["timestamp"])
