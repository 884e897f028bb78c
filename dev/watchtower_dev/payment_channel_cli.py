"""The ``payment-channel`` group: the unidirectional payment channel (PaymentChannel,
docs/channels.md §3).

Registered through the ``watchtower.commands`` entry-point group (dev/pyproject.toml). Heavy
imports stay inside the commands so that ``watchtower --help`` answers instantly.
"""

from __future__ import annotations

from pathlib import Path

import click

from watchtower.cli import _Group, _out
from watchtower.errors import InputError
from watchtower_dev.channel_options import (
    _account,
    _address,
    _chain_options,
    _contract,
    _eth,
    _reward,
    _reward_options,
    _then_withdraw,
    _tx,
    _web3,
    _wei,
    _write_request,
)

# -- payment-channel -------------------------------------------------------------------------------


@click.group("payment-channel", cls=_Group)
def payment_channel() -> None:
    """A unidirectional payment channel (PaymentChannel, docs/channels.md §3): the sender
    deposits and signs cumulative payments; the recipient (or a guardian) claims before
    expiration, or the sender reclaims everything after it.

    \b
    Examples:
      watchtower payment-channel open --l1-rpc "$L1_RPC" --contract "$PAYMENT_CHANNEL" \\
          --key-env ALICE_KEY --to "$BOB_ADDRESS" --deposit 3 --expires-in 7200
    """


_PAYMENT_CONTRACT = "Address of the PaymentChannel contract ($PAYMENT_CHANNEL of a channel-devnet)."


@payment_channel.command("open")
@_chain_options(_PAYMENT_CONTRACT)
@click.option("--key-env", help="Environment variable holding the sender's key.")
@click.option("--to", "recipient", required=True, help="The recipient's address.")
@click.option("--deposit", "deposit_eth", required=True, help="The deposit in ether.")
@click.option(
    "--expires-in",
    type=click.IntRange(1),
    default=3 * 3600,
    show_default=True,
    help="Seconds from now (L1 time) until the sender may reclaim.",
)
def payment_open(
    *,
    l1_rpc: str,
    contract: str,
    wallets: Path,
    key_env: str | None,
    recipient: str,
    deposit_eth: str,
    expires_in: int,
) -> None:
    """The sender opens a payment channel to the recipient with a deposit.

    \b
    Examples:
      watchtower payment-channel open --l1-rpc "$L1_RPC" --contract "$PAYMENT_CHANNEL" \\
          --key-env ALICE_KEY --to "$BOB_ADDRESS" --deposit 3 --expires-in 7200
    """
    from watchtower.channels.types import Kind
    from watchtower_dev.channel_ops import open_payment_channel
    from watchtower_dev.channels import now

    wei = _wei(deposit_eth, "--deposit")
    to = _address(recipient, "--to")
    sender = _account(key_env)
    w3 = _web3(l1_rpc)
    address = _contract(w3, contract, Kind.PAYMENT)
    expiration = now(w3) + expires_in
    entry = _tx(lambda: open_payment_channel(w3, address, sender, to, wei, expiration, wallets))
    _out.print(
        f"payment channel {entry['channel_id']} opened on {address}: {sender.address} -> {to}, "
        f"deposit {_eth(wei)}, expires at L1 time {expiration}",
        markup=False,
    )


@payment_channel.command("pay")
@_chain_options(_PAYMENT_CONTRACT)
@click.option("--channel", "channel_id", type=click.IntRange(0), required=True)
@click.option("--key-env", help="Environment variable holding the sender's key.")
@click.option("--amount", required=True, help="Ether to add to the cumulative payment.")
@click.option("--recipient-key-env", help="The recipient's key: signs the reward offer.")
@_reward_options
def payment_pay(
    *,
    l1_rpc: str,
    contract: str,
    wallets: Path,
    channel_id: int,
    key_env: str | None,
    amount: str,
    recipient_key_env: str | None,
    reward: str | None,
    guardian: str | None,
    request_path: Path | None,
) -> None:
    """The sender signs a payment --amount above the last one (payments are cumulative: the
    recipient keeps only the latest); --request writes the recipient's monitoring request.

    \b
    Examples:
      watchtower payment-channel pay --l1-rpc "$L1_RPC" --contract "$PAYMENT_CHANNEL" \\
          --channel 0 --key-env ALICE_KEY --amount 0.5
      watchtower payment-channel pay --l1-rpc "$L1_RPC" --contract "$PAYMENT_CHANNEL" \\
          --channel 0 --key-env ALICE_KEY --amount 0.5 --recipient-key-env BOB_KEY \\
          --reward 0.01 --guardian "$GUARDIAN_ADDRESS" --request bob-payment.json
    """
    from watchtower.channels.types import Kind
    from watchtower_dev.channel_ops import pay_payment_channel
    from watchtower_dev.channels import make_request

    wei = _wei(amount, "--amount")
    reward_wei, monitor = _reward(reward, guardian)
    if reward_wei and recipient_key_env is None:
        raise InputError("--reward needs the recipient's key (--recipient-key-env) to sign it")
    sender = _account(key_env)
    recipient = _account(recipient_key_env, "--recipient-key-env") if recipient_key_env else None
    w3 = _web3(l1_rpc)
    address = _contract(w3, contract, Kind.PAYMENT)
    payment, signature = pay_payment_channel(w3, address, channel_id, sender, wei, wallets)
    _out.print(
        f"payment channel {channel_id}: {sender.address} signed a payment of "
        f"{_eth(payment.amount)} in all (+{_eth(wei)})",
        markup=False,
    )
    request = make_request(
        Kind.PAYMENT,
        int(w3.eth.chain_id),
        address,
        payment,
        (signature,),
        recipient,
        reward_wei,
        monitor,
    )
    _write_request(request_path, request, "the recipient")


