"""Build a single-step fraud proof and check it using only its own witness.

A proof for step ``k`` of a batch carries exactly what the rollup contract's ``challenge`` takes
(docs/protocol.md §5): the step's transaction and claimed post-root with their inclusion proof,
the previous step's transaction hash and claimed root with theirs (not for ``k = 0``), and the
Merkle-Patricia nodes proving every account the step touches against the pre-step root. It also
carries the on-chain facts the checker needs (steps root, count, pre-root of the batch, coinbase,
parameters) and, for humans, the root the builder computed.

:func:`check_fraud_proof` re-executes the step with the project's own engine over a database that
holds *only* the witness nodes: an incomplete witness fails loudly (a node is missing), so a proof
that checks here has everything the contract will ask for.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth.db.atomic import AtomicDB
from eth.db.backends.memory import MemoryDB
from eth.vm.interrupt import MissingAccountTrieNode
from eth_hash.auto import keccak
from trie.exceptions import MissingTrieNode
from trie.hexary import HexaryTrie

from watchtower.errors import InputError, WatchtowerError
from watchtower.execute.replay import iter_steps
from watchtower.execute.state import open_state
from watchtower.execute.statedb import PendingWrites, PrunedStateError, StateDB
from watchtower.execute.transition import RuleSet, apply_step
from watchtower.execute.trie import encode_node
from watchtower.proof.withdrawal import claim_witness
from watchtower.rollup import jsontext
from watchtower.rollup.bridge import decode_deposit
from watchtower.rollup.codec import (
    leaf_from_hash,
    step_leaf,
    steps_root,
    verify_leaf_proof,
)
from watchtower.rollup.params import RollupParams
from watchtower.rollup.transactions import Rejected, check_transfer
from watchtower.rollup.types import Batch, BlockContext, Step, hex0x

PROOF_FORMAT = "watchtower-fraud-proof"
PROOF_VERSION = 1
#: The fields of a proof file (docs/schemas/proof.schema.json); any other is refused.
_PROOF_KEYS = frozenset(
    {
        "format", "version", "batch", "step", "tx", "post_root", "post_proof", "prev_tx_hash",
        "prev_root", "prev_proof", "state_nodes", "batch_prev_root", "steps_root", "count",
        "coinbase", "params", "computed_root",
    }
)  # fmt: skip
_PARAMS_KEYS = frozenset({"chain_id", "base_fee", "gas_limit"})
ZERO32 = b"\x00" * 32


class NoFraudError(WatchtowerError):
    """The step's claimed root is what re-execution gives: there is nothing to prove."""

    def __init__(self, batch: int, step: int, root: bytes) -> None:
        self.batch = batch
        self.step = step
        self.root = root
        super().__init__(f"batch {batch} step {step}: claimed root 0x{root.hex()} is correct")


class ProofError(InputError):
    """A proof file is malformed, or its inclusion proofs or witness do not check."""


