"""Run Ethereum GeneralStateTests through the project's state database and transition engine.

Semantics follow go-ethereum's ``tests/state_test_util.go`` (see the conformance README): a fresh
state from ``pre``; the transaction from ``txbytes``; an invalid transaction leaves the state
unchanged; afterwards the coinbase is touched (deleted if empty); BLOCKHASH(n) is
``keccak(str(n))``; the header is post-merge (difficulty 0, mix hash = ``currentRandom``).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rlp
from eth_hash.auto import keccak
from eth_typing import Address

from watchtower.errors import ConformanceFixtureError
from watchtower.execute.state import build_genesis, open_state
from watchtower.execute.statedb import PendingWrites, StateDB
from watchtower.execute.transition import RuleSet, apply_step
from watchtower.rollup import jsontext
from watchtower.rollup.types import BlockContext, GenesisAccount

DEFAULT_FORK = "Cancun"


@dataclass(frozen=True)
class StateTestCase:
    """One (test, fork, index) combination of a state-test file."""

    path: Path
    name: str
    fork: str
    index: int
    indexes: dict[str, int]
    env: BlockContext
    pre: dict[bytes, GenesisAccount]
    tx_bytes: bytes
    expected_root: bytes
    expected_logs: bytes
    expect_exception: str | None

    @property
    def label(self) -> str:
        idx = self.indexes
        return (
            f"{self.path.name}::{self.name}[{self.fork}:{self.index}"
            f" d={idx.get('data', 0)} g={idx.get('gas', 0)} v={idx.get('value', 0)}]"
        )


@dataclass(frozen=True)
class CaseResult:
    case: StateTestCase
    computed_root: bytes
    computed_logs: bytes
    valid: bool
    detail: str

    @property
    def passed(self) -> bool:
        return (
            self.computed_root == self.case.expected_root
            and self.computed_logs == self.case.expected_logs
        )


def _int(value: str) -> int:
    return int(value, 16) if value.startswith("0x") else int(value)


def _bytes(value: str) -> bytes:
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


def _parse_pre(pre: dict[str, Any]) -> dict[bytes, GenesisAccount]:
    alloc = {}
    for address, acc in pre.items():
        storage = {_int(k): _int(v) for k, v in acc.get("storage", {}).items()}
        alloc[_bytes(address)] = GenesisAccount(
            balance=_int(acc.get("balance", "0x0")),
            nonce=_int(acc.get("nonce", "0x0")),
            code=_bytes(acc.get("code", "0x")),
            storage=storage,
        )
    return alloc


def _parse_env(env: dict[str, Any]) -> BlockContext:
    return BlockContext(
        number=_int(env["currentNumber"]),
        timestamp=_int(env["currentTimestamp"]),
        coinbase=_bytes(env["currentCoinbase"]),
        base_fee=_int(env.get("currentBaseFee", "0x0")),
        gas_limit=_int(env["currentGasLimit"]),
        chain_id=1,
        prev_randao=_bytes(env.get("currentRandom", "0x" + "00" * 32)).rjust(32, b"\x00"),
        excess_blob_gas=_int(env.get("currentExcessBlobGas", "0x0")),
        difficulty=0,
    )


def load_cases(path: Path, fork: str = DEFAULT_FORK) -> list[StateTestCase]:
    """All cases for ``fork`` in one state-test JSON file."""
    try:
        document = jsontext.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConformanceFixtureError(str(path), f"cannot read JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ConformanceFixtureError(str(path), "top level is not an object of tests")
    cases = []
    for name, test in document.items():
        try:
            posts = test.get("post", {}).get(fork, [])
            if not posts:
                continue
            env = _parse_env(test["env"])
            pre = _parse_pre(test["pre"])
            for index, post in enumerate(posts):
                cases.append(
                    StateTestCase(
                        path=path,
                        name=name,
                        fork=fork,
                        index=index,
                        indexes=dict(post.get("indexes", {})),
                        env=env,
                        pre=pre,
                        tx_bytes=_bytes(post["txbytes"]),
                        expected_root=_bytes(post["hash"]),
                        expected_logs=_bytes(post["logs"]),
                        expect_exception=post.get("expectException"),
                    )
                )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConformanceFixtureError(str(path), f"test {name}: malformed ({exc!r})") from exc
    return cases


def discover(paths: Iterable[Path]) -> Iterator[Path]:
    """Every ``*.json`` file under the given files and directories, in a stable order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.json") if not p.name.startswith("manifest"))
        elif path.is_file():
            yield path
        else:
            raise ConformanceFixtureError(str(path), "no such file or directory")


def _logs_hash(log_entries: Iterable[tuple[bytes, tuple[int, ...], bytes]]) -> bytes:
    encoded = [
        [address, [topic.to_bytes(32, "big") for topic in topics], data]
        for address, topics, data in log_entries
    ]
    return bytes(keccak(rlp.encode(encoded)))


EMPTY_LOGS_HASH = _logs_hash([])


def run_case(store: StateDB, case: StateTestCase) -> CaseResult:
    """Run one case on ``store``: pre-state written to disk, transaction applied in an overlay."""
    pre_writes = PendingWrites(store)
    pre_root = build_genesis(pre_writes, case.pre, rollup_rules=False)
    store.commit_nodes(pre_writes)

    overlay = PendingWrites(store)
    state = open_state(overlay, pre_root, case.env)
    logs_hash = EMPTY_LOGS_HASH
    outcome = apply_step(state, case.tx_bytes, RuleSet.ETHEREUM)
    if outcome.valid:
        logs_hash = _logs_hash(outcome.logs)
    coinbase = Address(case.env.coinbase)
    if state.account_exists(coinbase) and state.account_is_empty(coinbase):
        state.delete_account(coinbase)
    root = bytes(state.make_state_root())
    # Ethereum mode's detail starts with the rule's own code (execute/ethereum_rules.py).
    detail = "" if outcome.valid else outcome.detail
    return CaseResult(case, root, logs_hash, outcome.valid, detail)


def run_paths(
    paths: Iterable[Path], fork: str = DEFAULT_FORK, data_dir: Path | None = None
) -> Iterator[CaseResult]:
    """Run every case of every file under ``paths``; yields results as they are computed."""
    with tempfile.TemporaryDirectory(prefix="wt-conformance-") as tmp:
        store = StateDB(data_dir or Path(tmp), sync=False)
        try:
            for file in discover(paths):
                for case in load_cases(file, fork):
                    yield run_case(store, case)
        finally:
            store.close()
