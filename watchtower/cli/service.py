"""Service commands: run, status, withdraw, config."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from watchtower import defaults
from watchtower.cli import _err, _http_url, _out, main
from watchtower.errors import InputError
from watchtower.rollup.types import GenesisAccount


def _genesis(path: Path | None) -> dict[bytes, GenesisAccount]:
    from watchtower.rollup import jsontext
    from watchtower.rollup.bundle import parse_genesis

    if path is None:  # `run` refuses to start without one; no default genesis
        raise InputError(NO_GENESIS)
    try:
        document = jsontext.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"genesis file {path}: {exc}") from None
    if isinstance(document, dict) and "genesis" in document:
        document = document["genesis"]  # a bundle: use its genesis
    return parse_genesis(document)


def _is_address(value: str) -> bool:
    from web3 import Web3

    return bool(Web3.is_address(value))


NO_GENESIS = (
    "no L2 genesis: give --genesis FILE, WATCHTOWER_SERVICE_GENESIS or [service] genesis "
    "(the rollup's genesis allocation, or a bundle; a devnet writes its genesis.json)"
)

_RUN_FLAGS = {
    "rpc_urls": "l1.rpc",
    "rollup_address": "l1.rollup",
    "confirmations": "l1.confirmations",
    "poll_interval": "l1.poll_interval",
    "rpc_timeout": "l1.timeout",
    "max_backoff": "l1.max_backoff",
    "startup_timeout": "l1.startup_timeout",
    "quorum": "l1.quorum",
    "chunk": "l1.chunk",
    "start_block": "l1.start_block",
    "mode": "service.mode",
    "data_dir": "service.data_dir",
    "genesis_file": "service.genesis",
    "key_env": "signer.key_env",
    "keystore": "signer.keystore",
    "password_env": "signer.password_env",
    "password_file": "signer.password_file",
    "stake": "challenge.stake_wei",
    "bump_after": "challenge.bump_after",
    "metrics_listen": "metrics.listen",
    "log_format": "log.format",
}


def _settings(config: Path | None, given: dict[str, Any]) -> Any:
    from watchtower.config import load_settings

    flags = {}
    for option, name in _RUN_FLAGS.items():
        value = given.get(option)
        if value is None or value == ():
            continue
        flags[name] = (
            list(value)
            if isinstance(value, tuple)
            else (str(value) if isinstance(value, Path) else value)
        )
    # Errors name the option as typed (--l1-rpc, --metrics-listen), not the setting's key.
    context = click.get_current_context(silent=True)
    options = {p.name: p.opts[0] for p in context.command.params} if context is not None else {}
    names = {name: options[o] for o, name in _RUN_FLAGS.items() if o in options}
    return load_settings(config, flags=flags, flag_names=names)


_CONFIG_OPTION = click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="TOML configuration file (see `watchtower config check --help`).",
)


@main.command()
@_CONFIG_OPTION
@click.option(
    "--l1-rpc",
    "rpc_urls",
    multiple=True,
    help="L1 JSON-RPC URL; repeat it to cross-check endpoints (only agreed data is acted on).",
)
@click.option("--rollup", "rollup_address", help="The rollup contract's address.")
@click.option(
    "--mode",
    type=click.Choice(["watch", "challenge"]),
    help="watch: verify, log and alert only; challenge (default): also submit fraud "
    "proofs with a stake.",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help=f"State database (LMDB) and store (SQLite) live here [default: {defaults.DATA_DIR}].",
)
@click.option(
    "--genesis",
    "genesis_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The rollup's L2 genesis (a bundle or an allocation JSON), required: its root is "
    "checked against the contract's genesisRoot() at start-up.",
)
@click.option("--key-env", help="Environment variable holding the challenger's hex key.")
@click.option("--keystore", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--password-env", help="Environment variable holding the keystore password.")
@click.option("--password-file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--confirmations",
    help="Blocks a batch must be buried under before it is challenged, or "
    f"safe/finalized [default: {defaults.CONFIRMATIONS}].",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(0.05),
    help=f"Seconds per tick [default: {defaults.POLL_INTERVAL:g}].",
)
@click.option(
    "--rpc-timeout",
    type=click.FloatRange(0.1),
    help="Seconds before an L1 request is abandoned; a read is tried up to 3 times "
    f"[default: {defaults.L1_TIMEOUT:g}].",
)
@click.option(
    "--max-backoff",
    type=click.FloatRange(0.1),
    help="After failed ticks the wait doubles from the poll interval up to this "
    f"[default: {defaults.MAX_BACKOFF:g}].",
)
@click.option(
    "--startup-timeout",
    type=click.FloatRange(0.1),
    help="Seconds of retrying L1 nodes that are down at start-up (one log line per attempt) "
    f"before exiting with status 75 [default: {defaults.STARTUP_TIMEOUT:g}].",
)
@click.option(
    "--l1-quorum",
    "quorum",
    type=click.IntRange(1),
    help="How many of the --l1-rpc endpoints must answer, at start-up and each tick; the "
    "others are logged and left out, the answering ones cross-checked [default: all].",
)
@click.option(
    "--start-block",
    type=click.IntRange(0),
    help="First L1 block to scan on a first sync [default: the contract's deployment block, "
    "found on L1 and recorded in the data directory].",
)
@click.option(
    "--chunk",
    type=click.IntRange(1),
    help="Blocks per eth_getLogs request, halved on 'too many results' "
    f"[default: {defaults.SCAN_CHUNK}].",
)
@click.option(
    "--stake",
    help="Stake per challenge: whole wei (digits) or an exact amount with a unit, e.g. "
    "'1.5 ether', '2 gwei' [default: the contract's minStake()]. Floats and fractions of a wei "
    "are refused.",
)
@click.option(
    "--bump-after",
    type=click.FloatRange(0.1),
    help=f"Seconds without a receipt before a fee bump [default: {defaults.BUMP_AFTER:g}].",
)
@click.option("--metrics-listen", help="HOST:PORT serving /metrics, /healthz and /readyz.")
@click.option("--log-format", type=click.Choice(["json", "console"]), help="[default: json]")
def run(config_file: Path | None, **given: Any) -> None:
    """Run the watchtower service: follow the rollup on L1, verify every batch, challenge fraud.

    Settings come from flags, then WATCHTOWER_* environment variables, then the --config file,
    then defaults (`watchtower config check` shows the result). Progress is stored in the data
    directory; a restart (even after SIGKILL) resumes where it stopped, notices reorgs that
    happened meanwhile, and never stakes twice on a batch. SIGTERM or Ctrl-C stops it cleanly
    after the current step.

    \b
    Exit status:
      0   stopped by SIGTERM or SIGINT (Ctrl-C), after the current step
      2   unusable configuration: a bad flag or setting, a bad address, no contract at the
          address, a genesis other than the contract's, a stake below minStake(), or another
          service holding the data directory (restarting will not help)
      75  the L1 nodes stayed down (fewer than l1.quorum answering) for l1.startup_timeout
          seconds at start-up (EX_TEMPFAIL: restart it later; the shipped units do)

    In challenge mode the stake is checked right after connecting: below the contract's
    minStake() it exits 2 (every challenge would revert); if the signer cannot pay the stake
    plus the challenge gas reserve it raises low_balance at once and keeps watching.

    \b
    Examples:
      watchtower run --config /etc/watchtower/watchtower.toml
      CHALLENGER_KEY=0x... watchtower run --l1-rpc http://127.0.0.1:8545 \\
          --l1-rpc http://127.0.0.1:8546 --rollup 0x5FbDB2315678afecb367f032d93F642f64180aa3 \\
          --genesis genesis.json --key-env CHALLENGER_KEY --data-dir watchtower-data
      watchtower run --mode watch --config watchtower.toml --metrics-listen 127.0.0.1:9108
    """
    from watchtower.runner import run_service

    settings = _settings(config_file, given)
    if not settings["l1.rpc"]:
        raise InputError("no L1 endpoint: give --l1-rpc, WATCHTOWER_L1_RPC or [l1] rpc")
    rollup = "rollup" in settings["service.guard"]  # a channels-only process needs neither
    if rollup and settings["l1.rollup"] is None:
        raise InputError("no rollup address: give --rollup, WATCHTOWER_L1_ROLLUP or [l1] rollup")
    if rollup and settings["service.genesis"] is None:
        raise InputError(NO_GENESIS)
    quorum = settings["l1.quorum"]
    if quorum is not None and quorum > len(settings["l1.rpc"]):
        raise InputError(
            f"l1.quorum {quorum} is more than the {len(settings['l1.rpc'])} L1 endpoint(s) given"
        )
    # Read (and checked) before any L1 request: a bad file exits 2 at once, not after the
    # start-up retries of a node that is down.
    allocation = _genesis(Path(settings["service.genesis"])) if rollup else {}
    run_service(settings, lambda _: allocation)


@main.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("check")
@_CONFIG_OPTION
@click.option(
    "--strict",
    is_flag=True,
    help="Also check that what the configuration names exists and works: the genesis file, "
    "the data directory, the key (it decrypts), password files, and every environment "
    "variable a setting names.",
)
@click.option(
    "--l1-rpc",
    callback=_http_url,
    help="With --strict: also check the genesis against the rollup contract on this node "
    "(genesisRoot and, for a bridge contract, genesisSupply).",
)
@click.option("--json", "as_json", is_flag=True)
def config_check(config_file: Path | None, strict: bool, l1_rpc: str | None, as_json: bool) -> None:
    """Print the effective configuration (secrets redacted) as TOML, with where each value
    came from, and check it.

    \b
    Precedence: flags > WATCHTOWER_<SECTION>_<KEY> environment variables > file > defaults.
    Sections and keys:
      [l1]        rpc (list), rollup, confirmations (N|safe|finalized), poll_interval,
                  timeout, max_backoff, chunk, start_block, startup_timeout, quorum
      [service]   mode (watch|challenge), data_dir, genesis, stall_after,
                  guard (rollup|channels, a list; default rollup)
      [channels]  contracts ([{kind = "state|payment|cheque", address}]), api_listen,
                  api_token_env, min_reward_wei, claim_margin, confirmations, start_block,
                  enabled (docs/operations.md "Channels")
      [signer]    key_env | keystore + (password_env | password_file)
                  | remote_url + remote_address (eth_signTransaction)
      [challenge] stake_wei (whole wei: 1500000000000000000, "1500000000000000000",
                  or an exact "1.5 ether" / "2 gwei"; floats are refused), bump_after
      [state]     prune_every (batches; 0: never), keep_recent
      [replay]    worker (true|false: the next batch's senders recovered in a worker
                  process; default true with 2+ CPUs), root_worker (true|false: the
                  per-step state roots computed in a worker process; default true with 2+ CPUs)
      [metrics]   listen (HOST:PORT)
      [log]       format (json|console), level
      [alerts]    silence_kinds, silence_batches, [[alerts.webhook]] url secret_env,
                  [[alerts.slack]] url_env, [[alerts.pagerduty]] routing_key_env url
                  (EU region: url = "https://events.eu.pagerduty.com/v2/enqueue");
                  every sink: timeout (seconds per request, default 5),
                  min_severity (info|warning|error|critical, default info)
    The output is TOML that reads back to the same settings (an unset value is a comment).
    Without --strict only the values are checked; --strict also checks the files and variables
    they name, and with --l1-rpc the genesis against the contract.
    Exit status: 0 valid, 2 invalid (one line per problem, each naming the key).

    \b
    Examples:
      watchtower config check --config deploy/config/watchtower.toml
      watchtower config check --config watchtower.toml --strict --l1-rpc http://127.0.0.1:8545
      WATCHTOWER_L1_CONFIRMATIONS=safe watchtower config check --config watchtower.toml --json
    """
    from watchtower.preflight import strict_problems, to_toml

    if l1_rpc is not None and not strict:
        raise InputError("--l1-rpc is only used with --strict")
    settings = _settings(config_file, {})
    problems = (
        strict_problems(
            settings, os.environ, genesis=_genesis_facts, contract=_contract_facts(settings, l1_rpc)
        )
        if strict
        else []
    )
    document = settings.redacted()
    if as_json:
        out = {"config": document, "sources": settings.sources}
        if strict:
            out["problems"] = problems
        click.echo(json.dumps(out, indent=1))
    else:
        click.echo(to_toml(document, settings.sources), nl=False)
    if problems:
        for problem in problems:
            _err.print(f"error: {problem}", markup=False)
        raise SystemExit(2)
    if not as_json:
        _err.print(
            "configuration is valid" + (" and usable (--strict)" if strict else ""), markup=False
        )


def _genesis_facts(path: Path) -> tuple[bytes, int]:
    from watchtower.execute.genesis import allocation_root

    allocation = _genesis(path)
    return allocation_root(allocation), sum(a.balance for a in allocation.values())


def _contract_facts(settings: Any, l1_rpc: str | None) -> Any:
    """What the rollup contract says about its genesis, read from ``l1_rpc`` (None: no node)."""
    if l1_rpc is None:
        return None
    from watchtower.l1.rollup import connect
    from watchtower.preflight import ContractFacts

    if settings["l1.rollup"] is None:
        raise InputError("--l1-rpc needs l1.rollup to be set")
    try:
        (client,) = connect((l1_rpc,), settings["l1.rollup"])
        root = client.genesis_root()
        supply = getattr(client, "genesis_supply", None)
        return ContractFacts(root, supply() if supply is not None else None)
    except InputError:
        raise
    except Exception as exc:  # any failure of the node or the contract call: one line
        raise InputError(f"--l1-rpc {l1_rpc}: cannot read the rollup contract ({exc})") from None


@main.command()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help=f"The data directory of `watchtower run` to read [default: {defaults.DATA_DIR}].",
)
@click.option(
    "--url",
    callback=_http_url,
    help="Ask the running service instead of reading its store: the base URL of its "
    "[metrics] listen address (it serves GET /status), e.g. http://127.0.0.1:9108.",
)
@click.option(
    "--l1-rpc",
    callback=_http_url,
    help="With --data-dir: also read the L1 time (seconds to each deadline) and the stakes owed "
    "to the signer from this node.",
)
@click.option(
    "--signer",
    "signer_address",
    help="Address whose stakes and rewards to show [default: the service's own signer, "
    "recorded in the store].",
)
@click.option("--json", "as_json", is_flag=True)
def status(
    data_dir: Path | None,
    url: str | None,
    l1_rpc: str | None,
    signer_address: str | None,
    as_json: bool,
) -> None:
    """What the service has done: scan position, verified batches, batches waiting for
    confirmations, open challenges, money owed, and the bridge (locked value, pending deposits,
    withdrawals awaiting finalization, claimable).

    Reads the data directory of `watchtower run` (it may be running), or with --url asks the
    running service (GET /status on its metrics listener: the same JSON). With --l1-rpc it also
    reads the L1 time (seconds to each deadline) and the stakes owed to the signer (the
    service's own, recorded in the store, unless --signer names another).

    \b
    Examples:
      watchtower status --data-dir watchtower-data
      watchtower status --data-dir watchtower-data --l1-rpc http://127.0.0.1:8545
      watchtower status --data-dir watchtower-data --l1-rpc http://127.0.0.1:8545 \\
          --signer 0x70997970C51812dc3A010C7d01b50e0d17dc79C8
      watchtower status --url http://127.0.0.1:9108
      watchtower status --data-dir watchtower-data --json | jq .challenges
    """
    if signer_address is not None and not _is_address(signer_address):
        raise InputError(f"--signer {signer_address!r} is not an address (0x and 40 hex digits)")
    if url is not None:
        if data_dir is not None or l1_rpc is not None or signer_address is not None:
            raise InputError(
                "--url asks the running service, which reads L1 and knows its signer: "
                "--data-dir, --l1-rpc and --signer go without it"
            )
        document = _fetch_status(url)
        source = None
    else:
        data_dir = data_dir if data_dir is not None else Path(defaults.DATA_DIR)
        document = _store_status(data_dir, l1_rpc, signer_address)
        source = l1_rpc
    if as_json:
        click.echo(json.dumps(document, indent=1))
        return
    _print_status(document, source, from_service=url is not None)


def _store_status(data_dir: Path, l1_rpc: str | None, signer: str | None) -> dict[str, Any]:
    from watchtower.status import META_SIGNER, status_document
    from watchtower.store.db import Store

    if not data_dir.is_dir():
        raise InputError(f"--data-dir {data_dir} does not exist")
    if not (data_dir / "watchtower.sqlite").is_file():
        # Opening would create an empty store there and report "nothing done": say instead that
        # this is not a directory `watchtower run` has used.
        raise InputError(f"--data-dir {data_dir} holds no watchtower store (watchtower.sqlite)")
    with Store(data_dir / "watchtower.sqlite") as store:
        rollup = store.get_meta("rollup")
        signer = signer if signer is not None else store.get_meta(META_SIGNER)
        l1_time = owed = None
        if l1_rpc is not None and rollup is not None:
            from watchtower.l1.rollup import connect

            try:
                client = connect((l1_rpc,), rollup)[0]
                l1_time = int(client.w3.eth.get_block("latest")["timestamp"])
                if signer is not None:
                    owed = client.owed(signer)
            except InputError:
                raise
            except Exception as exc:  # the node is down or answers nonsense: one line
                raise InputError(f"--l1-rpc {l1_rpc}: cannot read L1 ({exc})") from None
        return status_document(store, l1_time=l1_time, owed=owed, signer=signer)


def _fetch_status(url: str) -> dict[str, Any]:
    """``GET {url}/status`` from a running service."""
    import urllib.error
    import urllib.request

    target = url.rstrip("/") + "/status"
    try:
        with urllib.request.urlopen(target, timeout=10) as response:  # noqa: S310 (http only)
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise InputError(f"--url {url}: GET /status answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InputError(f"--url {url}: no service answers there ({reason})") from None
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError(f"--url {url}: GET /status did not answer JSON") from None
    if not isinstance(document, dict) or "rollup" not in document:
        raise InputError(f"--url {url}: GET /status did not answer a watchtower status")
    return document


def _print_status(document: dict[str, Any], l1_rpc: str | None, *, from_service: bool) -> None:
    """The human form of ``status --json``."""
    rollup = document["rollup"]
    if rollup is None:
        _out.print("nothing scanned yet: the service has not recorded a first scan here")
    else:
        _out.print(f"rollup {rollup}; last scanned L1 block {document['last_scanned_block']}")
    last = document["last_verified_batch"]
    _out.print(
        f"batches verified: {document['batches_verified']}"
        + ("" if last is None else f" (last {last})")
        + f"; fraud found: {len(document['fraud_found'])}"
    )
    needed = document.get("confirmations")
    for w in document.get("waiting_for_confirmations", []):
        more = w["blocks_needed"]
        what = "the challenge waits" if w["challenge_waits"] else (w["verdict"] or "not replayed")
        depth = f"{needed} confirmations" if isinstance(needed, int) else f"the {needed} block"
        _out.print(
            f"waiting for {depth}: batch {w['batch']} (L1 block {w['l1_block']}; {what})"
            + ("" if more is None else f" needs {more} more L1 block(s)"),
            markup=False,
        )
    for u in document["unreadable"]:
        _out.print(
            f"UNREADABLE batch {u['batch']} (tx {u['tx']}, L1 block {u['l1_block']}, "
            f"{u['status']}): {u['reason']}",
            markup=False,
        )
    halted = document["verification_halted"]
    if halted is not None:
        _out.print(
            f"VERIFICATION HALTED at batch {halted['batch']} ({halted['verdict']}: "
            f"{halted['reason'] or 'no reason recorded'}); {len(halted['waiting'])} later "
            f"batch(es) waiting: {halted['waiting']}",
            markup=False,
        )
    table = Table(title="challenges", title_justify="left")
    for column in ("batch", "step", "state", "txs", "to deadline", "detail"):
        table.add_column(column)
    for c in document["challenges"]:
        left = c["seconds_to_deadline"]
        table.add_row(
            str(c["batch"]),
            str(c["step"]),
            c["state"],
            str(c["transactions"]),
            "-" if left is None else f"{left}s",
            c["detail"],
        )
    _out.print(table)
    owed, signer = document["stakes_owed_wei"], document.get("signer")
    if owed is not None:
        owed_text = f"{_eth(owed)} to {signer}"
    elif from_service:
        owed_text = "(the service has no signer)" if signer is None else "(not readable now)"
    elif l1_rpc is None:
        owed_text = f"(pass --l1-rpc{'' if signer else ' and --signer'} to read it)"
    else:
        owed_text = "(pass --signer: the store records no signer)"
    _out.print(
        f"owed on chain: {owed_text}; withdrawn: {_eth(document['withdrawn_wei'])}", markup=False
    )
    _print_bridge(document["bridge"])
    _print_channels(document.get("channels") or [])


def _print_channels(channels: list[dict[str, Any]]) -> None:
    """The guarded channels and cheques (channels.md), with their actions and deadlines."""
    if not channels:
        return
    _out.print(f"guarded channels and cheques: {len(channels)}", markup=False)
    for row in channels:
        _out.print(
            f"  {row['kind']} {row['contract']} channel {row['channel']}: holds "
            f"{row['sequence']} (reward {row['reward_wei']} wei)",
            markup=False,
        )
        for action in row["actions"]:
            left = action.get("seconds_to_deadline")
            due = "" if left is None else f", {left} s to its deadline"
            _out.print(
                f"    {action['action']} {action['state']}{due} {action['detail']}".rstrip(),
                markup=False,
            )


def _print_bridge(bridge: dict[str, Any] | None) -> None:
    """The bridge part of the human status."""
    if bridge is None:
        _out.print("bridge: not checked yet (or the rollup has no bridge)")
        return
    _out.print(
        f"bridge: locked {_eth(bridge['locked_wei'])} at L1 block {bridge['l1_block']}; "
        f"L2 supply {_eth(bridge['l2_supply_wei'])}",
        markup=False,
    )
    age = bridge["oldest_pending_deposit_age_seconds"]
    _out.print(
        f"pending deposits: {bridge['pending_deposits']}"
        + ("" if age is None else f" (oldest {age}s old)"),
        markup=False,
    )
    awaiting, claimable = bridge["awaiting_finalization"], bridge["claimable"]
    _out.print(
        f"withdrawals awaiting finalization: {len(awaiting)} "
        f"({_eth(bridge['awaiting_finalization_wei'])}); claimable: {len(claimable)} "
        f"({_eth(bridge['claimable_wei'])})",
        markup=False,
    )
    if awaiting or claimable:
        table = Table(title="withdrawals", title_justify="left")
        for column in ("batch", "step", "account", "amount", "time left"):
            table.add_column(column)
        for w in awaiting + claimable:
            left = w["seconds_left"]
            table.add_row(
                str(w["batch"]),
                str(w["step"]),
                w["account"],
                _eth(w["amount_wei"]),
                f"{left}s" if left > 0 else "claimable",
            )
        _out.print(table)
    if bridge["forged_claims"]:
        _out.print(f"FORGED withdrawal claims seen on L1: {bridge['forged_claims']}")


def _eth(wei: int) -> str:
    """An amount for people: ETH, exact, with the wei beside it."""
    whole, rest = divmod(wei, 10**18)
    ether = str(whole) if rest == 0 else f"{whole}.{rest:018d}".rstrip("0")
    return f"{ether} ETH ({wei} wei)"


@main.command()
@click.option("--l1-rpc", required=True, callback=_http_url)
@click.option("--rollup", "rollup_address", required=True)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path(defaults.DATA_DIR),
    show_default=True,
)
@click.option("--key-env", help="Environment variable holding the challenger's hex key.")
@click.option("--keystore", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--password-env")
@click.option("--password-file", type=click.Path(path_type=Path, dir_okay=False))
def withdraw(
    *,
    l1_rpc: str,
    rollup_address: str,
    data_dir: Path,
    key_env: str | None,
    keystore: Path | None,
    password_env: str | None,
    password_file: Path | None,
) -> None:
    """Claim every stake and reward the rollup contract owes the signer.

    Sends one `withdraw()` from the signer (the same key as `watchtower run`), recorded in the
    data directory's store so that `watchtower status` shows it.

    \b
    Examples:
      CHALLENGER_KEY=0x... watchtower withdraw --l1-rpc http://127.0.0.1:8545 \\
          --rollup 0x5FbDB2315678afecb367f032d93F642f64180aa3 --data-dir watchtower-data \\
          --key-env CHALLENGER_KEY
      watchtower withdraw --l1-rpc https://rpc.example --rollup 0x5FbD... \\
          --keystore key.json --password-file key.pass --data-dir /var/lib/watchtower
    """
    from watchtower.store.db import Store
    from watchtower.submit.signer import load_cli_signer

    signer = load_cli_signer(
        key_env=key_env, keystore=keystore, password_env=password_env, password_file=password_file
    )
    if signer is None:
        raise InputError("withdraw needs a signer (--key-env or --keystore)")
    from watchtower.l1.rollup import connect

    client = connect((l1_rpc,), rollup_address)[0]
    owed = client.owed(signer.address)
    if owed == 0:
        _out.print(f"nothing owed to {signer.address}")
        return
    receipt = client.withdraw(signer)
    with Store(data_dir / "watchtower.sqlite") as store:
        store.record_withdrawal(bytes(receipt["transactionHash"]), owed, receipt["blockNumber"])
    _out.print(f"withdrew {owed} wei to {signer.address} in L1 block {receipt['blockNumber']}")
