"""The development commands of the ``watchtower`` CLI: devnet, propose, demo, gen-fixtures.

They are registered through the ``watchtower.commands`` entry-point group
(dev/pyproject.toml), which :mod:`watchtower.cli` loads when the command line starts: the
runtime never imports this package. Heavy imports stay inside the commands so that
``watchtower --help`` answers instantly.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from eth_account.signers.local import LocalAccount
from rich.table import Table

from watchtower.cli import _err, _fail, _http_url, _open_state_db, _out, _progress
from watchtower.errors import InputError

_FAULTS = ["wrong-root", "skip-tx", "wrong-fee", "wrong-insert", "copy-prev-root", "garbage-valid"]


def _fault_option(kind: str | None, step: int) -> Any:
    from watchtower_dev.faults import Fault, FaultKind

    return None if kind is None else Fault(FaultKind(kind), step)


def _post_batches(proposer: Any, batches: int, txs: int, fault: Any) -> list[dict[str, Any]]:
    """Post ``batches`` batches (the last one with ``fault``, if any); one row per batch."""
    rows = []
    with _progress(True, batches, "proposing") as bar:
        for n in range(batches):
            this_fault = fault if n == batches - 1 else None
            batch, receipt = proposer.propose(txs, this_fault)
            rows.append(
                {
                    "batch": batch.index,
                    "steps": len(batch.steps),
                    "fault": f"{this_fault.kind.value}@{this_fault.step}" if this_fault else "",
                    "l1_block": receipt["blockNumber"],
                    "gas": receipt["gasUsed"],
                    "final_root": "0x" + batch.final_root.hex(),
                }
            )
            if bar is not None:
                bar[0].advance(bar[1])
    return rows


def _print_rows(rows: list[dict[str, Any]]) -> None:
    table = Table(title="batches posted", title_justify="left")
    for column in ("batch", "steps", "fault", "l1_block", "gas", "final_root"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c])[:20] + ("…" if c == "final_root" else "") for c in row))
    _out.print(table)


@click.command()
@click.option(
    "--l1",
    type=click.Choice(["embedded", "anvil"]),
    default="embedded",
    show_default=True,
    help="embedded: in-process py-evm chain; anvil: a real node from node_modules.",
)
@click.option("--batches", type=click.IntRange(0, 10_000), default=3, show_default=True)
@click.option(
    "--txs", type=click.IntRange(1, 4096), default=10, show_default=True, help="Per batch."
)
@click.option("--fault", type=click.Choice(_FAULTS), help="Make the last batch faulty this way.")
@click.option("--fault-step", type=click.IntRange(0), default=2, show_default=True)
@click.option(
    "--challenge-period", type=click.IntRange(1), default=7 * 24 * 3600, show_default=True
)
@click.option("--keep-running", is_flag=True, help="anvil only: keep proposing until Ctrl-C.")
@click.option("--interval", type=click.FloatRange(0.1), default=5.0, show_default=True)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="The proposer's state and the L2 genesis file (genesis.json) [default: a temporary "
    "directory, removed on exit].",
)
def devnet(
    *,
    l1: str,
    data_dir: Path | None,
    batches: int,
    txs: int,
    fault: str | None,
    fault_step: int,
    challenge_period: int,
    keep_running: bool,
    interval: float,
) -> None:
    """Start a development rollup: an L1, the contract deployed, a proposer posting batches.

    The L2 genesis has 64 deterministic users with 1,000 ether each, written to genesis.json
    in --data-dir (give it to `watchtower run --genesis`); the proposer and the challenger use
    deterministic development keys (public: devnets only), printed for walk-throughs. With
    --fault the last
    batch is faulty in the named way at --fault-step:

    \b
      wrong-root      an arbitrary root from that step on
      skip-tx         a valid transaction not applied
      wrong-fee       one wei too much credited to the fee recipient
      wrong-insert    a new account created with nonce 1
      copy-prev-root  the previous step's root claimed again
      garbage-valid   garbage bytes claimed to change the state

    \b
    Examples:
      watchtower devnet                                   in-process, 3 honest batches
      watchtower devnet --l1 anvil --fault wrong-fee --fault-step 4 --data-dir devnet-data
      watchtower devnet --l1 anvil --keep-running --challenge-period 600 --data-dir devnet-data
    """
    from watchtower_dev.devnet import start_devnet

    if keep_running and l1 != "anvil":
        raise InputError(
            "--keep-running needs --l1 anvil: nothing else can reach an in-process chain"
        )
    with start_devnet(l1, data_dir=data_dir, challenge_period=challenge_period) as net:
        _out.print(
            f"L1 {l1}{' at ' + net.rpc_url if net.rpc_url else ''}; rollup contract "
            f"{net.client.address}; proposer {net.proposer.account.address}"
        )
        _out.print(f"L2 genesis {net.genesis_path} (watchtower run --genesis)", markup=False)
        for role, account in (("PROPOSER", net.proposer.account), ("CHALLENGER", net.challenger)):
            _out.print(
                f"funded development {role.lower()} {account.address} "
                f"(public devnet key: {role}_KEY=0x{account.key.hex().removeprefix('0x')})",
                markup=False,
            )
        rows = _post_batches(net.proposer, batches, txs, _fault_option(fault, fault_step))
        _print_rows(rows)
        if keep_running:
            _out.print(f"proposing {txs} transfers every {interval}s; Ctrl-C to stop")
            try:
                while True:
                    time.sleep(interval)
                    _print_rows(_post_batches(net.proposer, 1, txs, None))
            except KeyboardInterrupt:
                _out.print("stopped")


@click.command()
@click.option("--l1-rpc", required=True, callback=_http_url, help="JSON-RPC URL of the L1 node.")
@click.option("--rollup", "rollup_address", required=True, help="Address of the rollup contract.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("proposer-data"),
    show_default=True,
    help="The proposer's own L2 state.",
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
    key is given explicitly (--key-env or --keystore): there is no default key.

    \b
    Examples:
      PROPOSER_KEY=0x... watchtower propose --l1-rpc http://127.0.0.1:8545 \\
          --rollup 0x5FbDB2315678afecb367f032d93F642f64180aa3 --key-env PROPOSER_KEY \\
          --data-dir proposer-data --batches 2
      PROPOSER_KEY=0x... watchtower propose --l1-rpc http://127.0.0.1:8545 --rollup 0x5FbD... \\
          --key-env PROPOSER_KEY --fault skip-tx --fault-step 3
    """
    from watchtower.execute.replay import init_genesis
    from watchtower.l1.rollup import connect
    from watchtower.submit.signer import load_signer
    from watchtower_dev.proposer import Proposer, devnet_genesis

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
    with _open_state_db(data_dir / "state", sync=True) as store:
        genesis = init_genesis(store, devnet_genesis())
        if client.genesis_root() != genesis:
            raise InputError("the rollup's genesis root is not the devnet genesis")
        proposer = Proposer(client=client, account=account, store=store, params=client.params())
        _print_rows(_post_batches(proposer, batches, txs, _fault_option(fault, fault_step)))


