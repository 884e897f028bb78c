"""Offline commands on bundles: replay, and the genesis tools genesis-root and fill-roots."""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from watchtower import defaults
from watchtower.cli import (
    EXIT_FRAUD,
    EXIT_OK,
    _err,
    _open_state_db,
    _out,
    _progress,
    json_option,
    main,
)
from watchtower.errors import InputError

if TYPE_CHECKING:
    from watchtower.execute.precheck import Prechecker
    from watchtower.execute.rootworker import RootWorker
    from watchtower.execute.verify import Outcome

#: ``--worker/--no-worker`` of the commands that replay bundles (replay, prove).
worker_option = click.option(
    "--worker/--no-worker",
    default=defaults.REPLAY_WORKER,
    help="Decode the next batch's transactions and recover their senders in a second process "
    "while the current batch replays (faster; same verdicts; a failing worker only costs "
    f"speed). Default: on with 2+ CPUs (here: {'on' if defaults.REPLAY_WORKER else 'off'}).",
)


#: Steps to replay from which ``--root-worker`` is on by default (with 2+ CPUs): the worker's
#: start (~0.5 s: a fresh interpreter) costs more than it saves on a smaller bundle.
ROOT_WORKER_MIN_STEPS = 10_000

#: ``--root-worker/--no-root-worker`` of the commands that replay bundles (replay, prove).
root_worker_option = click.option(
    "--root-worker/--no-root-worker",
    default=None,
    help="Compute the state root after every step in another process while this one executes "
    "the steps (faster with a spare core; same verdicts; a batch the worker cannot serve is "
    "replayed here, with a line on stderr). Default: on with 2+ CPUs "
    f"(here: {'on' if defaults.REPLAY_ROOT_WORKER else 'off'}) when there are "
    f"{ROOT_WORKER_MIN_STEPS:,} steps or more to replay (it takes ~0.5 s to start).",
)


def _worker_log(event: str, **fields: object) -> None:
    """A failing worker's line, on standard error (standard output may be JSON)."""
    _err.print(event + "".join(f" {k}={v}" for k, v in fields.items()), markup=False)


def open_prechecker(worker: bool) -> contextlib.AbstractContextManager[Prechecker | None]:
    """The sender-recovery worker of ``--worker`` (stopped on leaving), or None."""
    if not worker:
        return contextlib.nullcontext(None)
    from watchtower.execute.precheck import Prechecker

    return Prechecker(log=_worker_log)


def open_root_worker(
    on: bool | None, steps: int
) -> contextlib.AbstractContextManager[RootWorker | None]:
    """The state-root worker of ``--root-worker`` (stopped on leaving), or None; without the
    option (``None``), with 2+ CPUs and ``steps`` to replay of at least
    :data:`ROOT_WORKER_MIN_STEPS`."""
    if on is None:
        on = defaults.REPLAY_ROOT_WORKER and steps >= ROOT_WORKER_MIN_STEPS
    if not on:
        return contextlib.nullcontext(None)
    from watchtower.execute.rootworker import RootWorker

    return RootWorker()


def noted(outcome: Outcome[Any]) -> Outcome[Any]:
    """``outcome``, after a line on standard error if the root worker could not serve its
    batch (replayed here instead, same verdict)."""
    if outcome.root_fallback is not None:
        _worker_log(
            "root_worker_fallback", batch=outcome.candidate.index, reason=outcome.root_fallback
        )
    return outcome


