"""The development commands of the ``watchtower`` CLI: devnet, propose, demo, gen-fixtures, and
the users of the bridge: deposit (L1), l2-withdraw (L2), claim (L1).

They are registered through the ``watchtower.commands`` entry-point group
(dev/pyproject.toml), which :mod:`watchtower.cli` loads when the command line starts: the
runtime never imports this package. Heavy imports stay inside the commands so that
``watchtower --help`` answers instantly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from eth_account.signers.local import LocalAccount
from rich.table import Table

from watchtower.cli import _err, _fail, _http_url, _open_state_db, _out, _progress
from watchtower.errors import InputError, WatchtowerError

_F = TypeVar("_F", bound=Callable[..., Any])

# The names of watchtower_dev.faults.FaultKind (kept here: --help must not import py-evm).
_FAULTS = [
    "wrong-root",
    "skip-tx",
    "wrong-fee",
    "wrong-insert",
    "copy-prev-root",
    "garbage-valid",
    "invent-deposit",
    "skip-deposit",
    "wrong-deposit-amount",
    "forge-withdrawal",
]
_FAULT_HELP = """\b
  wrong-root            an arbitrary root from that step on
  skip-tx               a valid transaction not applied
  wrong-fee             one wei too much credited to the fee recipient
  wrong-insert          a new account created with nonce 1
  copy-prev-root        the previous step's root claimed again
  garbage-valid         garbage bytes claimed to change the state
  invent-deposit        a no-op step claimed to credit 1,000 ether to an attacker:
                        a deposit with no L1 entry (a real 0x7E step not in the
                        queue is refused by the contract)
  skip-deposit          the pending deposits left out (accepted while the oldest
                        is younger than 1 hour, refused once it is overdue)
  wrong-deposit-amount  a deposit step of the queue whose claimed root credits
                        100 ether more (the batch's deposit step min(k, n-1))
  forge-withdrawal      a withdrawal of 90 % of the bridge's balance by an
                        attacker who cannot afford it, claimed as applied"""


def _fault_option(kind: str | None, step: int) -> Any:
    from watchtower_dev.faults import Fault, FaultKind

    return None if kind is None else Fault(FaultKind(kind), step)


def _fault_name(fault: Any) -> str:
    if fault is None:
        return ""
    name = str(fault.kind.value)
    return name if name == "skip-deposit" else f"{name}@{fault.step}"


def _signer(
    key_env: str | None, keystore: Path | None, password_env: str | None, password_file: Path | None
) -> Any:
    import os

    from watchtower.submit.signer import load_signer

    if key_env is None and keystore is None:
        return None
    if key_env is not None and not os.environ.get(key_env):
        raise InputError(f"--key-env {key_env}: the environment variable ${key_env} is not set")
    return load_signer(
        key_env=key_env, keystore=keystore, password_env=password_env, password_file=password_file
    )


def _key_options(whose: str) -> Callable[[_F], _F]:
    def decorate(f: _F) -> _F:
        f = click.option("--password-file", type=click.Path(path_type=Path, dir_okay=False))(f)
        f = click.option("--password-env", help="Environment variable: the keystore password.")(f)
        f = click.option("--keystore", type=click.Path(path_type=Path, dir_okay=False))(f)
        return click.option(
            "--key-env", help=f"Environment variable holding {whose} hex private key."
        )(f)

    return decorate


def _post_batches(proposer: Any, batches: int, txs: int, fault: Any) -> list[dict[str, Any]]:
    """Post ``batches`` batches (the last one with ``fault``, if any); one row per batch."""
    from watchtower.l1.rollup import L1TransactionError
    from watchtower_dev.faults import FaultNotApplicableError

    rows = []
    with _progress(True, batches, "proposing") as bar:
        for n in range(batches):
            this_fault = fault if n == batches - 1 else None
            try:
                batch, receipt = proposer.propose(txs, this_fault)
            except FaultNotApplicableError as exc:
                raise InputError(f"--fault {_fault_name(this_fault)}: {exc}") from None
            except L1TransactionError as exc:
                what = f" (--fault {_fault_name(this_fault)})" if this_fault else ""
                hint = ""
                if "bond" in str(exc.reason):
                    hint = (
                        f"; deposit a bond: `watchtower bond --key-env KEY` (it tops the free "
                        f"bond of {proposer.account.address} up to one proposerBond)"
                    )
                raise InputError(
                    f"the contract refused the batch{what}: {exc.reason}{hint}"
                ) from None
            deposits = sum(1 for s in batch.steps if s.tx[:1] == b"\x7e" and len(s.tx) == 61)
            rows.append(
                {
                    "batch": batch.index,
                    "steps": len(batch.steps),
                    "deposits": deposits,
                    "fault": _fault_name(this_fault),
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
    for column in ("batch", "steps", "deposits", "fault", "l1_block", "gas", "final_root"):
        # The fault's name whole (scripts grep it); the root is abridged anyway.
        table.add_column(column, no_wrap=column == "fault", overflow="ellipsis")
    for row in rows:
        table.add_row(*(str(row[c])[:20] + "…" if c == "final_root" else str(row[c]) for c in row))
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


for _command in (devnet, propose):
    # Indented like the docstring around it, which click dedents when it shows the help.
    _command.help = (_command.help or "").replace("{faults}", _FAULT_HELP.replace("\n", "\n    "))


def _connect(l1_rpc: str, rollup_address: str) -> Any:
    from watchtower.l1.rollup import connect

    (client,) = connect((l1_rpc,), rollup_address)
    return client


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