@click.command()
@click.option(
    "--honest",
    type=click.IntRange(1, 100),
    default=5,
    show_default=True,
    help="Honest batches before the faulty one.",
)
@click.option("--txs", type=click.IntRange(1, 4096), default=20, show_default=True)
@click.option(
    "--fault",
    type=click.Choice(
        ["wrong-root", "skip-tx", "wrong-fee", "wrong-insert", "copy-prev-root", "garbage-valid"]
    ),
    default="wrong-fee",
    show_default=True,
)
@click.option("--fault-step", type=click.IntRange(0), default=7, show_default=True)
def demo(honest: int, txs: int, fault: str, fault_step: int) -> None:
    """The whole story in one process, no servers: an in-process L1, the rollup contract, an
    honest proposer and then a faulty one, and the watchtower catching the fraud and getting
    the batch rejected on chain. Ends with a summary.

    \b
    Examples:
      watchtower demo
      watchtower demo --honest 2 --fault wrong-root --fault-step 3
    """
    from watchtower.log import configure_logging
    from watchtower_dev.demo import run_demo
    from watchtower_dev.faults import Fault, FaultKind

    configure_logging(json_output=False, level="warning")
    with _progress(True, honest + 2, "demo") as bar:
        result = run_demo(
            honest=honest,
            txs=txs,
            fault=Fault(FaultKind(fault), fault_step),
            on_progress=(lambda: bar[0].advance(bar[1])) if bar else None,
        )
    table = Table(title="watchtower demo", title_justify="left", show_header=False)
    for label, value in result.summary_rows():
        table.add_row(label, value)
    _out.print(table)
    _err.print("demo finished: the fraudulent batch was rejected on chain")


@click.command("gen-fixtures")
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False), default="fixtures")
@click.option("--only", multiple=True, help="Generate only these bundles (repeatable).")
def gen_fixtures(out_dir: Path, only: tuple[str, ...]) -> None:
    """Regenerate the fixture bundles (deterministic: same bytes every time) into OUT_DIR.

    \b
    Examples:
      watchtower gen-fixtures fixtures
      watchtower gen-fixtures /tmp/bundles --only honest --only fraud-wrong-root
    """
    from watchtower_dev.fixturegen import GENERATORS, generate_all

    unknown = [name for name in only if name not in GENERATORS]
    if unknown:
        _fail(f"unknown bundle {unknown[0]!r}; known: {', '.join(GENERATORS)}")
    for path in generate_all(out_dir, list(only) or None):
        click.echo(f"wrote {path}")
