"""The users of the bridge: deposit (L1), l2-withdraw (L2), claim (L1).

Registered through the ``watchtower.commands`` entry-point group (dev/pyproject.toml).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from watchtower.cli import _http_url, _open_state_db, _out
from watchtower.errors import InputError
from watchtower_dev.cli_options import (
    _connect,
    _key_options,
    _signer,
)


@click.command()
@click.option("--l1-rpc", required=True, callback=_http_url, help="JSON-RPC URL of the L1 node.")
@click.option("--rollup", "rollup_address", required=True, help="Address of the rollup contract.")
@_key_options("the depositor's")
@click.option("--to", "to", required=True, help="The L2 recipient (an address).")
@click.option("--amount", required=True, help="Ether to deposit, e.g. 1.5.")
def deposit(
    *,
    l1_rpc: str,
    rollup_address: str,
    key_env: str | None,
    keystore: Path | None,
    password_env: str | None,
    password_file: Path | None,
    to: str,
    amount: str,
) -> None:
    """Deposit ether on L1 for an L2 account (the bridge's `deposit`, protocol.md §8.4).

    The deposit joins the L1 queue; the next batch must credit it on L2 (a deposit step) within
    an hour, or the contract refuses every batch until one does. Then `watchtower propose`
    includes it.

    \b
    Examples:
      USER_KEY=0x... watchtower deposit --l1-rpc http://127.0.0.1:8545 \\
          --rollup 0x5FbDB2315678afecb367f032d93F642f64180aa3 --key-env USER_KEY \\
          --to 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 --amount 1.5
    """
    from watchtower.l1.rollup import L1TransactionError
    from watchtower.rollup.params import DEPOSIT_INCLUSION_DELAY
    from watchtower_dev.users import deposit as make_deposit
    from watchtower_dev.users import eth, parse_address, parse_ether

    recipient = parse_address(to, "--to")
    wei = parse_ether(amount)
    sender = _signer(key_env, keystore, password_env, password_file)
    if sender is None:
        raise InputError("no depositor key: give --key-env VAR or --keystore FILE")
    client = _connect(l1_rpc, rollup_address)
    try:
        entry = make_deposit(client, sender, recipient, wei)
    except L1TransactionError as exc:
        raise InputError(f"deposit refused: {exc.reason}") from None
    _out.print(
        f"deposit {entry.index}: {eth(wei)} from {sender.address} to 0x{recipient.hex()} on L2 "
        f"(L1 block {entry.l1_block}); a batch must include it within "
        f"{DEPOSIT_INCLUSION_DELAY} s (by L1 time {entry.l1_timestamp + DEPOSIT_INCLUSION_DELAY})",
        markup=False,
    )
    _out.print(f"bridge balance on L1: {eth(client.bridge_balance())}")


@click.command("l2-withdraw")
@click.option("--l1-rpc", required=True, callback=_http_url, help="JSON-RPC URL of the L1 node.")
@click.option("--rollup", "rollup_address", required=True, help="Address of the rollup contract.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("proposer-data"),
    show_default=True,
    help="The proposer's data directory (`propose --data-dir`, or `devnet --data-dir`).",
)
@_key_options("the withdrawing account's L2")
@click.option("--user", type=click.IntRange(0, 63), help="Sign as devnet user N (no key needed).")
@click.option("--amount", required=True, help="Ether to withdraw, e.g. 1.5.")
def l2_withdraw(
    *,
    l1_rpc: str,
    rollup_address: str,
    data_dir: Path,
    key_env: str | None,
    keystore: Path | None,
    password_env: str | None,
    password_file: Path | None,
    user: int | None,
    amount: str,
) -> None:
    """Withdraw ether from L2: sign a transfer to the bridge address (protocol.md §8.3) and
    hand it to the proposer.

    The signed withdrawal is appended to --data-dir/l2-mempool (one 0x-hex transaction a line),
    which the next `watchtower propose` (or a running `devnet --keep-running`) with that data
    directory includes after the pending deposits. Its nonce is read from the proposer's L2
    state at the contract's tip. Once the batch is final, `watchtower claim` pays it on L1 to
    the same address.

    \b
    Examples:
      USER_KEY=0x... watchtower l2-withdraw --l1-rpc http://127.0.0.1:8545 \\
          --rollup 0x5FbDB2315678afecb367f032d93F642f64180aa3 --data-dir proposer-data \\
          --key-env USER_KEY --amount 0.5
      watchtower l2-withdraw --l1-rpc http://127.0.0.1:8545 --rollup 0x5FbD... --user 3 \\
          --amount 2
    """
    from eth_typing import Address

    from watchtower.execute.state import open_state
    from watchtower.execute.statedb import PendingWrites
    from watchtower.rollup.params import TRANSFER_GAS
    from watchtower.rollup.types import BlockContext
    from watchtower_dev.devnet import proposer_lock, proposer_state_dir
    from watchtower_dev.proposer import DEVNET_COINBASE, L2Mempool, devnet_users, l2_nonce
    from watchtower_dev.txgen import KeyAccount, withdrawal
    from watchtower_dev.users import eth, parse_ether

    wei = parse_ether(amount)
    if user is not None and (key_env or keystore):
        raise InputError("give either --user or a key (--key-env, --keystore), not both")
    signer: Any
    if user is not None:
        signer = devnet_users()[user]
    else:
        account = _signer(key_env, keystore, password_env, password_file)
        if account is None:
            raise InputError("no L2 key: give --key-env VAR, --keystore FILE or --user N")
        signer = KeyAccount.from_hex(account.key.hex())
    state_dir = proposer_state_dir(data_dir)
    if not state_dir.exists():
        raise InputError(f"--data-dir {data_dir}: no proposer state (run `propose` there first)")
    client = _connect(l1_rpc, rollup_address)
    params = client.params()
    with _open_state_db(state_dir, sync=True) as store:
        index, root = client.next_index(), client.tip_root()
        context = BlockContext.of_batch(index, 0, DEVNET_COINBASE, params)
        try:
            balance = open_state(PendingWrites(store), root, context).get_balance(
                Address(signer.address)
            )
        except Exception:
            raise InputError(
                f"--data-dir {data_dir}: the proposer's state has no root 0x{root.hex()} (the "
                "contract's tip): use the data directory of the proposer that built it"
            ) from None
        needed = wei + TRANSFER_GAS * 2 * params.base_fee
        if balance < needed:
            raise InputError(
                f"0x{signer.address.hex()} has {eth(balance)} on L2 at batch {index - 1}: a "
                f"withdrawal of {eth(wei)} needs {eth(needed)} with its fee"
            )
        mempool = L2Mempool.in_dir(data_dir)
        with proposer_lock(data_dir):  # not while a running devnet posts the mempool
            nonce = l2_nonce(client, store, params, mempool, signer.address)
            mempool.add(withdrawal(signer, nonce=nonce, value=wei, chain_id=params.chain_id))
    _out.print(
        f"withdrawal of {eth(wei)} by 0x{signer.address.hex()} waiting in "
        f"{data_dir / L2Mempool.FILENAME}: the next batch of its proposer (`watchtower propose "
        f"--data-dir {data_dir}`, or a running `devnet --keep-running`) includes it; "
        "`watchtower claim` pays it on L1 once that batch is final",
        markup=False,
    )


@click.command()
@click.option("--l1-rpc", required=True, callback=_http_url, help="JSON-RPC URL of the L1 node.")
@click.option("--rollup", "rollup_address", required=True, help="Address of the rollup contract.")
@_key_options("the claim transactions' sender's (it pays the gas)")
@click.option("--account", help="Claim only this account's withdrawals [default: everyone's].")
@click.option(
    "--finalize/--no-finalize",
    default=True,
    show_default=True,
    help="First finalize the batches whose challenge period is over (anyone may).",
)
def claim(
    *,
    l1_rpc: str,
    rollup_address: str,
    key_env: str | None,
    keystore: Path | None,
    password_env: str | None,
    password_file: Path | None,
    account: str | None,
    finalize: bool,
) -> None:
    """Claim on L1 the withdrawals of finalized batches (the bridge's `claimWithdrawal`,
    protocol.md §8.5).

    Reads the accepted batches from their calldata, finds their withdrawals (transfers to the
    bridge address), and claims every one not claimed yet whose batch is final. The value is
    owed to the withdrawal's sender, whoever sends the claim; it takes it with `watchtower
    withdraw`. Withdrawals of batches still in their challenge period are listed with the time
    left.

    \b
    Examples:
      USER_KEY=0x... watchtower claim --l1-rpc http://127.0.0.1:8545 \\
          --rollup 0x5FbDB2315678afecb367f032d93F642f64180aa3 --key-env USER_KEY
      watchtower claim --l1-rpc http://127.0.0.1:8545 --rollup 0x5FbD... --key-env USER_KEY \\
          --account 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 --no-finalize
    """
    from watchtower.l1.rollup import L1TransactionError
    from watchtower_dev.users import claim as make_claims
    from watchtower_dev.users import eth, finalize_due, parse_address

    only = parse_address(account, "--account") if account is not None else None
    sender = _signer(key_env, keystore, password_env, password_file)
    if sender is None:
        raise InputError("no key to send the claims: give --key-env VAR or --keystore FILE")
    client = _connect(l1_rpc, rollup_address)
    try:
        if finalize:
            done = finalize_due(client, sender)
            if done:
                _out.print(f"finalized batches {', '.join(map(str, done))}")
        claims, waiting = make_claims(client, sender, only)
    except L1TransactionError as exc:
        raise InputError(f"{exc.action}: {exc.reason}") from None
    table = Table(title="withdrawals claimed", title_justify="left")
    for column in ("batch", "step", "account", "amount", "l1_block"):
        table.add_column(column)
    for c in claims:
        w = c.withdrawal
        table.add_row(
            str(w.batch), str(w.step), "0x" + w.account.hex(), eth(w.amount), str(c.l1_block)
        )
    if claims:
        _out.print(table)
        total = sum(c.withdrawal.amount for c in claims)
        _out.print(
            f"claimed {len(claims)} withdrawal(s), {eth(total)}: `watchtower withdraw` pays it"
        )
    else:
        _out.print("nothing to claim")
    now = int(client.w3.eth.get_block("latest")["timestamp"])
    for item in waiting:
        w = item.withdrawal
        _out.print(
            f"waiting: {eth(w.amount)} for 0x{w.account.hex()} (batch {w.batch} step {w.step}), "
            f"final in {max(item.deadline - now, 0)} s",
            markup=False,
        )
