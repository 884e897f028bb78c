"""The ``channel`` group: the bidirectional state channel (StateChannel, docs/channels.md §2).

The other schemes have their own modules (payment_channel_cli, chequebook_cli), the devnet and
the demo theirs (channel_devnet_cli); what they share is in channel_options.

Registered through the ``watchtower.commands`` entry-point group (dev/pyproject.toml). Heavy
imports stay inside the commands so that ``watchtower --help`` answers instantly.
"""

from __future__ import annotations

from pathlib import Path

import click

from watchtower.cli import _Group, _http_url, _out
from watchtower.errors import InputError, WatchtowerError
from watchtower_dev.channel_options import (
    _account,
    _address,
    _chain_options,
    _checksum,
    _contract,
    _eth,
    _reward,
    _reward_options,
    _tx,
    _web3,
    _wei,
    _withdraw,
    _write_request,
)

# -- channel (the bidirectional state channel) -----------------------------------------------------


@click.group(cls=_Group)
def channel() -> None:
    """A bidirectional state channel between two keys (StateChannel, docs/channels.md §2):
    open, pay off-chain, close (with an old state: the attack), settle, withdraw.

    \b
    Examples:
      . chdev/env
      watchtower channel open --l1-rpc "$L1_RPC" --contract "$STATE_CHANNEL" \\
          --wallets "$CHANNEL_WALLETS" --key-env ALICE_KEY --peer-key-env BOB_KEY \\
          --deposit 5 --peer-deposit 5
    """


_STATE_CONTRACT = "Address of the StateChannel contract ($STATE_CHANNEL of a channel-devnet)."


@channel.command("open")
@_chain_options(_STATE_CONTRACT)
@click.option("--key-env", help="Environment variable holding A's key (A opens).")
@click.option("--peer", help="B's address (when B does not deposit now).")
@click.option("--peer-key-env", help="Environment variable holding B's key (B deposits too).")
@click.option("--deposit", "deposit_eth", required=True, help="A's deposit in ether.")
@click.option("--peer-deposit", "peer_deposit_eth", help="B's deposit in ether.")
@click.option(
    "--window",
    type=click.IntRange(60, 30 * 24 * 3600),
    default=3600,
    show_default=True,
    help="Settlement window in seconds (60 s to 30 days).",
)
def channel_open(
    *,
    l1_rpc: str,
    contract: str,
    wallets: Path,
    key_env: str | None,
    peer: str | None,
    peer_key_env: str | None,
    deposit_eth: str,
    peer_deposit_eth: str | None,
    window: int,
) -> None:
    """A opens a channel with B and deposits; with B's key B deposits too. Both wallets record
    the channel (its nonce-0 state: the deposits).

    \b
    Examples:
      watchtower channel open --l1-rpc "$L1_RPC" --contract "$STATE_CHANNEL" \\
          --key-env ALICE_KEY --peer-key-env BOB_KEY --deposit 5 --peer-deposit 5
      watchtower channel open --l1-rpc http://127.0.0.1:8545 --contract 0x5FbD... \\
          --key-env ALICE_KEY --peer 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 --deposit 1 \\
          --window 600
    """
    from watchtower.channels.types import Kind
    from watchtower_dev.channel_ops import open_state_channel

    deposit_a = _wei(deposit_eth, "--deposit")
    deposit_b = _wei(peer_deposit_eth, "--peer-deposit")
    if (peer is None) == (peer_key_env is None):
        raise InputError("give B as --peer ADDRESS or --peer-key-env VAR (one of them)")
    if deposit_b and peer_key_env is None:
        raise InputError("--peer-deposit needs B's key (--peer-key-env)")
    a = _account(key_env)
    b = _account(peer_key_env, "--peer-key-env") if peer_key_env else _address(peer or "", "--peer")
    w3 = _web3(l1_rpc)
    address = _contract(w3, contract, Kind.STATE)
    entry = _tx(
        lambda: open_state_channel(w3, address, a, b, deposit_a, deposit_b, window, wallets)
    )
    _out.print(
        f"channel {entry['channel_id']} opened on {address}: A {entry['a']} deposited "
        f"{_eth(deposit_a)}, B {entry['b']} deposited {_eth(deposit_b)}; settlement window "
        f"{window} s; wallets in {wallets}",
        markup=False,
    )


