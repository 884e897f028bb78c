"""Shared helpers of the channel contract tests: EIP-712 signing with eth-account (the reference the
contracts are held to), funded accounts, time travel on anvil, revert matching."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import Wei

from watchtower.channels.types import ChannelState, Cheque, Payment, Reward
from watchtower.l1.rollup import L1TransactionError

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
ETH = 10**18

TYPES: dict[str, list[dict[str, str]]] = {
    "State": [
        {"name": "channelId", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "balanceA", "type": "uint256"},
        {"name": "balanceB", "type": "uint256"},
    ],
    "Payment": [
        {"name": "channelId", "type": "uint256"},
        {"name": "amount", "type": "uint256"},
    ],
    "Cheque": [
        {"name": "beneficiary", "type": "address"},
        {"name": "cumulativePayout", "type": "uint256"},
    ],
    "Reward": [
        {"name": "channelId", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "amount", "type": "uint256"},
        {"name": "monitor", "type": "address"},
    ],
}
NAMES = {
    "StateChannel": "WatchtowerStateChannel",
    "PaymentChannel": "WatchtowerPaymentChannel",
    "Chequebook": "WatchtowerChequebook",
}


def domain(contract_name: str, chain_id: int, address: str) -> dict[str, Any]:
    return {
        "name": NAMES[contract_name],
        "version": "1",
        "chainId": chain_id,
        "verifyingContract": Web3.to_checksum_address(address),
    }


def message_of(msg: ChannelState | Payment | Cheque | Reward) -> tuple[str, dict[str, Any]]:
    if isinstance(msg, ChannelState):
        return "State", {
            "channelId": msg.channel_id,
            "nonce": msg.nonce,
            "balanceA": msg.balance_a,
            "balanceB": msg.balance_b,
        }
    if isinstance(msg, Payment):
        return "Payment", {"channelId": msg.channel_id, "amount": msg.amount}
    if isinstance(msg, Cheque):
        return "Cheque", {
            "beneficiary": Web3.to_checksum_address(msg.beneficiary),
            "cumulativePayout": msg.cumulative_payout,
        }
    return "Reward", {
        "channelId": msg.channel_id,
        "nonce": msg.nonce,
        "amount": msg.amount,
        "monitor": Web3.to_checksum_address(msg.monitor),
    }


def digest(
    contract_name: str,
    chain_id: int,
    address: str,
    msg: ChannelState | Payment | Cheque | Reward,
) -> bytes:
    """eth-account's EIP-712 digest of ``msg`` (the reference)."""
    primary, message = message_of(msg)
    signable = encode_typed_data(
        domain_data=domain(contract_name, chain_id, address),
        message_types={primary: TYPES[primary]},
        message_data=message,
    )
    return bytes(Web3.keccak(b"\x19" + signable.version + signable.header + signable.body))


def sign(
    account: LocalAccount,
    contract_name: str,
    chain_id: int,
    address: str,
    msg: ChannelState | Payment | Cheque | Reward,
) -> bytes:
    """``r || s || v`` (v 27/28, low s): eth-account's EIP-712 signature."""
    primary, message = message_of(msg)
    signed = account.sign_typed_data(
        domain_data=domain(contract_name, chain_id, address),
        message_types={primary: TYPES[primary]},
        message_data=message,
    )
    return bytes(signed.signature)


def high_s(sig: bytes) -> bytes:
    """The same signature with s' = n - s and v flipped: valid for ecrecover, refused by EIP-2."""
    r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    return r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])


def addr(account: LocalAccount) -> bytes:
    return bytes.fromhex(account.address[2:])


def new_account(w3: Web3, funder_index: int = 0, amount: int = 100 * ETH) -> LocalAccount:
    acct: LocalAccount = Account.create()
    tx = w3.eth.send_transaction(
        {"from": w3.eth.accounts[funder_index], "to": acct.address, "value": Wei(amount)}
    )
    w3.eth.wait_for_transaction_receipt(tx)
    return acct


def advance(w3: Web3, seconds: int) -> None:
    """Move anvil's clock forward and mine a block."""
    w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def now(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


@contextmanager
def reverts_with(reason: str) -> Iterator[None]:
    """The block raises :class:`L1TransactionError` whose reason is exactly ``reason``."""
    with pytest.raises(L1TransactionError) as info:
        yield
    assert info.value.reason == reason, f"expected {reason!r}, got {info.value.reason!r}"
