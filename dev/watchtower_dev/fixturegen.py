"""Reproducible generation of the bundles in ``fixtures/``.

Every bundle is built from deterministic keys and timestamps, with roots computed by the
project's own transition (:mod:`watchtower_dev.builder`). Next to the bundles,
``expected.json`` records what each bundle was *built* to contain (which batch and step carry
fraud, which steps were made invalid and why); the tests replay the bundles and compare
against it, so the expectation comes from the generator's intent, not from a previous replay.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import rlp

from watchtower.execute.replay import init_genesis
from watchtower.execute.statedb import PendingWrites, StateDB
from watchtower.rollup.bundle import Bundle, write_bundle
from watchtower.rollup.params import DEFAULT_BASE_FEE, RollupParams
from watchtower.rollup.types import Batch, BlockContext, GenesisAccount, InvalidReason
from watchtower_dev.builder import build_batch, with_wrong_root
from watchtower_dev.txgen import Account, accounts, legacy_transfer, transfer, with_high_s

ETHER = 10**18
GENESIS_TIME = 1_700_000_000
PARAMS = RollupParams()
COINBASE = bytes.fromhex("c0ffee00000000000000000000000000000000c0")
CONTRACT = bytes.fromhex("00000000000000000000000000000000c0de0001")
PRECOMPILE = (4).to_bytes(20, "big")  # identity: the EVM would run it


@dataclass
class _Chain:
    """A rollup chain under construction: genesis, nonces, and the batches so far."""

    store: StateDB
    genesis: dict[bytes, GenesisAccount]
    nonces: dict[bytes, int] = field(default_factory=dict)
    batches: list[Batch] = field(default_factory=list)
    root: bytes = b""

    def next_nonce(self, account: Account) -> int:
        nonce = self.nonces.get(account.address, 0)
        self.nonces[account.address] = nonce + 1
        return nonce

    def context(self, coinbase: bytes = COINBASE) -> BlockContext:
        n = len(self.batches)
        return BlockContext(
            number=n,
            timestamp=GENESIS_TIME + 12 * (n + 1),
            coinbase=coinbase,
            base_fee=PARAMS.base_fee,
            gas_limit=PARAMS.gas_limit,
            chain_id=PARAMS.chain_id,
        )

    def add_batch(self, txs: list[bytes], coinbase: bytes = COINBASE) -> Batch:
        pending = PendingWrites(self.store)
        batch = build_batch(pending, len(self.batches), self.root, self.context(coinbase), txs)
        self.store.commit_nodes(pending)
        self.batches.append(batch)
        self.root = batch.final_root
        return batch

    def bundle(self) -> Bundle:
        self.store.close()
        return Bundle(params=PARAMS, genesis=self.genesis, batches=tuple(self.batches))


def _new_chain(tmp: Path, genesis: dict[bytes, GenesisAccount]) -> _Chain:
    store = StateDB(tmp, sync=False)
    chain = _Chain(store=store, genesis=genesis)
    chain.root = init_genesis(store, genesis)
    return chain


def _funded(accts: list[Account], balance: int = 100 * ETHER) -> dict[bytes, GenesisAccount]:
    return {a.address: GenesisAccount(balance=balance) for a in accts}


def _transfers(chain: _Chain, accts: list[Account], count: int, salt: int) -> list[bytes]:
    """``count`` transfers among ``accts`` in a fixed pattern (a mix of both transaction forms)."""
    txs = []
    n = len(accts)
    for i in range(count):
        sender = accts[(i * 7 + salt) % n]
        recipient = accts[(i * 13 + salt * 3 + 1) % n]
        value = (i + 1) * 10**15
        if i % 5 == 4:
            txs.append(
                legacy_transfer(
                    sender,
                    recipient.address,
                    nonce=chain.next_nonce(sender),
                    value=value,
                    chain_id=PARAMS.chain_id,
                )
            )
        else:
            txs.append(
                transfer(
                    sender,
                    recipient.address,
                    nonce=chain.next_nonce(sender),
                    value=value,
                    chain_id=PARAMS.chain_id,
                    tip=(i % 3) * DEFAULT_BASE_FEE // 10,
                )
            )
    return txs


def gen_honest(tmp: Path) -> tuple[Bundle, dict[str, object]]:
    accts = accounts(50, b"honest")
    chain = _new_chain(tmp, _funded(accts))
    for b in range(3):
        chain.add_batch(_transfers(chain, accts, 20, b))
    expected = {"exit": 0, "verdicts": ["valid", "valid", "valid"]}
    return chain.bundle(), expected


FRAUD_BATCH = 1
FRAUD_STEP = 7


def gen_fraud(tmp: Path) -> tuple[Bundle, dict[str, object]]:
    """Three batches; batch 1 claims a wrong root from step 7 on; batch 2 builds on it."""
    accts = accounts(50, b"fraud")
    chain = _new_chain(tmp, _funded(accts))
    chain.add_batch(_transfers(chain, accts, 20, 0))
    honest = chain.add_batch(_transfers(chain, accts, 20, 1))
    wrong = bytes.fromhex("de" * 32)
    chain.batches[FRAUD_BATCH] = with_wrong_root(honest, FRAUD_STEP, wrong)
    chain.root = wrong
    # The next batch builds on the fraudulent claim, as the proposer's chain would.
    chain.batches.append(
        Batch(
            index=2,
            prev_root=wrong,
            context=chain.context(),
            steps=chain.batches[FRAUD_BATCH].steps[:3],
        )
    )
    expected = {
        "exit": 1,
        "verdicts": ["valid", "fraud", "skipped"],
        "fraud": {"batch": FRAUD_BATCH, "step": FRAUD_STEP, "claimed_root": "0x" + wrong.hex()},
    }
    return chain.bundle(), expected


def _noncanonical(tx: bytes) -> bytes:
    """A legacy transaction whose outer list uses a longer length prefix than needed."""
    payload = rlp.codec.consume_length_prefix(tx, 0)
    start = payload[3]
    body = tx[start:]
    return bytes((0xF9,)) + len(body).to_bytes(2, "big") + body


def gen_invalid_kinds(tmp: Path) -> tuple[Bundle, dict[str, object]]:
    """One batch with every kind of invalid transaction (each at a known step) and the
    aliasing cases of valid ones; all roots honest, so the verdict is valid."""
    accts = accounts(8, b"invalid")
    a, b, c, d, coder, cb = accts[0], accts[1], accts[2], accts[3], accts[4], accts[5]
    poor = accts[6]
    genesis = _funded(accts[:6])
    genesis[poor.address] = GenesisAccount(balance=21_000 * 2 * DEFAULT_BASE_FEE)  # gas only
    genesis[coder.address] = GenesisAccount(balance=ETHER, code=b"\x60\x00")  # EIP-3607 sender
    genesis[CONTRACT] = GenesisAccount(balance=1, code=b"\x60\x00\x60\x00\xf3")
    chain = _new_chain(tmp, genesis)
    cid = PARAMS.chain_id
    fresh = bytes.fromhex("00000000000000000000000000000000000fee11")
    fresh_zero = bytes.fromhex("00000000000000000000000000000000000fee22")

    def ok(
        sender: Account, to: bytes, value: int = 10**15, tip: int = DEFAULT_BASE_FEE // 10
    ) -> bytes:
        nonce = chain.next_nonce(sender)
        return transfer(sender, to, nonce=nonce, value=value, chain_id=cid, tip=tip)

    def peek(sender: Account) -> int:
        return chain.nonces.get(sender.address, 0)

    cases: list[tuple[str, Callable[[], bytes]]] = [
        ("valid", lambda: ok(a, b.address)),
        ("undecodable", lambda: b"\x02\xde\xad\xbe\xef"),
        ("undecodable", lambda: b""),
        (  # type 1 is not supported
            "undecodable",
            lambda: b"\x01" + transfer(c, d.address, nonce=peek(c), value=1, chain_id=cid)[1:],
        ),
        (
            "undecodable",
            lambda: _noncanonical(
                legacy_transfer(b, a.address, nonce=peek(b), value=1, chain_id=cid)
            ),
        ),
        (
            "wrong_chain_id",
            lambda: transfer(a, b.address, nonce=peek(a), value=1, chain_id=cid + 1),
        ),
        (
            "wrong_chain_id",
            lambda: legacy_transfer(a, b.address, nonce=peek(a), value=1, chain_id=None),
        ),
        (
            "bad_signature",
            lambda: with_high_s(transfer(a, b.address, nonce=peek(a), value=1, chain_id=cid)),
        ),
        (
            "contract_creation",
            lambda: transfer(a, b"", nonce=peek(a), value=1, chain_id=cid, gas=100_000),
        ),
        (
            "nonempty_data",
            lambda: transfer(
                a, b.address, nonce=peek(a), value=1, chain_id=cid, gas=30_000, data=b"\x01"
            ),
        ),
        (
            "nonempty_access_list",
            lambda: transfer(
                a,
                b.address,
                nonce=peek(a),
                value=1,
                chain_id=cid,
                gas=30_000,
                access_list=((b.address, ()),),
            ),
        ),
        (
            "bad_gas_limit",
            lambda: transfer(a, b.address, nonce=peek(a), value=1, chain_id=cid, gas=20_999),
        ),
        (
            "bad_gas_limit",
            lambda: transfer(
                a, b.address, nonce=peek(a), value=1, chain_id=cid, gas=PARAMS.gas_limit + 1
            ),
        ),
        (
            "tip_above_fee_cap",
            lambda: transfer(
                a,
                b.address,
                nonce=peek(a),
                value=1,
                chain_id=cid,
                max_fee=2 * DEFAULT_BASE_FEE,
                tip=3 * DEFAULT_BASE_FEE,
            ),
        ),
        (
            "fee_cap_below_base_fee",
            lambda: transfer(
                a,
                b.address,
                nonce=peek(a),
                value=1,
                chain_id=cid,
                max_fee=DEFAULT_BASE_FEE - 1,
                tip=0,
            ),
        ),
        ("sender_has_code", lambda: transfer(coder, a.address, nonce=0, value=1, chain_id=cid)),
        ("bad_nonce", lambda: transfer(a, b.address, nonce=peek(a) + 5, value=1, chain_id=cid)),
        ("insufficient_balance", lambda: transfer(poor, a.address, nonce=0, value=1, chain_id=cid)),
        ("recipient_has_code", lambda: transfer(a, CONTRACT, nonce=peek(a), value=1, chain_id=cid)),
        (
            "recipient_has_code",
            lambda: transfer(a, PRECOMPILE, nonce=peek(a), value=1, chain_id=cid),
        ),
        # Valid aliasing and edge cases.
        ("valid", lambda: ok(a, a.address)),  # sender = recipient
        ("valid", lambda: ok(b, COINBASE)),  # recipient = coinbase
        ("valid", lambda: ok(c, fresh)),  # a new account is inserted
        ("valid", lambda: ok(c, fresh_zero, value=0)),  # zero value to a new account: not created
        ("valid", lambda: ok(d, b.address, tip=0)),  # zero tip: coinbase untouched
        (
            "valid",
            lambda: legacy_transfer(d, c.address, nonce=chain.next_nonce(d), value=5, chain_id=cid),
        ),
        ("valid", lambda: ok(cb, a.address)),  # sender = coinbase (second batch's coinbase)
    ]
    txs = [make() for _, make in cases]
    chain.add_batch(txs)
    # A second batch whose coinbase is an account that also sends: sender = coinbase.
    chain.add_batch([ok(cb, cb.address), ok(a, cb.address)], coinbase=cb.address)
    invalid_steps = [
        {"step": k, "reason": InvalidReason(kind).value}
        for k, (kind, _) in enumerate(cases)
        if kind != "valid"
    ]
    expected = {"exit": 0, "verdicts": ["valid", "valid"], "invalid_steps": {"0": invalid_steps}}
    return chain.bundle(), expected


def gen_large(tmp: Path, n_accounts: int = 10_000) -> tuple[Bundle, dict[str, object]]:
    accts = accounts(n_accounts, b"large")
    chain = _new_chain(tmp, _funded(accts, ETHER))
    for b in range(2):
        chain.add_batch(_transfers(chain, accts, 250, b))
    return chain.bundle(), {"exit": 0, "verdicts": ["valid", "valid"]}


GENERATORS: dict[str, Callable[[Path], tuple[Bundle, dict[str, object]]]] = {
    "honest": gen_honest,
    "fraud-wrong-root": gen_fraud,
    "invalid-kinds": gen_invalid_kinds,
    "large-10k-accounts": gen_large,
}


def generate_all(out_dir: Path, only: list[str] | None = None) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    expectations: dict[str, object] = {}
    expected_path = out_dir / "expected.json"
    if only and expected_path.exists():
        expectations = json.loads(expected_path.read_text(encoding="utf-8"))
    for name, gen in GENERATORS.items():
        if only and name not in only:
            continue
        with tempfile.TemporaryDirectory(prefix="wt-fixture-") as tmp:
            bundle, expected = gen(Path(tmp))
        path = out_dir / f"{name}.json"
        write_bundle(bundle, path)
        expectations[name] = expected
        written.append(path)
    expected_path.write_text(json.dumps(expectations, indent=1, sort_keys=True) + "\n", "utf-8")
    written.append(expected_path)
    return written