@dataclass(frozen=True)
class FraudProof:
    """Everything ``challenge(index, step, witness, stateNodes)`` needs, plus what to check it."""

    batch: int
    step: int
    tx: bytes
    post_root: bytes
    post_proof: tuple[bytes, ...]
    prev_tx_hash: bytes
    prev_root: bytes
    prev_proof: tuple[bytes, ...]
    state_nodes: tuple[bytes, ...]
    # On-chain facts of the batch, and the rollup's parameters.
    batch_prev_root: bytes
    steps_root: bytes
    count: int
    coinbase: bytes
    params: RollupParams
    # What the builder computed (informational; the checker recomputes it).
    computed_root: bytes

    @property
    def pre_root(self) -> bytes:
        return self.batch_prev_root if self.step == 0 else self.prev_root

    def challenge_args(self) -> tuple[int, int, tuple[Any, ...], list[bytes]]:
        """Arguments of ``Rollup.challenge`` in ABI order."""
        witness = (
            self.tx,
            self.post_root,
            list(self.post_proof),
            self.prev_tx_hash,
            self.prev_root,
            list(self.prev_proof),
        )
        return self.batch, self.step, witness, list(self.state_nodes)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PROOF_FORMAT,
            "version": PROOF_VERSION,
            "batch": self.batch,
            "step": self.step,
            "tx": hex0x(self.tx),
            "post_root": hex0x(self.post_root),
            "post_proof": [hex0x(h) for h in self.post_proof],
            "prev_tx_hash": hex0x(self.prev_tx_hash),
            "prev_root": hex0x(self.prev_root),
            "prev_proof": [hex0x(h) for h in self.prev_proof],
            "state_nodes": [hex0x(n) for n in self.state_nodes],
            "batch_prev_root": hex0x(self.batch_prev_root),
            "steps_root": hex0x(self.steps_root),
            "count": self.count,
            "coinbase": hex0x(self.coinbase),
            "params": {
                "chain_id": self.params.chain_id,
                "base_fee": self.params.base_fee,
                "gas_limit": self.params.gas_limit,
            },
            "computed_root": hex0x(self.computed_root),
        }

    @classmethod
    def from_json(cls, doc: Any) -> FraudProof:
        try:
            if doc["format"] != PROOF_FORMAT or doc["version"] != PROOF_VERSION:
                raise ProofError(
                    f"not a {PROOF_FORMAT} version {PROOF_VERSION} document "
                    f"(format={doc.get('format')!r}, version={doc.get('version')!r})"
                )

            unknown = sorted(set(doc) - _PROOF_KEYS) + [
                f"params.{k}" for k in sorted(set(doc["params"]) - _PARAMS_KEYS)
            ]
            if unknown:
                raise ProofError(f"unknown proof field(s): {', '.join(map(str, unknown))}")

            def b(key: str, length: int | None = None) -> bytes:
                raw = bytes.fromhex(str(doc[key]).removeprefix("0x"))
                if length is not None and len(raw) != length:
                    raise ProofError(f"proof field {key!r} must be {length} bytes, got {len(raw)}")
                return raw

            def hashes(key: str) -> tuple[bytes, ...]:
                out = tuple(bytes.fromhex(str(h).removeprefix("0x")) for h in doc[key])
                if any(len(h) != 32 for h in out):
                    raise ProofError(f"proof field {key!r} must hold 32-byte hashes")
                return out

            params = doc["params"]
            return cls(
                batch=int(doc["batch"]),
                step=int(doc["step"]),
                tx=b("tx"),
                post_root=b("post_root", 32),
                post_proof=hashes("post_proof"),
                prev_tx_hash=b("prev_tx_hash", 32),
                prev_root=b("prev_root", 32),
                prev_proof=hashes("prev_proof"),
                state_nodes=tuple(
                    bytes.fromhex(str(n).removeprefix("0x")) for n in doc["state_nodes"]
                ),
                batch_prev_root=b("batch_prev_root", 32),
                steps_root=b("steps_root", 32),
                count=int(doc["count"]),
                coinbase=b("coinbase", 20),
                params=RollupParams(
                    chain_id=int(params["chain_id"]),
                    base_fee=int(params["base_fee"]),
                    gas_limit=int(params["gas_limit"]),
                ),
                computed_root=b("computed_root", 32),
            )
        except ProofError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProofError(f"malformed proof: {type(exc).__name__}: {exc}") from None

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> FraudProof:
        try:
            return cls.from_json(jsontext.loads(path.read_text(encoding="utf-8")))
        except OSError as exc:
            raise ProofError(f"{path}: cannot read: {exc.strerror or exc}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ProofError(f"{path}: not JSON: {exc}") from None


def touched_accounts(
    tx: bytes, coinbase: bytes, params: RollupParams, rules: RuleSet = RuleSet.ROLLUP
) -> list[bytes]:
    """The accounts a step reads or writes: sender, recipient, coinbase (none if undecodable);
    for a deposit step (protocol v2, §8.2) its recipient alone."""
    if rules is RuleSet.ROLLUP:
        deposit = decode_deposit(tx)
        if deposit is not None:
            return [deposit.recipient]
    checked = check_transfer(tx, params)
    if isinstance(checked, Rejected):
        return []
    out: list[bytes] = []
    for address in (checked.sender, checked.to, coinbase):
        if address not in out:
            out.append(address)
    return out


def account_witness(db: Any, root: bytes, addresses: list[bytes]) -> tuple[bytes, ...]:
    """RLP-encoded trie nodes proving each address (present or absent) under ``root``."""
    trie = HexaryTrie(db, root)
    nodes: dict[bytes, None] = {}
    for address in addresses:
        for node in trie.get_proof(keccak(address)):  # type: ignore[no-untyped-call]
            nodes[encode_node(node)] = None
    return tuple(nodes)


def build_fraud_proof(
    store: StateDB,
    batch: Batch,
    step: int,
    params: RollupParams,
    *,
    allow_correct: bool = False,
    rules: RuleSet = RuleSet.ROLLUP,
) -> FraudProof:
    """The proof that ``step`` of ``batch`` claims a wrong root (under ``rules``: protocol v2 by
    default, the contract's; a deposit step's witness is its recipient's account).

    Replays the batch from its ``prev_root`` (which must be in ``store``) up to the step, in a
    scratch overlay that is discarded. Raises :class:`NoFraudError` if the step is correct (unless
    ``allow_correct``: tests use such proofs to check that the contract refuses them), and
    ``ValueError`` if an earlier step is already wrong (then ``step`` is not the one to prove).
    """
    if not 0 <= step < len(batch.steps):
        raise ValueError(f"batch {batch.index} has no step {step}")
    floor = store.pruned_below()
    if batch.index < floor:
        raise PrunedStateError(
            f"batch {batch.index}: its pre-state 0x{batch.prev_root.hex()} was pruned (only "
            f"batches from {floor} on are provable; see docs/operations.md, State pruning)"
        )
    scratch = PendingWrites(store)
    state = open_state(scratch, batch.prev_root, batch.context)
    for trace in iter_steps(state, batch, until=step - 1, rules=rules):
        if trace.computed_root != trace.claimed_root:
            raise ValueError(
                f"batch {batch.index}: step {trace.step} is already wrong; prove that step"
            )
    state.persist()
    pre_root = bytes(state.state_root)
    claimed = batch.steps[step]
    coinbase = batch.context.coinbase
    witness = account_witness(
        scratch, pre_root, touched_accounts(claimed.tx, coinbase, params, rules)
    )
    outcome = apply_step(state, claimed.tx, rules, batch=batch.index, step=step)
    scratch.discard()
    if outcome.root == claimed.root and not allow_correct:
        raise NoFraudError(batch.index, step, claimed.root)
    # The same StepWitness a withdrawal claim carries (§7.5 items 2-3, §8.5 item 2).
    tx, post_root, post_proof, prev_tx_hash, prev_root, prev_proof = claim_witness(batch, step)
    return FraudProof(
        batch=batch.index,
        step=step,
        tx=tx,
        post_root=post_root,
        post_proof=tuple(post_proof),
        prev_tx_hash=prev_tx_hash,
        prev_root=prev_root,
        prev_proof=tuple(prev_proof),
        state_nodes=witness,
        batch_prev_root=batch.prev_root,
        steps_root=steps_root(batch.steps),
        count=len(batch.steps),
        coinbase=coinbase,
        params=params,
        computed_root=outcome.root,
    )


@dataclass(frozen=True)
class ProofCheck:
    """The result of checking a proof: whether it shows fraud, and what re-execution gave."""

    fraud: bool
    computed_root: bytes
    claimed_root: bytes
    valid_tx: bool
    reason: str


def _tree_depth(count: int) -> int:
    depth = 0
    while (1 << depth) < count:
        depth += 1
    return depth


def check_fraud_proof(proof: FraudProof, rules: RuleSet = RuleSet.ROLLUP) -> ProofCheck:
    """Check a proof with no state at all: inclusion proofs, then the step over the witness only
    (under ``rules``, protocol v2 by default).

    Raises :class:`ProofError` when the proof cannot be checked (a bad inclusion proof, a witness
    missing a node); returns whether the claimed post-root is wrong.
    """
    depth = _tree_depth(proof.count)
    if not 0 <= proof.step < proof.count:
        raise ProofError(f"step {proof.step} is outside the batch (count {proof.count})")
    post_leaf = step_leaf(proof.step, Step(tx=proof.tx, root=proof.post_root))
    if len(proof.post_proof) != depth or not verify_leaf_proof(
        proof.steps_root, proof.step, post_leaf, list(proof.post_proof)
    ):
        raise ProofError(
            f"step {proof.step}: inclusion proof does not match the steps root: tx and post_root "
            f"{hex0x(proof.post_root)} are not committed at step {proof.step} of count "
            f"{proof.count} under steps_root {hex0x(proof.steps_root)} by post_proof"
        )
    if proof.step > 0:
        prev_leaf = leaf_from_hash(proof.step - 1, proof.prev_tx_hash, proof.prev_root)
        if len(proof.prev_proof) != depth or not verify_leaf_proof(
            proof.steps_root, proof.step - 1, prev_leaf, list(proof.prev_proof)
        ):
            raise ProofError(
                f"step {proof.step - 1}: inclusion proof does not match the steps root: "
                f"prev_tx_hash and prev_root {hex0x(proof.prev_root)} are not committed at step "
                f"{proof.step - 1} under steps_root {hex0x(proof.steps_root)} by prev_proof"
            )
    db = AtomicDB(MemoryDB({bytes(keccak(node)): node for node in proof.state_nodes}))
    context = BlockContext.of_batch(proof.batch, 0, proof.coinbase, proof.params)
    try:
        # Stock py-evm AccountDB and py-trie, no node cache: only the witness is visible.
        state = open_state(db, proof.pre_root, context, stock_trie=True)
        outcome = apply_step(state, proof.tx, rules, batch=proof.batch, step=proof.step)
    except (MissingAccountTrieNode, MissingTrieNode) as exc:
        raise ProofError(
            f"the witness lacks a trie node the step needs (pre-state root "
            f"{hex0x(proof.pre_root)}, coinbase {hex0x(proof.coinbase)}): {exc}"
        ) from None
    return ProofCheck(
        fraud=outcome.root != proof.post_root,
        computed_root=outcome.root,
        claimed_root=proof.post_root,
        valid_tx=outcome.valid,
        reason=(
            f"valid deposit {outcome.deposit.index} of {outcome.deposit.amount} wei to "
            f"{hex0x(outcome.deposit.recipient)}"
            if outcome.deposit is not None
            else "valid transfer"
            if outcome.valid
            else f"invalid: {outcome.reason}"
        ),
    )


@dataclass(frozen=True)
class Mismatch:
    """A value of a proof file that re-execution or the rollup contract does not confirm."""

    field: str  # the proof file's key, e.g. ``steps_root`` or ``params.base_fee``
    in_file: str
    actual: str
    source: str  # what gave ``actual``: "re-execution" or "L1"

    def __str__(self) -> str:
        return (
            f"{self.field}: the proof file says {self.in_file}, {self.source} gives {self.actual}"
        )

    def to_json(self) -> dict[str, str]:
        return {
            "field": self.field,
            "in_file": self.in_file,
            "actual": self.actual,
            "source": self.source,
        }


def unreproduced(proof: FraudProof, check: ProofCheck) -> list[Mismatch]:
    """Values of the file that re-execution does not reproduce: the ``computed_root`` it
    records (the builder's result) must be the root the step re-executes to with the file's own
    parameters, coinbase and pre-state root. A difference means the file was edited (the root, or
    one of those inputs)."""
    if proof.computed_root == check.computed_root:
        return []
    return [
        Mismatch(
            "computed_root",
            hex0x(proof.computed_root),
            f"{hex0x(check.computed_root)} (with the file's params.chain_id "
            f"{proof.params.chain_id}, params.base_fee {proof.params.base_fee}, coinbase and "
            "pre-state root)",
            "re-execution",
        )
    ]


def compare_commitments(
    proof: FraudProof,
    *,
    steps_root: bytes,
    prev_root: bytes,
    coinbase: bytes,
    count: int,
    chain_id: int,
    base_fee: int,
) -> list[Mismatch]:
    """Every commitment of the file that differs from the rollup contract's record of the batch
    (``getBatch``) and its parameters (``l2ChainId``, ``l2BaseFee``)."""
    pairs: list[tuple[str, str, str]] = [
        ("steps_root", hex0x(proof.steps_root), hex0x(steps_root)),
        ("batch_prev_root", hex0x(proof.batch_prev_root), hex0x(prev_root)),
        ("coinbase", hex0x(proof.coinbase), hex0x(coinbase)),
        ("count", str(proof.count), str(count)),
        ("params.chain_id", str(proof.params.chain_id), str(chain_id)),
        ("params.base_fee", str(proof.params.base_fee), str(base_fee)),
    ]
    return [Mismatch(name, mine, theirs, "L1") for name, mine, theirs in pairs if mine != theirs]


def build_checked_proof(
    store: StateDB,
    batch: Batch,
    step: int,
    params: RollupParams,
    *,
    built: Callable[[], None] | None = None,
    rules: RuleSet = RuleSet.ROLLUP,
) -> FraudProof:
    """:func:`build_fraud_proof`, then :func:`check_fraud_proof` on it: a proof is only handed
    out once it checks with nothing but its own witness (``built`` runs in between).

    Raises what :func:`build_fraud_proof` raises, and :class:`WatchtowerError` if the proof
    does not check (a bug in the builder)."""
    proof = build_fraud_proof(store, batch, step, params, rules=rules)
    if built is not None:
        built()
    checked = check_fraud_proof(proof, rules)
    if not checked.fraud:
        raise WatchtowerError(f"batch {batch.index} step {step}: proof does not check")
    return proof
