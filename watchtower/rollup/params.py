"""Protocol parameters and constants (docs/protocol.md §1)."""

from __future__ import annotations

from dataclasses import dataclass

BLANK_ROOT = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")
EMPTY_CODE_HASH = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")

DEFAULT_CHAIN_ID = 42069
DEFAULT_BASE_FEE = 10**9
L2_GAS_LIMIT = 30_000_000
MAX_STEPS = 4096
MAX_TX_BYTES = 4096
TRANSFER_GAS = 21_000
BATCH_VERSION = 1

UINT256_MAX = 2**256 - 1
#: Cancun's precompiled contracts, 0x…01 to 0x…0a: the EVM runs code for them although they
#: have none, so a transfer to one is not a plain transfer (protocol.md §3.1 rule 13).
PRECOMPILE_LAST = 0x0A


def is_precompile(address: bytes) -> bool:
    return 1 <= int.from_bytes(address, "big") <= PRECOMPILE_LAST


SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@dataclass(frozen=True)
class RollupParams:
    """The parameters fixed by the rollup contract at deployment."""

    chain_id: int = DEFAULT_CHAIN_ID
    base_fee: int = DEFAULT_BASE_FEE
    gas_limit: int = L2_GAS_LIMIT

    def __post_init__(self) -> None:
        if not 0 < self.chain_id < 2**64:
            raise ValueError(f"chain_id {self.chain_id} is out of range (1 .. 2^64-1)")
        if not 0 < self.base_fee <= UINT256_MAX:
            # A zero base fee would let a sender that does not exist pay 0 and be created
            # (protocol.md §1); the rollup requires at least 1 wei.
            raise ValueError(f"base_fee {self.base_fee} is out of range (1 .. 2^256-1)")
        if not TRANSFER_GAS <= self.gas_limit < 2**63:
            raise ValueError(f"gas_limit {self.gas_limit} is out of range")


# -- Protocol v2: the bridge (docs/protocol.md §8) -------------------------------------------------
PROTOCOL_VERSION = 2
#: The first byte of a deposit step (§8.2).
DEPOSIT_TX_TYPE = 0x7E
DEPOSIT_STEP_BYTES = 61
#: A valid transfer of a non-zero value to this L2 address is a withdrawal (§8.3).
BRIDGE_ADDRESS = bytes.fromhex("000000000000000000000000000000000000b41d")
#: Seconds a deposit may wait in the L1 queue before no batch that leaves it out is accepted.
DEPOSIT_INCLUSION_DELAY = 3600
MAX_DEPOSIT = 10**24