@channel.command("pay")
@_chain_options(_STATE_CONTRACT)
@click.option("--channel", "channel_id", type=click.IntRange(0), required=True)
@click.option("--key-env", help="Environment variable holding the payer's key.")
@click.option("--peer-key-env", help="Environment variable holding the payee's key (co-signs).")
@click.option("--amount", required=True, help="Ether the payer moves to the payee.")
@_reward_options
@click.option(
    "--request-for",
    type=click.Choice(["payee", "payer"]),
    default="payee",
    show_default=True,
    help="Whose monitoring request --request writes (its reward is signed by that party).",
)
def channel_pay(
    *,
    l1_rpc: str,
    contract: str,
    wallets: Path,
    channel_id: int,
    key_env: str | None,
    peer_key_env: str | None,
    amount: str,
    reward: str | None,
    guardian: str | None,
    request_path: Path | None,
    request_for: str,
) -> None:
    """Pay off-chain: a new state of the next nonce with --amount moved from the payer to the
    payee, signed by both (EIP-712) and added to both wallets. Nothing is sent to L1.

    With --request it also writes the monitoring request of the new state for the payee (or
    --request-for payer), with a reward offer signed by that party when --reward is given.

    \b
    Examples:
      watchtower channel pay --l1-rpc "$L1_RPC" --contract "$STATE_CHANNEL" --channel 0 \\
          --key-env ALICE_KEY --peer-key-env BOB_KEY --amount 1.5
      watchtower channel pay --l1-rpc "$L1_RPC" --contract "$STATE_CHANNEL" --channel 0 \\
          --key-env ALICE_KEY --peer-key-env BOB_KEY --amount 2 --reward 0.01 \\
          --guardian "$GUARDIAN_ADDRESS" --request bob-request.json
    """
    from watchtower.channels.types import Kind
    from watchtower_dev.channel_ops import pay_state_channel
    from watchtower_dev.channels import make_request

    wei = _wei(amount, "--amount")
    reward_wei, monitor = _reward(reward, guardian)
    payer, payee = _account(key_env), _account(peer_key_env, "--peer-key-env")
    w3 = _web3(l1_rpc)
    address = _contract(w3, contract, Kind.STATE)
    signed = pay_state_channel(w3, address, channel_id, payer, payee, wei, wallets)
    s = signed.state
    _out.print(
        f"channel {channel_id} nonce {s.nonce}: {payer.address} paid {_eth(wei)} to "
        f"{payee.address}; balances A {_eth(s.balance_a)}, B {_eth(s.balance_b)} (signed by "
        "both, in both wallets)",
        markup=False,
    )
    user = payee if request_for == "payee" else payer
    request = make_request(
        Kind.STATE,
        int(w3.eth.chain_id),
        address,
        s,
        (signed.sig_a, signed.sig_b),
        user,
        reward_wei,
        monitor,
    )
    _write_request(request_path, request, user.address)


