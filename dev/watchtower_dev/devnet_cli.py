"""The development commands that run a whole rollup: devnet, demo, and gen-fixtures.

They are registered through the ``watchtower.commands`` entry-point group
(dev/pyproject.toml), which :mod:`watchtower.cli` loads when the command line starts: the
runtime never imports this package. Heavy imports stay inside the commands so that
``watchtower --help`` answers instantly.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from watchtower.cli import _err, _fail, _out, _progress
from watchtower.errors import InputError, WatchtowerError
from watchtower_dev.cli_options import (
    _FAULTS,
    _fault_option,
    _fill_fault_help,
    _post_batches,
    _print_rows,
)


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
@click.option("--deposit", "deposit_eth", help="Ether the development user deposits on L1.")
@click.option("--withdraw", "withdraw_eth", help="Ether it withdraws on L2 in the first batch.")
@click.option(
    "--claim",
    "claim_after",
    is_flag=True,
    help="After the batches: move L1 time past the challenge period, finalize, claim.",
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
    deposit_eth: str | None,
    withdraw_eth: str | None,
    claim_after: bool,
    keep_running: bool,
    interval: float,
) -> None:
    """Start a development rollup: an L1, the contract deployed, a proposer posting batches.

    The L2 genesis has 64 deterministic users with 1,000 ether each, written to genesis.json
    in --data-dir (give it to `watchtower run --genesis`); the proposer and the challenger use
    deterministic development keys (public: devnets only), printed for walk-throughs. With
    --fault the last
    batch is faulty in the named way at --fault-step (steps count from the batch's first step:
    its deposits come first):

    {faults}

    The deployer pays the genesis total (64,000 ether) into the bridge (protocol.md §8.6). A
    development user (USER_KEY, 1,000 ether on L1) tries the bridge: --deposit makes it deposit
    before the first batch (and before the faulty one of wrong-deposit-amount or skip-deposit,
    which need a pending deposit), --withdraw makes the first batch include its withdrawal, and
    --claim then moves L1 time past the challenge period, finalizes the batches and claims the
    withdrawals on L1: the whole flow, on the embedded chain too.

    With --keep-running (anvil) it writes DATA_DIR/env, shell `export` lines of what a
    walk-through needs (L1_RPC, ROLLUP, GENESIS, PROPOSER_KEY, CHALLENGER_KEY, USER_KEY and
    their *_ADDRESS), and posts a batch every --interval seconds. `watchtower propose
    --data-dir DATA_DIR` posts on the same rollup from the same L2 state, taking turns with it.
    A batch whose root it never computed (a faulty one) is never built on: it mines an empty
    block every --interval instead, so the batch gets its confirmations, until a watchtower has
    it rejected. SIGTERM or Ctrl-C stops it and anvil.

    \b
    Examples:
      watchtower devnet                                   in-process, 3 honest batches
      watchtower devnet --deposit 5 --withdraw 2 --claim  the bridge, in-process
      watchtower devnet --l1 anvil --fault wrong-fee --fault-step 4 --data-dir devnet
      watchtower devnet --fault forge-withdrawal --fault-step 1
      watchtower devnet --l1 anvil --keep-running --data-dir devnet &    then: . devnet/env
      watchtower devnet --l1 anvil --keep-running --fault wrong-root --data-dir devnet
    """
    from watchtower_dev.devnet import ENV_FILE, start_devnet
    from watchtower_dev.users import parse_ether

    if keep_running and l1 != "anvil":
        raise InputError(
            "--keep-running needs --l1 anvil: nothing else can reach an in-process chain"
        )
    deposit_wei = parse_ether(deposit_eth, "--deposit") if deposit_eth is not None else 0
    withdraw_wei = parse_ether(withdraw_eth, "--withdraw") if withdraw_eth is not None else 0
    if (withdraw_wei or claim_after) and batches == 0:
        raise InputError("--withdraw and --claim need at least one batch (--batches)")
    with (
        _stop_on_sigterm(l1 == "anvil"),
        start_devnet(l1, data_dir=data_dir, challenge_period=challenge_period) as net,
    ):
        try:
            _out.print(
                f"L1 {l1}{' at ' + net.rpc_url if net.rpc_url else ''}; rollup contract "
                f"{net.client.address}; proposer {net.proposer.account.address}"
            )
            _out.print(f"L2 genesis {net.genesis_path} (watchtower run --genesis)", markup=False)
            roles = (
                ("PROPOSER", net.proposer.account),
                ("CHALLENGER", net.challenger),
                ("USER", net.user),
            )
            for role, account in roles:
                _out.print(
                    f"funded development {role.lower()} {account.address} "
                    f"(public devnet key: {role}_KEY=0x{account.key.hex().removeprefix('0x')})",
                    markup=False,
                )
            the_fault = _fault_option(fault, fault_step)
            rows = _devnet_batches(net, batches, txs, the_fault, deposit_wei, withdraw_wei)
            _print_rows(rows)
            _out.print(f"bridge balance on L1: {_eth(net.client.bridge_balance())}")
            if claim_after:
                _devnet_claim(net)
            if keep_running:
                env = net.write_env(net.data_dir / ENV_FILE)
                _out.print(
                    f"walk-through variables (L1_RPC, ROLLUP, GENESIS, *_KEY, *_ADDRESS) in {env}: "
                    f"`. {env}`",
                    markup=False,
                )
                _keep_proposing(net, txs, interval)
        except (KeyboardInterrupt, WatchtowerError):
            raise
        except Exception:
            if _node_died(net.node):
                raise _anvil_exited(net) from None
            raise


def _eth(wei: int) -> str:
    from watchtower_dev.users import eth

    return eth(wei)


@contextmanager
def _stop_on_sigterm(enabled: bool) -> Iterator[None]:
    """SIGTERM (``kill``, a supervisor) stops a devnet on anvil like Ctrl-C: anvil is stopped
    and the temporary data directory removed, instead of dying with anvil left running."""
    import signal

    if not enabled:
        yield
        return

    def stop(_signum: int, _frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _keep_proposing(net: Any, txs: int, interval: float) -> None:
    """The running devnet: a batch every ``interval`` seconds, built on the contract's tip.

    When the tip is a batch whose root this proposer never computed (a faulty one, from
    ``--fault`` or from ``watchtower propose --fault``), it cannot build on it: it mines an empty
    block every ``interval`` instead (so that confirmations, challenges and deadlines move on)
    until the batch is rejected. Another proposer on the same data directory (``watchtower
    propose --data-dir``) takes turns with it through the data directory's lock. When anvil
    dies: one line, and the devnet exits.
    """
    from watchtower_dev.chain import mine
    from watchtower_dev.devnet import proposer_lock

    _out.print(f"proposing {txs} transfers every {interval}s; Ctrl-C to stop")
    waiting: bytes | None = None
    try:
        while True:
            time.sleep(interval)
            try:
                with proposer_lock(net.data_dir):
                    tip = net.client.tip_root()
                    if not net.proposer.store.has_node(tip):
                        if waiting != tip:
                            _out.print(_not_my_tip(net, tip, interval), markup=False)
                        waiting = tip
                        mine(net.w3, 1)
                        continue
                    if waiting is not None:
                        _out.print("the tip is a state this proposer knows again: proposing")
                        waiting = None
                    rows = _post_batches(net.proposer, 1, txs, None)
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                if _node_died(net.node):
                    raise _anvil_exited(net) from None
                _err.print(f"no batch this time: {' '.join(str(exc).split())[:300]}", markup=False)
                continue
            _print_rows(rows)
    except KeyboardInterrupt:
        _out.print("stopped")


def _anvil_exited(net: Any) -> Exception:
    from watchtower_dev.chain import ChainUnavailableError

    return ChainUnavailableError(
        f"anvil at {net.rpc_url} exited (status {net.node.process.returncode}): the devnet stops"
    )


def _node_died(node: Any) -> bool:
    """Whether the devnet's anvil has exited (waiting a moment: a request can fail first)."""
    import subprocess

    if node is None or node.process is None:
        return False
    try:
        node.process.wait(timeout=1)
    except subprocess.TimeoutExpired:
        return False
    return True


