"""Differential test: the contract's step execution against the Python core's.

For every example, the pre-state is a genesis allocation written by the core
(``watchtower.execute.state.build_genesis``), the witness is what the core's prover sends on chain
(``watchtower.proof.fraud.account_witness`` over ``touched_accounts``), and the same transaction
bytes go to both:

* the contract: ``Rollup.executeStep(preRoot, txBytes, coinbase, stateNodes)`` in anvil, on a
  Rollup deployed with the example's chain id and base fee;
* the core: ``watchtower.execute.transition.apply_step(state, tx_bytes, RuleSet.ROLLUP)``
  (protocol v2: deposit steps, §8.2, are compared too, at the end of this file).

Post-roots must be equal, and so must the reasons (the contract's ``uint8`` is the row number of
protocol.md §3.1; the core's ``InvalidReason`` lists the same rows in the same order). Transactions
come from ``watchtower_dev.txgen``; breakages that txgen cannot make (malformed access lists,
lists in integer fields, bad ``r``/``s``, truncation, unknown types) are re-encoded and re-signed
here. The deterministic cases pin every reason of §3.1, the aliasing cases of §3.2, new accounts,
zero value and zero tip, so each is hit whatever hypothesis draws.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import rlp
from eth.db.atomic import AtomicDB
from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from web3.contract import Contract

from tests.contracts.contract_reference import Reason
from watchtower.execute.state import build_genesis, open_state
from watchtower.execute.transition import RuleSet, apply_step
from watchtower.proof.fraud import account_witness, touched_accounts
from watchtower.rollup.artifacts import load_artifact
from watchtower.rollup.bridge import encode_deposit
from watchtower.rollup.params import BLANK_ROOT, BRIDGE_ADDRESS, SECP256K1_N, RollupParams
from watchtower.rollup.types import BlockContext, GenesisAccount, InvalidReason
from watchtower_dev.txgen import Account, accounts, legacy_transfer, transfer, with_high_s

DEFAULT = RollupParams()  # chain id 42069, base fee 1 gwei
PARAMS = [
    DEFAULT,
    RollupParams(chain_id=777, base_fee=7),
    RollupParams(chain_id=2**64 - 1, base_fee=1),
]
POOL = accounts(5, b"core-step-differential")
CODE_HOLDER = bytes.fromhex("00000000000000000000000000000000000c0de1")
FILLER = [keccak(b"filler" + bytes([i]))[:20] for i in range(40)]
FRESH = bytes.fromhex("0000000000000000000000000000000000000ee1")  # never in a genesis
PRECOMPILES = [n.to_bytes(20, "big") for n in range(1, 11)]
NEAR_PRECOMPILES = [bytes(20), (11).to_bytes(20, "big")]
ORDINARY_GAS = 21_000

#: The contract's reason code -> the core's reason (None: valid). Both follow §3.1 row order.
CORE_REASON: list[InvalidReason | None] = [None, *list(InvalidReason)[:13]]

_BASE = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
    ],
)


# ---- contracts ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rollups(deployer: Callable[..., Contract]) -> dict[RollupParams, Contract]:
    """One Rollup per parameter set; only executeStep is used, so the genesis root is irrelevant."""
    artifact = load_artifact("Rollup")
    return {p: deployer(artifact, 0, 0, 2, p.chain_id, p.base_fee, BLANK_ROOT) for p in PARAMS}


# ---- transactions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TxSpec:
    """A transfer to build with txgen, plus an optional breakage that txgen cannot make."""

    sender: int  # index into POOL
    to: bytes
    nonce: int
    value: int
    typed: bool = True
    chain_id: int | None = DEFAULT.chain_id  # None: pre-EIP-155 legacy
    max_fee: int = 2 * DEFAULT.base_fee
    tip: int = DEFAULT.base_fee // 10  # ignored for legacy (the tip is the gas price)
    gas: int = ORDINARY_GAS
    data: bytes = b""
    access_list: tuple[tuple[bytes, tuple[int, ...]], ...] = ()
    mangle: str = "none"


MANGLES = [
    "high_s",  # s -> n - s, parity flipped: same sender, but EIP-2 forbids it
    "r0",
    "s0",
    "r_n",  # r = n
    "random_r",  # usually not an x coordinate, or recovers someone else
    "truncate",
    "trailing",
    "type1",  # 0x01 prefix: EIP-2930 is not accepted
    "list_nonce",  # an empty list in the nonce field (Q2)
    "al_empty_address",  # access list [[b"", []]] (Q1)
    "al_short_key",  # access list [[20 bytes, [31 bytes]]]
    "al_not_pair",  # access list [[20 bytes]]
    "y_parity_2",
]


def _sign(spec: TxSpec, unsigned: list[Any]) -> bytes:
    """Signs hand-built fields (type 2: the 9 unsigned fields; legacy: the 6 without v, r, s)."""
    key = POOL[spec.sender].key
    if spec.typed:
        sig = key.sign_msg_hash(keccak(b"\x02" + rlp.encode(unsigned)))
        return b"\x02" + bytes(rlp.encode([*unsigned, sig.v, sig.r, sig.s]))
    chain_id = spec.chain_id or 0
    sig = key.sign_msg_hash(keccak(rlp.encode([*unsigned, chain_id, 0, 0])))
    return bytes(rlp.encode([*unsigned, 2 * chain_id + 35 + sig.v, sig.r, sig.s]))


def _unsigned(spec: TxSpec) -> list[Any]:
    access = [[a, [k.to_bytes(32, "big") for k in keys]] for a, keys in spec.access_list]
    if spec.typed:
        return [
            spec.chain_id,
            spec.nonce,
            spec.tip,
            spec.max_fee,
            spec.gas,
            spec.to,
            spec.value,
            spec.data,
            access,
        ]
    return [spec.nonce, spec.max_fee, spec.gas, spec.to, spec.value, spec.data]


def _resign_fields(raw: bytes, edit: Callable[[list[Any]], None]) -> bytes:
    """Decodes a signed tx, edits its signature fields (v/y, r, s) in place, re-encodes it."""
    typed = raw[:1] == b"\x02"
    fields = rlp.decode(raw[1:] if typed else raw)
    edit(fields)
    body = bytes(rlp.encode(fields))
    return b"\x02" + body if typed else body


def _int(v: int) -> bytes:
    return bytes(rlp.sedes.big_endian_int.serialize(v))


def build_tx(spec: TxSpec) -> bytes:
    sender = POOL[spec.sender]
    if spec.mangle in ("list_nonce", "al_empty_address", "al_short_key", "al_not_pair"):
        unsigned = _unsigned(spec)
        if spec.mangle == "list_nonce":
            unsigned[1 if spec.typed else 0] = []
        elif spec.typed:
            unsigned[8] = {
                "al_empty_address": [[b"", []]],
                "al_short_key": [[b"\x11" * 20, [b"\x22" * 31]]],
                "al_not_pair": [[b"\x11" * 20]],
            }[spec.mangle]
        return _sign(spec, unsigned)
    raw = _build_plain(sender, spec)
    typed = spec.typed
    m = spec.mangle
    if m == "high_s":
        if typed:
            return with_high_s(raw)

        def flip(f: list[Any]) -> None:
            base = 2 * (spec.chain_id or 0) + 35  # v = base + y_parity
            f[6] = _int(2 * base + 1 - int.from_bytes(f[6], "big"))
            f[8] = _int(SECP256K1_N - int.from_bytes(f[8], "big"))

        return _resign_fields(raw, flip)
    r_index = 10 if typed else 7
    if m in ("r0", "s0", "r_n", "random_r"):
        new = {"r0": 0, "s0": 0, "r_n": SECP256K1_N, "random_r": int.from_bytes(keccak(raw), "big")}

        def set_sig(f: list[Any]) -> None:
            f[r_index + (1 if m == "s0" else 0)] = _int(new[m])

        return _resign_fields(raw, set_sig)
    if m == "y_parity_2":
        if not typed:
            return _resign_fields(raw, lambda f: f.__setitem__(6, _int(27)))
        return _resign_fields(raw, lambda f: f.__setitem__(9, _int(2)))
    if m == "truncate":
        return raw[: len(raw) // 2]
    if m == "trailing":
        return raw + b"\x00"
    if m == "type1":
        return b"\x01" + (raw[1:] if typed else raw)
    assert m == "none", m
    return raw


def _build_plain(sender: Account, spec: TxSpec) -> bytes:
    if spec.typed:
        if spec.chain_id is None:
            raise ValueError("a type-2 transaction always has a chain id")
        return transfer(
            sender,
            spec.to,
            nonce=spec.nonce,
            value=spec.value,
            chain_id=spec.chain_id,
            max_fee=spec.max_fee,
            tip=spec.tip,
            gas=spec.gas,
            data=spec.data,
            access_list=spec.access_list,
        )
    if spec.access_list:
        raise ValueError("a legacy transaction has no access list")
    return legacy_transfer(
        sender,
        spec.to,
        nonce=spec.nonce,
        value=spec.value,
        chain_id=spec.chain_id,
        gas_price=spec.max_fee,
        gas=spec.gas,
        data=spec.data,
    )


# ---- one example --------------------------------------------------------------------------------


@dataclass
class Case:
    params: RollupParams
    genesis: dict[bytes, GenesisAccount]
    tx: bytes
    coinbase: bytes
    label: str = ""

    def describe(self) -> str:
        accounts_text = ", ".join(
            f"0x{a.hex()}: (nonce {g.nonce}, balance {g.balance}, code 0x{g.code.hex()}, "
            f"storage {dict(g.storage)})"
            for a, g in self.genesis.items()
        )
        return (
            f"[{self.label}] chain_id={self.params.chain_id} base_fee={self.params.base_fee} "
            f"coinbase=0x{self.coinbase.hex()}\ntx=0x{self.tx.hex()}\ngenesis={{{accounts_text}}}"
        )


@dataclass(frozen=True)
class Outcome:
    reason: InvalidReason | None
    root: bytes
    sender: bytes | None


def run_core(case: Case) -> tuple[bytes, tuple[bytes, ...], Outcome]:
    """(pre-root, witness, outcome) from the Python core."""
    db = AtomicDB()
    pre_root = build_genesis(db, case.genesis)
    witness = account_witness(db, pre_root, touched_accounts(case.tx, case.coinbase, case.params))
    ctx = BlockContext(
        number=0,
        timestamp=1_700_000_000,
        coinbase=case.coinbase,
        base_fee=case.params.base_fee,
        gas_limit=case.params.gas_limit,
        chain_id=case.params.chain_id,
    )
    state = open_state(db, pre_root, ctx)
    out = apply_step(state, case.tx, RuleSet.ROLLUP, batch=0, step=0)
    assert out.valid == (out.reason is None)
    if not out.valid:
        assert out.root == pre_root, "an invalid step must not change the state"
    return pre_root, witness, Outcome(out.reason, out.root, out.sender)


def run_contract(
    rollup: Contract, pre_root: bytes, case: Case, witness: tuple[bytes, ...]
) -> Outcome:
    reason, sender, post_root = rollup.functions.executeStep(
        pre_root, case.tx, to_checksum_address(case.coinbase), list(witness)
    ).call()
    got_sender = bytes.fromhex(sender[2:]) if int(sender, 16) else None
    return Outcome(CORE_REASON[reason], bytes(post_root), got_sender)


def compare(rollups: Mapping[RollupParams, Contract], case: Case) -> Outcome:
    pre_root, witness, core = run_core(case)
    chain = run_contract(rollups[case.params], pre_root, case, witness)
    detail = (
        f"{case.describe()}\ncore: {core.reason} 0x{core.root.hex()}\n"
        f"contract: {chain.reason} 0x{chain.root.hex()}"
    )
    assert chain.root == core.root, detail
    assert chain.reason == core.reason, detail
    if core.reason is None:
        assert chain.sender == core.sender, detail
    return core


# ---- deterministic cases ------------------------------------------------------------------------

S, T = POOL[0], POOL[1]
RICH = 10**21
BASE = {
    S.address: GenesisAccount(balance=RICH, nonce=3),
    T.address: GenesisAccount(balance=5, nonce=1),
    CODE_HOLDER: GenesisAccount(balance=1, code=b"\x60\x00\x60\x00\xfd", storage={1: 2}),
    FILLER[0]: GenesisAccount(balance=10**9),
    FILLER[1]: GenesisAccount(nonce=7),
}
FEE = 2 * DEFAULT.base_fee


def _spec(**kw: Any) -> TxSpec:
    base: dict[str, Any] = {"sender": 0, "to": T.address, "nonce": 3, "value": 10**18}
    base.update(kw)
    return TxSpec(**base)


def _case(
    spec: TxSpec,
    *,
    coinbase: bytes = FILLER[0],
    genesis: Mapping[bytes, GenesisAccount] | None = None,
    params: RollupParams = DEFAULT,
) -> tuple[Case, TxSpec]:
    g = dict(BASE if genesis is None else genesis)
    return Case(params, g, build_tx(spec), coinbase), spec


def _precompile_case(n: int, *, typed: bool, value: int) -> Callable[[], tuple[Case, TxSpec]]:
    return lambda: _case(_spec(to=PRECOMPILES[n - 1], typed=typed, value=value))


CODE_SENDER = {**BASE, S.address: GenesisAccount(balance=RICH, nonce=3, code=b"\x00")}
MAX_NONCE = {**BASE, S.address: GenesisAccount(balance=RICH, nonce=2**64 - 1)}
NEAR_MAX_NONCE = {**BASE, S.address: GenesisAccount(balance=RICH, nonce=2**64 - 2)}
EXACT = ORDINARY_GAS * FEE + 10**18  # balance that exactly covers gas·max_fee + value
EXACT_BALANCE = {**BASE, S.address: GenesisAccount(balance=EXACT, nonce=3)}
SHORT_BALANCE = {**BASE, S.address: GenesisAccount(balance=EXACT - 1, nonce=3)}

# (case id) -> (case, the reason the core must give: None = valid)
DETERMINISTIC: dict[str, tuple[Callable[[], tuple[Case, TxSpec]], InvalidReason | None]] = {
    # valid transfers, aliasing, creation, zero value / tip
    "valid-typed": (lambda: _case(_spec()), None),
    "valid-legacy": (lambda: _case(_spec(typed=False)), None),
    "new-recipient": (lambda: _case(_spec(to=FRESH)), None),
    "new-recipient-zero-value": (lambda: _case(_spec(to=FRESH, value=0)), None),
    "existing-recipient-zero-value": (lambda: _case(_spec(value=0)), None),
    "new-coinbase": (lambda: _case(_spec(), coinbase=FRESH), None),
    "new-coinbase-zero-tip": (lambda: _case(_spec(tip=0), coinbase=FRESH), None),
    "zero-tip-by-fee-cap": (
        lambda: _case(_spec(max_fee=DEFAULT.base_fee, tip=DEFAULT.base_fee), coinbase=FRESH),
        None,
    ),
    "legacy-tip-is-fee-cap-minus-base": (lambda: _case(_spec(typed=False), coinbase=FRESH), None),
    "sender-is-recipient": (lambda: _case(_spec(to=S.address)), None),
    "recipient-is-coinbase-existing": (lambda: _case(_spec(), coinbase=T.address), None),
    "recipient-is-coinbase-new": (lambda: _case(_spec(to=FRESH), coinbase=FRESH), None),
    "recipient-is-coinbase-new-zero-value": (
        lambda: _case(_spec(to=FRESH, value=0), coinbase=FRESH),
        None,
    ),
    "sender-is-coinbase": (lambda: _case(_spec(), coinbase=S.address), None),
    "all-three-same": (lambda: _case(_spec(to=S.address), coinbase=S.address), None),
    "coinbase-has-code": (lambda: _case(_spec(), coinbase=CODE_HOLDER), None),
    "coinbase-is-precompile": (lambda: _case(_spec(), coinbase=PRECOMPILES[0]), None),
    "coinbase-nonce-only-account": (lambda: _case(_spec(), coinbase=FILLER[1]), None),
    "recipient-nonce-only-account": (lambda: _case(_spec(to=FILLER[1])), None),
    "drain-sender-to-zero": (
        lambda: _case(
            _spec(max_fee=FEE, tip=FEE),
            genesis={
                **BASE,
                S.address: GenesisAccount(balance=ORDINARY_GAS * FEE + 10**18, nonce=3),
            },
        ),
        None,
    ),
    "exact-balance-higher-gas": (
        lambda: _case(
            _spec(gas=50_000),
            genesis={**BASE, S.address: GenesisAccount(balance=50_000 * FEE + 10**18, nonce=3)},
        ),
        None,
    ),
    "zero-address-recipient": (lambda: _case(_spec(to=NEAR_PRECOMPILES[0])), None),
    "address-0x0b-recipient": (lambda: _case(_spec(to=NEAR_PRECOMPILES[1])), None),
    "nonce-2^64-2": (lambda: _case(_spec(nonce=2**64 - 2), genesis=NEAR_MAX_NONCE), None),
    "gas-at-block-limit": (
        lambda: _case(_spec(gas=30_000_000, max_fee=DEFAULT.base_fee, tip=0)),
        None,
    ),
    "empty-state-insufficient": (
        lambda: _case(_spec(nonce=0), genesis={}),
        InvalidReason.INSUFFICIENT_BALANCE,
    ),
    "small-base-fee-params": (
        lambda: _case(
            _spec(max_fee=9, tip=5, value=3, chain_id=777),
            params=PARAMS[1],
            genesis={**BASE, S.address: GenesisAccount(balance=10**6, nonce=3)},
        ),
        None,
    ),
    # every reason of §3.1
    "undecodable-truncated": (lambda: _case(_spec(mangle="truncate")), InvalidReason.UNDECODABLE),
    "undecodable-trailing": (lambda: _case(_spec(mangle="trailing")), InvalidReason.UNDECODABLE),
    "undecodable-type1": (lambda: _case(_spec(mangle="type1")), InvalidReason.UNDECODABLE),
    "undecodable-list-nonce-legacy": (
        lambda: _case(_spec(typed=False, mangle="list_nonce")),
        InvalidReason.UNDECODABLE,
    ),
    "undecodable-list-nonce-typed": (
        lambda: _case(_spec(mangle="list_nonce")),
        InvalidReason.UNDECODABLE,
    ),
    "undecodable-access-list-empty-address-Q1": (
        lambda: _case(_spec(mangle="al_empty_address")),
        InvalidReason.UNDECODABLE,
    ),
    "undecodable-access-list-short-key": (
        lambda: _case(_spec(mangle="al_short_key")),
        InvalidReason.UNDECODABLE,
    ),
    "undecodable-access-list-not-pair": (
        lambda: _case(_spec(mangle="al_not_pair")),
        InvalidReason.UNDECODABLE,
    ),
    "undecodable-y-parity-2": (
        lambda: _case(_spec(mangle="y_parity_2")),
        InvalidReason.UNDECODABLE,
    ),
    "wrong-chain-typed": (lambda: _case(_spec(chain_id=1)), InvalidReason.WRONG_CHAIN_ID),
    "wrong-chain-legacy": (
        lambda: _case(_spec(typed=False, chain_id=1)),
        InvalidReason.WRONG_CHAIN_ID,
    ),
    "wrong-chain-pre-eip155": (
        lambda: _case(_spec(typed=False, chain_id=None)),
        InvalidReason.WRONG_CHAIN_ID,
    ),
    "legacy-v-27": (
        lambda: _case(_spec(typed=False, mangle="y_parity_2")),
        InvalidReason.WRONG_CHAIN_ID,
    ),
    "bad-signature-high-s-typed": (
        lambda: _case(_spec(mangle="high_s")),
        InvalidReason.BAD_SIGNATURE,
    ),
    "bad-signature-high-s-legacy": (
        lambda: _case(_spec(typed=False, mangle="high_s")),
        InvalidReason.BAD_SIGNATURE,
    ),
    "bad-signature-r0": (lambda: _case(_spec(mangle="r0")), InvalidReason.BAD_SIGNATURE),
    "bad-signature-s0": (lambda: _case(_spec(mangle="s0")), InvalidReason.BAD_SIGNATURE),
    "bad-signature-r-n": (lambda: _case(_spec(mangle="r_n")), InvalidReason.BAD_SIGNATURE),
    "contract-creation": (lambda: _case(_spec(to=b"")), InvalidReason.CONTRACT_CREATION),
    "contract-creation-legacy": (
        lambda: _case(_spec(to=b"", typed=False)),
        InvalidReason.CONTRACT_CREATION,
    ),
    "nonempty-data": (lambda: _case(_spec(data=b"\x00")), InvalidReason.NONEMPTY_DATA),
    "nonempty-access-list": (
        lambda: _case(_spec(access_list=((T.address, ()),))),
        InvalidReason.NONEMPTY_ACCESS_LIST,
    ),
    "gas-too-low": (lambda: _case(_spec(gas=20_999)), InvalidReason.BAD_GAS_LIMIT),
    "gas-above-block-limit": (
        lambda: _case(_spec(gas=30_000_001)),
        InvalidReason.BAD_GAS_LIMIT,
    ),
    "tip-above-fee-cap": (
        lambda: _case(_spec(max_fee=FEE, tip=FEE + 1)),
        InvalidReason.TIP_ABOVE_FEE_CAP,
    ),
    "fee-cap-below-base-fee": (
        lambda: _case(_spec(max_fee=DEFAULT.base_fee - 1, tip=0)),
        InvalidReason.FEE_CAP_BELOW_BASE_FEE,
    ),
    "sender-has-code": (
        lambda: _case(_spec(), genesis=CODE_SENDER),
        InvalidReason.SENDER_HAS_CODE,
    ),
    "nonce-too-high": (lambda: _case(_spec(nonce=4)), InvalidReason.BAD_NONCE),
    "nonce-too-low": (lambda: _case(_spec(nonce=2)), InvalidReason.BAD_NONCE),
    "nonce-2^64-1": (
        lambda: _case(_spec(nonce=2**64 - 1), genesis=MAX_NONCE),
        InvalidReason.BAD_NONCE,
    ),
    "absent-sender-nonce-1": (
        lambda: _case(_spec(sender=3, nonce=1)),
        InvalidReason.BAD_NONCE,
    ),
    "absent-sender": (
        lambda: _case(_spec(sender=3, nonce=0)),
        InvalidReason.INSUFFICIENT_BALANCE,
    ),
    "balance-one-short": (
        lambda: _case(_spec(), genesis=SHORT_BALANCE),
        InvalidReason.INSUFFICIENT_BALANCE,
    ),
    "balance-exact": (lambda: _case(_spec(), genesis=EXACT_BALANCE), None),
    "cost-overflows-uint256": (
        lambda: _case(_spec(max_fee=2**250, tip=0, gas=2**20)),
        InvalidReason.INSUFFICIENT_BALANCE,
    ),
    "value-overflows-uint256": (
        lambda: _case(_spec(value=2**256 - 1)),
        InvalidReason.INSUFFICIENT_BALANCE,
    ),
    "recipient-has-code": (
        lambda: _case(_spec(to=CODE_HOLDER)),
        InvalidReason.RECIPIENT_HAS_CODE,
    ),
    "recipient-has-code-zero-value": (
        lambda: _case(_spec(to=CODE_HOLDER, value=0)),
        InvalidReason.RECIPIENT_HAS_CODE,
    ),
    **{
        f"recipient-precompile-0x{n:02x}-{kind}": (
            _precompile_case(n, typed=typed, value=value),
            InvalidReason.RECIPIENT_HAS_CODE,
        )
        for n in range(1, 11)
        for kind, typed, value in (("typed", True, 5), ("legacy-zero-value", False, 0))
    },
    "recipient-precompile-with-balance": (
        lambda: _case(
            _spec(to=PRECOMPILES[3]),
            genesis={**BASE, PRECOMPILES[3]: GenesisAccount(balance=7)},
        ),
        InvalidReason.RECIPIENT_HAS_CODE,
    ),
}


@pytest.mark.parametrize("name", list(DETERMINISTIC))
def test_deterministic_case(rollups: dict[RollupParams, Contract], name: str) -> None:
    make, expected = DETERMINISTIC[name]
    case, _ = make()
    case.label = name
    core = compare(rollups, case)
    assert core.reason == expected, case.describe()


def test_reason_codes_line_up() -> None:
    """Contract codes 1..13 are §3.1's rows; the core's enum lists the same rows in order."""
    assert [r.name for r in list(InvalidReason)[:13]] == [r.name for r in Reason][1:]
    assert list(InvalidReason)[13:] == [InvalidReason.EVM_REJECTED]


# ---- random cases -------------------------------------------------------------------------------

NONCES = [0, 1, 2, 9, 2**64 - 2, 2**64 - 1]


@st.composite
def genesis_accounts(draw: st.DrawFn) -> dict[bytes, GenesisAccount]:
    genesis: dict[bytes, GenesisAccount] = {}
    for acct in POOL:
        if draw(st.integers(0, 4)) == 0:
            continue  # absent
        nonce = draw(st.sampled_from(NONCES[:4] * 3 + NONCES[4:]))
        balance = draw(
            st.one_of(
                st.sampled_from([0, 1, 21_000, 21_000 * 10**9, 10**18, 10**21, 2**200]),
                st.integers(0, 10**22),
            )
        )
        code = b"\x60\x00" if draw(st.integers(0, 9)) == 0 else b""
        storage = {1: 7} if draw(st.integers(0, 9)) == 0 else {}
        if nonce == 0 and balance == 0 and not code:
            balance = 1
        genesis[acct.address] = GenesisAccount(balance, nonce, code, storage)
    for addr in draw(st.lists(st.sampled_from(FILLER), max_size=40, unique=True)):
        genesis[addr] = GenesisAccount(balance=draw(st.integers(1, 10**20)))
    if draw(st.booleans()):
        genesis[CODE_HOLDER] = GenesisAccount(balance=draw(st.integers(0, 9)), code=b"\x00")
    if draw(st.integers(0, 5)) == 0:
        genesis[PRECOMPILES[draw(st.integers(0, 9))]] = GenesisAccount(balance=3)
    return genesis


#: What a random case aims at: "valid" keeps every rule satisfied (exercising §3.2), each other
#: kind breaks one rule (the rest stay satisfied), and "chaos" draws every field independently.
KINDS = [
    "valid",
    *MANGLES,
    "wrong_chain",
    "creation",
    "data",
    "access_list",
    "gas",
    "tip_above_fee_cap",
    "fee_below_base",
    "sender_code",
    "nonce",
    "balance",
    "recipient_code",
    "precompile",
    "chaos",
]


@st.composite
def cases(draw: st.DrawFn, kind: str) -> Case:
    params = draw(st.sampled_from(PARAMS))
    bf = params.base_fee
    chaos = kind == "chaos"
    genesis = draw(genesis_accounts())
    sender_index = draw(st.integers(0, len(POOL) - 1))
    sender = POOL[sender_index].address
    others = [a.address for a in POOL if a.address != sender]
    fillers = [a for a in FILLER if a in genesis] or FILLER[:1]
    typed = kind in ("access_list", "tip_above_fee_cap") or kind.startswith("al_")
    typed = typed or draw(st.booleans())

    # recipient and coinbase: aliasing with each other and with the sender, new accounts
    if kind == "precompile":
        to = draw(st.sampled_from(PRECOMPILES))
    elif kind == "recipient_code":
        to = CODE_HOLDER
        genesis[CODE_HOLDER] = GenesisAccount(balance=draw(st.integers(0, 9)), code=b"\x00")
    elif kind == "creation":
        to = b""
    elif chaos:
        to = draw(
            st.one_of(
                st.sampled_from([*others, sender, FRESH, *fillers[:3], CODE_HOLDER, b""]),
                st.sampled_from(PRECOMPILES + NEAR_PRECOMPILES),
                st.binary(min_size=20, max_size=20),
            )
        )
    else:
        to = draw(
            st.sampled_from([*others, *others, sender, FRESH, fillers[0], *NEAR_PRECOMPILES])
            | st.binary(min_size=20, max_size=20)
        )
    coinbase = draw(
        st.one_of(
            st.sampled_from([*others, sender, FRESH, fillers[0], CODE_HOLDER, PRECOMPILES[0]]),
            st.just(to if len(to) == 20 else FRESH),
            st.binary(min_size=20, max_size=20),
        )
    )

    # fees and gas
    if chaos:
        max_fee = draw(
            st.sampled_from([max(bf - 1, 0), bf, 2 * bf, 2**200]) | st.integers(0, 3 * bf)
        )
        tip = draw(st.sampled_from([0, max_fee, max_fee + 1]) | st.integers(0, max_fee + 1))
        gas = draw(st.sampled_from([ORDINARY_GAS, 20_999, 30_000_000, 30_000_001, 2**64]))
    else:
        max_fee = draw(st.sampled_from([bf, bf + 1, 2 * bf, 10 * bf]))
        tip = draw(st.sampled_from([0, 1, max_fee - bf, max_fee]) | st.integers(0, max_fee))
        gas = draw(st.sampled_from([ORDINARY_GAS, ORDINARY_GAS, ORDINARY_GAS + 1, 60_000]))
        if kind == "gas":
            gas = draw(st.sampled_from([0, 20_999, 30_000_001, 2**64]))
        elif kind == "tip_above_fee_cap":
            tip = max_fee + draw(st.integers(1, 2**64))
        elif kind == "fee_below_base":
            max_fee = draw(st.integers(0, bf - 1)) if bf > 1 else 0
            tip = min(tip, max_fee)

    # the sender's account: a funded EOA unless the kind breaks it
    acct = genesis.get(sender, GenesisAccount())
    if not chaos and kind not in ("balance", "nonce"):
        need = max(min(gas, 30_000_000) * max_fee, 1)  # never an empty account (§2)
        genesis[sender] = acct = GenesisAccount(
            balance=draw(
                st.sampled_from([need, need + 1, 10**21, 2**200])
                | st.integers(need, max(need, 10**22))
            ),
            nonce=acct.nonce if acct.nonce < 2**64 - 1 else draw(st.sampled_from(NONCES[:5])),
            code=b"\x60\x00" if kind == "sender_code" else b"",
            storage=acct.storage,
        )
    if kind == "nonce":
        nonce = draw(st.sampled_from([acct.nonce + 1, acct.nonce + 2**32, max(acct.nonce - 1, 0)]))
        if acct.nonce == 2**64 - 1 and draw(st.booleans()):
            nonce = acct.nonce  # equal, but at the EIP-2681 limit
    elif chaos:
        nonce = draw(st.sampled_from([acct.nonce] * 4 + [acct.nonce + 1, max(acct.nonce - 1, 0)]))
    else:
        nonce = acct.nonce

    # value: affordable, the whole budget, or (kind "balance") just too much
    budget = acct.balance - gas * max_fee
    if chaos:
        value = draw(st.sampled_from([0, 1, acct.balance, 2**256 - 1]) | st.integers(0, 2**80))
    elif kind == "balance":
        value = draw(st.sampled_from([max(budget + 1, 0), 2**256 - 1, 2**256 - gas * max_fee]))
        value = min(value, 2**256 - 1)
    elif budget >= 0:
        value = draw(st.sampled_from([0, min(1, budget), budget]) | st.integers(0, budget))
    else:
        value = draw(st.sampled_from([0, 1]))

    chain_id: int | None = params.chain_id
    if kind == "wrong_chain" or (chaos and draw(st.integers(0, 3)) == 0):
        chain_id = draw(
            st.sampled_from([params.chain_id + 1, 1]) | st.just(None)
            if not typed
            else st.sampled_from([params.chain_id + 1, 1])
        )
    data = b""
    if kind == "data" or (chaos and draw(st.integers(0, 3)) == 0):
        data = draw(st.sampled_from([b"\x00", b"\x01\x02"]) | st.binary(min_size=1, max_size=60))
    access: tuple[tuple[bytes, tuple[int, ...]], ...] = ()
    if typed and (kind == "access_list" or (chaos and draw(st.integers(0, 3)) == 0)):
        access = draw(st.sampled_from([((FRESH, ()),), ((CODE_HOLDER, (0, 2**255)),)]))
    mangle = kind if kind in MANGLES else "none"
    if chaos and draw(st.integers(0, 3)) == 0:
        mangle = draw(st.sampled_from(MANGLES))
    spec = TxSpec(
        sender=sender_index,
        to=to,
        nonce=nonce,
        value=value,
        typed=typed,
        chain_id=chain_id,
        max_fee=max_fee,
        tip=tip,
        gas=gas,
        data=data,
        access_list=access,
        mangle=mangle,
    )
    return Case(params, genesis, build_tx(spec), coinbase, label=f"{kind}: {spec}")


def _check_random(rollups: dict[RollupParams, Contract], kind: str, examples: int) -> None:
    @settings(_BASE, max_examples=examples)
    @given(case=cases(kind))
    def check(case: Case) -> None:
        note(case.describe())
        core = compare(rollups, case)
        event(f"reason: {core.reason.value if core.reason else 'valid'}")

    check()


@pytest.mark.parametrize("kind", KINDS)
def test_contract_matches_core(rollups: dict[RollupParams, Contract], kind: str) -> None:
    """About 115 random examples: 20 each for "valid" and "chaos", 3 for each other kind."""
    _check_random(rollups, kind, 20 if kind in ("valid", "chaos") else 3)


@pytest.mark.slow
def test_contract_matches_core_slow(rollups: dict[RollupParams, Contract]) -> None:
    """About 4,000 random examples: 800 each for "valid" and "chaos", 100 for each other kind."""
    for kind in KINDS:
        _check_random(rollups, kind, 800 if kind in ("valid", "chaos") else 100)


# ---- deposit steps (protocol v2, §8.2) ----------------------------------------------------------

BRIDGE = BRIDGE_ADDRESS


def _deposit(
    recipient: bytes,
    amount: int,
    *,
    index: int = 0,
    genesis: Mapping[bytes, GenesisAccount] | None = None,
    params: RollupParams = DEFAULT,
) -> Case:
    g = dict(BASE if genesis is None else genesis)
    return Case(params, g, encode_deposit(index, recipient, amount), FILLER[0])


#: (case id) -> (case, the reason: None = valid)
DEPOSITS: dict[str, tuple[Callable[[], Case], InvalidReason | None]] = {
    "deposit-existing": (lambda: _deposit(T.address, 10**18), None),
    "deposit-creates": (lambda: _deposit(FRESH, 1), None),
    "deposit-zero-existing": (lambda: _deposit(T.address, 0), None),
    "deposit-zero-new": (lambda: _deposit(FRESH, 0), None),
    "deposit-to-code-holder": (lambda: _deposit(CODE_HOLDER, 9), None),
    "deposit-to-nonce-only-account": (lambda: _deposit(FILLER[1], 9), None),
    "deposit-to-precompile": (lambda: _deposit(PRECOMPILES[0], 9), None),
    "deposit-to-bridge": (lambda: _deposit(BRIDGE, 5), None),
    "deposit-to-the-coinbase": (lambda: _deposit(FILLER[0], 5), None),
    "deposit-max-index": (lambda: _deposit(S.address, 7, index=2**64 - 1), None),
    "deposit-huge": (lambda: _deposit(FRESH, 2**255), None),
    "deposit-empty-state": (lambda: _deposit(FRESH, 3, genesis={}), None),
    "deposit-other-params": (lambda: _deposit(FRESH, 3, params=PARAMS[2]), None),
    **{
        f"near-deposit-{n}-bytes": (
            lambda n=n: Case(  # type: ignore[misc]
                DEFAULT, dict(BASE), (encode_deposit(0, FRESH, 5) + b"\x01" * 64)[:n], FILLER[0]
            ),
            InvalidReason.UNDECODABLE,
        )
        for n in (1, 2, 60, 62, 125)
    },
}


@pytest.mark.parametrize("name", list(DEPOSITS))
def test_deposit_case(rollups: dict[RollupParams, Contract], name: str) -> None:
    make, expected = DEPOSITS[name]
    case = make()
    case.label = name
    core = compare(rollups, case)
    assert core.reason == expected, case.describe()
    assert core.sender is None, case.describe()


@settings(_BASE, max_examples=40)
@given(
    genesis=genesis_accounts(),
    recipient=st.sampled_from(
        [a.address for a in POOL] + FILLER[:5] + [FRESH, CODE_HOLDER, BRIDGE, *PRECOMPILES]
    )
    | st.binary(min_size=20, max_size=20),
    amount=st.one_of(st.sampled_from([0, 1, 10**18]), st.integers(0, 2**200)),
    index=st.integers(0, 2**64 - 1),
)
def test_random_deposit_steps(
    rollups: dict[RollupParams, Contract],
    genesis: dict[bytes, GenesisAccount],
    recipient: bytes,
    amount: int,
    index: int,
) -> None:
    case = Case(DEFAULT, genesis, encode_deposit(index, recipient, amount), FILLER[0], "random")
    event("zero" if amount == 0 else ("new" if recipient not in genesis else "existing"))
    core = compare(rollups, case)
    assert core.reason is None
