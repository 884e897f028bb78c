"""watchtower.l1.channels beyond anvil: the revert tables match the contracts' sources, and the
clients run unchanged on the embedded chain (eth-tester), events and reverts included."""

from __future__ import annotations

import re
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from watchtower.channels.types import ChannelState, Cheque
from watchtower.l1.channels import (
    CHEQUEBOOK_REVERTS,
    PAYMENT_CHANNEL_REVERTS,
    STATE_CHANNEL_REVERTS,
    ChannelClosing,
    ChannelOpened,
    ChannelSettled,
    ChequebookClient,
    ChequeBounced,
    ChequeCashed,
    StateChannelClient,
)
from watchtower.l1.rollup import L1TransactionError
from watchtower_dev.chain import embedded_web3, fund, mine

ROOT = Path(__file__).resolve().parents[2]
ETH = 10**18


def test_revert_tables_are_exactly_the_sources_reverts() -> None:
    for name, table in (
        ("StateChannel", STATE_CHANNEL_REVERTS),
        ("PaymentChannel", PAYMENT_CHANNEL_REVERTS),
        ("Chequebook", CHEQUEBOOK_REVERTS),
    ):
        source = (ROOT / "contracts" / f"{name}.sol").read_text()
        found = set(re.findall(rf'"({name}: [^"]+)"', source))
        assert found == set(table), name
        assert len(table) == len(set(table))


def _account(w3: Web3) -> LocalAccount:
    acct: LocalAccount = Account.create()
    fund(w3, acct.address, 10 * ETH)
    return acct


def test_clients_on_the_embedded_chain() -> None:
    w3 = embedded_web3()
    a, b, c = _account(w3), _account(w3), _account(w3)
    sc = StateChannelClient.deploy(w3, c)
    cid, receipt = sc.open(a, b.address, 60, deposit=ETH)
    sc.close(b, ChannelState(cid, 0, ETH, 0))
    try:
        sc.settle(c, cid)
        raise AssertionError("settle before the deadline went through")
    except L1TransactionError as exc:
        assert exc.reason == "StateChannel: window not over"
    mine(w3, 1, 61)
    last = sc.settle(c, cid)
    kinds = [type(e) for e in sc.events(receipt["blockNumber"], last["blockNumber"])]
    assert kinds == [ChannelOpened, ChannelClosing, ChannelSettled]
    assert sc.owed(a.address) == ETH
    book = ChequebookClient.deploy(w3, c, a.address, ETH)
    cheque = Cheque(bytes.fromhex(b.address[2:]), 2 * ETH)
    signed = a.sign_typed_data(
        domain_data={
            "name": "WatchtowerChequebook",
            "version": "1",
            "chainId": w3.eth.chain_id,
            "verifyingContract": book.address,
        },
        message_types={
            "Cheque": [
                {"name": "beneficiary", "type": "address"},
                {"name": "cumulativePayout", "type": "uint256"},
            ]
        },
        message_data={"beneficiary": b.address, "cumulativePayout": 2 * ETH},
    )
    events = book.receipt_events(book.cash_cheque(c, cheque, bytes(signed.signature)))
    assert [type(e) for e in events] == [ChequeCashed, ChequeBounced]
    assert book.paid_out(b.address) == ETH and book.liquid_balance() == 0
