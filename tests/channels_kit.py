"""Signed monitoring requests for the channel tests: fixed keys, one builder per scheme."""

from __future__ import annotations

from watchtower.channels import eip712
from watchtower.channels.types import (
    ChannelState,
    Cheque,
    Domain,
    Kind,
    MonitoringRequest,
    Payment,
    Reward,
)


def _key(n: int) -> bytes:
    return n.to_bytes(32, "big")


KEY_A, KEY_B, KEY_GUARDIAN, KEY_OTHER = _key(0xA11CE), _key(0xB0B), _key(0x6A2D), _key(0x0DD)
A, B = eip712.address_of(KEY_A), eip712.address_of(KEY_B)
GUARDIAN, OTHER = eip712.address_of(KEY_GUARDIAN), eip712.address_of(KEY_OTHER)
# payment channel: A sends to B; chequebook: A issues to B
SENDER, RECIPIENT, ISSUER, BENEFICIARY = A, B, A, B
CHAIN_ID = 31337
STATE_CONTRACT = bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")
PAYMENT_CONTRACT = bytes.fromhex("e7f1725e7734ce288f8367e1bb143e90bb3f0512")
CHEQUEBOOK = bytes.fromhex("9fe46736679d2d9a65f0992f2272de9f3c7fa6e0")
CONTRACTS = {Kind.STATE: STATE_CONTRACT, Kind.PAYMENT: PAYMENT_CONTRACT, Kind.CHEQUE: CHEQUEBOOK}


def _reward(
    domain: Domain, key: bytes, channel: int, nonce: int, amount: int | None, monitor: bytes
) -> tuple[Reward | None, bytes]:
    if amount is None:
        return None, b""
    reward = Reward(channel, nonce, amount, monitor)
    return reward, eip712.sign(key, domain, reward)


def state_request(
    channel: int = 3,
    nonce: int = 7,
    balance_a: int = 4 * 10**18,
    balance_b: int = 6 * 10**18,
    reward: int | None = 10**15,
    reward_key: bytes = KEY_B,
    monitor: bytes = GUARDIAN,
    keys: tuple[bytes, bytes] = (KEY_A, KEY_B),
    chain_id: int = CHAIN_ID,
) -> MonitoringRequest:
    domain = Domain(Kind.STATE, chain_id, STATE_CONTRACT)
    state = ChannelState(channel, nonce, balance_a, balance_b)
    sigs = tuple(eip712.sign(k, domain, state) for k in keys)
    r, rsig = _reward(domain, reward_key, channel, nonce, reward, monitor)
    return MonitoringRequest(Kind.STATE, chain_id, STATE_CONTRACT, state, sigs, r, rsig)


def payment_request(
    channel: int = 5,
    amount: int = 3 * 10**18,
    reward: int | None = 10**15,
    reward_key: bytes = KEY_B,
    monitor: bytes = GUARDIAN,
    key: bytes = KEY_A,
) -> MonitoringRequest:
    domain = Domain(Kind.PAYMENT, CHAIN_ID, PAYMENT_CONTRACT)
    payment = Payment(channel, amount)
    sig = eip712.sign(key, domain, payment)
    r, rsig = _reward(domain, reward_key, channel, amount, reward, monitor)
    return MonitoringRequest(Kind.PAYMENT, CHAIN_ID, PAYMENT_CONTRACT, payment, (sig,), r, rsig)


def cheque_request(
    cumulative: int = 5 * 10**18,
    beneficiary: bytes = BENEFICIARY,
    reward: int | None = 10**15,
    reward_key: bytes = KEY_B,
    monitor: bytes = GUARDIAN,
    key: bytes = KEY_A,
) -> MonitoringRequest:
    domain = Domain(Kind.CHEQUE, CHAIN_ID, CHEQUEBOOK)
    cheque = Cheque(beneficiary, cumulative)
    sig = eip712.sign(key, domain, cheque)
    channel = int.from_bytes(beneficiary, "big")
    r, rsig = _reward(domain, reward_key, channel, cumulative, reward, monitor)
    return MonitoringRequest(Kind.CHEQUE, CHAIN_ID, CHEQUEBOOK, cheque, (sig,), r, rsig)
