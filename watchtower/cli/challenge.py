"""``watchtower challenge``: an operator's challenge of one batch, through the service's journal."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, cast

import click

from watchtower.cli import _out, main
from watchtower.cli.service import _CONFIG_OPTION, _genesis, _settings
from watchtower.errors import InputError

#: How long ``--send`` follows the journal before giving up (the service would go on).
SEND_TIMEOUT = 600.0


@main.command("challenge")
@_CONFIG_OPTION
@click.option("--batch", "batch_index", type=click.IntRange(0), required=True, help="Batch index.")
@click.option("--l1-rpc", "rpc_urls", multiple=True, help="L1 JSON-RPC URL (as for `run`).")
@click.option("--rollup", "rollup_address", help="The rollup contract's address.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="The data directory of `watchtower run` [default: watchtower-data].",
)
@click.option(
    "--genesis",
    "genesis_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The rollup's L2 genesis, as for `run` (required; or [service] genesis).",
)
@click.option("--key-env", help="Environment variable holding the challenger's hex key.")
@click.option("--keystore", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--password-env", help="Environment variable holding the keystore password.")
@click.option("--password-file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--stake", type=click.IntRange(0), help="Stake in wei (default: the minimum).")
@click.option(
    "--send",
    is_flag=True,
    help="Commit and reveal (default: a dry run that sends nothing).",
)
def challenge_command(config_file: Path | None, batch_index: int, send: bool, **given: Any) -> None:
    """Prove the fraud in batch N by hand: dry run by default, --send to commit and reveal.

    The proof is built from the data directory's state (the service must have replayed the
    batch and found it fraudulent), checked locally, then checked by the contract with an
    eth_call of the reveal (before a commitment the only revert allowed is "no commitment for
    this challenge": every other check passed). The dry run prints what would be sent: the
    stake, the gas of the commit and of the reveal, the fees and the commitment.

    --send goes through the service's own journal (same salt, nonces and records), so it can
    never stake twice with a running service; while `watchtower run` is sending from the same
    data directory it is refused (that service challenges the batch itself).

    \b
    Examples:
      watchtower challenge --config watchtower.toml --batch 7
      watchtower challenge --l1-rpc http://127.0.0.1:8545 --rollup 0x5FbD... \\
          --data-dir watchtower-data --key-env CHALLENGER_KEY --batch 7 --send
    """
    from watchtower.runner import build_service

    settings = _settings(config_file, given)
    if not settings["l1.rpc"]:
        raise InputError("no L1 endpoint: give --l1-rpc, WATCHTOWER_L1_RPC or [l1] rpc")
    if settings["l1.rollup"] is None:
        raise InputError("no rollup address: give --rollup, WATCHTOWER_L1_ROLLUP or [l1] rollup")
    if settings["signer.key_env"] is None and settings["signer.keystore"] is None:
        raise InputError("no signer: give --key-env or --keystore (the eth_call needs the stake)")
    data_dir = Path(settings["service.data_dir"])
    if not (data_dir / "watchtower.sqlite").is_file():
        raise InputError(f"--data-dir {data_dir} holds no watchtower store (watchtower.sqlite)")
    overrides = {"service.mode": "challenge" if send else "watch"}
    tower, alerter, _ = build_service(cast(Any, _Override(settings, overrides)), _genesis)
    try:
        _challenge(tower, batch_index, send)
    finally:
        tower.close()
        alerter.close()


class _Override:
    """Settings with a few values replaced (the command always reads, and sends only with
    --send)."""

    def __init__(self, settings: Any, values: dict[str, Any]) -> None:
        self._settings = settings
        self._values = values

    def __getitem__(self, key: str) -> Any:
        return self._values[key] if key in self._values else self._settings[key]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._settings, name)


def _challenge(tower: Any, index: int, send: bool) -> None:
    from watchtower.l1.rollup import L1TransactionError
    from watchtower.rollup.types import VerdictKind
    from watchtower.store.db import BatchStatus

    live = tower.store.batches((BatchStatus.PENDING, BatchStatus.REJECTED))
    rows = [r for r in live if r.idx == index]
    if not rows:
        raise InputError(f"batch {index} is not a pending batch in {tower.config.data_dir}")
    row = rows[-1]
    if row.verdict is not VerdictKind.FRAUD:
        raise InputError(
            f"batch {index} is not known as fraudulent "
            f"(verdict: {row.verdict or 'not replayed'}); let `watchtower run` replay it first"
        )
    signer = tower.signer
    assert signer is not None
    proof = tower.proof_for(row)  # built from the state DB and checked locally
    try:
        tower.client.simulate_challenge(signer.address, proof, tower.stake)
        verdict = "the contract accepts the proof (only the commitment is missing)"
    except L1TransactionError as exc:
        if send:
            raise InputError(f"eth_call of the reveal: {exc.reason}") from None
        verdict = f"REFUSED: {exc.reason}"
    _out.print(f"batch {index} step {proof.step}: {verdict}")
    _print_plan(tower, row, proof)
    if not send:
        _out.print("dry run: nothing sent (add --send to commit and reveal)")
        return
    _send(tower, row, proof)


def _print_plan(tower: Any, row: Any, proof: Any) -> None:
    from watchtower.l1.rollup import challenge_commitment
    from watchtower.store import journal
    from watchtower.submit.decide import ChainView, FeePolicy, first_fees
    from watchtower.submit.gas import COMMIT_GAS, reveal_gas_limit, reveal_visits

    client, signer = tower.client, tower.signer
    existing = journal.load(tower.store, row.id)
    latest = client.w3.eth.get_block("latest")
    args = [*proof.challenge_args(), bytes(32)]
    calldata = (len(client.contract.encode_abi("challenge", args=args)) - 2) // 2
    visits = reveal_visits(proof)
    gas = reveal_gas_limit(visits, calldata)
    fees = first_fees(ChainView(base_fee=int(latest.get("baseFeePerGas", 0) or 0)), FeePolicy())
    _out.print(f"  stake        {tower.stake} wei (returned with the reward on success)")
    _out.print(
        f"  gas          commit {COMMIT_GAS:,}; reveal limit {gas:,} "
        f"({visits} trie node visits, {calldata:,} calldata bytes)"
    )
    _out.print(f"  fees         max {fees.max_fee} wei/gas, tip {fees.tip} wei/gas")
    if existing is not None and existing.salt is not None:
        commitment = challenge_commitment(
            signer.address, row.idx, proof.step, proof.computed_root, existing.salt
        )
        _out.print(f"  commitment   0x{commitment.hex()} (salt recorded in the journal)")
    else:
        _out.print(
            "  commitment   keccak256(challenger, index, step, computed root, salt) "
            "with a fresh salt"
        )
    left = row.deadline - int(latest["timestamp"])
    _out.print(f"  challenger   {signer.address}; {left} s to the deadline")


def _send(tower: Any, row: Any, proof: Any) -> None:
    stake = tower.stake
    if not tower._can_pay(stake):
        raise InputError(f"{tower.signer.address} cannot pay the stake and the gas")
    give_up = time.monotonic() + SEND_TIMEOUT
    state = None
    while time.monotonic() < give_up:
        current = tower.store.batch_by_id(row.id)
        state = tower.challenger.step(current, lambda: proof, stake)
        if state.value not in ("prepared", "sent"):
            break
        time.sleep(1.0)
    record = tower.store.challenge(row.id)
    detail = "" if record is None else f" ({record.detail})"
    where = state.value if state is not None else "not started"
    _out.print(f"challenge of batch {row.idx}: {where}{detail}")
    for sub in tower.store.submissions(row.id):
        _out.print(f"  {sub.action:<6} nonce {sub.nonce}  0x{sub.tx_hash.hex()}  {sub.state}")
    if where != "succeeded":
        raise InputError(f"batch {row.idx}: the challenge is {where}{detail}")
