"""Development tools of the channel schemes, the operations (docs/channels.md): open, pay,
close, update and settle state channels; open, pay, claim and reclaim payment channels; issue
and cash cheques. Each signs off-chain between two keys held by one process and records the
result in the parties' wallets (:class:`watchtower_dev.channels.Wallet`): a development tool,
never for real money.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import TxReceipt

from watchtower.channels import eip712
from watchtower.channels.types import (
    ChannelState,
    Cheque,
    Domain,
    Kind,
    Payment,
    Reward,
)
from watchtower.errors import InputError
from watchtower.l1.channels import (
    NO_REWARD,
    ChannelClosing,
    ChannelSettled,
    ChannelUpdated,
    ChequebookClient,
    ChequeBounced,
    ChequeCashed,
    PaymentChannelClaimed,
    PaymentChannelClient,
    StateChannelClient,
)
from watchtower_dev.channels import (
    SignedState,
    Wallet,
    _hex,
    _key,
    _only,
    address_bytes,
    address_hex,
    contract_at,
    states_of,
    unhex,
)

# -- state channel ---------------------------------------------------------------------------------


def open_state_channel(  # noqa: PLR0917
    w3: Web3,
    contract: str,
    a: LocalAccount,
    b: LocalAccount | str,
    deposit_a: int,
    deposit_b: int,
    window: int,
    wallets: Path,
) -> dict[str, Any]:
    """A opens a channel with B (and B deposits, when its key is given); both wallets record it."""
    c = StateChannelClient(w3, contract)
    b_address = b if isinstance(b, str) else b.address
    channel_id, _ = c.open(a, b_address, window, deposit_a)
    if deposit_b:
        if isinstance(b, str):
            raise InputError("B's deposit needs B's key")
        c.deposit(b, channel_id, deposit_b)
    entry = {
        "chain_id": int(w3.eth.chain_id),
        "contract": address_hex(contract),
        "channel_id": channel_id,
        "a": a.address,
        "b": address_hex(b_address),
        "deposit_a": str(deposit_a),
        "deposit_b": str(deposit_b),
        "window": window,
        "states": [],
    }
    for owner in (a.address, b_address):
        wallet = Wallet(wallets, owner)
        wallet.put_state_channel(dict(entry))
        wallet.save()
    return entry


def pay_state_channel(  # noqa: PLR0917
    w3: Web3,
    contract: str,
    channel_id: int,
    payer: LocalAccount,
    payee: LocalAccount,
    amount: int,
    wallets: Path,
) -> SignedState:
    """``payer`` moves ``amount`` wei to ``payee`` off-chain: a new state of the next nonce, signed
    by both, stored in both wallets."""
    chain_id = int(w3.eth.chain_id)
    wallet = Wallet(wallets, payer.address)
    entry = wallet.state_channel(chain_id, contract, channel_id)
    parties = {entry["a"].lower(), entry["b"].lower()}
    if {payer.address.lower(), payee.address.lower()} != parties:
        raise InputError(
            f"channel {channel_id}: its parties are A {entry['a']} and B {entry['b']}, not "
            f"{payer.address} and {payee.address}"
        )
    latest = states_of(entry)[-1].state
    payer_is_a = payer.address.lower() == entry["a"].lower()
    balance = latest.balance_a if payer_is_a else latest.balance_b
    if amount > balance:
        raise InputError(
            f"channel {channel_id} nonce {latest.nonce}: {payer.address} holds {balance} wei, "
            f"cannot pay {amount}"
        )
    delta = -amount if payer_is_a else amount
    state = ChannelState(
        channel_id, latest.nonce + 1, latest.balance_a + delta, latest.balance_b - delta
    )
    domain = Domain(Kind.STATE, chain_id, address_bytes(address_hex(contract)))
    a, b = (payer, payee) if payer_is_a else (payee, payer)
    signed = SignedState(
        state, eip712.sign(_key(a), domain, state), eip712.sign(_key(b), domain, state)
    )
    for owner in (payer.address, payee.address):
        w = Wallet(wallets, owner)
        e = w.state_channel(chain_id, contract, channel_id)
        e["states"] = [*e.get("states", []), signed.to_json()]
        w.save()
    return signed


def pick_state(
    entry: dict[str, Any], closer: str, *, stale: bool, nonce: int | None
) -> SignedState:
    """The state ``closer`` closes with: the latest, the one of ``nonce``, or with ``stale`` the
    older state that gives ``closer`` the most (the attack), the oldest of those."""
    states = states_of(entry)
    if nonce is not None:
        for s in states:
            if s.state.nonce == nonce:
                return s
        raise InputError(
            f"channel {entry['channel_id']}: no state of nonce {nonce} in the wallet "
            f"(nonces {', '.join(str(s.state.nonce) for s in states)})"
        )
    if not stale:
        return states[-1]
    if len(states) < 2:
        raise InputError(
            f"channel {entry['channel_id']}: --stale needs a newer state than the deposits "
            "(pay first: `watchtower channel pay`)"
        )
    is_a = closer.lower() == entry["a"].lower()
    older = states[:-1]
    return max(
        older, key=lambda s: ((s.state.balance_a if is_a else s.state.balance_b), -s.state.nonce)
    )


def close_state_channel(
    w3: Web3, contract: str, closer: LocalAccount, signed: SignedState
) -> ChannelClosing:
    """``close`` with ``signed``: its ChannelClosing event."""
    c = StateChannelClient(w3, contract)
    receipt = c.close(closer, signed.state, signed.sig_a, signed.sig_b)
    return _only(c.receipt_events(receipt), ChannelClosing, "close")


def update_state_channel(  # noqa: PLR0917
    w3: Web3,
    contract: str,
    sender: LocalAccount,
    signed: SignedState,
    reward: Reward | None = None,
    reward_sig: bytes = b"",
) -> ChannelUpdated:
    c = StateChannelClient(w3, contract)
    receipt = c.update(
        sender,
        signed.state,
        signed.sig_a,
        signed.sig_b,
        reward=reward or NO_REWARD,
        reward_sig=reward_sig if reward else b"",
    )
    return _only(c.receipt_events(receipt), ChannelUpdated, "update")


def settle_state_channel(
    w3: Web3, contract: str, sender: LocalAccount, channel_id: int
) -> ChannelSettled:
    c = StateChannelClient(w3, contract)
    return _only(c.receipt_events(c.settle(sender, channel_id)), ChannelSettled, "settle")


# -- payment channel -------------------------------------------------------------------------------


def open_payment_channel(  # noqa: PLR0917
    w3: Web3,
    contract: str,
    sender: LocalAccount,
    recipient: str,
    deposit: int,
    expiration: int,
    wallets: Path,
) -> dict[str, Any]:
    channel_id, _ = PaymentChannelClient(w3, contract).open(sender, recipient, expiration, deposit)
    entry: dict[str, Any] = {
        "chain_id": int(w3.eth.chain_id),
        "contract": address_hex(contract),
        "channel_id": channel_id,
        "sender": sender.address,
        "recipient": address_hex(recipient),
        "deposit": str(deposit),
        "expiration": expiration,
        "amount": "0",
        "signature": "0x",
    }
    for owner in (sender.address, recipient):
        w = Wallet(wallets, owner)
        w.data["payment_channels"][Wallet.key(entry["chain_id"], contract, channel_id)] = entry
        w.save()
    return entry


def payment_entry(wallet: Wallet, chain_id: int, contract: str, channel_id: int) -> dict[str, Any]:
    entry = wallet.data["payment_channels"].get(Wallet.key(chain_id, contract, channel_id))
    if entry is None:
        raise InputError(
            f"payment channel {channel_id} of {address_hex(contract)}: not in the wallet of "
            f"{wallet.owner} ({wallet.path})"
        )
    return cast(dict[str, Any], entry)


def pay_payment_channel(  # noqa: PLR0917
    w3: Web3,
    contract: str,
    channel_id: int,
    sender: LocalAccount,
    amount: int,
    wallets: Path,
) -> tuple[Payment, bytes]:
    """The sender signs a payment ``amount`` wei above the last one (payments are cumulative);
    both wallets keep the latest."""
    chain_id = int(w3.eth.chain_id)
    entry = payment_entry(Wallet(wallets, sender.address), chain_id, contract, channel_id)
    if entry["sender"].lower() != sender.address.lower():
        raise InputError(
            f"payment channel {channel_id}: its sender is {entry['sender']}, not {sender.address}"
        )
    total = int(entry["amount"]) + amount
    if total > int(entry["deposit"]):
        raise InputError(
            f"payment channel {channel_id}: {total} wei in all would exceed the deposit of "
            f"{entry['deposit']} wei"
        )
    payment = Payment(channel_id, total)
    domain = Domain(Kind.PAYMENT, chain_id, address_bytes(address_hex(contract)))
    signature = eip712.sign(_key(sender), domain, payment)
    for owner in (entry["sender"], entry["recipient"]):
        w = Wallet(wallets, owner)
        e = payment_entry(w, chain_id, contract, channel_id)
        e.update(amount=str(total), signature=_hex(signature))
        w.save()
    return payment, signature


def claim_payment_channel(  # noqa: PLR0917
    w3: Web3,
    contract: str,
    sender: LocalAccount,
    payment: Payment,
    signature: bytes,
    reward: Reward | None = None,
    reward_sig: bytes = b"",
) -> PaymentChannelClaimed:
    c = PaymentChannelClient(w3, contract)
    receipt = c.claim(sender, payment, signature, reward=reward or NO_REWARD, reward_sig=reward_sig)
    return _only(c.receipt_events(receipt), PaymentChannelClaimed, "claim")


def reclaim_payment_channel(
    w3: Web3, contract: str, sender: LocalAccount, channel_id: int
) -> TxReceipt:
    receipt: TxReceipt = PaymentChannelClient(w3, contract).reclaim(sender, channel_id)
    return receipt


# -- chequebook ------------------------------------------------------------------------------------


def issue_cheque(  # noqa: PLR0917
    w3: Web3,
    chequebook: str,
    issuer: LocalAccount,
    beneficiary: str,
    amount: int,
    wallets: Path,
) -> tuple[Cheque, bytes]:
    """The issuer signs a cheque ``amount`` wei above the last one to ``beneficiary``
    (cheques are cumulative); both wallets keep the latest."""
    chain_id = int(w3.eth.chain_id)
    key = Wallet.key(chain_id, chequebook, address_hex(beneficiary))
    wallet = Wallet(wallets, issuer.address)
    last = wallet.data["cheques"].get(key)
    paid = int(
        contract_at(w3, Kind.CHEQUE, chequebook).functions.paidOut(address_hex(beneficiary)).call()
    )
    total = max(int(last["cumulative_payout"]) if last else 0, paid) + amount
    cheque = Cheque(address_bytes(address_hex(beneficiary)), total)
    domain = Domain(Kind.CHEQUE, chain_id, address_bytes(address_hex(chequebook)))
    signature = eip712.sign(_key(issuer), domain, cheque)
    entry = {
        "chain_id": chain_id,
        "contract": address_hex(chequebook),
        "issuer": issuer.address,
        "beneficiary": address_hex(beneficiary),
        "cumulative_payout": str(total),
        "signature": _hex(signature),
    }
    for owner in (issuer.address, beneficiary):
        w = Wallet(wallets, owner)
        w.data["cheques"][key] = entry
        w.save()
    return cheque, signature


def latest_cheque(
    wallet: Wallet, chain_id: int, chequebook: str, beneficiary: str
) -> tuple[Cheque, bytes]:
    entry = wallet.data["cheques"].get(Wallet.key(chain_id, chequebook, address_hex(beneficiary)))
    if entry is None:
        raise InputError(
            f"no cheque of chequebook {address_hex(chequebook)} for {address_hex(beneficiary)} "
            f"in {wallet.path}: issue one with `watchtower chequebook cheque`"
        )
    cheque = Cheque(address_bytes(entry["beneficiary"]), int(entry["cumulative_payout"]))
    return cheque, unhex(entry["signature"])


def cash_cheque(  # noqa: PLR0917
    w3: Web3,
    chequebook: str,
    sender: LocalAccount,
    cheque: Cheque,
    signature: bytes,
    reward: Reward | None = None,
    reward_sig: bytes = b"",
) -> tuple[ChequeCashed, bool]:
    """Cash ``cheque``: its ChequeCashed event, and whether it bounced."""
    c = ChequebookClient(w3, chequebook)
    receipt = c.cash_cheque(
        sender, cheque, signature, reward=reward or NO_REWARD, reward_sig=reward_sig
    )
    events = c.receipt_events(receipt)
    cashed = _only(events, ChequeCashed, "cash")
    return cashed, any(isinstance(e, ChequeBounced) for e in events)


def chequebook_withdraw(
    w3: Web3, chequebook: str, issuer: LocalAccount, amount: int | None
) -> tuple[int, int]:
    """The issuer takes ``amount`` (default: the whole liquid balance) out, and is paid it;
    (taken, liquid balance left)."""
    c = ChequebookClient(w3, chequebook)
    take = c.liquid_balance() if amount is None else amount
    if take == 0:
        raise InputError(f"chequebook {address_hex(chequebook)}: nothing to withdraw (liquid 0)")
    c.issuer_withdraw(issuer, take)
    c.withdraw(issuer)
    return take, int(c.liquid_balance())
