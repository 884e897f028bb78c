"""The offline bundle: genesis plus batches, as JSON (docs/protocol.md §6)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchtower.errors import BundleError, InputError
from watchtower.rollup import jsontext
from watchtower.rollup.bridge import Deposit, deposit_step_problems, is_deposit_type
from watchtower.rollup.params import (
    BRIDGE_ADDRESS,
    DEPOSIT_INCLUSION_DELAY,
    MAX_DEPOSIT,
    MAX_STEPS,
    MAX_TX_BYTES,
    UINT256_MAX,
    RollupParams,
)
from watchtower.rollup.types import Batch, BlockContext, GenesisAccount, Step, hex0x

BUNDLE_FORMAT = "watchtower-bundle"
#: The format version written (protocol.md §6, §8.7): 2 adds the deposit queue; 1 is still read.
BUNDLE_VERSION = 2
BUNDLE_VERSIONS = (1, 2)


@dataclass(frozen=True)
class Bundle:
    params: RollupParams
    genesis: Mapping[bytes, GenesisAccount]
    batches: tuple[Batch, ...]
    #: The format version: 1 is replayed under protocol v1 (no deposit steps), 2 under v2.
    #: The default stays 1 so that code written before v2 writes the same files.
    version: int = 1
    #: Version 2: the L1 deposit queue entries from index 0 on (every one the batches consume,
    #: and any still pending after them).
    deposits: tuple[Deposit, ...] = ()

    @property
    def protocol(self) -> int:
        """The protocol version its batches follow (§8.7): 1 or 2."""
        return 1 if self.version == 1 else 2


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
TOP_KEYS_V2 = TOP_KEYS | {"deposits"}
DEPOSIT_KEYS = frozenset({"index", "sender", "recipient", "amount", "l1_block", "l1_timestamp"})
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
    version = _field(document, "version", "top level")
    if isinstance(version, bool) or version not in BUNDLE_VERSIONS:
        raise BundleError("version", f"version {version!r} is not supported (expected 1 or 2)")
    _known_keys(document, TOP_KEYS if version == 1 else TOP_KEYS_V2, "top level")
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
    if version == 1:
        return Bundle(params, genesis, tuple(batches), version=1)
    deposits = parse_deposits(_field(document, "deposits", "top level"))
    check_deposits(batches, deposits)
    return Bundle(params, genesis, tuple(batches), version=version, deposits=deposits)


def parse_deposits(raw: Any) -> tuple[Deposit, ...]:
    """The deposit queue of a version 2 bundle: ``[{"index", "sender", "recipient", "amount",
    "l1_block", "l1_timestamp"}]``, indices consecutive from 0, every entry one the contract
    could have queued (§8.4: ``0 < amount ≤ MAX_DEPOSIT``, not to ``BRIDGE_ADDRESS``)."""
    if not isinstance(raw, list):
        raise BundleError("deposits", "expected a list")
    out: list[Deposit] = []
    for position, entry in enumerate(raw):
        where = f"deposits[{position}]"
        _known_keys(entry, DEPOSIT_KEYS, where)
        index = _quantity(f"{where}.index", _field(entry, "index", where))
        if index != position:
            raise BundleError(f"{where}.index", f"is {index}, expected {position} (consecutive)")
        recipient = _hexbytes(f"{where}.recipient", _field(entry, "recipient", where), 20)
        if recipient == BRIDGE_ADDRESS:
            raise BundleError(f"{where}.recipient", "the bridge address cannot receive a deposit")
        amount = _quantity(f"{where}.amount", _field(entry, "amount", where), MAX_DEPOSIT)
        if amount == 0:
            raise BundleError(f"{where}.amount", "a deposit of zero cannot be queued")
        previous_time = out[-1].l1_timestamp if out else 0
        l1_timestamp = _quantity(
            f"{where}.l1_timestamp", _field(entry, "l1_timestamp", where), UINT64_MAX
        )
        if l1_timestamp < previous_time:
            raise BundleError(
                f"{where}.l1_timestamp",
                f"{l1_timestamp} is before deposit {position - 1}'s {previous_time}",
            )
        out.append(
            Deposit(
                index=index,
                sender=_hexbytes(f"{where}.sender", _field(entry, "sender", where), 20),
                recipient=recipient,
                amount=amount,
                l1_timestamp=l1_timestamp,
                l1_block=_quantity(
                    f"{where}.l1_block", _field(entry, "l1_block", where), UINT64_MAX
                ),
            )
        )
    return tuple(out)


def check_deposits(batches: list[Batch] | tuple[Batch, ...], deposits: tuple[Deposit, ...]) -> None:
    """What the contract checks when each batch is submitted (§8.4), at the batch's L1 time
    (``context.timestamp``): its deposit steps are the next queue entries, in order, already
    queued; and, unless it is deposit steps alone, the oldest entry it leaves pending is not
    overdue. A batch that fails could not
    be on chain: the bundle is unusable input (:class:`InputError`), one line naming the batch,
    step, deposit and amounts."""
    consumed = 0
    for batch in batches:
        txs = [step.tx for step in batch.steps]
        problems = deposit_step_problems(txs, deposits, consumed)
        if problems:
            raise InputError(
                f"bundle batch {batch.index}: its deposit steps cannot be on chain: "
                + "; ".join(problems)
            )
        for k, tx in enumerate(txs):
            if not is_deposit_type(tx):
                continue
            entry = deposits[consumed]
            if entry.l1_timestamp > batch.context.timestamp:
                raise InputError(
                    f"bundle batch {batch.index}: step {k} consumes deposit {entry.index}, queued "
                    f"at L1 time {entry.l1_timestamp}, after the batch's time "
                    f"{batch.context.timestamp}"
                )
            consumed += 1
        if consumed < len(deposits) and not all(is_deposit_type(tx) for tx in txs):
            # While the oldest pending deposit is overdue, only batches of deposit steps alone
            # are accepted (§8.4).
            oldest = deposits[consumed]
            if batch.context.timestamp > oldest.l1_timestamp + DEPOSIT_INCLUSION_DELAY:
                raise InputError(
                    f"bundle batch {batch.index}: deposit {oldest.index} ({oldest.amount} wei to "
                    f"0x{oldest.recipient.hex()}, queued at L1 time {oldest.l1_timestamp}) is "
                    f"still pending at the batch's time {batch.context.timestamp}, more than "
                    f"{DEPOSIT_INCLUSION_DELAY} s later, and the batch is not deposit steps "
                    "alone: the contract refuses it"
                )


def load_bundle(path: Path) -> Bundle:
    return parse_bundle(load_json_document(path))


def load_json_document(path: Path) -> Any:
    """The JSON document in the file ``path`` (a bundle, or a bundle-shaped draft), read as
    UTF-8; :class:`BundleError` naming the file if it cannot be read or is not JSON."""
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


def bundle_to_json(bundle: Bundle) -> dict[str, Any]:
    genesis = {}
    for address, acc in bundle.genesis.items():
        entry: dict[str, Any] = {"balance": hex(acc.balance), "nonce": hex(acc.nonce)}
        if acc.code:
            entry["code"] = hex0x(acc.code)
        if acc.storage:
            entry["storage"] = {hex(k): hex(v) for k, v in acc.storage.items()}
        genesis[hex0x(address)] = entry
    document: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "version": bundle.version,
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
    if bundle.version >= 2:
        document["deposits"] = [
            {
                "index": d.index,
                "sender": hex0x(d.sender),
                "recipient": hex0x(d.recipient),
                "amount": hex(d.amount),
                "l1_block": d.l1_block,
                "l1_timestamp": d.l1_timestamp,
            }
            for d in bundle.deposits
        ]
    return document


def write_bundle(bundle: Bundle, path: Path) -> None:
    path.write_text(json.dumps(bundle_to_json(bundle), indent=1) + "\n", encoding="utf-8")
