"""``watchtower export``: the bundle of a live rollup, from L1 (see :mod:`watchtower.export`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from watchtower.cli import _err, _http_url, _out, _progress, main
from watchtower.errors import InputError


@main.command("export")
@click.option("--l1-rpc", required=True, callback=_http_url, help="L1 JSON-RPC URL.")
@click.option("--rollup", "rollup_address", required=True, help="The rollup contract's address.")
@click.option(
    "--genesis",
    "genesis_file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The rollup's L2 genesis allocation (checked against the contract's genesisRoot).",
)
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write the bundle (progress is kept in OUT.partial until it is complete).",
)
@click.option(
    "--to-index",
    type=click.IntRange(0),
    help="The last batch to export (default: the rollup's latest). A bundle always starts at "
    "batch 0, which builds on the genesis.",
)
@click.option(
    "--start-block",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="First L1 block to scan for events: the contract's deployment block saves time.",
)
@click.option(
    "--confirmations",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Export the rollup as it was this many blocks below the head.",
)
@click.option("--chunk", type=click.IntRange(1), default=2000, show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="A JSON summary on stdout.")
def export_command(
    genesis_file: Path, out: Path, quiet: bool, as_json: bool, **options: Any
) -> None:
    """Write a bundle (format 2) of the live rollup at --rollup, read from L1, for `replay`,
    `prove` and auditors who work offline.

    The bundle holds the genesis (checked against the contract's genesisRoot first), the
    batches the contract holds at indexes 0 .. --to-index (the latest submission at each
    index; a batch submitted there before was rejected), their calldata, checked against the
    BatchSubmitted events, and the deposit queue entries they consume. Resumable: each batch
    fetched is appended to OUT.partial, and running the same command again fetches only what
    is missing; OUT is written (atomically) once everything is there.

    Exit status: 0 written, 2 unusable input (one line).

    \b
    Examples:
      watchtower export --l1-rpc http://127.0.0.1:8545 --rollup 0x5FbD... \\
          --genesis devnet/genesis.json -o rollup.json
      watchtower replay rollup.json
      watchtower export --l1-rpc https://rpc.example --rollup 0x... --genesis genesis.json \\
          -o audit.json --to-index 99 --start-block 19000000 --confirmations 64
    """
    from watchtower.cli.service import _genesis
    from watchtower.execute.genesis import allocation_root
    from watchtower.export import check_genesis, export_bundle, plan_export
    from watchtower.l1.rollup import L1TransactionError, connect

    if out.exists() and out.is_dir():
        raise InputError(f"--out {out} is a directory")
    allocation = _genesis(genesis_file)
    (client,) = connect((options.pop("l1_rpc"),), options.pop("rollup_address"))
    root = allocation_root(allocation)
    check_genesis(client, root)  # the one-line errors before the progress bar starts
    plan = plan_export(
        client,
        options["start_block"],
        options["confirmations"],
        options["to_index"],
        options["chunk"],
    )
    with _progress(not quiet and not as_json, len(plan.events), "exporting") as bar:

        def progress(done: int, total: int, fetched: bool) -> None:
            if bar is not None:
                bar[0].update(bar[1], total=total, completed=done)

        try:
            bundle, fetched = export_bundle(
                client,
                allocation,
                root,
                out,
                progress=progress,
                plan=plan,
                **options,
            )
        except L1TransactionError as exc:
            raise InputError(f"export: {exc}") from None
    steps = sum(len(b.steps) for b in bundle.batches)
    summary = {
        "out": str(out),
        "batches": len(bundle.batches),
        "steps": steps,
        "deposits": len(bundle.deposits),
        "fetched_now": fetched,
        "resumed": len(bundle.batches) - fetched,
    }
    if as_json:
        click.echo(json.dumps(summary, indent=1))
        return
    resumed = f" ({summary['resumed']} from {out.name}.partial)" if summary["resumed"] else ""
    _out.print(
        f"wrote {out}: {len(bundle.batches)} batches, {steps} steps, "
        f"{len(bundle.deposits)} deposits{resumed}",
        markup=False,
    )
    if not bundle.batches:
        _err.print("note: the rollup holds no batch yet", markup=False)