@channel.command("request")
@_chain_options(_STATE_CONTRACT)
@click.option("--channel", "channel_id", type=click.IntRange(0), required=True)
@click.option("--key-env", help="Environment variable holding the key of the party to protect.")
@_reward_options
def channel_request(
    *,
    l1_rpc: str,
    contract: str,
    wallets: Path,
    channel_id: int,
    key_env: str | None,
    reward: str | None,
    guardian: str | None,
    request_path: Path | None,
) -> None:
    """Write the monitoring request of the latest state in a party's wallet (what it hands the
    guardian before going offline), with its reward offer.

    \b
    Examples:
      watchtower channel request --l1-rpc "$L1_RPC" --contract "$STATE_CHANNEL" --channel 0 \\
          --key-env BOB_KEY --reward 0.01 --guardian "$GUARDIAN_ADDRESS" --request bob.json
    """
    from watchtower.channels.types import Kind
    from watchtower_dev.channels import Wallet, make_request, states_of

    if request_path is None:
        raise InputError("--request FILE: where to write the monitoring request")
    reward_wei, monitor = _reward(reward, guardian)
    user = _account(key_env)
    w3 = _web3(l1_rpc)
    address = _contract(w3, contract, Kind.STATE)
    chain_id = int(w3.eth.chain_id)
    latest = states_of(Wallet(wallets, user.address).state_channel(chain_id, address, channel_id))[
        -1
    ]
    if latest.state.nonce == 0:
        raise InputError(
            f"channel {channel_id}: only the deposits (nonce 0) in the wallet: a request needs a "
            "signed state (`watchtower channel pay`)"
        )
    request = make_request(
        Kind.STATE,
        chain_id,
        address,
        latest.state,
        (latest.sig_a, latest.sig_b),
        user,
        reward_wei,
        monitor,
    )
    _write_request(request_path, request, user.address)


@channel.command("close")
@_chain_options(_STATE_CONTRACT)
@click.option("--channel", "channel_id", type=click.IntRange(0), required=True)
@click.option("--key-env", help="Environment variable holding the closing party's key.")
@click.option(
    "--stale",
    is_flag=True,
    help="Close with an old state: the older one that gives the closer the most (the attack).",
)
@click.option("--nonce", type=click.IntRange(0), help="Close with the state of this nonce.")
def channel_close(
    *,
    l1_rpc: str,
    contract: str,
    wallets: Path,
    channel_id: int,
    key_env: str | None,
    stale: bool,
    nonce: int | None,
) -> None:
    """Close unilaterally: the settlement window starts. With the latest state in the closer's
    wallet, or (--stale, --nonce) an older one: the attack a guardian answers with `update`.

    \b
    Examples:
      watchtower channel close --l1-rpc "$L1_RPC" --contract "$STATE_CHANNEL" --channel 0 \\
          --key-env ALICE_KEY --stale
      watchtower channel close --l1-rpc "$L1_RPC" --contract "$STATE_CHANNEL" --channel 0 \\
          --key-env BOB_KEY --nonce 0
    """
    from watchtower.channels.types import Kind
    from watchtower_dev.channel_ops import close_state_channel, pick_state
    from watchtower_dev.channels import Wallet, now, states_of

    if stale and nonce is not None:
        raise InputError("give --stale or --nonce, not both")
    closer = _account(key_env)
    w3 = _web3(l1_rpc)
    address = _contract(w3, contract, Kind.STATE)
    entry = Wallet(wallets, closer.address).state_channel(int(w3.eth.chain_id), address, channel_id)
    signed = pick_state(entry, closer.address, stale=stale, nonce=nonce)
    latest = states_of(entry)[-1].state.nonce
    event = _tx(lambda: close_state_channel(w3, address, closer, signed))
    s = signed.state
    verdict = (
        f"a stale close: the latest state is nonce {latest}" if s.nonce < latest else "the latest"
    )
    _out.print(
        f"channel {channel_id} closing by {closer.address} with nonce {s.nonce} (A "
        f"{_eth(s.balance_a)}, B {_eth(s.balance_b)}; {verdict}); settle after L1 time "
        f"{event.deadline} ({max(event.deadline - now(w3), 0)} s from now)",
        markup=False,
    )