def _not_my_tip(net: Any, tip: bytes, interval: float) -> str:
    index = net.client.next_index() - 1
    return (
        f"batch {index} claims root 0x{tip.hex()}, a state this proposer did not compute (a "
        f"faulty batch?): not building on it; mining an empty block every {interval}s until it "
        "is rejected (a watchtower challenges it)"
    )


def _devnet_batches(  # noqa: PLR0917
    net: Any, batches: int, txs: int, fault: Any, deposit_wei: int, withdraw_wei: int
) -> list[dict[str, Any]]:
    """The devnet's batches, with the development user's deposit and withdrawal, if asked."""
    from watchtower_dev.txgen import KeyAccount
    from watchtower_dev.users import deposit

    user = net.user
    rows: list[dict[str, Any]] = []
    for n in range(batches):
        last = n == batches - 1
        needs_deposit = fault is not None and fault.kind.value in (
            "wrong-deposit-amount",
            "skip-deposit",
        )
        amount = deposit_wei if n == 0 else 0
        if last and needs_deposit and not amount:
            amount = 10**18
        if amount:
            entry = deposit(net.client, user, bytes.fromhex(user.address[2:]), amount)
            _out.print(f"deposit {entry.index}: {_eth(amount)} from USER {user.address} to L2")
        if n == 0 and withdraw_wei:
            net.proposer.withdraw(KeyAccount.from_hex(user.key.hex()), withdraw_wei)
            _out.print(f"withdrawal: {_eth(withdraw_wei)} by USER {user.address} (batch {n})")
        rows += _post_batches(net.proposer, 1, txs, fault if last else None)
    return rows


