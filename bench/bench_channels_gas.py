"""Gas of the channel contracts on anvil: the figures of docs/channels.md "Gas".

Usage: python bench/bench_channels_gas.py

On a fresh anvil node (from node_modules, `npm ci`), through watchtower.l1.channels with
eth-account EIP-712 signatures, measures: StateChannel ``open``, ``deposit``, ``close`` (nonce 0
and signed), ``update`` (with and without a reward), ``settle`` (with and without a reward),
``cooperativeClose``, ``withdraw``; PaymentChannel ``open``, ``claim`` (with and without a reward),
``reclaim``; Chequebook deploy, ``cashCheque`` (full, with a reward, bounced), ``withdraw(amount)``
(issuer), ``withdraw()``; and each contract's runtime size. Gas is deterministic for a given
contract and input: one run gives the figures (first-touch storage costs included).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import TxReceipt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from watchtower.channels.types import ChannelState, Cheque, Payment, Reward
from watchtower.l1.channels import (
    ChequebookClient,
    PaymentChannelClient,
    StateChannelClient,
)
from watchtower.rollup.artifacts import load_artifact
from watchtower_dev.chain import fund, mine, start_anvil

ETH = 10**18
S, P, C = "WatchtowerStateChannel", "WatchtowerPaymentChannel", "WatchtowerChequebook"
TYPES: dict[str, list[dict[str, str]]] = {
    "State": [
        {"name": "channelId", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "balanceA", "type": "uint256"},
        {"name": "balanceB", "type": "uint256"},
    ],
    "Payment": [{"name": "channelId", "type": "uint256"}, {"name": "amount", "type": "uint256"}],
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


def sign(acct: LocalAccount, name: str, w3: Web3, contract: str, msg: Any) -> bytes:
    if isinstance(msg, ChannelState):
        primary, data = (
            "State",
            {
                "channelId": msg.channel_id,
                "nonce": msg.nonce,
                "balanceA": msg.balance_a,
                "balanceB": msg.balance_b,
            },
        )
    elif isinstance(msg, Payment):
        primary, data = "Payment", {"channelId": msg.channel_id, "amount": msg.amount}
    elif isinstance(msg, Cheque):
        primary, data = (
            "Cheque",
            {
                "beneficiary": Web3.to_checksum_address(msg.beneficiary),
                "cumulativePayout": msg.cumulative_payout,
            },
        )
    else:
        primary, data = (
            "Reward",
            {
                "channelId": msg.channel_id,
                "nonce": msg.nonce,
                "amount": msg.amount,
                "monitor": Web3.to_checksum_address(msg.monitor),
            },
        )
    dom = {"name": name, "version": "1", "chainId": w3.eth.chain_id, "verifyingContract": contract}
    signed = acct.sign_typed_data(
        domain_data=dom, message_types={primary: TYPES[primary]}, message_data=data
    )
    return bytes(signed.signature)


def raw(acct: LocalAccount) -> bytes:
    return bytes.fromhex(acct.address[2:])


def main() -> None:
    rows: list[tuple[str, int]] = []

    def rec(what: str, receipt: TxReceipt) -> None:
        rows.append((what, int(receipt["gasUsed"])))

    with start_anvil() as node:
        w3 = node.web3()
        a, b, mon, other = (Account.create() for _ in range(4))
        for acct in (a, b, mon, other):
            fund(w3, acct.address, 100 * ETH)

        # -- state channel ----------------------------------------------------------------------
        sc = StateChannelClient.deploy(w3, other)

        def both(s: ChannelState) -> tuple[bytes, bytes]:
            return sign(a, S, w3, sc.address, s), sign(b, S, w3, sc.address, s)

        cid, r = sc.open(a, b.address, 3600, deposit=3 * ETH)
        rec("StateChannel.open (first channel, with deposit)", r)
        cid, r = sc.open(a, b.address, 3600, deposit=3 * ETH)
        rec("StateChannel.open", r)
        rec("StateChannel.deposit (B's first)", sc.deposit(b, cid, 2 * ETH))
        rec("StateChannel.deposit (top-up)", sc.deposit(b, cid, 1))
        total = 5 * ETH + 1
        s0 = ChannelState(cid, 0, 3 * ETH, 2 * ETH + 1)
        rec("StateChannel.close (nonce 0, no signatures)", sc.close(a, s0))
        s5 = ChannelState(cid, 5, ETH, total - ETH)
        rec("StateChannel.update (no reward)", sc.update(mon, s5, *both(s5)))
        s9 = ChannelState(cid, 9, ETH // 2, total - ETH // 2)
        rw = Reward(cid, 9, ETH // 100, raw(mon))
        rec(
            "StateChannel.update (with reward)",
            sc.update(mon, s9, *both(s9), reward=rw, reward_sig=sign(b, S, w3, sc.address, rw)),
        )
        mine(w3, 1, 3601)
        rec("StateChannel.settle (with reward)", sc.settle(other, cid))
        cid, _ = sc.open(a, b.address, 3600, deposit=ETH)
        s3 = ChannelState(cid, 3, ETH // 2, ETH // 2)
        rec("StateChannel.close (signed state)", sc.close(b, s3, *both(s3)))
        mine(w3, 1, 3601)
        rec("StateChannel.settle (no reward)", sc.settle(other, cid))
        cid, _ = sc.open(a, b.address, 3600, deposit=ETH)
        s1 = ChannelState(cid, 1, ETH // 4, 3 * ETH // 4)
        rec("StateChannel.cooperativeClose", sc.cooperative_close(other, s1, *both(s1)))
        rec("StateChannel.withdraw", sc.withdraw(a))

        # -- payment channel --------------------------------------------------------------------
        pc = PaymentChannelClient.deploy(w3, other)
        exp = int(w3.eth.get_block("latest")["timestamp"]) + 86400
        cid, r = pc.open(a, b.address, exp, 2 * ETH)
        rec("PaymentChannel.open (first channel)", r)
        cid, r = pc.open(a, b.address, exp, 2 * ETH)
        rec("PaymentChannel.open", r)
        p = Payment(cid, ETH)
        rec("PaymentChannel.claim (no reward)", pc.claim(other, p, sign(a, P, w3, pc.address, p)))
        cid, _ = pc.open(a, b.address, exp, 2 * ETH)
        p = Payment(cid, ETH)
        rw = Reward(cid, ETH, ETH // 100, raw(mon))
        rec(
            "PaymentChannel.claim (with reward)",
            pc.claim(
                mon,
                p,
                sign(a, P, w3, pc.address, p),
                reward=rw,
                reward_sig=sign(b, P, w3, pc.address, rw),
            ),
        )
        cid, _ = pc.open(a, b.address, exp, 2 * ETH)
        mine(w3, 1, 86401)
        rec("PaymentChannel.reclaim", pc.reclaim(a, cid))
        rec("PaymentChannel.withdraw", pc.withdraw(a))

        # -- chequebook -------------------------------------------------------------------------
        cb = ChequebookClient.deploy(w3, a, a.address, 3 * ETH)
        rec(
            "Chequebook deploy (with balance)",
            w3.eth.get_transaction_receipt(w3.eth.get_block("latest")["transactions"][0]),
        )
        ch = Cheque(raw(b), ETH)
        rec(
            "Chequebook.cashCheque (full, first)",
            cb.cash_cheque(other, ch, sign(a, C, w3, cb.address, ch)),
        )
        ch = Cheque(raw(b), 2 * ETH)
        key = int.from_bytes(raw(b), "big")
        rw = Reward(key, 2 * ETH, ETH // 100, raw(mon))
        rec(
            "Chequebook.cashCheque (full, with reward)",
            cb.cash_cheque(
                mon,
                ch,
                sign(a, C, w3, cb.address, ch),
                reward=rw,
                reward_sig=sign(b, C, w3, cb.address, rw),
            ),
        )
        rec("Chequebook.withdraw(amount) (issuer)", cb.issuer_withdraw(a, ETH // 2))
        ch = Cheque(raw(other), 2 * ETH)
        rec(
            "Chequebook.cashCheque (bounced)",
            cb.cash_cheque(other, ch, sign(a, C, w3, cb.address, ch)),
        )
        rec("Chequebook.withdraw()", cb.withdraw(b))

    width = max(len(w) for w, _ in rows)
    print(f"| {'operation'.ljust(width)} | {'gas':>7} |")
    print(f"|{'-' * (width + 2)}|{'-' * 9}|")
    for what, gas in rows:
        print(f"| {what.ljust(width)} | {gas:>7,} |")
    print()
    for name in ("StateChannel", "PaymentChannel", "Chequebook"):
        size = (len(str(load_artifact(name)["deployedBytecode"])) - 2) // 2
        print(f"{name}: runtime {size:,} bytes (EIP-170 limit 24,576)")


if __name__ == "__main__":
    main()
