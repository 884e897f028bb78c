"""Bundle format version 2 (docs/protocol.md §6, §8.7): the deposit queue, strictly parsed and
checked against the batches' deposit steps; replay, prove and fill-roots under the bundle's
protocol version."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT
from tests.schema_check import errors
from watchtower.cli import main
from watchtower.errors import InputError
from watchtower.execute.replay import init_genesis
from watchtower.execute.state import build_genesis
from watchtower.execute.statedb import PendingWrites, StateDB
from watchtower.execute.transition import RuleSet
from watchtower.rollup.bridge import Deposit, encode_deposit
from watchtower.rollup.bundle import Bundle, bundle_to_json, load_bundle, parse_bundle
from watchtower.rollup.params import (
    BRIDGE_ADDRESS,
    DEPOSIT_INCLUSION_DELAY,
    MAX_DEPOSIT,
    TRANSFER_GAS,
    RollupParams,
)
from watchtower.rollup.types import Batch, BlockContext, GenesisAccount, Step
from watchtower_dev.builder import build_batch
from watchtower_dev.txgen import accounts, transfer

SCHEMA = json.loads((ROOT / "docs" / "schemas" / "bundle.schema.json").read_text())
PARAMS = RollupParams()
ALICE, BOB, MINER, L1USER = accounts(4, b"bundle-v2")
FRESH = b"\x42" * 20
ETHER = 10**18
T0 = 1_700_000_000
ALLOC = {ALICE.address: GenesisAccount(balance=10 * ETHER)}
QUEUE = (
    Deposit(0, L1USER.address, FRESH, 2 * ETHER, T0 - 100, 10),
    Deposit(1, L1USER.address, ALICE.address, 5, T0 - 50, 11),
    Deposit(2, L1USER.address, BOB.address, 7, T0 + 10, 12),
)


def _send(nonce: int, to: bytes, value: int) -> bytes:
    return transfer(ALICE, to, nonce=nonce, value=value, chain_id=PARAMS.chain_id)


def _batches(tmp_path: Path, rules: RuleSet = RuleSet.ROLLUP) -> tuple[Batch, ...]:
    """Batch 0: deposits 0 and 1, a withdrawal, a transfer. Batch 1: deposit 2, a withdrawal."""
    plan = [
        [
            encode_deposit(0, FRESH, 2 * ETHER),
            _send(0, BRIDGE_ADDRESS, ETHER),
            encode_deposit(1, ALICE.address, 5),
            _send(1, BOB.address, 3),
        ],
        [_send(2, BRIDGE_ADDRESS, 4), encode_deposit(2, BOB.address, 7)],
    ]
    with StateDB(tmp_path / f"build-{rules.value}", sync=False) as store:
        root = init_genesis(store, ALLOC)
        pending = PendingWrites(store)
        out = []
        for index, txs in enumerate(plan):
            ctx = BlockContext.of_batch(index, T0 + 60 * index, MINER.address, PARAMS)
            if rules is RuleSet.ROLLUP:
                batch = build_batch(pending, index, root, ctx, txs)
            else:  # the honest v1 batch: a deposit step is a no-op
                from watchtower.execute.state import open_state
                from watchtower.execute.transition import apply_step

                state = open_state(pending, root, ctx)
                steps = tuple(Step(tx, apply_step(state, tx, rules).root) for tx in txs)
                state.persist()
                batch = Batch(index, root, ctx, steps)
            out.append(batch)
            root = batch.final_root
        pending.discard()
    return tuple(out)


def _document(tmp_path: Path) -> dict[str, Any]:
    bundle = Bundle(PARAMS, ALLOC, _batches(tmp_path), version=2, deposits=QUEUE)
    return bundle_to_json(bundle)


def _write(tmp_path: Path, document: dict[str, Any], name: str = "b.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_a_v2_bundle_round_trips_and_validates(tmp_path: Path) -> None:
    document = _document(tmp_path)
    assert document["version"] == 2 and len(document["deposits"]) == 3
    assert list(errors(SCHEMA, document)) == []
    loaded = load_bundle(_write(tmp_path, document))
    assert loaded.version == 2 and loaded.protocol == 2 and loaded.deposits == QUEUE
    assert bundle_to_json(loaded) == document


def test_replay_reports_deposits_and_withdrawals(tmp_path: Path) -> None:
    path = _write(tmp_path, _document(tmp_path))
    code, out, err = _run("replay", "-q", "--json", str(path))
    assert code == 0, err
    doc = json.loads(out)
    b0, b1 = (b["bridge"] for b in doc["batches"])
    assert (b0["deposits"], b0["deposited"]) == (2, 2 * ETHER + 5)
    assert (b0["withdrawals"], b0["withdrawn"]) == (1, ETHER)
    assert b0["withdrawal_list"] == [
        {"step": 1, "account": "0x" + ALICE.address.hex(), "amount": ETHER}
    ]
    assert (b1["deposits"], b1["deposited"], b1["withdrawals"], b1["withdrawn"]) == (1, 7, 1, 4)
    fee = TRANSFER_GAS * PARAMS.base_fee
    assert doc["bridge"] == {
        "deposits": 3,
        "deposited": 2 * ETHER + 12,
        "withdrawals": 2,
        "withdrawn": ETHER + 4,
        "burned": 3 * fee,
    }
    code, text, _ = _run("replay", "-q", str(path))
    assert code == 0
    assert "bridge: 3 deposits credited (2000000000000000012 wei), 2 withdrawals" in text
    assert "made (1000000000000000004 wei) by the valid batches" in text


def test_a_v1_bundle_replays_under_v1(tmp_path: Path) -> None:
    """The same transactions in a version 1 bundle: its honest roots treat the deposit steps
    as no-ops, and it replays valid; claiming the v2 roots there is fraud at the first deposit."""
    v1 = Bundle(PARAMS, ALLOC, _batches(tmp_path, RuleSet.ROLLUP_V1))
    document = bundle_to_json(v1)
    assert document["version"] == 1 and "deposits" not in document
    assert list(errors(SCHEMA, document)) == []
    code, out, err = _run("replay", "-q", "--json", str(_write(tmp_path, document, "v1.json")))
    assert code == 0, err
    assert all("bridge" not in b for b in json.loads(out)["batches"])
    v2_roots = bundle_to_json(Bundle(PARAMS, ALLOC, _batches(tmp_path), version=1))
    code, out, _ = _run("replay", "-q", "--json", str(_write(tmp_path, v2_roots, "v1b.json")))
    assert code == 1
    assert json.loads(out)["fraud"]["batch"] == 0 and json.loads(out)["fraud"]["step"] == 0


def _deposit_field(position: int, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        if value is _DELETE:
            del document["deposits"][position][key]
        else:
            document["deposits"][position][key] = value

    return edit


_DELETE = object()


def _top(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        if value is _DELETE:
            del document[key]
        else:
            document[key] = value

    return edit


#: (edit, what the parser's message names, whether the schema can see it)
MALFORMED: dict[str, tuple[Callable[[dict[str, Any]], None], str, bool]] = {
    "no deposits in v2": (_top("deposits", _DELETE), "missing field 'deposits'", True),
    "deposits not a list": (_top("deposits", {}), "bundle deposits: expected a list", True),
    "deposits in v1": (_top("version", 1), "bundle deposits: unknown key", True),
    "version 3": (_top("version", 3), "version 3 is not supported", True),
    "unknown deposit key": (_deposit_field(0, "value", 1), "deposits[0].value", True),
    "missing sender": (_deposit_field(1, "sender", _DELETE), "missing field 'sender'", True),
    "short recipient": (_deposit_field(0, "recipient", "0x12"), "expected 20 bytes", True),
    "index gap": (_deposit_field(1, "index", 2), "deposits[1].index: is 2, expected 1", False),
    "zero amount": (_deposit_field(0, "amount", 0), "a deposit of zero", False),
    "amount above MAX_DEPOSIT": (
        _deposit_field(0, "amount", hex(MAX_DEPOSIT + 1)),
        "above the maximum",
        False,
    ),
    "to the bridge address": (
        _deposit_field(2, "recipient", "0x" + BRIDGE_ADDRESS.hex()),
        "deposits[2].recipient: the bridge address",
        False,
    ),
    "time going back": (
        _deposit_field(1, "l1_timestamp", T0 - 200),
        "deposits[1].l1_timestamp: 1699999800 is before deposit 0's",
        False,
    ),
    "negative block": (_deposit_field(0, "l1_block", -1), "must not be negative", True),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_deposit_queues_are_refused(tmp_path: Path, name: str) -> None:
    document = copy.deepcopy(_document(tmp_path))
    edit, fragment, schema_sees = MALFORMED[name]
    edit(document)
    with pytest.raises(InputError, match=None) as info:
        parse_bundle(document)
    assert fragment in str(info.value)
    assert bool(list(errors(SCHEMA, document))) is schema_sees
    code, _, err = _run("replay", "-q", str(_write(tmp_path, document)))
    assert code == 2 and fragment in err and err.count("\n") == 1


#: Queues the batches' deposit steps do not match: the contract would have refused the batch.
MISMATCHES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "another amount": (
        _deposit_field(1, "amount", 6),
        "bundle batch 0: its deposit steps cannot be on chain: step 2: deposit 1 credits 5 wei",
    ),
    "another recipient": (
        _deposit_field(0, "recipient", "0x" + "11" * 20),
        "step 0: deposit 0 credits 2000000000000000000 wei to 0x4242",
    ),
    "a consumed entry missing": (
        lambda d: d["deposits"].pop(),
        "bundle batch 1: its deposit steps cannot be on chain: step 1: deposit 2 is not in the",
    ),
    "queued after the batch": (
        _deposit_field(2, "l1_timestamp", T0 + 61),
        "bundle batch 1: step 1 consumes deposit 2, queued at L1 time 1700000061, after the "
        "batch's time 1700000060",
    ),
}


@pytest.mark.parametrize("name", list(MISMATCHES))
def test_deposit_steps_that_do_not_match_the_queue_are_unusable(tmp_path: Path, name: str) -> None:
    document = copy.deepcopy(_document(tmp_path))
    edit, fragment = MISMATCHES[name]
    edit(document)
    assert list(errors(SCHEMA, document)) == []  # only the parser can tell
    code, _, err = _run("replay", "-q", str(_write(tmp_path, document)))
    assert code == 2 and err.count("\n") == 1
    assert fragment in err


def test_an_overdue_pending_deposit_is_unusable(tmp_path: Path) -> None:
    """Batch 0 (at T0) leaves deposit 2 pending: refused when it was queued more than
    DEPOSIT_INCLUSION_DELAY before T0, accepted at exactly the delay (§8.4 ``≤``)."""
    batches = _batches(tmp_path)

    def queue(t2: int) -> tuple[Deposit, ...]:
        d0, d1, d2 = QUEUE
        return (
            Deposit(0, d0.sender, d0.recipient, d0.amount, t2 - 300),
            Deposit(1, d1.sender, d1.recipient, d1.amount, t2 - 200),
            Deposit(2, d2.sender, d2.recipient, d2.amount, t2),
        )

    late = bundle_to_json(
        Bundle(PARAMS, ALLOC, batches, 2, queue(T0 - DEPOSIT_INCLUSION_DELAY - 1))
    )
    assert list(errors(SCHEMA, late)) == []
    code, _, err = _run("replay", "-q", str(_write(tmp_path, late)))
    assert code == 2 and err.count("\n") == 1
    assert (
        f"bundle batch 0: deposit 2 (7 wei to 0x{BOB.address.hex()}, queued at L1 time "
        f"{T0 - DEPOSIT_INCLUSION_DELAY - 1}) is still pending at the batch's time {T0}" in err
    )
    on_time = queue(T0 - DEPOSIT_INCLUSION_DELAY)
    assert parse_bundle(bundle_to_json(Bundle(PARAMS, ALLOC, batches, 2, on_time))).deposits == (
        on_time
    )


def test_a_batch_of_deposit_steps_alone_may_leave_an_overdue_backlog(tmp_path: Path) -> None:
    """§8.4: while the oldest pending deposit is overdue, a batch of deposit steps alone is
    accepted even if it does not clear the backlog; any other batch is refused."""
    old = [Deposit(i, L1USER.address, FRESH, 1 + i, T0 - 5000 + i) for i in range(3)]
    with StateDB(tmp_path / "s", sync=False) as store:
        root = init_genesis(store, ALLOC)
        pending = PendingWrites(store)
        ctx0 = BlockContext.of_batch(0, T0, MINER.address, PARAMS)
        b0 = build_batch(pending, 0, root, ctx0, [encode_deposit(0, FRESH, 1)])
        ctx1 = BlockContext.of_batch(1, T0 + 1, MINER.address, PARAMS)
        b1 = build_batch(pending, 1, b0.final_root, ctx1, [_send(0, BOB.address, 1)])
        pending.discard()
    parsed = parse_bundle(bundle_to_json(Bundle(PARAMS, ALLOC, (b0,), 2, tuple(old))))
    assert parsed.deposits == tuple(old)  # deposits 1 and 2 left pending, overdue: accepted
    with pytest.raises(InputError, match=r"bundle batch 1: deposit 1 .* not deposit steps alone"):
        parse_bundle(bundle_to_json(Bundle(PARAMS, ALLOC, (b0, b1), 2, tuple(old))))


def test_prove_a_wrong_deposit_credit(tmp_path: Path) -> None:
    document = _document(tmp_path)
    document["batches"][1]["steps"][1]["root"] = "0x" + "ab" * 32  # deposit 2's claimed root
    path = _write(tmp_path, document)
    code, out, _ = _run("replay", "-q", "--json", str(path))
    assert code == 1 and json.loads(out)["fraud"]["step"] == 1
    proof = tmp_path / "proof.json"
    code, _, err = _run("prove", str(path), "--batch", "1", "-o", str(proof))
    assert code == 0, err
    doc = json.loads(proof.read_text())
    assert doc["tx"] == "0x" + encode_deposit(2, BOB.address, 7).hex() and doc["step"] == 1
    code, out, err = _run("check-proof", "--json", str(proof))
    assert code == 0, err
    assert "valid deposit 2 of 7 wei" in out


def test_fill_roots_keeps_the_queue_and_uses_v2(tmp_path: Path) -> None:
    document = _document(tmp_path)
    for batch in document["batches"]:
        del batch["prev_root"]
        for step in batch["steps"]:
            step["root"] = "0x" + "00" * 32
    out = tmp_path / "filled.json"
    code, _, err = _run("fill-roots", str(_write(tmp_path, document, "draft.json")), "-o", str(out))
    assert code == 0, err
    assert json.loads(out.read_text()) == _document(tmp_path)


def test_genesis_root_is_independent_of_the_version(tmp_path: Path) -> None:
    from eth.db.atomic import AtomicDB

    bundle = parse_bundle(_document(tmp_path))
    assert bundle.batches[0].prev_root == build_genesis(AtomicDB(), ALLOC)
