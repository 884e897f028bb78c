"""Offline commands: replay, conformance, prove, check-proof, gen-fixtures."""

from __future__ import annotations

import enum
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from watchtower.cli import (
    EXIT_FRAUD,
    EXIT_OK,
    _err,
    _fail,
    _http_url,
    _open_state_db,
    _out,
    _progress,
    json_option,
    main,
)
from watchtower.errors import InputError


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
def replay(
    bundle: Path, as_json: bool, audit_all: bool, data_dir: Path | None, quiet: bool
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
    with tempfile.TemporaryDirectory(prefix="wt-replay-") as tmp:
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
                for outcome in verify_chain(state_db, candidates, on_step=on_step, rules=rules):
                    verdicts.append(outcome.verdict)
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


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--fork", default="Cancun", show_default=True, help="Fork key in the test files.")
@click.option("--quiet", "-q", is_flag=True, help="Only failures and the final line.")
@json_option("Print one JSON document (counts and failures) instead of lines.")
def conformance(paths: tuple[Path, ...], fork: str, quiet: bool, as_json: bool) -> None:
    """Run Ethereum GeneralStateTests files through watchtower's own engine.

    PATHS are JSON state-test files or directories searched recursively (default:
    ../shared/conformance/ethereum-tests). Every (test, index) case for FORK runs on the
    project's state database and transition in Ethereum mode; a failing case prints the
    expected and computed state root. Ends with the line `N passed, M failed`.

    Exit status: 0 all passed, 1 any failed, 2 no cases found or unreadable files.

    \b
    Examples:
      watchtower conformance -q ../shared/conformance/ethereum-tests
      watchtower conformance ../shared/conformance/eest-fixtures_eest --fork Prague
    """
    from watchtower.conformance.runner import run_paths

    if not paths:
        paths = (Path("../shared/conformance/ethereum-tests"),)
    passed = failed = 0
    failures: list[dict[str, Any]] = []
    for result in run_paths(list(paths), fork):
        if result.passed:
            passed += 1
            if not quiet and not as_json:
                click.echo(f"ok    {result.case.label}")
            continue
        failed += 1
        case = result.case
        if as_json:
            failures.append(
                {
                    "case": case.label,
                    "expected_root": "0x" + case.expected_root.hex(),
                    "computed_root": "0x" + result.computed_root.hex(),
                    "expected_logs": "0x" + case.expected_logs.hex(),
                    "computed_logs": "0x" + result.computed_logs.hex(),
                    "detail": result.detail or None,
                    "expected_exception": case.expect_exception or None,
                }
            )
            continue
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
    if as_json:
        document = {"fork": fork, "passed": passed, "failed": failed, "failures": failures}
        click.echo(json.dumps(document, indent=1))
    else:
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
@json_option(
    "Print one JSON document: the batch, step and proof (or, with -o, where it was written), "
    "or why there is nothing to prove."
)
def prove(
    bundle: Path, batch_index: int, step: int | None, out: Path | None, as_json: bool
) -> None:
    """Build the fraud proof for a batch of BUNDLE, offline, and check it before writing it.

    Batches before --batch are replayed (they must all be valid); the proof holds exactly the
    arguments of the rollup contract's `challenge` (inclusion proofs of the step and the one
    before it, Merkle-Patricia witnesses of every account the step touches) and the batch facts
    needed to check it. `watchtower check-proof FILE` checks it again with no state at all.

    Exit status: 0 proof written, 1 the batch (or step) is not fraudulent, 2 unusable input.

    \b
    Examples:
      watchtower prove fixtures/fraud-wrong-root.json --batch 1 -o proof.json
      watchtower prove fixtures/fraud-wrong-root.json --batch 1 --step 7 -o proof.json
      watchtower check-proof proof.json
    """
    from watchtower.execute.replay import init_bundle, replay_batch
    from watchtower.execute.statedb import StateDB
    from watchtower.execute.transition import rules_of_protocol
    from watchtower.execute.verify import Candidate, verify_chain
    from watchtower.proof.fraud import NoFraudError, build_checked_proof
    from watchtower.rollup.bundle import load_bundle

    loaded = load_bundle(bundle)
    rules = rules_of_protocol(loaded.protocol)
    if not 0 <= batch_index < len(loaded.batches):
        raise InputError(f"bundle has batches 0..{len(loaded.batches) - 1}, not {batch_index}")
    target = loaded.batches[batch_index]
    with tempfile.TemporaryDirectory(prefix="wt-prove-") as tmp, StateDB(Path(tmp)) as state_db:
        init_bundle(state_db, loaded)
        # The state just before the target: every batch before it must verify.
        before = (Candidate.of(batch, None) for batch in loaded.batches[:batch_index])
        for outcome in verify_chain(state_db, before, rules=rules):
            if outcome.blocks:
                verdict = outcome.verdict
                raise InputError(
                    f"batch {verdict.batch} before the target is {verdict.kind.value}: "
                    f"prove batch {verdict.batch} instead"
                )
        if target.prev_root != state_db.head_root():
            raise InputError(f"batch {batch_index} does not build on the verified chain")
        if step is None:
            verdict = replay_batch(state_db, target, commit=False, rules=rules)
            if not verdict.is_fraud or verdict.step is None:
                _nothing_to_prove(
                    f"batch {batch_index} is {verdict.kind.value}: nothing to prove",
                    batch_index,
                    None,
                    as_json,
                )
            assert verdict.step is not None
            step = verdict.step
        try:
            proof = build_checked_proof(state_db, target, step, loaded.params, rules=rules)
        except NoFraudError as exc:
            _nothing_to_prove(str(exc), batch_index, step, as_json)
        except ValueError as exc:
            raise InputError(str(exc)) from None
    text = json.dumps(proof.to_json(), indent=1) + "\n"
    if out is None and not as_json:
        click.echo(text, nl=False)
    elif out is not None:
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
    if as_json:
        document = {
            "fraud": True,
            "batch": batch_index,
            "step": step,
            "out": str(out) if out is not None else None,
            "state_nodes": len(proof.state_nodes),
            "proof": proof.to_json() if out is None else None,
        }
        click.echo(json.dumps(document, indent=1))
    elif out is not None:
        _err.print(
            f"proof for batch {batch_index} step {step} written to {out} "
            f"({len(proof.state_nodes)} state nodes, checked locally)"
        )


def _nothing_to_prove(message: str, batch: int, step: int | None, as_json: bool) -> None:
    """prove's exit 1: the batch (or step) is not fraudulent."""
    if as_json:
        document = {"fraud": False, "batch": batch, "step": step, "message": message}
        click.echo(json.dumps(document, indent=1))
    _err.print(message, markup=False)
    sys.exit(EXIT_FRAUD)


class ProofVerdict(enum.StrEnum):
    """What check-proof concludes (the ``verdict`` of its JSON document)."""

    NO_FRAUD = "no_fraud"
    CONSISTENT_WITH_FILE = "consistent_with_file"
    L1_MISMATCH = "l1_mismatch"
    PROVEN_AGAINST_L1 = "proven_against_l1"


#: check-proof: the proof is well-formed and re-executes, but the rollup contract on L1 records
#: different commitments for the batch (another rollup, an edited file, a batch replaced).
EXIT_L1_MISMATCH = 3


@main.command("check-proof")
@click.argument("proof_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--l1-rpc",
    callback=_http_url,
    help="Also check the file's commitments against the rollup contract on this L1 node "
    "(needs --rollup).",
)
@click.option("--rollup", "rollup_address", help="The rollup contract's address (with --l1-rpc).")
@json_option("Print the result as one JSON document (an error object on unusable input).")
def check_proof(
    proof_file: Path, l1_rpc: str | None, rollup_address: str | None, as_json: bool
) -> None:
    """Check a fraud proof file: re-execute its step, and with --l1-rpc/--rollup check it
    against the rollup contract.

    \b
    Without L1 (no RPC, no state at all) it checks what the file alone can show: the step's
    and the previous step's inclusion proofs against the file's steps root, then re-executes
    the step over a database holding nothing but the file's trie nodes (a missing node is an
    error), with the file's pre-state root, coinbase, chain id and base fee. A value the
    re-execution does not reproduce (the computed_root the file records) is an error. A proof
    that passes is *consistent with the commitments in the file*: nothing says those are the
    batch's commitments on chain (anyone can write a file), so it is not reported as proven.

    \b
    With --l1-rpc URL --rollup ADDR it also reads the contract: the batch's steps root,
    previous root, coinbase, step count and status (getBatch), and the rollup's chain id and
    base fee (l2ChainId, l2BaseFee), and re-executes the step with the contract's own
    executeStep view on the file's witness. Every difference is named; only when all match is
    the fraud reported as proven against the rollup at ADDR, with whether the batch can still
    be challenged (pending, and the L1 time not past its deadline).

    \b
    Examples:
      watchtower check-proof proof.json
      watchtower check-proof proof.json --l1-rpc http://127.0.0.1:8545 --rollup 0x5FbD...
      watchtower check-proof --json proof.json --l1-rpc $L1 --rollup $ROLLUP | jq .verdict

    \b
    Exit status:
      0  the step's claimed root is wrong: consistent with the file's commitments (without
         L1), or proven against the rollup at ADDR (with L1; challengeable or not)
      1  the claimed root is in fact correct: no fraud
      2  unusable input: a malformed file, a bad inclusion proof or witness, a value
         re-execution does not reproduce (e.g. an edited computed_root), an unreachable L1
      3  with L1 only: the file's commitments differ from the contract's (one line names
         every difference: field, the file's value, L1's value)
    """
    from watchtower.proof.fraud import (
        FraudProof,
        ProofError,
        check_fraud_proof,
        unreproduced,
    )
    from watchtower.rollup import jsontext

    if (l1_rpc is None) != (rollup_address is None):
        raise InputError("--l1-rpc and --rollup go together: give both to check against L1")
    # FraudProof.read, but through jsontext: a deeply nested file must not crash the parser.
    try:
        document = jsontext.loads(proof_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProofError(f"{proof_file}: cannot read: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProofError(f"{proof_file}: not JSON: {exc}") from None
    proof = FraudProof.from_json(document)
    result = check_fraud_proof(proof)
    wrong = unreproduced(proof, result)
    if wrong:
        raise ProofError(f"{proof_file}: " + "; ".join(map(str, wrong)))
    facts = _proof_facts(proof, result)
    l1: dict[str, Any] | None = None
    mismatches: list[Any] = []
    if l1_rpc is not None and rollup_address is not None:
        l1, mismatches = _check_against_l1(proof, l1_rpc, rollup_address)
    if not result.fraud:
        verdict = ProofVerdict.NO_FRAUD
    elif l1 is None:
        verdict = ProofVerdict.CONSISTENT_WITH_FILE
    elif mismatches:
        verdict = ProofVerdict.L1_MISMATCH
    else:
        verdict = ProofVerdict.PROVEN_AGAINST_L1
    if as_json:
        click.echo(
            json.dumps(
                {
                    "verdict": verdict.value,
                    "fraud": result.fraud,
                    "checked_against_l1": l1 is not None,
                    "proven_on_l1": verdict is ProofVerdict.PROVEN_AGAINST_L1,
                    **facts,
                    "transaction": result.reason,
                    "l1": l1,
                    "mismatches": [m.to_json() for m in mismatches],
                },
                indent=1,
            )
        )
    else:
        _render_proof_check(proof, result, facts, verdict, l1)
    if verdict is ProofVerdict.L1_MISMATCH:
        where = f"the rollup at {rollup_address}"
        _err.print(
            f"error: {proof_file} does not match {where} on L1: " + "; ".join(map(str, mismatches)),
            markup=False,
            soft_wrap=True,
        )
        sys.exit(EXIT_L1_MISMATCH)
    sys.exit(EXIT_FRAUD if verdict is ProofVerdict.NO_FRAUD else EXIT_OK)


def _proof_facts(proof: Any, result: Any) -> dict[str, Any]:
    """The commitments a proof file relies on, and what re-execution gave (JSON values)."""
    return {
        "batch": proof.batch,
        "step": proof.step,
        "count": proof.count,
        "steps_root": "0x" + proof.steps_root.hex(),
        "batch_prev_root": "0x" + proof.batch_prev_root.hex(),
        "pre_state_root": "0x" + proof.pre_root.hex(),
        "coinbase": "0x" + proof.coinbase.hex(),
        "chain_id": proof.params.chain_id,
        "base_fee": proof.params.base_fee,
        "claimed_root": "0x" + result.claimed_root.hex(),
        "computed_root": "0x" + result.computed_root.hex(),
    }


def _check_against_l1(
    proof: Any, l1_rpc: str, rollup_address: str
) -> tuple[dict[str, Any], list[Any]]:
    """Read the batch and the parameters from the rollup contract; the L1 facts and every
    commitment of the proof that differs (an unreadable L1 is an input error, exit 2)."""
    from web3.exceptions import Web3Exception

    from watchtower.l1.instrumented import endpoint_label
    from watchtower.l1.rollup import L1UnavailableError, OnChainStatus, connect, reverts
    from watchtower.proof.fraud import Mismatch, compare_commitments

    client = connect((l1_rpc,), rollup_address)[0]
    if not 0 <= proof.batch < 2**256:
        raise InputError(f"proof field 'batch' {proof.batch} is not a batch index")
    try:
        params = client.params()
        batch = client.batch(proof.batch)
        l1_time = int(client.w3.eth.get_block("latest")["timestamp"])
    except reverts(Web3Exception, OSError, ValueError) as exc:
        raise L1UnavailableError(
            f"cannot read the rollup at {rollup_address} on {endpoint_label(l1_rpc)}: "
            f"{type(exc).__name__}"
        ) from None
    challengeable = batch.status is OnChainStatus.PENDING and l1_time <= batch.deadline
    facts: dict[str, Any] = {
        "rollup": client.address,
        "status": batch.status.name.lower(),
        "deadline": batch.deadline,
        "l1_time": l1_time,
        "challengeable": challengeable,
        "steps_root": "0x" + batch.steps_root.hex(),
        "batch_prev_root": "0x" + batch.prev_root.hex(),
        "coinbase": "0x" + batch.coinbase.hex(),
        "count": batch.count,
        "chain_id": params.chain_id,
        "base_fee": params.base_fee,
    }
    if batch.status is OnChainStatus.NONE:
        return facts, [
            Mismatch("batch", str(proof.batch), "no such batch on the rollup", "L1"),
            *compare_commitments(
                proof,
                steps_root=proof.steps_root,
                prev_root=proof.batch_prev_root,
                coinbase=proof.coinbase,
                count=proof.count,
                chain_id=params.chain_id,
                base_fee=params.base_fee,
            ),
        ]
    mismatches = compare_commitments(
        proof,
        steps_root=batch.steps_root,
        prev_root=batch.prev_root,
        coinbase=batch.coinbase,
        count=batch.count,
        chain_id=params.chain_id,
        base_fee=params.base_fee,
    )
    facts["contract_computed_root"] = None
    if not mismatches:
        # The contract's own verifier, on the same witness: the root a challenge would compute.
        mismatches.extend(_contract_reexecution(client, proof, facts))
    return facts, mismatches


def _contract_reexecution(client: Any, proof: Any, facts: dict[str, Any]) -> list[Any]:
    """Re-execute the step with the contract's ``executeStep`` view (skipped if the deployed
    ABI has none); a different root, or a revert, is a mismatch."""
    from web3 import Web3

    from watchtower.l1.rollup import reverts
    from watchtower.proof.fraud import Mismatch

    names = {item.get("name") for item in client.contract.abi if item.get("type") == "function"}
    if "executeStep" not in names:
        return []
    call = client.contract.functions.executeStep(
        proof.pre_root,
        proof.tx,
        Web3.to_checksum_address(proof.coinbase),
        list(proof.state_nodes),
    )
    try:
        _reason, _sender, root = call.call()
    except reverts() as exc:
        message = getattr(exc, "message", None) or str(exc)
        return [Mismatch("state_nodes", "a witness for the step", f"a revert: {message}", "L1")]
    facts["contract_computed_root"] = "0x" + bytes(root).hex()
    if bytes(root) != proof.computed_root:
        return [
            Mismatch(
                "computed_root",
                "0x" + proof.computed_root.hex(),
                "0x" + bytes(root).hex(),
                "the contract's executeStep",
            )
        ]
    return []


def _render_proof_check(
    proof: Any, result: Any, facts: dict[str, Any], verdict: ProofVerdict, l1: dict[str, Any] | None
) -> None:
    if verdict is ProofVerdict.NO_FRAUD:
        _out.print(f"no fraud: batch {proof.batch} step {proof.step} claims the correct root")
    elif verdict is ProofVerdict.PROVEN_AGAINST_L1:
        assert l1 is not None
        _out.print(
            f"[bold red]FRAUD PROVEN[/] against the rollup at {l1['rollup']}: "
            f"batch {proof.batch} step {proof.step} ({result.reason})"
        )
    elif verdict is ProofVerdict.L1_MISMATCH:
        assert l1 is not None
        _out.print(
            f"[bold]NOT PROVEN[/]: the proof's commitments differ from the rollup at "
            f"{l1['rollup']} (see the error line)"
        )
    else:
        _out.print(
            f"proof is consistent with the commitments in the file: batch {proof.batch} step "
            f"{proof.step} re-executes to a root other than the claimed one ({result.reason}); "
            "not checked against L1 (pass --l1-rpc and --rollup)"
        )
    pre = "  (= previous root)" if proof.step == 0 else f"  (claimed by step {proof.step - 1})"
    # (label, shown, key in the L1 facts and its value in the file, or None)
    rows: list[tuple[str, str, tuple[str, str] | None]] = [
        ("batch", str(proof.batch), None),
        ("step", f"{proof.step} of {proof.count}", ("count", str(proof.count))),
        ("steps root", facts["steps_root"], ("steps_root", facts["steps_root"])),
        ("previous root", facts["batch_prev_root"], ("batch_prev_root", facts["batch_prev_root"])),
        ("pre-state root", facts["pre_state_root"] + pre, None),
        ("coinbase", facts["coinbase"], ("coinbase", facts["coinbase"])),
        ("chain id", str(proof.params.chain_id), ("chain_id", str(proof.params.chain_id))),
        ("base fee", f"{proof.params.base_fee} wei", ("base_fee", str(proof.params.base_fee))),
        ("claimed root", facts["claimed_root"] + f"  (step {proof.step}, committed)", None),
        ("computed root", facts["computed_root"] + "  (re-executed from the witness)", None),
    ]
    if l1 is not None and l1.get("contract_computed_root") is not None:
        same = l1["contract_computed_root"] == facts["computed_root"]
        rows.append(
            (
                "",
                "the contract's executeStep gives "
                + ("the same root" if same else l1["contract_computed_root"]),
                None,
            )
        )
    for label, shown, compared in rows:
        mark = ""
        if l1 is not None and compared is not None:
            key, mine = compared
            theirs = str(l1[key])
            mark = "   = L1" if theirs == mine else f"   L1 HAS {theirs}"
        _out.print(f"  {label:<15}{shown}{mark}", markup=False)
    if l1 is not None:
        left = l1["deadline"] - l1["l1_time"]
        if l1["challengeable"]:
            state = f"pending, deadline in {left} s: still challengeable"
        elif l1["status"] == "pending":
            state = f"pending, deadline passed {-left} s ago: no longer challengeable"
        elif l1["status"] == "none":
            state = "no such batch on the rollup"
        else:
            state = f"{l1['status']}: not challengeable"
        _out.print(f"  {'batch status':<15}{state}", markup=False)


def _load_json(path: Path) -> Any:
    from watchtower.errors import BundleError
    from watchtower.rollup import jsontext

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BundleError(str(path), f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise BundleError(str(path), "is not UTF-8 text") from None
    try:
        return jsontext.loads(text)
    except json.JSONDecodeError as exc:
        raise BundleError(str(path), f"invalid JSON at line {exc.lineno}: {exc.msg}") from None


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
    from watchtower.rollup.bundle import BUNDLE_FORMAT, parse_genesis

    document = _load_json(file)
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
        parse_bundle,
    )
    from watchtower.rollup.types import Step

    if out is not None:
        if out.exists() and draft.exists() and out.resolve() == draft.resolve():
            raise InputError(f"--out {out} is the draft itself: write the bundle elsewhere")
        if out.exists() and not force:
            raise InputError(f"--out {out} exists: pass --force to overwrite it")
    document = _load_json(draft)
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