@payment_channel.command("claim")
@_chain_options(_PAYMENT_CONTRACT)
@click.option("--channel", "channel_id", type=click.IntRange(0), required=True)
@click.option("--key-env", help="Environment variable holding the recipient's key.")
@click.option("--withdraw", "then_withdraw", is_flag=True, help="Then take what is owed.")
def payment_claim(
    *,
    l1_rpc: str,
    contract: str,
    wallets: Path,
    channel_id: int,
    key_env: str | None,
    then_withdraw: bool,
) -> None:
    """The recipient claims its latest payment before expiration (the rest goes back to the
    sender; the channel closes).

    \b
    Examples:
      watchtower payment-channel claim --l1-rpc "$L1_RPC" --contract "$PAYMENT_CHANNEL" \\
          --channel 0 --key-env BOB_KEY --withdraw
    """
    from watchtower.channels.types import Kind, Payment
    from watchtower_dev.channel_ops import claim_payment_channel, payment_entry
    from watchtower_dev.channels import Wallet, unhex

    recipient = _account(key_env)
    w3 = _web3(l1_rpc)
    address = _contract(w3, contract, Kind.PAYMENT)
    entry = payment_entry(
        Wallet(wallets, recipient.address), int(w3.eth.chain_id), address, channel_id
    )
    if int(entry["amount"]) == 0:
        raise InputError(f"payment channel {channel_id}: no payment in the wallet to claim")
    payment = Payment(channel_id, int(entry["amount"]))
    event = _tx(
        lambda: claim_payment_channel(w3, address, recipient, payment, unhex(entry["signature"]))
    )
    _out.print(
        f"payment channel {channel_id} claimed with its payment of {_eth(event.amount)} for "
        "the recipient",
        markup=False,
    )
    if then_withdraw:
        _then_withdraw(w3, Kind.PAYMENT, address, recipient)


@payment_channel.command("reclaim")
@_chain_options(_PAYMENT_CONTRACT)
@click.option("--channel", "channel_id", type=click.IntRange(0), required=True)
@click.option("--key-env", help="Environment variable holding the sender's key.")
@click.option("--withdraw", "then_withdraw", is_flag=True, help="Then take what is owed.")
def payment_reclaim(
    *,
    l1_rpc: str,
    contract: str,
    wallets: Path,
    channel_id: int,
    key_env: str | None,
    then_withdraw: bool,
) -> None:
    """The sender takes the whole deposit back once the channel has expired (if nobody claimed
    it first: what a guardian prevents for an offline recipient).

    \b
    Examples:
      watchtower mine --l1-rpc "$L1_RPC" --seconds 7300
      watchtower payment-channel reclaim --l1-rpc "$L1_RPC" --contract "$PAYMENT_CHANNEL" \\
          --channel 0 --key-env ALICE_KEY --withdraw
    """
    from watchtower.channels.types import Kind
    from watchtower_dev.channel_ops import reclaim_payment_channel

    del wallets
    sender = _account(key_env)
    w3 = _web3(l1_rpc)
    address = _contract(w3, contract, Kind.PAYMENT)
    receipt = _tx(lambda: reclaim_payment_channel(w3, address, sender, channel_id))
    _out.print(
        f"payment channel {channel_id} reclaimed by {sender.address} in L1 block "
        f"{receipt['blockNumber']}",
        markup=False,
    )
    if then_withdraw:
        _then_withdraw(w3, Kind.PAYMENT, address, sender)