@channel.command("update")
@click.option("--l1-rpc", required=True, callback=_http_url, help="JSON-RPC URL of the L1 node.")
@click.option(
    "--request",
    "request_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="A monitoring request of kind state (what `channel pay --request` writes).",
)
@click.option("--key-env", help="Environment variable holding the sender's key (anyone).")
def channel_update(*, l1_rpc: str, request_path: Path, key_env: str | None) -> None:
    """Answer a close with the newer state of a monitoring request, by hand: what the guardian
    does (`update`, with the request's reward when the sender is its monitor).

    \b
    Examples:
      watchtower channel update --l1-rpc "$L1_RPC" --request bob.json --key-env GUARDIAN_KEY
    """
    from watchtower.channels import codec
    from watchtower.channels.types import ChannelState, Kind
    from watchtower_dev.channel_ops import update_state_channel
    from watchtower_dev.channels import SignedState, address_hex

    try:
        request = codec.loads(request_path.read_bytes())
    except OSError as exc:
        raise InputError(f"--request {request_path}: cannot read ({exc.strerror})") from None
    except WatchtowerError as exc:
        raise InputError(f"--request {request_path}: {exc}") from None
    if request.kind is not Kind.STATE or not isinstance(request.message, ChannelState):
        raise InputError(f"--request {request_path}: a {request.kind.value} request, not a state")
    sender = _account(key_env)
    w3 = _web3(l1_rpc)
    address = _contract(w3, address_hex(request.contract), Kind.STATE, "the request's contract")
    reward = request.reward
    if reward is not None and address_hex(reward.monitor) != sender.address:
        reward = None  # only its monitor can carry it
    signed = SignedState(request.message, *request.signatures)
    event = _tx(
        lambda: update_state_channel(
            w3, address, sender, signed, reward, request.reward_signature if reward else b""
        )
    )
    _out.print(
        f"channel {request.message.channel_id} updated to nonce {event.nonce} by "
        f"{sender.address} (A {_eth(event.balance_a)}, B {_eth(event.balance_b)}; "
        f"reward {_eth(event.reward)})",
        markup=False,
    )


@channel.command("settle")
@_chain_options(_STATE_CONTRACT)
@click.option("--channel", "channel_id", type=click.IntRange(0), required=True)
@click.option("--key-env", help="Environment variable holding the sender's key (anyone).")
def channel_settle(
    *, l1_rpc: str, contract: str, wallets: Path, channel_id: int, key_env: str | None
) -> None:
    """Settle a closing channel once its window is over: the stored state's balances (and the
    guardian's reward, if an update carried one) become owed; `channel withdraw` pays them.

    \b
    Examples:
      watchtower mine --l1-rpc "$L1_RPC" --seconds 3700
      watchtower channel settle --l1-rpc "$L1_RPC" --contract "$STATE_CHANNEL" --channel 0 \\
          --key-env BOB_KEY
    """
    from watchtower.channels.types import Kind
    from watchtower_dev.channel_ops import settle_state_channel

    del wallets
    sender = _account(key_env)
    w3 = _web3(l1_rpc)
    address = _contract(w3, contract, Kind.STATE)
    event = _tx(lambda: settle_state_channel(w3, address, sender, channel_id))
    reward = event.reward
    paid = f"; reward {_eth(reward)} to {_checksum(event.monitor)}" if reward else "; no reward"
    _out.print(
        f"channel {channel_id} settled in L1 block {event.block_number}: "
        f"A {_eth(event.balance_a)}, B {_eth(event.balance_b)}{paid}",
        markup=False,
    )


@channel.command("withdraw")
@_chain_options(_STATE_CONTRACT)
@click.option("--key-env", help="Environment variable holding the key of the account paid.")
def channel_withdraw(*, l1_rpc: str, contract: str, wallets: Path, key_env: str | None) -> None:
    """Take what the StateChannel contract owes an account (`withdraw()`).

    \b
    Examples:
      watchtower channel withdraw --l1-rpc "$L1_RPC" --contract "$STATE_CHANNEL" \\
          --key-env BOB_KEY
    """
    from watchtower.channels.types import Kind

    del wallets
    _withdraw(l1_rpc, contract, Kind.STATE, key_env)
