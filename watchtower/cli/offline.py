"""Offline commands: replay, conformance, prove, check-proof, gen-fixtures."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from watchtower.cli import (
    EXIT_FRAUD,
    EXIT_OK,
    _err,
    _fail,
    _open_state_db,
    _out,
    _progress,
    main,
)
from watchtower.errors import InputError, WatchtowerError


@main.command()
@click.argument("bundle", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of a table.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Keep the state database here (default: a temporary directory, removed afterwards).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def replay(bundle: Path, as_json: bool, data_dir: Path | None, quiet: bool) -> None:
    """Re-execute every batch of an offline BUNDLE and report a verdict per batch.

    A BUNDLE is a JSON file with a genesis allocation and the batches a proposer submitted, each
    with its block context, transactions and the state root it claims after every step
    (format: docs/protocol.md §6). Nothing is fetched from the network.

    \b
    Verdicts:
      valid        every step's root matches the re-execution
      fraud        first bad step, with the claimed and the computed root
      skipped      builds on a fraudulent batch (rejected with it, not replayed)
      undecidable  cannot be judged (the reason says why)

    Exit status: 0 all valid, 1 fraud found, 2 unusable input.
    """
    from watchtower.execute.replay import init_bundle, replay_batch
    from watchtower.rollup.bundle import load_bundle
    from watchtower.rollup.types import Verdict, VerdictKind

    loaded = load_bundle(bundle)
    total_steps = sum(len(b.steps) for b in loaded.batches)
    started = time.perf_counter()
    verdicts: list[Verdict] = []
    with tempfile.TemporaryDirectory(prefix="wt-replay-") as tmp:
        store = _open_state_db(data_dir or Path(tmp), sync=data_dir is not None)
        try:
            init_bundle(store, loaded)
            fraud_at: int | None = None
            with _progress(not quiet and not as_json, total_steps, "replaying") as bar:
                for batch in loaded.batches:
                    if fraud_at is not None:
                        verdicts.append(
                            Verdict(
                                batch=batch.index,
                                kind=VerdictKind.SKIPPED,
                                steps=len(batch.steps),
                                reason=f"builds on fraudulent batch {fraud_at}",
                            )
                        )
                        continue
                    head = store.head()
                    if head is not None and head.index >= batch.index:
                        store.rollback_to(batch.index - 1 if batch.index else None)
                    on_step = None
                    if bar is not None:
                        progress, task = bar
                        on_step = lambda _k, p=progress, t=task: p.advance(t)  # noqa: E731
                    verdict = replay_batch(store, batch, on_step=on_step)
                    verdicts.append(verdict)
                    if verdict.is_fraud:
                        fraud_at = batch.index
        finally:
            store.close()
    elapsed = time.perf_counter() - started
    _render_verdicts(verdicts, elapsed, total_steps, as_json, str(bundle))
    sys.exit(EXIT_FRAUD if any(v.is_fraud for v in verdicts) else EXIT_OK)


def _render_verdicts(
    verdicts: Sequence[Any], elapsed: float, steps: int, as_json: bool, source: str
) -> None:
    fraud = next((v for v in verdicts if v.is_fraud), None)
    if as_json:
        document = {
            "bundle": source,
            "batches": [v.to_json() for v in verdicts],
            "fraud": fraud.to_json() if fraud is not None else None,
            "steps": steps,
            "seconds": round(elapsed, 3),
        }
        click.echo(json.dumps(document, indent=1))
        return
    table = Table(title=f"replay of {source}", title_justify="left")
    for column in ("batch", "steps", "verdict", "invalid txs", "detail"):
        table.add_column(column, justify="right" if column in ("batch", "steps") else "left")
    styles = {"valid": "green", "fraud": "bold red", "skipped": "yellow", "undecidable": "magenta"}
    for v in verdicts:
        if v.is_fraud:
            claimed, computed = v.claimed_root.hex()[:16], v.computed_root.hex()[:16]
            detail = f"step {v.step}: claimed 0x{claimed}…, computed 0x{computed}…"
        else:
            detail = v.reason
        table.add_row(
            str(v.batch),
            str(v.steps),
            f"[{styles[v.kind.value]}]{v.kind.value}[/]",
            str(len(v.invalid_steps)),
            detail,
        )
    _out.print(table)
    rate = steps / elapsed if elapsed > 0 else 0.0
    _out.print(f"{len(verdicts)} batches, {steps} steps in {elapsed:.2f}s ({rate:,.0f} steps/s)")
    if fraud is not None:
        _out.print(
            f"[bold red]FRAUD[/] in batch {fraud.batch} at step {fraud.step}\n"
            f"  claimed root  0x{fraud.claimed_root.hex()}\n"
            f"  computed root 0x{fraud.computed_root.hex()}"
        )
    else:
        _out.print("[green]all batches valid[/]")


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--fork", default="Cancun", show_default=True, help="Fork key in the test files.")
@click.option("--quiet", "-q", is_flag=True, help="Only failures and the final line.")
def conformance(paths: tuple[Path, ...], fork: str, quiet: bool) -> None:
    """Run Ethereum GeneralStateTests files through watchtower's own engine.

    PATHS are JSON state-test files or directories searched recursively (default:
    ../shared/conformance/ethereum-tests). Every (test, index) case for FORK runs on the
    project's state database and transition in Ethereum mode; a failing case prints the
    expected and computed state root. Ends with the line `N passed, M failed`.

    Exit status: 0 all passed, 1 any failed, 2 no cases found or unreadable files.
    """
    from watchtower.conformance.runner import run_paths

    if not paths:
        paths = (Path("../shared/conformance/ethereum-tests"),)
    passed = failed = 0
    for result in run_paths(list(paths), fork):
        if result.passed:
            passed += 1
            if not quiet:
                click.echo(f"ok    {result.case.label}")
            continue
        failed += 1
        case = result.case
        click.echo(
            f"FAIL  {case.label}\n"
            f"      expected root 0x{case.expected_root.hex()}  logs 0x{case.expected_logs.hex()}\n"
            f"      computed root 0x{result.computed_root.hex()}"
            f"  logs 0x{result.computed_logs.hex()}"
            + (f"\n      tx: {result.detail}" if result.detail else "")
            + (
                f"\n      expected exception: {case.expect_exception}"
                if case.expect_exception
                else ""
            )
        )
    if passed + failed == 0:
        _fail(f"no {fork} state-test cases found under {', '.join(map(str, paths))}")
    click.echo(f"{passed} passed, {failed} failed")
    sys.exit(EXIT_FRAUD if failed else EXIT_OK)


@main.command()
@click.argument("bundle", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--batch", "batch_index", type=int, required=True, help="The fraudulent batch.")
@click.option("--step", type=int, help="The step to prove (default: the first bad step).")
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the proof here (default: standard output).",
)
def prove(bundle: Path, batch_index: int, step: int | None, out: Path | None) -> None:
    """Build the fraud proof for a batch of BUNDLE, offline, and check it before writing it.

    Batches before --batch are replayed (they must all be valid); the proof holds exactly the
    arguments of the rollup contract's `challenge` (inclusion proofs of the step and the one
    before it, Merkle-Patricia witnesses of every account the step touches) and the batch facts
    needed to check it. `watchtower check-proof FILE` checks it again with no state at all.

    Exit status: 0 proof written, 1 the batch (or step) is not fraudulent, 2 unusable input.
    """
    from watchtower.execute.replay import init_bundle, replay_batch
    from watchtower.execute.statedb import StateDB
    from watchtower.proof.fraud import NoFraudError, build_fraud_proof, check_fraud_proof
    from watchtower.rollup.bundle import load_bundle

    loaded = load_bundle(bundle)
    if not 0 <= batch_index < len(loaded.batches):
        raise InputError(f"bundle has batches 0..{len(loaded.batches) - 1}, not {batch_index}")
    target = loaded.batches[batch_index]
    with tempfile.TemporaryDirectory(prefix="wt-prove-") as tmp, StateDB(Path(tmp)) as store:
        init_bundle(store, loaded)
        for batch in loaded.batches[:batch_index]:
            verdict = replay_batch(store, batch)
            if verdict.kind.value != "valid":
                raise InputError(
                    f"batch {batch.index} before the target is {verdict.kind.value}: "
                    f"prove batch {batch.index} instead"
                )
        if target.prev_root != store.head_root():
            raise InputError(f"batch {batch_index} does not build on the verified chain")
        if step is None:
            verdict = replay_batch(store, target, commit=False)
            if not verdict.is_fraud or verdict.step is None:
                _err.print(f"batch {batch_index} is {verdict.kind.value}: nothing to prove")
                sys.exit(EXIT_FRAUD)
            step = verdict.step
        try:
            proof = build_fraud_proof(store, target, step, loaded.params)
        except NoFraudError as exc:
            _err.print(str(exc))
            sys.exit(EXIT_FRAUD)
        except ValueError as exc:
            raise InputError(str(exc)) from None
    check = check_fraud_proof(proof)
    if not check.fraud:  # pragma: no cover - would be a bug in the builder
        raise WatchtowerError(f"built proof does not check: {check}")
    text = json.dumps(proof.to_json(), indent=1) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
        _err.print(
            f"proof for batch {batch_index} step {step} written to {out} "
            f"({len(proof.state_nodes)} state nodes, checked locally)"
        )


@main.command("check-proof")
@click.argument("proof_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def check_proof(proof_file: Path, as_json: bool) -> None:
    """Check a fraud proof file with no state at all, using only its witness.

    Verifies the step inclusion proofs against the batch's steps root, then re-executes the step
    over a database holding nothing but the proof's trie nodes (a missing node is an error).

    Exit status: 0 the proof shows fraud, 1 the claimed root is in fact correct, 2 unusable proof.
    """
    from watchtower.proof.fraud import FraudProof, ProofError, check_fraud_proof
    from watchtower.rollup import jsontext

    # FraudProof.read, but through jsontext: a deeply nested file must not crash the parser.
    try:
        document = jsontext.loads(proof_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProofError(f"{proof_file}: cannot read: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProofError(f"{proof_file}: not JSON: {exc}") from None
    proof = FraudProof.from_json(document)
    result = check_fraud_proof(proof)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "fraud": result.fraud,
                    "batch": proof.batch,
                    "step": proof.step,
                    "claimed_root": "0x" + result.claimed_root.hex(),
                    "computed_root": "0x" + result.computed_root.hex(),
                    "transaction": result.reason,
                }
            )
        )
    elif result.fraud:
        _out.print(
            f"[bold red]FRAUD PROVEN[/] batch {proof.batch} step {proof.step} ({result.reason})\n"
            f"  claimed root  0x{result.claimed_root.hex()}\n"
            f"  computed root 0x{result.computed_root.hex()}"
        )
    else:
        _out.print(f"no fraud: batch {proof.batch} step {proof.step} claims the correct root")
    sys.exit(EXIT_OK if result.fraud else EXIT_FRAUD)


@main.command("gen-fixtures")
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False), default="fixtures")
@click.option("--only", multiple=True, help="Generate only these bundles (repeatable).")
def gen_fixtures(out_dir: Path, only: tuple[str, ...]) -> None:
    """Regenerate the fixture bundles (deterministic: same bytes every time) into OUT_DIR."""
    from watchtower.devtools.fixturegen import GENERATORS, generate_all

    unknown = [name for name in only if name not in GENERATORS]
    if unknown:
        _fail(f"unknown bundle {unknown[0]!r}; known: {', '.join(GENERATORS)}")
    for path in generate_all(out_dir, list(only) or None):
        click.echo(f"wrote {path}")
