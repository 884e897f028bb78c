"""What the channel development commands share (docs/channels.md): the chain options (--l1-rpc,
--contract, --wallets), the reward options, the key, address and ether parsing, the L1
connection, running a transaction, writing a monitoring request and withdrawing."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from watchtower.cli import _http_url, _out
from watchtower.errors import InputError

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


def _then_withdraw(w3: Any, kind: Any, address: str, account: Any) -> None:
    """``--withdraw`` after an action: take what the contract owes ``account`` now."""
    from watchtower_dev.channels import withdraw_owed

    paid = _tx(lambda: withdraw_owed(w3, kind, address, account))
    _out.print(f"paid {_eth(paid)} to {account.address}", markup=False)


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