def _devnet_claim(net: Any) -> None:
    from watchtower_dev.users import advance_time, claim, finalize_due

    now = advance_time(net.w3, net.config.challenge_period + 60)
    finalized = finalize_due(net.client, net.user)
    _out.print(f"L1 time moved to {now}: finalized batches {finalized or 'none'}")
    claims, waiting = claim(net.client, net.user)
    for c in claims:
        w = c.withdrawal
        _out.print(
            f"claimed {_eth(w.amount)} for 0x{w.account.hex()} (batch {w.batch} step {w.step}) "
            f"in L1 block {c.l1_block}; owed to it now: {_eth(net.client.owed(net.user.address))}"
        )
    if not claims:
        _out.print("no withdrawal to claim")
    for item in waiting:
        w = item.withdrawal
        _out.print(f"not final: {_eth(w.amount)} (batch {w.batch} step {w.step})")


@click.command()
@click.option(
    "--honest",
    type=click.IntRange(2, 100),
    default=5,
    show_default=True,
    help="Honest batches before the faulty one (the first credits the deposits, the second "
    "holds the honest withdrawal).",
)
@click.option("--txs", type=click.IntRange(1, 4096), default=20, show_default=True)
@click.option(
    "--fault",
    # Those whose batch the contract accepts without a pending deposit to misuse.
    type=click.Choice([f for f in _FAULTS if f not in ("skip-deposit", "wrong-deposit-amount")]),
    default="forge-withdrawal",
    show_default=True,
)
@click.option("--fault-step", type=click.IntRange(0), default=7, show_default=True)
def demo(honest: int, txs: int, fault: str, fault_step: int) -> None:
    """The whole story in one process, no servers: an in-process L1, the rollup contract with
    its bridge, honest users and proposer, then a fraudulent proposer, and the watchtower
    catching the fraud and getting the batch rejected on chain. Ends with a summary.

    Three users deposit on L1 and the first batch credits them on L2; one withdraws on L2 and,
    once L1 time has moved past the challenge period, claims it on L1. Then a proposer posts a
    batch that forges a withdrawal of 90 % of the bridge's funds (--fault forge-withdrawal, at
    --fault-step); the watchtower challenges, the batch is rejected, and the attacker's claim
    of the forged withdrawal reverts. The summary shows the value at risk and saved.

    \b
    Examples:
      watchtower demo
      watchtower demo --honest 2 --fault wrong-root --fault-step 3
    """
    from watchtower.log import configure_logging
    from watchtower_dev.demo import run_demo
    from watchtower_dev.faults import Fault, FaultKind, FaultNotApplicableError

    configure_logging(json_output=False, level="warning")
    with _progress(True, honest + 2, "demo") as bar:
        try:
            result = run_demo(
                honest=honest,
                txs=txs,
                fault=Fault(FaultKind(fault), fault_step),
                on_progress=(lambda: bar[0].advance(bar[1])) if bar else None,
            )
        except FaultNotApplicableError as exc:
            raise InputError(f"--fault {fault} --fault-step {fault_step}: {exc}") from None
    table = Table(title="watchtower demo", title_justify="left", show_header=False)
    for label, value in result.summary_rows():
        table.add_row(label, value)
    _out.print(table)
    saved = " and the bridge's funds are safe" if result.bridge.forged else ""
    _err.print(f"demo finished: the fraudulent batch was rejected on chain{saved}")


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


_fill_fault_help(devnet)
