"""Fraud proofs: prove (build one from a bundle) and check-proof (check one, offline or
against L1)."""

from __future__ import annotations

import enum
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from watchtower.cli import (
    EXIT_FRAUD,
    EXIT_OK,
    _err,
    _http_url,
    _out,
    json_option,
    main,
)
from watchtower.cli.replay import (
    noted,
    open_prechecker,
    open_root_worker,
    root_worker_option,
    worker_option,
)
from watchtower.errors import InputError


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
@worker_option
@root_worker_option
def prove(  # noqa: PLR0917 (one parameter per option)
    bundle: Path,
    batch_index: int,
    step: int | None,
    out: Path | None,
    as_json: bool,
    worker: bool,
    root_worker: bool | None,
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
    with (
        tempfile.TemporaryDirectory(prefix="wt-prove-") as tmp,
        StateDB(Path(tmp)) as state_db,
        open_prechecker(worker) as prechecker,
        open_root_worker(
            root_worker, sum(len(b.steps) for b in loaded.batches[:batch_index])
        ) as roots,
    ):
        init_bundle(state_db, loaded)
        # The state just before the target: every batch before it must verify.
        before = (Candidate.of(batch, None) for batch in loaded.batches[:batch_index])
        for outcome in verify_chain(
            state_db, before, rules=rules, prechecker=prechecker, roots=roots
        ):
            if noted(outcome).blocks:
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
