"""What the development commands share: the --fault and key options, the signer, posting
batches and printing their rows, and the connection to the rollup contract."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.table import Table

from watchtower.cli import _out, _progress
from watchtower.errors import InputError

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


def _fill_fault_help(command: click.Command) -> None:
    """Put the --fault kinds into ``command``'s help where it says ``{faults}``."""
    # Indented like the docstring around it, which click dedents when it shows the help.
    command.help = (command.help or "").replace("{faults}", _FAULT_HELP.replace("\n", "\n    "))


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
    from watchtower.submit.signer import load_cli_signer

    if key_env is None and keystore is None:
        return None
    return load_cli_signer(
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


def _connect(l1_rpc: str, rollup_address: str) -> Any:
    from watchtower.l1.rollup import connect

    (client,) = connect((l1_rpc,), rollup_address)
    return client
