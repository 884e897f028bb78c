"""The guardian's intake of a monitoring request (docs/channels.md §5): a pure function of the
request, the request already held for that channel, what the service read from L1 and the
guardian's policy. The first rule that fails is the one-line answer; rules are checked in the
order of §5:

1. the chain id is the guardian's and the contract is one it guards, for that scheme;
2. every signature is strict and by the right signer: both parties (A's first), the sender, the
   issuer; the reward by the user the request protects (state: A or B; payment: the recipient;
   cheque: the beneficiary). While the channel is not on chain (rule 3) the parties are unknown:
   the signatures are then only checked to be valid ones;
3. the channel exists, is not settled, claimed or reclaimed, and can still be acted on: a state
   whose balances add up to the deposits, a closing channel whose window is still open, a payment
   channel before its expiration, a cheque with an uncashed part;
4. the nonce (state) or cumulative amount (payment, cheque) is strictly above the one held, and
   (state) above the nonce already on chain;
5. the reward can be paid: it names this channel and this nonce or amount, ``monitor`` is the
   guardian, ``amount`` is at most what the user gets (the user's balance in the state, the
   payment capped by the deposit, the cheque's uncashed part) and at least the guardian's
   minimum; with a minimum above 0, a request without a reward is refused; a reward signed by
   the party that closed a closing channel is refused (the contract pays only the other's).

Pure: reads no clock (``ChainFacts.now``) and no network.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from watchtower.channels import eip712
from watchtower.channels.types import (
    ChannelState,
    Cheque,
    Kind,
    MonitoringRequest,
    Payment,
)

#: How the schemes are named in messages.
SCHEME_NAMES = {
    Kind.STATE: "state channel",
    Kind.PAYMENT: "payment channel",
    Kind.CHEQUE: "chequebook",
}


class Status(enum.StrEnum):
    """A channel's status on chain: the contracts' ``Status`` enums (StateChannel: None, Open,
    Closing, Settled; PaymentChannel: None, Open, Claimed, Reclaimed). A chequebook is ``OPEN``
    when the contract answers ``issuer()``, ``NONE`` otherwise."""

    NONE = "none"
    OPEN = "open"
    CLOSING = "closing"
    SETTLED = "settled"
    CLAIMED = "claimed"
    RECLAIMED = "reclaimed"


STATE_CHANNEL_STATUS = (Status.NONE, Status.OPEN, Status.CLOSING, Status.SETTLED)
PAYMENT_CHANNEL_STATUS = (Status.NONE, Status.OPEN, Status.CLAIMED, Status.RECLAIMED)


def status_of(kind: Kind, code: int) -> Status:
    """The :class:`Status` of a contract's ``Status`` enum value."""
    table = STATE_CHANNEL_STATUS if kind is Kind.STATE else PAYMENT_CHANNEL_STATUS
    return table[code]


@dataclass(frozen=True)
class ChainFacts:
    """What the service read from L1 about the request's channel, in one block.

    * state channel (``channels(id)``): ``party_a``/``party_b`` = ``a``/``b``, ``deposit_a``/
      ``deposit_b``, ``nonce`` = the stored state's nonce (while closing), ``deadline``,
      ``closer``;
    * payment channel (``channels(id)``): ``party_a`` = ``sender``, ``party_b`` = ``recipient``,
      ``deposit_a`` = ``deposit``, ``expiration``;
    * chequebook: ``party_a`` = ``issuer()``, ``paid_out`` = ``paidOut(beneficiary)``.
    """

    now: int  # the L1 timestamp of the block read
    status: Status
    party_a: bytes = b""
    party_b: bytes = b""
    deposit_a: int = 0
    deposit_b: int = 0
    nonce: int = 0
    deadline: int = 0
    closer: bytes = b""  # state channel, while closing: the party that closed
    expiration: int = 0
    paid_out: int = 0

    @property
    def total(self) -> int:
        """The channel's deposits (state channel: A's plus B's; payment channel: the deposit)."""
        return self.deposit_a + self.deposit_b


@dataclass(frozen=True)
class IntakePolicy:
    chain_id: int
    guardian: bytes  # the address the guardian sends from: a reward's ``monitor``
    contracts: Mapping[bytes, Kind]  # the contracts guarded, and their scheme
    min_reward_wei: int = 0  # channels.min_reward_wei


@dataclass(frozen=True)
class Accepted:
    request: MonitoringRequest
    #: The user the request protects and whose reward it carries (state: the reward's signer,
    #: or ``b""`` without a reward; payment: the recipient; cheque: the beneficiary).
    protected: bytes


