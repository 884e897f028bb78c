"""The contracts' EIP-712 digests equal eth-account's (``encode_typed_data``), differentially over
random messages: ``hashState``, ``hashPayment``, ``hashCheque``, ``hashReward`` (all three) and
``domainSeparator``; eth-account signatures over the contracts' digests recover to the signer."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3

from tests.contracts.channels_kit import TYPES, digest, domain, new_account, sign
from watchtower.channels.types import ChannelState, Cheque, Payment, Reward
from watchtower.l1.channels import ChequebookClient, PaymentChannelClient, StateChannelClient

U256 = st.integers(min_value=0, max_value=2**256 - 1)
ADDRESS = st.binary(min_size=20, max_size=20)


@dataclass
class Contracts:
    w3: Web3
    sc: StateChannelClient
    pc: PaymentChannelClient
    cb: ChequebookClient

    @property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)


@pytest.fixture(scope="module")
def c(w3: Web3) -> Contracts:
    deployer = new_account(w3)
    return Contracts(
        w3,
        StateChannelClient.deploy(w3, deployer),
        PaymentChannelClient.deploy(w3, deployer),
        ChequebookClient.deploy(w3, deployer, deployer.address),
    )


def test_domain_separators(c: Contracts) -> None:
    for name, client in (("StateChannel", c.sc), ("PaymentChannel", c.pc), ("Chequebook", c.cb)):
        signable = encode_typed_data(
            domain_data=domain(name, c.chain_id, client.address),
            message_types={"Payment": TYPES["Payment"]},
            message_data={"channelId": 0, "amount": 0},
        )
        assert client.domain_separator() == signable.header


@settings(max_examples=60)
@given(channel_id=U256, nonce=U256, bal_a=U256, bal_b=U256)
def test_hash_state(c: Contracts, channel_id: int, nonce: int, bal_a: int, bal_b: int) -> None:
    s = ChannelState(channel_id, nonce, bal_a, bal_b)
    assert c.sc.hash_state(s) == digest("StateChannel", c.chain_id, c.sc.address, s)


@settings(max_examples=60)
@given(channel_id=U256, amount=U256)
def test_hash_payment(c: Contracts, channel_id: int, amount: int) -> None:
    p = Payment(channel_id, amount)
    assert c.pc.hash_payment(p) == digest("PaymentChannel", c.chain_id, c.pc.address, p)


@settings(max_examples=60)
@given(beneficiary=ADDRESS, payout=U256)
def test_hash_cheque(c: Contracts, beneficiary: bytes, payout: int) -> None:
    ch = Cheque(beneficiary, payout)
    assert c.cb.hash_cheque(ch) == digest("Chequebook", c.chain_id, c.cb.address, ch)


@settings(max_examples=60)
@given(channel_id=U256, nonce=U256, amount=U256, monitor=ADDRESS)
def test_hash_reward(
    c: Contracts, channel_id: int, nonce: int, amount: int, monitor: bytes
) -> None:
    r = Reward(channel_id, nonce, amount, monitor)
    for name, client in (("StateChannel", c.sc), ("PaymentChannel", c.pc), ("Chequebook", c.cb)):
        assert client.hash_reward(r) == digest(name, c.chain_id, client.address, r)


def test_digests_differ_per_contract_and_chain(c: Contracts) -> None:
    r = Reward(1, 2, 3, b"\x01" * 20)
    digests = {client.hash_reward(r) for client in (c.sc, c.pc, c.cb)}
    assert len(digests) == 3
    assert digest("StateChannel", c.chain_id + 1, c.sc.address, r) != c.sc.hash_reward(r)


@settings(max_examples=30)
@given(key=st.integers(min_value=1, max_value=2**255), amount=U256)
def test_signatures_by_random_keys_recover(c: Contracts, key: int, amount: int) -> None:
    """eth-account's signature over the contract's digest recovers to the signer."""
    acct = Account.from_key(key.to_bytes(32, "big"))
    p = Payment(7, amount)
    sig = sign(acct, "PaymentChannel", c.chain_id, c.pc.address, p)
    assert len(sig) == 65 and sig[64] in (27, 28)
    assert int.from_bytes(sig[32:64], "big") <= 2**255  # eth-account signs low s
    assert Account._recover_hash(c.pc.hash_payment(p), signature=sig) == acct.address
