"""The development commands that run the channel schemes end to end (docs/channels.md):
``channel-devnet`` (an L1 with the three channel contracts) and ``channel-demo``.

Registered through the ``watchtower.commands`` entry-point group (dev/pyproject.toml). Heavy
imports stay inside the commands so that ``watchtower --help`` answers instantly.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from watchtower.cli import _err, _http_url, _out
from watchtower.errors import InputError, WatchtowerError
from watchtower_dev.channel_options import (
    _web3,
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
