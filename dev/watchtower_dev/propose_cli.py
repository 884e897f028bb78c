"""The proposer's development commands: propose (post batches), bond, and mine (advance L1).

Registered through the ``watchtower.commands`` entry-point group (dev/pyproject.toml).
"""

from __future__ import annotations

from pathlib import Path

import click
from eth_account.signers.local import LocalAccount

from watchtower.cli import _http_url, _open_state_db, _out
from watchtower.errors import InputError, WatchtowerError
from watchtower_dev.cli_options import (
    _FAULTS,
    _connect,
    _fault_option,
    _fill_fault_help,
    _key_options,
    _post_batches,
    _print_rows,
    _signer,
)


@click.command()
@click.option("--l1-rpc", required=True, callback=_http_url, help="JSON-RPC URL of the L1 node.")
@click.option("--rollup", "rollup_address", required=True, help="Address of the rollup contract.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("proposer-data"),
    show_default=True,
    help="The proposer's own L2 state (proposer-state), and the L2 mempool (l2-mempool: see "
    "`l2-withdraw`); a running devnet's --data-dir to propose on its rollup, taking turns "
    "with it.",
)
@click.option(
    "--key-env",
    help="Environment variable holding the proposer's hex private key (for a devnet: the "
    "PROPOSER_KEY that `watchtower devnet` prints).",
)
@click.option("--keystore", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--password-env", help="Environment variable holding the keystore password.")
@click.option("--password-file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--batches", type=click.IntRange(1), default=1, show_default=True)
@click.option("--txs", type=click.IntRange(1, 4096), default=10, show_default=True)
@click.option("--fault", type=click.Choice(_FAULTS), help="Make the last batch faulty this way.")
@click.option("--fault-step", type=click.IntRange(0), default=2, show_default=True)
def propose(
    *,
    l1_rpc: str,
    rollup_address: str,
    data_dir: Path,
    key_env: str | None,
    keystore: Path | None,
    password_env: str | None,
    password_file: Path | None,
    batches: int,
    txs: int,
    fault: str | None,
    fault_step: int,
) -> None:
    """Post batches of devnet transfers to an existing rollup deployment (see `devnet`).

    The proposer builds every batch with watchtower's own state transition on the contract's
    current tip, keeping its L2 state in --data-dir; it must be registered with a bond. Its
    key is given explicitly (--key-env or --keystore): there is no default key. Each batch
    starts with the deposits pending in the L1 queue, then the L2 transactions waiting in
    --data-dir/l2-mempool (`watchtower l2-withdraw` puts withdrawals there), then --txs devnet
    transfers. --fault makes the last batch faulty:

    {faults}

    Against a running `devnet --keep-running --data-dir DIR`, give --data-dir DIR: it builds on
    the devnet's L2 state and takes turns with its proposer. On a tip whose root this state
    does not hold (a faulty batch not rejected yet, or another proposer's data directory) it
    stops with one line. A batch the free bond cannot cover gets its bond topped up first
    (`watchtower bond` does it by hand).

    \b
    Examples:
      . devnet/env && watchtower propose --l1-rpc "$L1_RPC" --rollup "$ROLLUP" \\
          --key-env PROPOSER_KEY --data-dir devnet --fault skip-tx
      PROPOSER_KEY=0x... watchtower propose --l1-rpc http://127.0.0.1:8545 \\
          --rollup 0x5FbDB2315678afecb367f032d93F642f64180aa3 --key-env PROPOSER_KEY \\
          --data-dir proposer-data --batches 2
      PROPOSER_KEY=0x... watchtower propose --l1-rpc http://127.0.0.1:8545 --rollup 0x5FbD... \\
          --key-env PROPOSER_KEY --fault skip-tx --fault-step 3
      watchtower propose --l1-rpc http://127.0.0.1:8545 --rollup 0x5FbD... \\
          --key-env PROPOSER_KEY --fault forge-withdrawal --fault-step 1
    """
    from watchtower.execute.replay import init_genesis
    from watchtower.l1.rollup import connect
    from watchtower.submit.signer import load_signer
    from watchtower_dev.devnet import proposer_lock, proposer_state_dir
    from watchtower_dev.proposer import L2Mempool, Proposer, devnet_genesis

    if key_env is None and keystore is None:
        raise InputError(
            "no proposer key: give --key-env VAR or --keystore FILE "
            "(`watchtower devnet` prints the development keys)"
        )
    account = load_signer(
        key_env=key_env, keystore=keystore, password_env=password_env, password_file=password_file
    )
    if not isinstance(account, LocalAccount):
        raise InputError(f"--key-env: ${key_env} is not set")
    (client,) = connect((l1_rpc,), rollup_address)
    with (
        proposer_lock(data_dir),
        _open_state_db(proposer_state_dir(data_dir), sync=True) as store,
    ):
        genesis = init_genesis(store, devnet_genesis())
        if client.genesis_root() != genesis:
            raise InputError("the rollup's genesis root is not the devnet genesis")
        tip = client.tip_root()
        if not store.has_node(tip):
            raise InputError(
                f"--data-dir {data_dir}: the contract's tip (batch {client.next_index() - 1}, "
                f"root 0x{tip.hex()}) is not a state this proposer computed: give the data "
                "directory of the proposer that built it (a devnet's --data-dir), or, after a "
                "faulty batch, wait until it is rejected (`watchtower status`)"
            )
        proposer = Proposer(
            client=client,
            account=account,
            store=store,
            params=client.params(),
            mempool=L2Mempool.in_dir(data_dir),
        )
        _print_rows(_post_batches(proposer, batches, txs, _fault_option(fault, fault_step)))


@click.command()
@click.option("--l1-rpc", required=True, callback=_http_url, help="JSON-RPC URL of the L1 node.")
@click.option("--rollup", "rollup_address", required=True, help="Address of the rollup contract.")
@_key_options("the proposer's")
@click.option(
    "--amount",
    help="Ether to add to the bond [default: what tops the free bond up to one proposerBond, "
    "the bond each batch locks].",
)
@click.option(
    "--coinbase",
    help="Only when the key is not registered yet: its L2 fee recipient [default: the devnet's].",
)
def bond(
    *,
    l1_rpc: str,
    rollup_address: str,
    key_env: str | None,
    keystore: Path | None,
    password_env: str | None,
    password_file: Path | None,
    amount: str | None,
    coinbase: str | None,
) -> None:
    """Deposit a proposer's bond (registering it first if it is not registered).

    Every batch locks proposerBond from its proposer's free bond (protocol.md §7.3); a batch
    proven fraudulent loses it. After a slashing, or with several batches pending, `submitBatch`
    reverts with "free bond below proposerBond" until the proposer deposits more: this command
    does it and prints the free bond before and after.

    \b
    Examples:
      . devnet/env && watchtower bond --l1-rpc "$L1_RPC" --rollup "$ROLLUP" --key-env PROPOSER_KEY
      PROPOSER_KEY=0x... watchtower bond --l1-rpc http://127.0.0.1:8545 \\
          --rollup 0x5FbDB2315678afecb367f032d93F642f64180aa3 --key-env PROPOSER_KEY --amount 10
    """
    from web3 import Web3

    from watchtower.l1.rollup import L1TransactionError
    from watchtower_dev.proposer import DEVNET_COINBASE
    from watchtower_dev.users import eth, parse_address, parse_ether

    wei = parse_ether(amount) if amount is not None else None
    fee_recipient = parse_address(coinbase, "--coinbase") if coinbase is not None else None
    signer = _signer(key_env, keystore, password_env, password_file)
    if signer is None:
        raise InputError("no proposer key: give --key-env VAR or --keystore FILE")
    client = _connect(l1_rpc, rollup_address)
    per_batch = client.proposer_bond()
    free, _coinbase, registered = client.contract.functions.proposers(
        Web3.to_checksum_address(signer.address)
    ).call()
    free = int(free)
    if wei is None:
        wei = max(per_batch - free, 0)
        if wei == 0:
            _out.print(
                f"{signer.address}: free bond {eth(free)} already covers proposerBond "
                f"{eth(per_batch)}: nothing deposited (--amount to add more)",
                markup=False,
            )
            return
    try:
        if registered:
            receipt = client.deposit_bond(signer, wei)
            done = "deposited"
        else:
            receipt = client.register(signer, fee_recipient or DEVNET_COINBASE, wei)
            done = "registered with a bond of"
    except L1TransactionError as exc:
        raise InputError(f"{exc.action}: {exc.reason}") from None
    after = client.free_bond(signer.address)
    _out.print(
        f"{signer.address}: {done} {eth(wei)} in L1 block {receipt['blockNumber']}; free bond "
        f"{eth(free)} -> {eth(after)}, enough for {after // per_batch} more pending batch(es) "
        f"(proposerBond {eth(per_batch)})",
        markup=False,
    )


@click.command()
@click.option("--l1-rpc", required=True, callback=_http_url, help="JSON-RPC URL of the L1 node.")
@click.option(
    "--blocks",
    type=click.IntRange(1, 100_000),
    default=1,
    show_default=True,
    help="Blocks to mine.",
)
@click.option(
    "--seconds",
    type=click.IntRange(0, 10 * 365 * 24 * 3600),
    default=0,
    show_default=True,
    help="First move the L1 clock on by this many seconds (past a challenge period, say).",
)
def mine(l1_rpc: str, blocks: int, seconds: int) -> None:
    """Mine empty blocks on a development L1 (anvil), optionally moving its clock on first.

    anvil mines a block only when a transaction arrives: on a devnet where nothing else posts,
    a batch never gets the confirmations a watchtower waits for before it challenges, and a
    challenge period never ends. This moves it on (`evm_increaseTime`, `anvil_mine`). A running
    `devnet --keep-running` mines a block itself whenever it does not propose.

    \b
    Examples:
      watchtower mine --l1-rpc http://127.0.0.1:8545 --blocks 3
      watchtower mine --l1-rpc "$L1_RPC" --seconds 700     past a 600 s challenge period
    """
    from web3 import HTTPProvider, Web3

    from watchtower.l1.instrumented import endpoint_label
    from watchtower_dev.chain import mine as mine_blocks

    w3 = Web3(HTTPProvider(l1_rpc, request_kwargs={"timeout": 30}))
    try:
        connected = w3.is_connected()
    except Exception:
        connected = False
    if not connected:
        raise InputError(f"cannot reach the L1 node at {endpoint_label(l1_rpc)}")
    try:
        number, timestamp = mine_blocks(w3, blocks, seconds)
    except InputError:
        raise
    except Exception as exc:
        if isinstance(exc, WatchtowerError):
            raise
        problem = f"{type(exc).__name__}"
        raise InputError(f"L1 node at {endpoint_label(l1_rpc)}: {problem}") from None
    moved = f"L1 time moved on {seconds} s; " if seconds else ""
    _out.print(f"{moved}mined {blocks} block(s): head is block {number} at L1 time {timestamp}")


_fill_fault_help(propose)