@dataclass(frozen=True)
class Refused:
    rule: int  # 1..5, the rule of docs/channels.md §5 that failed
    reason: str  # one line naming the channel, values and addresses


Verdict = Accepted | Refused


def _a(address: bytes) -> str:
    return "0x" + address.hex()


def describe(request: MonitoringRequest) -> str:
    """``channel 3 of 0x…`` / ``beneficiary 0x… of chequebook 0x…``."""
    if isinstance(request.message, Cheque):
        return f"beneficiary {_a(request.message.beneficiary)} of chequebook {_a(request.contract)}"
    return f"channel {request.message.channel_id} of {_a(request.contract)}"


def _what(request: MonitoringRequest) -> str:
    """``state nonce 4`` / ``payment amount 5`` / ``cheque cumulative payout 7``."""
    if isinstance(request.message, ChannelState):
        return f"state nonce {request.message.nonce}"
    if isinstance(request.message, Payment):
        return f"payment amount {request.message.amount}"
    return f"cheque cumulative payout {request.message.cumulative_payout}"


def _signers(request: MonitoringRequest, chain: ChainFacts) -> tuple[tuple[str, bytes], ...]:
    """(role, expected signer) per signature; the expected signer is ``b""`` when unknown."""
    known = chain.status is not Status.NONE
    if request.kind is Kind.STATE:
        return (
            ("party A", chain.party_a if known else b""),
            ("party B", chain.party_b if known else b""),
        )
    if request.kind is Kind.PAYMENT:
        return (("the sender", chain.party_a if known else b""),)
    return (("the issuer", chain.party_a if known else b""),)


def _check_signatures(request: MonitoringRequest, chain: ChainFacts) -> str | None:
    roles = _signers(request, chain)
    if len(request.signatures) != len(roles):
        return (
            f"{_what(request)} for {describe(request)} carries {len(request.signatures)} "
            f"signatures, expected {len(roles)}"
        )
    message_digest = eip712.digest(request.domain, request.message)
    for (role, expected), signature in zip(roles, request.signatures, strict=True):
        signer = eip712.recover(message_digest, signature)
        if signer is None:
            return f"{_what(request)} for {describe(request)}: bad signature of {role}"
        if expected and signer != expected:
            return (
                f"{_what(request)} for {describe(request)} is signed by {_a(signer)}, "
                f"not by {role} {_a(expected)}"
            )
    return None


def reward_signer(request: MonitoringRequest) -> bytes | None:
    """Who signed the request's reward (``None``: no reward, or a bad signature)."""
    if request.reward is None:
        return None
    return eip712.recover(eip712.digest(request.domain, request.reward), request.reward_signature)


def _protected(request: MonitoringRequest, chain: ChainFacts) -> tuple[str, bytes] | None:
    """The user the reward must be signed by (role, address); ``None`` for a state, where it
    is either party."""
    if isinstance(request.message, Payment):
        return ("the recipient", chain.party_b)
    if isinstance(request.message, Cheque):
        return ("the beneficiary", request.message.beneficiary)
    return None


def _check_reward_signature(request: MonitoringRequest, chain: ChainFacts) -> str | None:
    if request.reward is None:
        return None
    signer = reward_signer(request)
    if signer is None:
        return f"reward for {describe(request)}: bad signature"
    if chain.status is Status.NONE:
        return None
    expected = _protected(request, chain)
    if expected is None:
        if signer not in (chain.party_a, chain.party_b):
            return (
                f"reward for {describe(request)} is signed by {_a(signer)}, neither party A "
                f"{_a(chain.party_a)} nor party B {_a(chain.party_b)}"
            )
        return None
    role, address = expected
    if signer != address:
        return (
            f"reward for {describe(request)} is signed by {_a(signer)}, not by {role} {_a(address)}"
        )
    return None