@main.command()
@click.argument("bundle", type=click.Path(path_type=Path, dir_okay=False))
@json_option("Print one JSON document instead of a table (an error object on unusable input).")
@click.option(
    "--all",
    "audit_all",
    is_flag=True,
    help="Do not stop at the first fraud: report every step whose claimed root differs from "
    "the honest chain (see below).",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Keep the state database here (default: a temporary directory, removed afterwards).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@worker_option
@root_worker_option
def replay(  # noqa: PLR0917 (one parameter per option)
    bundle: Path,
    as_json: bool,
    audit_all: bool,
    data_dir: Path | None,
    quiet: bool,
    worker: bool,
    root_worker: bool | None,
) -> None:
    """Re-execute every batch of an offline BUNDLE and report a verdict per batch.

    A BUNDLE is a JSON file with a genesis allocation and the batches a proposer submitted, each
    with its block context, transactions and the state root it claims after every step
    (format: docs/protocol.md §6). Nothing is fetched from the network.

    \b
    Verdicts:
      valid        every step's root matches the re-execution
      fraud        first bad step, with the claimed and the computed root
      skipped      builds on a fraudulent or undecidable batch (not replayed)
      undecidable  cannot be judged (the reason says why); verification stops there

    Invalid transactions (no-op steps, protocol.md §3.1) are listed with their reason.

    A bundle of format version 2 carries the L1 deposit queue: each batch's deposit steps are
    checked against it as the rollup contract checks them (a mismatch is unusable input), the
    batches are replayed under protocol v2, and each valid batch's deposits credited and
    withdrawals made (count, wei) are shown, with their totals. A version 1 bundle is replayed
    under the v1 rules (protocol.md §8.7).

    \b
    --all: after the first fraudulent batch the proposer's state is unknown (only its roots
    are claimed), so later steps cannot be re-executed on it. Instead the fraudulent batch
    and every later one are re-executed with the honest transition, each from the honest
    state the previous one ended at, and every step whose claimed root differs from the
    honest root is reported ("bad"). A bad step is "provable" when the root claimed before
    it equals the honest root before it (a fraud proof of it can be built); the others
    inherit an earlier disagreement. The verdicts and the exit status are unchanged.

    The timing line measures the replay only (the steps re-executed, per second), not
    building the genesis state, which is reported separately.

    Exit status: 0 all valid, 1 fraud found, 2 unusable input.

    \b
    Examples:
      watchtower replay fixtures/honest.json
      watchtower replay fixtures/fraud-wrong-root.json --json | jq '.batches[] | .verdict'
      watchtower replay fixtures/fraud-wrong-root.json --all
      watchtower replay big-bundle.json --data-dir /tmp/state -q
    """
    from watchtower.errors import TransitionInvariantError
    from watchtower.execute.audit import BadStep, bad_steps, honest_run
    from watchtower.execute.replay import init_bundle
    from watchtower.execute.transition import rules_of_protocol
    from watchtower.execute.verify import Candidate, verify_chain
    from watchtower.rollup.bundle import load_bundle
    from watchtower.rollup.types import Verdict

    loaded = load_bundle(bundle)
    rules = rules_of_protocol(loaded.protocol)
    total_steps = sum(len(b.steps) for b in loaded.batches)
    verdicts: list[Verdict] = []
    audit: dict[str, Any] | None = None
    replayed = 0
    with (
        tempfile.TemporaryDirectory(prefix="wt-replay-") as tmp,
        open_prechecker(worker) as prechecker,
        open_root_worker(root_worker, total_steps) as roots,
    ):
        state_db = _open_state_db(data_dir or Path(tmp), sync=data_dir is not None)
        try:
            genesis_started = time.perf_counter()
            init_bundle(state_db, loaded)
            genesis_seconds = time.perf_counter() - genesis_started
            started = time.perf_counter()
            with _progress(not quiet and not as_json, total_steps, "replaying") as bar:

                def on_step(_k: int) -> None:
                    nonlocal replayed
                    replayed += 1
                    if bar is not None:
                        bar[0].advance(bar[1])

                candidates = (Candidate.of(batch, None) for batch in loaded.batches)
                verdicts.extend(
                    noted(outcome).verdict
                    for outcome in verify_chain(
                        state_db,
                        candidates,
                        on_step=on_step,
                        rules=rules,
                        prechecker=prechecker,
                        roots=roots,
                    )
                )
                first = next((v for v in verdicts if v.is_fraud), None)
                if audit_all and first is not None:
                    found: list[BadStep] = []
                    stopped = None
                    start = state_db.head_root()
                    assert start is not None  # the verified chain ends before the fraud
                    if bar is not None:  # the honest re-execution from the fraudulent batch on
                        more = sum(len(b.steps) for b in loaded.batches[first.batch :])
                        bar[0].update(bar[1], total=replayed + more)
                    try:
                        for honest in honest_run(
                            state_db,
                            loaded.batches[first.batch :],
                            start,
                            on_step=on_step,
                            rules=rules,
                        ):
                            found.extend(bad_steps(honest))
                    except TransitionInvariantError as exc:
                        stopped = str(exc)
                    audit = {"from_batch": first.batch, "bad_steps": found, "stopped": stopped}
            elapsed = time.perf_counter() - started
        finally:
            state_db.close()
    timing = {"genesis": genesis_seconds, "replay": elapsed, "steps_replayed": replayed}
    _render_verdicts(
        verdicts,
        timing,
        total_steps,
        as_json,
        str(bundle),
        audit=audit,
        bridge=loaded.protocol >= 2,
    )
    sys.exit(EXIT_FRAUD if any(v.is_fraud for v in verdicts) else EXIT_OK)


def _invalid_text(verdict: Any) -> str:
    """The invalid transactions of a verdict, for people: ``3 (bad_nonce), 9 (...)``."""
    if not verdict.invalid_steps:
        return "-"
    return ", ".join(f"{step} ({reason.value})" for step, reason in verdict.invalid_steps)


def _bridge_totals(verdicts: Sequence[Any]) -> dict[str, int]:
    """What the valid batches moved across the bridge, in all (replay's summary)."""
    return {
        "deposits": sum(len(v.flows.deposits) for v in verdicts),
        "deposited": sum(v.flows.deposited for v in verdicts),
        "withdrawals": sum(len(v.flows.withdrawals) for v in verdicts),
        "withdrawn": sum(v.flows.withdrawn for v in verdicts),
        "burned": sum(v.flows.burned for v in verdicts),
    }


def _flow_text(count: int, wei: int) -> str:
    return f"{count} ({wei} wei)" if count else "-"


def _render_verdicts(
    verdicts: Sequence[Any],
    timing: dict[str, Any],
    steps: int,
    as_json: bool,
    source: str,
    *,
    audit: dict[str, Any] | None,
    bridge: bool = False,
) -> None:
    """``bridge`` (protocol v2 bundles): also the deposits credited and withdrawals made by each
    valid batch, and their totals."""
    fraud = next((v for v in verdicts if v.is_fraud), None)
    totals = _bridge_totals(verdicts)
    replayed, elapsed = timing["steps_replayed"], timing["replay"]
    rate = replayed / elapsed if elapsed > 0 else 0.0
    if as_json:
        batches = [
            v.to_json() | ({"bridge": v.flows.to_json()} if bridge else {}) for v in verdicts
        ]
        document: dict[str, Any] = {
            "bundle": source,
            "batches": batches,
            "fraud": fraud.to_json() if fraud is not None else None,
            "steps": steps,
            # The replay only (steps re-executed and seconds), genesis building apart.
            "steps_replayed": replayed,
            "seconds": round(elapsed, 3),
            "genesis_seconds": round(timing["genesis"], 3),
            "steps_per_second": round(rate, 1),
        }
        if bridge:
            document["bridge"] = totals
        if audit is not None:
            document["all"] = {
                "from_batch": audit["from_batch"],
                "bad_steps": [b.to_json() for b in audit["bad_steps"]],
                "stopped": audit["stopped"],
            }
        click.echo(json.dumps(document, indent=1))
        return
    table = Table(title=f"replay of {source}", title_justify="left")
    columns = ["batch", "steps", "verdict", "invalid txs (step, reason)", "detail"]
    if bridge:
        columns[3:3] = ["deposits", "withdrawals"]
    for column in columns:
        table.add_column(column, justify="right" if column in ("batch", "steps") else "left")
    styles = {"valid": "green", "fraud": "bold red", "skipped": "yellow", "undecidable": "magenta"}
    for v in verdicts:
        if v.is_fraud:
            claimed, computed = v.claimed_root.hex()[:16], v.computed_root.hex()[:16]
            detail = f"{v.reason}: claimed 0x{claimed}…, computed 0x{computed}…"
        else:
            detail = v.reason
        row = [
            str(v.batch),
            str(v.steps),
            f"[{styles[v.kind.value]}]{v.kind.value}[/]",
            _invalid_text(v),
            detail,
        ]
        if bridge:
            row[3:3] = [
                _flow_text(len(v.flows.deposits), v.flows.deposited),
                _flow_text(len(v.flows.withdrawals), v.flows.withdrawn),
            ]
        table.add_row(*row)
    _out.print(table)
    _out.print(
        f"{len(verdicts)} batches, {steps} steps; genesis built in {timing['genesis']:.2f}s; "
        f"replay: {replayed} steps re-executed in {elapsed:.2f}s ({rate:,.0f} steps/s, "
        "replay only)"
    )
    if bridge:
        _out.print(
            f"bridge: {totals['deposits']} deposits credited ({totals['deposited']} wei), "
            f"{totals['withdrawals']} withdrawals made ({totals['withdrawn']} wei) by the valid "
            "batches"
        )
    if fraud is not None:
        _out.print(
            f"[bold red]FRAUD[/] in batch {fraud.batch} at step {fraud.step} ({fraud.reason})\n"
            f"  claimed root  0x{fraud.claimed_root.hex()}\n"
            f"  computed root 0x{fraud.computed_root.hex()}"
        )
    else:
        _out.print("[green]all batches valid[/]")
    if audit is not None:
        bad = audit["bad_steps"]
        provable = sum(1 for b in bad if b.provable)
        _out.print(
            f"--all: from batch {audit['from_batch']} on, against the honest state: "
            f"{len(bad)} bad steps ({provable} provable)"
        )
        for b in bad:
            _out.print(
                f"  batch {b.batch} step {b.step}: claimed 0x{b.claimed_root.hex()[:16]}…, "
                f"honest 0x{b.honest_root.hex()[:16]}… — {b.why}",
                markup=False,
            )
        if audit["stopped"]:
            _out.print(f"  stopped: {audit['stopped']}", markup=False)


@main.command("genesis-root")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@json_option("Print one JSON document (an error object on unusable input).")
def genesis_root(file: Path, as_json: bool) -> None:
    """Print the state root of a genesis allocation: FILE is an allocation
    (``{"0x<address>": {"balance", "nonce", "code", "storage"}}``) or a bundle (its
    ``genesis``; the batches need not be complete, so a draft works too).

    The root is what batch 0's ``prev_root`` must be (protocol.md §2, §6). Nothing else is
    checked in a bundle; for a bundle the output also says whether batch 0 builds on it.

    Exit status: 0 printed, 2 unusable input (one line on stderr; with --json also
    ``{"error": ..., "status": 2}`` on stdout).

    \b
    Examples:
      watchtower genesis-root fixtures/honest.json
      watchtower genesis-root alloc.json --json | jq -r .root
    """
    from watchtower.execute.genesis import allocation_root
    from watchtower.rollup.bundle import BUNDLE_FORMAT, load_json_document, parse_genesis

    document = load_json_document(file)
    is_bundle = isinstance(document, dict) and "format" in document
    if is_bundle:
        if document["format"] != BUNDLE_FORMAT:
            raise InputError(f"{file}: format {document['format']!r:.40} is not {BUNDLE_FORMAT!r}")
        if "genesis" not in document:
            raise InputError(f"{file}: a bundle without a 'genesis' allocation")
        alloc = parse_genesis(document["genesis"])
    else:
        alloc = parse_genesis(document)
    root = allocation_root(alloc)
    builds_on: bool | None = None
    if is_bundle:
        batches = document.get("batches")
        if isinstance(batches, list) and batches and isinstance(batches[0], dict):
            claimed = batches[0].get("prev_root")
            builds_on = isinstance(claimed, str) and claimed.lower() == "0x" + root.hex()
    if as_json:
        document_out = {
            "root": "0x" + root.hex(),
            "accounts": len(alloc),
            "source": "bundle" if is_bundle else "allocation",
            "batch0_builds_on_it": builds_on,
        }
        click.echo(json.dumps(document_out, indent=1))
        return
    click.echo("0x" + root.hex())
    if builds_on is False:
        _err.print(f"note: batch 0 of {file} does not build on this root", markup=False)


@main.command("fill-roots")
@click.argument("draft", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the bundle here (default: standard output). Never the DRAFT itself.",
)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists (never the DRAFT).")
def fill_roots(draft: Path, out: Path | None, force: bool) -> None:
    """Write the honest bundle of a DRAFT: every claimed root is the computed one.

    A DRAFT is a bundle (protocol.md §6) whose ``prev_root`` and step ``root`` fields may be
    missing or hold anything (placeholders); ``format`` and ``version`` may be omitted. Every
    other field is checked as in a bundle. The genesis root becomes batch 0's ``prev_root``;
    each step's ``root`` is the root after re-executing it (invalid transactions are no-op
    steps); each later batch's ``prev_root`` is the previous batch's final root. The result
    replays valid (`watchtower replay`); edit a root afterwards to make a fraud.

    The output is written to --out (refused if it is the DRAFT, or exists without --force)
    or standard output.

    Exit status: 0 written, 2 unusable input.

    \b
    Examples:
      watchtower fill-roots draft.json -o bundle.json
      watchtower fill-roots draft.json | watchtower replay /dev/stdin
    """
    from watchtower.errors import TransitionInvariantError
    from watchtower.execute.audit import honest_run
    from watchtower.execute.replay import init_genesis
    from watchtower.execute.statedb import StateDB
    from watchtower.execute.transition import rules_of_protocol
    from watchtower.rollup.bundle import (
        BUNDLE_FORMAT,
        BUNDLE_VERSION,
        bundle_to_json,
        load_json_document,
        parse_bundle,
    )
    from watchtower.rollup.types import Step

    if out is not None:
        if out.exists() and draft.exists() and out.resolve() == draft.resolve():
            raise InputError(f"--out {out} is the draft itself: write the bundle elsewhere")
        if out.exists() and not force:
            raise InputError(f"--out {out} exists: pass --force to overwrite it")
    document = load_json_document(draft)
    if not isinstance(document, dict):
        raise InputError(f"{draft}: expected a bundle object")
    document.setdefault("format", BUNDLE_FORMAT)
    document.setdefault("version", BUNDLE_VERSION)
    if document["version"] == 2:  # a draft without deposit steps may leave out the queue
        document.setdefault("deposits", [])
    placeholder = "0x" + "00" * 32
    batches = document.get("batches")
    if isinstance(batches, list):
        for raw in batches:
            if not isinstance(raw, dict):
                continue
            raw["prev_root"] = placeholder
            steps_raw = raw.get("steps")
            for s in steps_raw if isinstance(steps_raw, list) else []:
                if isinstance(s, dict):
                    s["root"] = placeholder
    parsed = parse_bundle(document)
    with tempfile.TemporaryDirectory(prefix="wt-fill-") as tmp, StateDB(Path(tmp)) as state_db:
        root = init_genesis(state_db, parsed.genesis)
        filled = []
        try:
            rules = rules_of_protocol(parsed.protocol)
            for honest in honest_run(state_db, parsed.batches, root, rules=rules):
                b = honest.batch
                steps = tuple(
                    Step(tx=s.tx, root=t.computed_root)
                    for s, t in zip(b.steps, honest.traces, strict=True)
                )
                filled.append(replace(b, prev_root=honest.prev_root, steps=steps))
        except TransitionInvariantError as exc:
            raise InputError(f"{draft}: cannot re-execute: {exc}") from None
    result = replace(parsed, batches=tuple(filled))
    text = json.dumps(bundle_to_json(result), indent=1) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
    _err.print(
        f"{out}: {len(filled)} batches, {sum(len(b.steps) for b in filled)} roots filled "
        f"(genesis root 0x{root.hex()})",
        markup=False,
    )
