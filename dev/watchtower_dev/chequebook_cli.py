"""The ``chequebook`` group: the chequebook (Chequebook, docs/channels.md).

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
    from watchtower_dev.channel_ops import issue_cheque
    from watchtower_dev.channels import make_request

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
    from watchtower_dev.channel_ops import cash_cheque, latest_cheque
    from watchtower_dev.channels import Wallet

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
        _then_withdraw(w3, Kind.CHEQUE, address, beneficiary)


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
    from watchtower_dev.channel_ops import chequebook_withdraw as drain

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