def _check_channel(request: MonitoringRequest, chain: ChainFacts) -> str | None:
    where = describe(request)
    if chain.status is Status.NONE:
        if request.kind is Kind.CHEQUE:
            return f"{_a(request.contract)} is not a chequebook on chain"
        return f"{where} does not exist on chain"
    if chain.status in (Status.SETTLED, Status.CLAIMED, Status.RECLAIMED):
        return f"{where} is already {chain.status.value}"
    message = request.message
    if isinstance(message, ChannelState):
        if message.balance_a + message.balance_b != chain.total:
            return (
                f"state nonce {message.nonce} for {where}: balances {message.balance_a} + "
                f"{message.balance_b} do not add up to the deposits {chain.deposit_a} + "
                f"{chain.deposit_b}"
            )
        if chain.status is Status.CLOSING and chain.now > chain.deadline:
            return f"{where} is closing and its window ended at {chain.deadline} (now {chain.now})"
    elif isinstance(message, Payment):
        if chain.now >= chain.expiration:
            return f"{where} expired at {chain.expiration} (now {chain.now})"
    elif message.cumulative_payout <= chain.paid_out:
        return (
            f"cheque cumulative payout {message.cumulative_payout} for {where} is already "
            f"cashed (paid out {chain.paid_out})"
        )
    return None


def _check_sequence(
    request: MonitoringRequest, held: MonitoringRequest | None, chain: ChainFacts
) -> str | None:
    what, where = _what(request), describe(request)
    if held is not None and request.sequence <= held.sequence:
        return f"{what} is not above the {_what(held)} already held for {where}"
    if isinstance(request.message, ChannelState):
        if request.message.nonce == 0:
            return f"state nonce 0 for {where} is the deposits: there is nothing to guard"
        if chain.status is Status.CLOSING and request.message.nonce <= chain.nonce:
            return f"{what} is not above the nonce {chain.nonce} already on chain for {where}"
    return None


def _user_share(request: MonitoringRequest, chain: ChainFacts, signer: bytes) -> int:
    message = request.message
    if isinstance(message, ChannelState):
        return message.balance_a if signer == chain.party_a else message.balance_b
    if isinstance(message, Payment):
        return min(message.amount, chain.deposit_a)
    return message.cumulative_payout - chain.paid_out


def _check_reward(
    request: MonitoringRequest, chain: ChainFacts, policy: IntakePolicy
) -> str | None:
    where = describe(request)
    reward = request.reward
    if reward is None or reward.amount == 0:
        if policy.min_reward_wei > 0:
            minimum = policy.min_reward_wei
            return f"no reward offered for {where}: this guardian's minimum is {minimum} wei"
        return None
    if reward.channel_id != request.channel_key:
        return f"reward names channel {reward.channel_id}, not {where}"
    if reward.nonce != request.sequence:
        return f"reward names nonce {reward.nonce}, the request's {_what(request)}"
    if reward.monitor != policy.guardian:
        return (
            f"reward for {where} names monitor {_a(reward.monitor)}, not this guardian "
            f"{_a(policy.guardian)}"
        )
    signer = reward_signer(request)
    assert signer is not None  # rule 2
    if request.kind is Kind.STATE and chain.status is Status.CLOSING and signer == chain.closer:
        return (
            f"reward for {where} is signed by {_a(signer)}, the party that closed it: the "
            "contract pays only a reward of the other party"
        )
    share = _user_share(request, chain, signer)
    if reward.amount > share:
        return (
            f"reward {reward.amount} wei for {where} is above the {share} wei its signer "
            f"{_a(signer)} gets from the {_what(request)}"
        )
    if reward.amount < policy.min_reward_wei:
        return (
            f"reward {reward.amount} wei for {where} is below this guardian's minimum "
            f"{policy.min_reward_wei} wei"
        )
    return None


def check_request(
    request: MonitoringRequest,
    held: MonitoringRequest | None,
    chain: ChainFacts,
    policy: IntakePolicy,
) -> Verdict:
    """Accept or refuse ``request`` (docs/channels.md §5). ``held``: the request the guardian
    already holds for the same contract and channel (or beneficiary), if any."""
    if request.chain_id != policy.chain_id:
        return Refused(
            1, f"chain id {request.chain_id} is not this guardian's chain id {policy.chain_id}"
        )
    guarded = policy.contracts.get(request.contract)
    if guarded is not request.kind:
        return Refused(
            1,
            f"{_a(request.contract)} is not a {SCHEME_NAMES[request.kind]} this guardian guards",
        )
    problem = _check_signatures(request, chain) or _check_reward_signature(request, chain)
    if problem:
        return Refused(2, problem)
    problem = _check_channel(request, chain)
    if problem:
        return Refused(3, problem)
    problem = _check_sequence(request, held, chain)
    if problem:
        return Refused(4, problem)
    problem = _check_reward(request, chain, policy)
    if problem:
        return Refused(5, problem)
    if isinstance(request.message, Payment):
        protected = chain.party_b
    elif isinstance(request.message, Cheque):
        protected = request.message.beneficiary
    else:
        protected = reward_signer(request) or b""
    return Accepted(request, protected)
