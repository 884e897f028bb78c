"""The development commands of the channel schemes (docs/channels.md): ``channel-devnet``, the
``channel``, ``payment-channel`` and ``chequebook`` groups, and ``channel-demo``.

Registered through the ``watchtower.commands`` entry-point group (dev/pyproject.toml). Heavy
imports stay inside the commands so that ``watchtower --help`` answers instantly.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.table import Table

from watchtower.cli import _err, _Group, _http_url, _out
from watchtower.errors import InputError, WatchtowerError

_F = TypeVar("_F", bound=Callable[..., Any])

_WALLETS_HELP = (
    "Directory of the parties' wallets (one JSON file per address: the signed states, "
    "payments and cheques)."
)


# -- shared options and helpers --------------------------------------------------------------------


def _chain_options(contract_help: str) -> Callable[[_F], _F]:
    def decorate(f: _F) -> _F:
        f = click.option(
            "--wallets",
            type=click.Path(path_type=Path, file_okay=False),
            default=Path("channel-wallets"),
            show_default=True,
            help=_WALLETS_HELP,
        )(f)
        f = click.option("--contract", required=True, help=contract_help)(f)
        return click.option(
            "--l1-rpc", required=True, callback=_http_url, help="JSON-RPC URL of the L1 node."
        )(f)

    return decorate


def _reward_options(f: _F) -> _F:
    f = click.option(
        "--request",
        "request_path",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Write the monitoring request (JSON for `watchtower channels submit`) here.",
    )(f)
    f = click.option("--guardian", help="The guardian's address (the reward's monitor).")(f)
    return click.option(
        "--reward",
        help="Ether the user offers the guardian, paid only if it acts (needs --guardian).",
    )(f)


def _account(env: str | None, option: str = "--key-env") -> Any:
    from eth_account import Account

    if env is None:
        raise InputError(f"no key: give {option} VAR (`watchtower channel-devnet` prints them)")
    value = os.environ.get(env)
    if not value:
        raise InputError(f"{option} {env}: the environment variable ${env} is not set")
    try:
        return Account.from_key(value.strip())
    except Exception:
        raise InputError(f"{option} {env}: ${env} is not a hex private key") from None


def _web3(l1_rpc: str) -> Any:
    from web3 import HTTPProvider, Web3

    from watchtower.l1.instrumented import endpoint_label

    w3 = Web3(HTTPProvider(l1_rpc, request_kwargs={"timeout": 30}))
    try:
        connected = w3.is_connected()
    except Exception:
        connected = False
    if not connected:
        raise InputError(f"cannot reach the L1 node at {endpoint_label(l1_rpc)}")
    return w3


def _contract(w3: Any, address: str, kind: Any, option: str = "--contract") -> str:
    from web3 import Web3

    from watchtower_dev.channels import CONTRACT_NAMES

    if not Web3.is_address(address):
        raise InputError(f"{option} {address!r} is not an address (0x and 40 hex digits)")
    checksummed = str(Web3.to_checksum_address(address))
    if not w3.eth.get_code(checksummed):
        raise InputError(
            f"{option} {checksummed}: no contract there (a {CONTRACT_NAMES[kind]}: see "
            "`watchtower channel-devnet`)"
        )
    return checksummed


def _address(text: str, option: str) -> str:
    from watchtower_dev.channels import address_hex
    from watchtower_dev.users import parse_address

    return address_hex(parse_address(text, option))


def _wei(text: str | None, option: str) -> int:
    from watchtower_dev.users import parse_ether

    return 0 if text is None else parse_ether(text, option)


def _eth(wei: int) -> str:
    from watchtower_dev.users import eth

    return eth(wei)


def _reward(reward: str | None, guardian: str | None) -> tuple[int, str | None]:
    wei = _wei(reward, "--reward")
    if wei and guardian is None:
        raise InputError("--reward needs --guardian (the address that may earn it)")
    return wei, (_address(guardian, "--guardian") if guardian is not None else None)


def _tx(action: Callable[[], Any]) -> Any:
    """Run an L1 action; a revert becomes one line naming the action and the reason."""
    from watchtower.l1.rollup import L1TransactionError

    try:
        return action()
    except L1TransactionError as exc:
        hint = ""
        if "window" in exc.reason or "expir" in exc.reason:
            hint = " (`watchtower mine --seconds N` moves a devnet's clock on)"
        raise InputError(f"{exc.action}: {exc.reason}{hint}") from None


def _checksum(address: bytes) -> str:
    from watchtower_dev.channels import address_hex

    return address_hex(address)


def _write_request(path: Path | None, request: Any, who: str) -> None:
    from watchtower_dev.channels import write_request

    if path is None:
        return
    write_request(path, request)
    reward = request.reward
    offer = (
        f" with a reward of {_eth(reward.amount)} for {_checksum(reward.monitor)}"
        if reward is not None
        else " (no reward)"
    )
    _out.print(
        f"monitoring request for {who}{offer} written to {path}: hand it to the guardian with "
        f"`watchtower channels submit {path}`",
        markup=False,
    )


# -- channel-devnet --------------------------------------------------------------------------------


@click.command("channel-devnet")
@click.option(
    "--l1",
    type=click.Choice(["embedded", "anvil"]),
    default="anvil",
    show_default=True,
    help="anvil: a node from node_modules (stopped on exit unless --keep-running); embedded: "
    "in-process (deploys and exits: a smoke test).",
)
@click.option(
    "--l1-rpc",
    callback=_http_url,
    help="Deploy on this running development node (anvil) instead of starting one.",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("channel-devnet"),
    show_default=True,
    help="Where the env file (DATA_DIR/env) and the wallets (DATA_DIR/wallets) go.",
)
@click.option("--keep-running", is_flag=True, help="Keep the anvil it started until Ctrl-C.")
def channel_devnet(l1: str, l1_rpc: str | None, data_dir: Path, keep_running: bool) -> None:
    """Deploy the channel contracts on a development chain: StateChannel, PaymentChannel and a
    Chequebook whose issuer is Alice (10 ether in it), and fund three development keys
    (public: devnets only) with 100 ether each: ALICE, BOB (the two parties) and GUARDIAN.

    It writes DATA_DIR/env, shell `export` lines of L1_RPC, CHAIN_ID, STATE_CHANNEL,
    PAYMENT_CHANNEL, CHEQUEBOOK, CHANNEL_WALLETS, ALICE_KEY, BOB_KEY, GUARDIAN_KEY and their
    *_ADDRESS, GUARDIAN_URL, and (before it) DATA_DIR/guardian.toml, the configuration of a
    `watchtower run` guarding the three contracts (intake API at GUARDIAN_URL: 127.0.0.1:9110,
    or a free port when that one is taken; bearer token in $GUARD_TOKEN). With
    --l1-rpc it deploys on that node (say, a rollup devnet's anvil: one
    watchtower then guards both) and exits; with --l1 anvil --keep-running it starts anvil and
    keeps it until Ctrl-C or SIGTERM.

    \b
    Examples:
      watchtower channel-devnet --keep-running --data-dir chdev &     then: . chdev/env
      watchtower channel-devnet --l1-rpc http://127.0.0.1:8545 --data-dir chdev
      watchtower channel-devnet --l1 embedded
    """
    from watchtower_dev.chain import embedded_web3, start_anvil
    from watchtower_dev.channels import (
        ENV_FILE,
        GUARDIAN_CONFIG,
        GUARDIAN_TOKEN_ENV,
        deploy_channel_devnet,
        guardian_api,
        write_guardian_config,
    )

    if keep_running and (l1 != "anvil" or l1_rpc is not None):
        raise InputError(
            "--keep-running is for the anvil this command starts (--l1 anvil, no --l1-rpc)"
        )
    node = None
    try:
        if l1_rpc is not None:
            w3, url = _web3(l1_rpc), l1_rpc
        elif l1 == "anvil":
            node = start_anvil()
            w3, url = node.web3(), node.url
        else:
            w3, url = embedded_web3(), ""
        try:
            net = deploy_channel_devnet(w3, url)
        except WatchtowerError:
            raise
        except Exception as exc:
            problem = " ".join(str(exc).split())[:200]
            raise InputError(
                f"cannot deploy on the L1 node{' at ' + url if url else ''} (a development "
                f"chain with a funded unlocked account is needed): {problem}"
            ) from None
        _out.print(f"L1 {url or 'embedded'} (chain {net.chain_id})", markup=False)
        for label, address in (
            ("StateChannel", net.state_channel),
            ("PaymentChannel", net.payment_channel),
            ("Chequebook (issuer Alice)", net.chequebook),
        ):
            _out.print(f"{label}: {address}", markup=False)
        for role, account in (("ALICE", net.alice), ("BOB", net.bob), ("GUARDIAN", net.guardian)):
            _out.print(
                f"funded {role.lower()} {account.address} (public devnet key: "
                f"{role}_KEY=0x{bytes(account.key).hex()})",
                markup=False,
            )
        if url and node is not None and not keep_running:
            _out.print(
                "anvil stops now: --keep-running keeps it (and writes DATA_DIR/env), or give "
                "--l1-rpc a running node",
                markup=False,
            )
        elif url:
            api = guardian_api()
            try:
                data_dir.mkdir(parents=True, exist_ok=True)
                config = write_guardian_config(net, data_dir / GUARDIAN_CONFIG, api)
                env = net.write_env(data_dir / ENV_FILE, data_dir / "wallets", api)  # the last
            except OSError as exc:
                raise InputError(f"--data-dir {data_dir}: {exc.strerror or exc}") from None
            _out.print(
                f"a guardian of these contracts: `watchtower run --config {config} --l1-rpc "
                f"{url} --key-env GUARDIAN_KEY` (intake API on {api}, token in "
                f"${GUARDIAN_TOKEN_ENV})",
                markup=False,
            )
            _out.print(f"walk-through variables in {env}: `. {env}`", markup=False)
        if keep_running:
            _keep_running()
    finally:
        if node is not None:
            node.stop()


def _keep_running() -> None:
    import signal
    import time

    def stop(_signum: int, _frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    _out.print("anvil running; Ctrl-C to stop")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        _out.print("stopped")
    finally:
        signal.signal(signal.SIGTERM, previous)


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
    from watchtower_dev.channels import open_state_channel

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
    from watchtower_dev.channels import make_request, pay_state_channel

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
    from watchtower_dev.channels import Wallet, close_state_channel, now, pick_state, states_of

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
    from watchtower_dev.channels import SignedState, address_hex, update_state_channel

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
    from watchtower_dev.channels import settle_state_channel

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


def _withdraw(l1_rpc: str, contract: str, kind: Any, key_env: str | None) -> None:
    from watchtower_dev.channels import withdraw_owed

    account = _account(key_env)
    w3 = _web3(l1_rpc)
    address = _contract(w3, contract, kind)
    paid = _tx(lambda: withdraw_owed(w3, kind, address, account))
    if paid == 0:
        _out.print(f"nothing owed to {account.address} by {address}", markup=False)
    else:
        _out.print(f"paid {_eth(paid)} to {account.address} from {address}", markup=False)


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
    from watchtower_dev.channels import now, open_payment_channel

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
    from watchtower_dev.channels import make_request, pay_payment_channel

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
    from watchtower_dev.channels import (
        Wallet,
        claim_payment_channel,
        payment_entry,
        unhex,
        withdraw_owed,
    )

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
        paid = _tx(lambda: withdraw_owed(w3, Kind.PAYMENT, address, recipient))
        _out.print(f"paid {_eth(paid)} to {recipient.address}", markup=False)


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
    from watchtower_dev.channels import reclaim_payment_channel, withdraw_owed

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
        paid = _tx(lambda: withdraw_owed(w3, Kind.PAYMENT, address, sender))
        _out.print(f"paid {_eth(paid)} to {sender.address}", markup=False)


# -- chequebook ------------------------------------------------------------------------------------


@click.group(cls=_Group)
def chequebook() -> None:
    """A chequebook (Chequebook, docs/channels.md §4): the issuer signs cumulative cheques,
    beneficiaries (or a guardian) cash them, and the issuer can withdraw at any time (the risk).

    \b
    Examples:
      watchtower chequebook cheque --l1-rpc "$L1_RPC" --contract "$CHEQUEBOOK" \\
          --key-env ALICE_KEY --to "$BOB_ADDRESS" --amount 2
    """


_CHEQUEBOOK = "Address of the Chequebook ($CHEQUEBOOK of a channel-devnet, or `chequebook deploy`)."


@chequebook.command("deploy")
@click.option("--l1-rpc", required=True, callback=_http_url, help="JSON-RPC URL of the L1 node.")
@click.option("--key-env", help="Environment variable holding the issuer's key (it deploys).")
@click.option("--deposit", "deposit_eth", required=True, help="Ether it starts with.")
def chequebook_deploy(*, l1_rpc: str, key_env: str | None, deposit_eth: str) -> None:
    """Deploy a chequebook for an issuer, with an opening balance.

    \b
    Examples:
      watchtower chequebook deploy --l1-rpc "$L1_RPC" --key-env ALICE_KEY --deposit 10
    """
    from watchtower.l1.channels import ChequebookClient

    wei = _wei(deposit_eth, "--deposit")
    issuer = _account(key_env)
    w3 = _web3(l1_rpc)
    try:
        address = ChequebookClient.deploy(w3, issuer, issuer.address, wei).address
    except WatchtowerError:
        raise
    except Exception as exc:
        problem = " ".join(str(exc).split())[:200]
        raise InputError(f"cannot deploy the chequebook of {issuer.address}: {problem}") from None
    _out.print(
        f"chequebook {address} deployed for issuer {issuer.address} with {_eth(wei)}", markup=False
    )


@chequebook.command("cheque")
@_chain_options(_CHEQUEBOOK)
@click.option("--key-env", help="Environment variable holding the issuer's key.")
@click.option("--to", "beneficiary", required=True, help="The beneficiary's address.")
@click.option("--amount", required=True, help="Ether to add to the beneficiary's cheque.")
@click.option("--beneficiary-key-env", help="The beneficiary's key: signs the reward offer.")
@_reward_options
def chequebook_cheque(
    *,
    l1_rpc: str,
    contract: str,
    wallets: Path,
    key_env: str | None,
    beneficiary: str,
    amount: str,
    beneficiary_key_env: str | None,
    reward: str | None,
    guardian: str | None,
    request_path: Path | None,
) -> None:
    """The issuer signs a cheque --amount above the beneficiary's last one (cheques are
    cumulative); --request writes the beneficiary's monitoring request.

    \b
    Examples:
      watchtower chequebook cheque --l1-rpc "$L1_RPC" --contract "$CHEQUEBOOK" \\
          --key-env ALICE_KEY --to "$BOB_ADDRESS" --amount 2
      watchtower chequebook cheque --l1-rpc "$L1_RPC" --contract "$CHEQUEBOOK" \\
          --key-env ALICE_KEY --to "$BOB_ADDRESS" --amount 2 --beneficiary-key-env BOB_KEY \\
          --reward 0.01 --guardian "$GUARDIAN_ADDRESS" --request bob-cheque.json
    """
    from watchtower.channels.types import Kind
    from watchtower_dev.channels import issue_cheque, make_request

    wei = _wei(amount, "--amount")
    to = _address(beneficiary, "--to")
    reward_wei, monitor = _reward(reward, guardian)
    if reward_wei and beneficiary_key_env is None:
        raise InputError("--reward needs the beneficiary's key (--beneficiary-key-env) to sign it")
    issuer = _account(key_env)
    user = _account(beneficiary_key_env, "--beneficiary-key-env") if beneficiary_key_env else None
    if user is not None and user.address != to:
        raise InputError(f"--beneficiary-key-env is the key of {user.address}, not of --to {to}")
    w3 = _web3(l1_rpc)
    address = _contract(w3, contract, Kind.CHEQUE)
    cheque, signature = issue_cheque(w3, address, issuer, to, wei, wallets)
    _out.print(
        f"cheque of {address} for {to}: {_eth(cheque.cumulative_payout)} in all (+{_eth(wei)}), "
        f"signed by {issuer.address}",
        markup=False,
    )
    request = make_request(
        Kind.CHEQUE, int(w3.eth.chain_id), address, cheque, (signature,), user, reward_wei, monitor
    )
    _write_request(request_path, request, to)


@chequebook.command("cash")
@_chain_options(_CHEQUEBOOK)
@click.option("--key-env", help="Environment variable holding the beneficiary's key.")
@click.option("--withdraw", "then_withdraw", is_flag=True, help="Then take what is owed.")
def chequebook_cash(
    *, l1_rpc: str, contract: str, wallets: Path, key_env: str | None, then_withdraw: bool
) -> None:
    """The beneficiary cashes its latest cheque (a cheque the balance cannot cover pays what it
    can: bounced).

    \b
    Examples:
      watchtower chequebook cash --l1-rpc "$L1_RPC" --contract "$CHEQUEBOOK" --key-env BOB_KEY \\
          --withdraw
    """
    from watchtower.channels.types import Kind
    from watchtower_dev.channels import Wallet, cash_cheque, latest_cheque, withdraw_owed

    beneficiary = _account(key_env)
    w3 = _web3(l1_rpc)
    address = _contract(w3, contract, Kind.CHEQUE)
    cheque, signature = latest_cheque(
        Wallet(wallets, beneficiary.address), int(w3.eth.chain_id), address, beneficiary.address
    )
    event, bounced_flag = _tx(lambda: cash_cheque(w3, address, beneficiary, cheque, signature))
    bounced = " (bounced: the chequebook could not cover it)" if bounced_flag else ""
    _out.print(
        f"cheque of {_eth(cheque.cumulative_payout)} cashed: {_eth(event.paid)} paid to "
        f"{beneficiary.address}{bounced}",
        markup=False,
    )
    if then_withdraw:
        paid = _tx(lambda: withdraw_owed(w3, Kind.CHEQUE, address, beneficiary))
        _out.print(f"paid {_eth(paid)} to {beneficiary.address}", markup=False)


@chequebook.command("withdraw")
@_chain_options(_CHEQUEBOOK)
@click.option("--key-env", help="Environment variable holding the issuer's key.")
@click.option("--amount", help="Ether to take out [default: the whole liquid balance: a drain].")
def chequebook_withdraw(
    *, l1_rpc: str, contract: str, wallets: Path, key_env: str | None, amount: str | None
) -> None:
    """The issuer takes money out of its chequebook: by default all of it, leaving the uncashed
    cheques uncovered (what a guardian watching solvency alerts on).

    \b
    Examples:
      watchtower chequebook withdraw --l1-rpc "$L1_RPC" --contract "$CHEQUEBOOK" \\
          --key-env ALICE_KEY
      watchtower chequebook withdraw --l1-rpc "$L1_RPC" --contract "$CHEQUEBOOK" \\
          --key-env ALICE_KEY --amount 1.5
    """
    from watchtower.channels.types import Kind
    from watchtower_dev.channels import chequebook_withdraw as drain

    del wallets
    wei = _wei(amount, "--amount") if amount is not None else None
    issuer = _account(key_env)
    w3 = _web3(l1_rpc)
    address = _contract(w3, contract, Kind.CHEQUE)
    taken, left = _tx(lambda: drain(w3, address, issuer, wei))
    _out.print(
        f"the issuer {issuer.address} took {_eth(taken)} out of {address}; liquid balance left "
        f"{_eth(left)}",
        markup=False,
    )


# -- channel-demo ----------------------------------------------------------------------------------


@click.command("channel-demo")
@click.option(
    "--payments",
    type=click.IntRange(2, 50),
    default=4,
    show_default=True,
    help="Off-chain payments between Alice and Bob before the attack.",
)
@click.option(
    "--window",
    type=click.IntRange(60, 30 * 24 * 3600),
    default=3600,
    show_default=True,
    help="The channel's settlement window in seconds (L1 time; the demo moves it on).",
)
def channel_demo(payments: int, window: int) -> None:
    """The channel watchtower's story in one process: an in-process L1, the StateChannel
    contract, Alice and Bob, and the guardian service. Ends with a summary.

    Alice and Bob open a channel and pay each other off-chain. Bob hands the latest state to
    the guardian with a reward offer and goes offline. Alice closes with an old state in her
    favour; the guardian submits the newer state inside the settlement window; time moves on
    and the channel settles: Bob gets what the latest state gives him, to the wei, and the
    guardian its reward, once.

    \b
    Examples:
      watchtower channel-demo
      watchtower channel-demo --payments 10 --window 600
    """
    from watchtower.log import configure_logging
    from watchtower_dev.demo_channels import run_channel_demo

    configure_logging(json_output=False, level="warning")
    result = run_channel_demo(payments=payments, window=window)
    table = Table(title="watchtower channel demo", title_justify="left", show_header=False)
    for label, value in result.summary_rows():
        table.add_row(label, value)
    _out.print(table)
    if not result.ok:
        raise WatchtowerError("the channel demo did not end as it should: see the table above")
    _err.print(
        "demo finished: the stale close was answered inside the window and Bob was paid in full"
    )
