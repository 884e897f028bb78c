"""The offline bundle: genesis plus batches, as JSON (docs/protocol.md §6)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchtower.errors import BundleError, InputError
from watchtower.rollup import jsontext
from watchtower.rollup.params import MAX_STEPS, MAX_TX_BYTES, UINT256_MAX, RollupParams
from watchtower.rollup.types import Batch, BlockContext, GenesisAccount, Step, hex0x

BUNDLE_FORMAT = "watchtower-bundle"
BUNDLE_VERSION = 1


@dataclass(frozen=True)
class Bundle:
    params: RollupParams
    genesis: Mapping[bytes, GenesisAccount]
    batches: tuple[Batch, ...]


def _hexbytes(where: str, value: Any, length: int | None = None) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise BundleError(where, f"expected a 0x-prefixed hex string, got {value!r:.60}")
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raise BundleError(where, f"not valid hex: {value!r:.60}") from None
    if length is not None and len(raw) != length:
        raise BundleError(where, f"expected {length} bytes, got {len(raw)}")
    return raw


#: EIP-2681: an account nonce is at most 2^64 - 1 (py-evm refuses anything larger).
NONCE_MAX = 2**64 - 1


def _quantity(where: str, value: Any, maximum: int | None = None) -> int:
    if isinstance(value, bool):
        raise BundleError(where, "expected a number, got a boolean")
    if isinstance(value, int):
        result = value
    elif isinstance(value, str):
        try:
            result = int(value, 16) if value.startswith("0x") else int(value)
        except ValueError:
            raise BundleError(where, f"not a number: {value!r:.60}") from None
    else:
        raise BundleError(where, f"expected a number, got {type(value).__name__}")
    if result < 0:
        raise BundleError(where, "must not be negative")
    if maximum is not None and result > maximum:
        raise BundleError(where, f"{value!r:.60} is above the maximum {maximum:#x}")
    return result


#: The keys each object of a bundle may have (protocol.md §6); any other key is an error.
TOP_KEYS = frozenset({"format", "version", "params", "genesis", "batches"})
PARAMS_KEYS = frozenset({"chain_id", "base_fee", "gas_limit"})
ACCOUNT_KEYS = frozenset({"balance", "nonce", "code", "storage"})
BATCH_KEYS = frozenset({"index", "context", "prev_root", "steps"})
CONTEXT_KEYS = frozenset({"number", "timestamp", "coinbase"})
STEP_KEYS = frozenset({"tx", "root"})
#: A block number and a timestamp are 64-bit quantities (the EVM's NUMBER and TIMESTAMP).
UINT64_MAX = 2**64 - 1


def _known_keys(obj: Any, allowed: frozenset[str], where: str) -> None:
    """Refuse a key the format does not define (a misspelling would otherwise be ignored)."""
    if not isinstance(obj, dict):
        raise BundleError(where, "expected an object")
    for key in obj:
        if key not in allowed:
            path = f"{where}.{key}" if where != "top level" else str(key)
            raise BundleError(path, f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _field(obj: Any, key: str, where: str) -> Any:
    if not isinstance(obj, dict):
        raise BundleError(where, "expected an object")
    if key not in obj:
        raise BundleError(where, f"missing field {key!r}")
    return obj[key]


def parse_genesis(raw_genesis: Any) -> dict[bytes, GenesisAccount]:
    """A genesis allocation: ``{"0x<address>": {"balance", "nonce", "code", "storage"}}``."""
    if not isinstance(raw_genesis, dict):
        raise BundleError("genesis", "expected an object of accounts")
    genesis: dict[bytes, GenesisAccount] = {}
    spelled: dict[bytes, str] = {}
    for addr, acc in raw_genesis.items():
        where = f"genesis[{addr}]"
        _known_keys(acc, ACCOUNT_KEYS, where)
        address = _hexbytes(where, addr, 20)
        if address in spelled:  # the same account in two letter cases: one would overwrite
            raise BundleError(where, f"the same address as genesis[{spelled[address]}]")
        spelled[address] = addr
        storage_raw = acc.get("storage", {})
        if not isinstance(storage_raw, dict):
            raise BundleError(f"{where}.storage", "expected an object")
        # The state holds 256-bit balances, slots and values and 64-bit nonces: out-of-range
        # numbers are unusable input here, not a py-evm ValidationError while writing genesis.
        genesis[address] = GenesisAccount(
            balance=_quantity(f"{where}.balance", acc.get("balance", 0), UINT256_MAX),
            nonce=_quantity(f"{where}.nonce", acc.get("nonce", 0), NONCE_MAX),
            code=_hexbytes(f"{where}.code", acc.get("code", "0x")),
            storage={
                _quantity(f"{where}.storage", k, UINT256_MAX): _quantity(
                    f"{where}.storage[{k}]", v, UINT256_MAX
                )
                for k, v in storage_raw.items()
            },
        )
    return genesis


def parse_bundle(document: Any) -> Bundle:
    """Validate and convert a decoded JSON document into a :class:`Bundle`."""
    if _field(document, "format", "top level") != BUNDLE_FORMAT:
        raise BundleError("format", f"expected {BUNDLE_FORMAT!r}")
    _known_keys(document, TOP_KEYS, "top level")
    version = _field(document, "version", "top level")
    if version != BUNDLE_VERSION:
        raise BundleError("version", f"version {version!r} is not supported (expected 1)")
    raw_params = document.get("params", {})
    _known_keys(raw_params, PARAMS_KEYS, "params")
    try:
        params = RollupParams(
            chain_id=_quantity("params.chain_id", raw_params.get("chain_id", 42069)),
            base_fee=_quantity("params.base_fee", raw_params.get("base_fee", 10**9)),
            gas_limit=_quantity("params.gas_limit", raw_params.get("gas_limit", 30_000_000)),
        )
    except (ValueError, AttributeError) as exc:
        raise BundleError("params", str(exc)) from None

    genesis = parse_genesis(_field(document, "genesis", "top level"))

    raw_batches = _field(document, "batches", "top level")
    if not isinstance(raw_batches, list):
        raise BundleError("batches", "expected a list")
    batches: list[Batch] = []
    for position, raw in enumerate(raw_batches):
        where = f"batches[{position}]"
        _known_keys(raw, BATCH_KEYS, where)
        index = _quantity(f"{where}.index", _field(raw, "index", where))
        if index != position:
            raise BundleError(f"{where}.index", f"is {index}, expected {position} (consecutive)")
        ctx_raw = _field(raw, "context", where)
        _known_keys(ctx_raw, CONTEXT_KEYS, f"{where}.context")
        number = _quantity(
            f"{where}.context.number", _field(ctx_raw, "number", f"{where}.context"), UINT64_MAX
        )
        if number != index:  # the block number of batch N is N (protocol.md §6)
            raise BundleError(f"{where}.context.number", f"is {number}, expected {index} (= index)")
        context = BlockContext(
            number=number,
            timestamp=_quantity(
                f"{where}.context.timestamp",
                _field(ctx_raw, "timestamp", f"{where}.context"),
                UINT64_MAX,
            ),
            coinbase=_hexbytes(f"{where}.context.coinbase", _field(ctx_raw, "coinbase", where), 20),
            base_fee=params.base_fee,
            gas_limit=params.gas_limit,
            chain_id=params.chain_id,
        )
        raw_steps = _field(raw, "steps", where)
        if not isinstance(raw_steps, list) or not 1 <= len(raw_steps) <= MAX_STEPS:
            raise BundleError(f"{where}.steps", f"expected a list of 1..{MAX_STEPS} steps")
        steps = []
        for k, s in enumerate(raw_steps):
            _known_keys(s, STEP_KEYS, f"{where}.steps[{k}]")
            tx = _hexbytes(f"{where}.steps[{k}].tx", _field(s, "tx", f"{where}.steps[{k}]"))
            if len(tx) > MAX_TX_BYTES:
                raise BundleError(f"{where}.steps[{k}].tx", f"{len(tx)} bytes > {MAX_TX_BYTES}")
            root = _hexbytes(
                f"{where}.steps[{k}].root", _field(s, "root", f"{where}.steps[{k}]"), 32
            )
            steps.append(Step(tx=tx, root=root))
        prev_root = _hexbytes(f"{where}.prev_root", _field(raw, "prev_root", where), 32)
        if batches and prev_root != batches[-1].final_root:
            previous = batches[-1]
            raise InputError(  # protocol.md §6: the batches of a bundle form one chain
                f"bundle batch {index} builds on 0x{prev_root.hex()}, not on batch "
                f"{previous.index}'s final root 0x{previous.final_root.hex()}"
            )
        batches.append(Batch(index=index, prev_root=prev_root, context=context, steps=tuple(steps)))
    return Bundle(params=params, genesis=genesis, batches=tuple(batches))


def load_bundle(path: Path) -> Bundle:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BundleError(str(path), f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise BundleError(str(path), "is not UTF-8 text") from None
    try:
        document = jsontext.loads(text)
    except json.JSONDecodeError as exc:
        raise BundleError(str(path), f"invalid JSON at line {exc.lineno}: {exc.msg}") from None
    return parse_bundle(document)


def bundle_to_json(bundle: Bundle) -> dict[str, Any]:
    genesis = {}
    for address, acc in bundle.genesis.items():
        entry: dict[str, Any] = {"balance": hex(acc.balance), "nonce": hex(acc.nonce)}
        if acc.code:
            entry["code"] = hex0x(acc.code)
        if acc.storage:
            entry["storage"] = {hex(k): hex(v) for k, v in acc.storage.items()}
        genesis[hex0x(address)] = entry
    return {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "params": {
            "chain_id": bundle.params.chain_id,
            "base_fee": bundle.params.base_fee,
            "gas_limit": bundle.params.gas_limit,
        },
        "genesis": genesis,
        "batches": [
            {
                "index": b.index,
                "context": {
                    "number": b.context.number,
                    "timestamp": b.context.timestamp,
                    "coinbase": hex0x(b.context.coinbase),
                },
                "prev_root": hex0x(b.prev_root),
                "steps": [{"tx": hex0x(s.tx), "root": hex0x(s.root)} for s in b.steps],
            }
            for b in bundle.batches
        ],
    }


def write_bundle(bundle: Bundle, path: Path) -> None:
    path.write_text(json.dumps(bundle_to_json(bundle), indent=1) + "\n", encoding="utf-8")
