"""A typed client of the rollup contract (contracts/Rollup.sol) over web3.py.

Transactions are signed locally (eth-account) and sent raw, so the same code runs against anvil,
the embedded chain and a production node. Reverts are raised as :class:`L1TransactionError` with
the contract's reason string.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from typing import Any, cast

from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from eth_utils.exceptions import ValidationError
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError, Web3RPCError
from web3.types import TxParams, TxReceipt, Wei

from watchtower.defaults import L1_TIMEOUT
from watchtower.errors import InputError, WatchtowerError
from watchtower.l1.instrumented import InstrumentedHTTPProvider, endpoint_label
from watchtower.metrics import Metrics
from watchtower.proof.fraud import FraudProof
from watchtower.rollup.artifacts import load_artifact
from watchtower.rollup.bridge import Deposit
from watchtower.rollup.codec import decode_batch
from watchtower.rollup.params import L2_GAS_LIMIT, RollupParams
from watchtower.rollup.types import Batch, BlockContext
from watchtower.submit.signer import TxSigner

DAY = 24 * 3600
#: The revert of a reveal without a commitment: checked last, so before committing it means the
#: proof itself is good.
NO_COMMITMENT = "no commitment for this challenge"

#: The revert reasons of the bridge (docs/protocol.md §8.4, §8.5), after ``Rollup: ``.
DEPOSIT_REVERTS: tuple[str, ...] = (
    "deposit of zero",
    "deposit above MAX_DEPOSIT",
    "deposit to the bridge address",
)
#: ``submitBatch``'s deposit checks, in the order the contract makes them.
DEPOSIT_STEP_REVERTS: tuple[str, ...] = (
    "malformed deposit step",
    "deposit step out of order",
    "deposit step not in the queue",
    "deposit step does not match the queue",
    "oldest pending deposit is overdue",
)
#: ``claimWithdrawal``'s, in order (§8.5).
CLAIM_REVERTS: tuple[str, ...] = (
    "batch is not finalized",
    "step out of range",
    "bad step inclusion proof",
    "bad previous step inclusion proof",
    "step is not a valid transaction",
    "step is not a withdrawal",
    "withdrawal already claimed",
    "bridge balance too low",
)

#: How a revert surfaces: from a JSON-RPC node, and from what :func:`register_revert_error` added
#: (the in-process chain of watchtower_dev raises eth-tester's ``TransactionFailed``). Read it
#: through :func:`reverts` (or this module) at the ``except``: a registration rebinds it.
REVERTS: tuple[type[Exception], ...] = (ContractLogicError,)


def register_revert_error(exc_type: type[Exception]) -> None:
    """Treat ``exc_type`` as a contract revert too (its message carries the revert reason).

    The extension point for in-process chains, whose provider raises its own exception where a
    node answers with a JSON-RPC error; the runtime itself knows only the node's.
    """
    global REVERTS  # noqa: PLW0603  (a registry: read at every except)
    if exc_type not in REVERTS:
        REVERTS = (*REVERTS, exc_type)


def reverts(*also: type[Exception]) -> tuple[type[Exception], ...]:
    """The exception types that mean "the contract reverted" (see :data:`REVERTS`), and
    ``also``: ``except reverts(OSError) as exc`` (mypy refuses ``except (*REVERTS, OSError)``)."""
    return (*REVERTS, *also)


class L1TransactionError(WatchtowerError):
    """An L1 transaction reverted or could not be sent."""

    def __init__(self, action: str, reason: str) -> None:
        self.action = action
        self.reason = reason
        super().__init__(f"{action}: {reason}")


class L1UnavailableError(InputError):
    """An L1 endpoint cannot be reached, or fails every request (named by host:port only)."""


class OnChainStatus(enum.IntEnum):
    """A batch's status in the rollup contract (the store's ``BatchStatus`` is the service's)."""

    NONE = 0
    PENDING = 1
    FINALIZED = 2
    REJECTED = 3


@dataclass(frozen=True)
class RollupConfig:
    """Constructor parameters of the rollup contract."""

    genesis_root: bytes
    chain_id: int = 42069
    base_fee: int = 10**9
    challenge_period: int = 7 * DAY
    min_stake: int = 10**18
    proposer_bond: int = 10**18
    #: wei sent to the constructor: the genesis supply that backs the L2 genesis (§8.6)
    genesis_supply: int = 0


@dataclass(frozen=True)
class OnChainBatch:
    index: int
    prev_root: bytes
    final_root: bytes
    steps_root: bytes
    proposer: str
    count: int
    coinbase: bytes
    timestamp: int
    deadline: int
    status: OnChainStatus
    bond: int = 0  # the bond the batch locked (0 once finalized, slashed or released)
    #: the deposit queue entries the batch consumes: [deposit_start, deposit_end) (§8.4)
    deposit_start: int = 0
    deposit_end: int = 0


@dataclass(frozen=True)
class BatchSubmitted:
    """A ``BatchSubmitted`` event with where it was logged."""

    index: int
    proposer: str
    prev_root: bytes
    final_root: bytes
    steps_root: bytes
    count: int
    coinbase: bytes
    timestamp: int
    deadline: int
    block_number: int
    block_hash: bytes
    tx_hash: bytes
    log_index: int = 0


class RollupClient:
    """Read and write the rollup contract at ``address``."""

    def __init__(self, w3: Web3, address: str) -> None:
        self.w3 = w3
        self.address = Web3.to_checksum_address(address)
        self.contract: Contract = w3.eth.contract(
            address=self.address, abi=load_artifact("Rollup")["abi"]
        )

    # -- deployment -----------------------------------------------------------------------------
    @classmethod
    def deploy(cls, w3: Web3, deployer: LocalAccount, config: RollupConfig) -> RollupClient:
        artifact = load_artifact("Rollup")
        factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        constructor = factory.constructor(
            config.challenge_period,
            config.min_stake,
            config.proposer_bond,
            config.chain_id,
            config.base_fee,
            config.genesis_root,
        )
        params = _base_tx(w3, deployer)
        params["value"] = Wei(config.genesis_supply)
        tx = constructor.build_transaction(params)
        receipt = _sign_and_send(w3, deployer, tx, "deploy Rollup")
        address = receipt["contractAddress"]
        if address is None:
            raise L1TransactionError("deploy Rollup", "no contract address in the receipt")
        return cls(w3, address)

    # -- writes ---------------------------------------------------------------------------------
    def register(self, proposer: LocalAccount, coinbase: bytes, bond: int) -> TxReceipt:
        fn = self.contract.functions.register(Web3.to_checksum_address(coinbase))
        return self._send(proposer, fn, "register proposer", value=bond)

    def deposit_bond(self, proposer: LocalAccount, amount: int) -> TxReceipt:
        return self._send(proposer, self.contract.functions.depositBond(), "deposit bond", amount)

    def submit_batch(self, proposer: LocalAccount, data: bytes) -> TxReceipt:
        return self._send(proposer, self.contract.functions.submitBatch(data), "submit batch")

    def commit_challenge(self, challenger: LocalAccount, commitment: bytes) -> TxReceipt:
        """The first half of a challenge (protocol.md §7.5): commit, to reveal in a later block."""
        fn = self.contract.functions.commitChallenge(commitment)
        return self._send(challenger, fn, "commit challenge")

    def reveal_challenge(
        self, challenger: LocalAccount, proof: FraudProof, stake: int, salt: bytes
    ) -> TxReceipt:
        """The second half: ``challenge`` with the proof, the stake and the commitment's salt."""
        fn = self.contract.functions.challenge(*proof.challenge_args(), salt)
        return self._send(
            challenger, fn, f"challenge batch {proof.batch} step {proof.step}", value=stake
        )

    def challenge(
        self, challenger: LocalAccount, proof: FraudProof, stake: int, salt: bytes | None = None
    ) -> TxReceipt:
        """Commit and reveal in two transactions, waiting for each receipt (for tools and tests:
        the service goes through its journal, :mod:`watchtower.submit`). The reveal is sent once
        the commitment is mined, so it lands in a later block."""
        salt = os.urandom(32) if salt is None else salt
        commitment = challenge_commitment(
            challenger.address, proof.batch, proof.step, proof.computed_root, salt
        )
        self.commit_challenge(challenger, commitment)
        return self.reveal_challenge(challenger, proof, stake, salt)

    def simulate_challenge(
        self, sender: str, proof: FraudProof, stake: int, salt: bytes | None = None
    ) -> None:
        """``eth_call`` the reveal; raises :class:`L1TransactionError` with the revert reason.

        Without ``salt`` (before committing) a revert for the missing commitment alone is a
        success: the contract checks the commitment last, after the proof."""
        fn = self.contract.functions.challenge(*proof.challenge_args(), salt or bytes(32))
        try:
            fn.call({"from": Web3.to_checksum_address(sender), "value": Wei(stake)})
        except reverts(ValidationError, Web3RPCError) as exc:  # a revert, or cannot pay
            reason = _reason(exc)
            if salt is None and NO_COMMITMENT in reason:
                return
            raise L1TransactionError(
                f"challenge batch {proof.batch} step {proof.step}", reason
            ) from None

    def commitment_block(self, challenger: str, commitment: bytes) -> int:
        """The block in which ``challenger`` committed to ``commitment`` (0: never)."""
        fn = self.contract.functions.commitments(Web3.to_checksum_address(challenger), commitment)
        return int(fn.call())

    def finalize(self, sender: TxSigner, index: int) -> TxReceipt:
        return self._send(sender, self.contract.functions.finalize(index), f"finalize {index}")

    def withdraw(self, sender: TxSigner) -> TxReceipt:
        return self._send(sender, self.contract.functions.withdraw(), "withdraw")

    # -- the bridge (docs/protocol.md §8) ----------------------------------------------------------
    def deposit(self, sender: LocalAccount, recipient: bytes, amount: int) -> TxReceipt:
        """Queue a deposit of ``amount`` wei to ``recipient`` on L2."""
        fn = self.contract.functions.deposit(Web3.to_checksum_address(recipient))
        return self._send(
            sender, fn, f"deposit {amount} wei to 0x{bytes(recipient).hex()}", value=amount
        )

    def claim_withdrawal(
        self, sender: LocalAccount, index: int, step: int, witness: tuple[Any, ...]
    ) -> TxReceipt:
        """Claim withdrawal ``step`` of finalized batch ``index``; ``witness`` is the
        ``StepWitness`` tuple ``(tx, postRoot, postProof, prevTxHash, prevRoot, prevProof)``.
        The value is credited to the withdrawal's sender (``owed``), whoever calls."""
        fn = self.contract.functions.claimWithdrawal(index, step, witness)
        return self._send(sender, fn, f"claim withdrawal batch {index} step {step}")

    # -- reads ----------------------------------------------------------------------------------
    def next_index(self) -> int:
        return int(self.contract.functions.nextIndex().call())

    def tip_root(self) -> bytes:
        return bytes(self.contract.functions.tipRoot().call())

    def owed(self, account: str) -> int:
        return int(self.contract.functions.owed(Web3.to_checksum_address(account)).call())

    def min_stake(self) -> int:
        return int(self.contract.functions.minStake().call())

    def proposer_bond(self) -> int:
        """The bond every batch locks (``proposerBond``)."""
        return int(self.contract.functions.proposerBond().call())

    def free_bond(self, proposer: str) -> int:
        """The part of ``proposer``'s bond that no pending batch has locked."""
        bond, _coinbase, _registered = self.contract.functions.proposers(
            Web3.to_checksum_address(proposer)
        ).call()
        return int(bond)

    def params(self) -> RollupParams:
        functions = self.contract.functions
        return RollupParams(
            chain_id=int(functions.l2ChainId().call()),
            base_fee=int(functions.l2BaseFee().call()),
            gas_limit=L2_GAS_LIMIT,
        )

    def genesis_root(self) -> bytes:
        return bytes(self.contract.functions.genesisRoot().call())

    def bridge_balance(self) -> int:
        return int(self.contract.functions.bridgeBalance().call())

    def genesis_supply(self) -> int:
        return int(self.contract.functions.genesisSupply().call())

    def deposit_count(self) -> int:
        return int(self.contract.functions.depositCount().call())

    def deposits_consumed(self) -> int:
        return int(self.contract.functions.depositsConsumed().call())

    def withdrawal_claimed(self, index: int, step: int) -> bool:
        return bool(self.contract.functions.withdrawalClaimed(index, step).call())

    def queued_deposit(self, index: int) -> Deposit:
        """Queue entry ``index`` as stored (the contract keeps no sender: ``sender`` is b"",
        ``l1_block`` 0; :meth:`deposits_queued` has both)."""
        recipient, amount, ts = self.contract.functions.queuedDeposit(index).call()
        return Deposit(
            index=index,
            sender=b"",
            recipient=bytes.fromhex(str(recipient)[2:]),
            amount=int(amount),
            l1_timestamp=int(ts),
        )

    def deposits_queued(self, from_block: int, to_block: int) -> list[Deposit]:
        """The ``DepositQueued`` events logged in blocks ``from_block`` .. ``to_block``."""
        logs = self.contract.events.DepositQueued().get_logs(
            from_block=from_block, to_block=to_block
        )
        return [
            Deposit(
                index=int(log["args"]["index"]),
                sender=bytes.fromhex(str(log["args"]["sender"])[2:]),
                recipient=bytes.fromhex(str(log["args"]["recipient"])[2:]),
                amount=int(log["args"]["amount"]),
                l1_timestamp=int(log["args"]["timestamp"]),
                l1_block=int(log["blockNumber"]),
            )
            for log in logs
        ]

    def batch(self, index: int) -> OnChainBatch:
        raw = self.contract.functions.getBatch(index).call()
        prev_root, final_root, steps_root, proposer, count, coinbase, ts, deadline = raw[:8]
        status, bond, deposit_start, deposit_end = raw[8:]
        return OnChainBatch(
            index=index,
            prev_root=bytes(prev_root),
            final_root=bytes(final_root),
            steps_root=bytes(steps_root),
            proposer=str(proposer),
            count=int(count),
            coinbase=bytes.fromhex(str(coinbase)[2:]),
            timestamp=int(ts),
            deadline=int(deadline),
            status=OnChainStatus(int(status)),
            bond=int(bond),
            deposit_start=int(deposit_start),
            deposit_end=int(deposit_end),
        )

    def batches_submitted(self, from_block: int, to_block: int) -> list[BatchSubmitted]:
        event = self.contract.events.BatchSubmitted()
        logs = event.get_logs(from_block=from_block, to_block=to_block)
        out = []
        for log in logs:
            a = log["args"]
            out.append(
                BatchSubmitted(
                    index=int(a["index"]),
                    proposer=str(a["proposer"]),
                    prev_root=bytes(a["prevRoot"]),
                    final_root=bytes(a["finalRoot"]),
                    steps_root=bytes(a["stepsRoot"]),
                    count=int(a["count"]),
                    coinbase=bytes.fromhex(str(a["coinbase"])[2:]),
                    timestamp=int(a["timestamp"]),
                    deadline=int(a["deadline"]),
                    block_number=int(log["blockNumber"]),
                    block_hash=bytes(log["blockHash"]),
                    tx_hash=bytes(log["transactionHash"]),
                    log_index=int(log["logIndex"]),
                )
            )
        return out

    def batch_calldata(self, tx_hash: bytes) -> bytes:
        """The ``batchData`` argument of the ``submitBatch`` transaction ``tx_hash``, decoded
        exactly as the contract's ABI decoder does (:mod:`watchtower.rollup.calldata`: padding
        and trailing bytes are ignored); :class:`~watchtower.rollup.calldata.CalldataError`
        (with the raw input) where that decoder would revert."""
        from watchtower.rollup.calldata import decode_submit_batch_calldata

        tx = self.w3.eth.get_transaction(HexStr("0x" + tx_hash.hex()))
        return decode_submit_batch_calldata(bytes(tx["input"]))

    def fetch_batch(self, event: BatchSubmitted, params: RollupParams) -> Batch:
        """The full batch behind an event: calldata decoded, checked against the event."""
        encoded = decode_batch(self.batch_calldata(event.tx_hash))
        if encoded.index != event.index or encoded.prev_root != event.prev_root:
            raise L1TransactionError(
                f"read batch {event.index}", "calldata does not match the BatchSubmitted event"
            )
        context = BlockContext.of_batch(event.index, event.timestamp, event.coinbase, params)
        return Batch(event.index, encoded.prev_root, context, encoded.steps)

    # -- plumbing -------------------------------------------------------------------------------
    def _send(
        self, sender: TxSigner, fn: ContractFunction, action: str, value: int = 0
    ) -> TxReceipt:
        return send_call(self.w3, sender, fn, action, value)


def send_call(
    w3: Web3, sender: TxSigner, fn: ContractFunction, action: str, value: int = 0
) -> TxReceipt:
    """Estimate, sign and send the call ``fn`` from ``sender`` and wait for its receipt (for
    tools and tests; the service sends through its journal). A revert raises
    :class:`L1TransactionError` naming ``action`` and the contract's reason."""
    params = _base_tx(w3, sender)
    params["value"] = Wei(value)
    try:
        # A margin over the estimate: the state may change between estimate and inclusion
        # (a storage slot going from zero to non-zero costs 17,100 more).
        params["gas"] = estimate_gas(fn, params) * 5 // 4 + 25_000
        tx = fn.build_transaction(params)
    except REVERTS as exc:
        raise L1TransactionError(action, _reason(exc)) from None
    return _sign_and_send(w3, sender, tx, action)


def challenge_commitment(
    challenger: str, index: int, step: int, post_root: bytes, salt: bytes
) -> bytes:
    """``Rollup.challengeCommitment``: keccak256(abi.encode(challenger, index, step, post_root,
    salt)), where ``post_root`` is the root the step really produces (the proof's computed root)."""
    if len(salt) != 32 or len(post_root) != 32:
        raise ValueError("a challenge salt and post-step root are 32 bytes each")
    encoded = abi_encode(
        ["address", "uint256", "uint256", "bytes32", "bytes32"],
        [Web3.to_checksum_address(challenger), index, step, post_root, salt],
    )
    return bytes(Web3.keccak(encoded))


def estimate_gas(fn: ContractFunction, params: TxParams) -> int:
    """``eth_estimateGas`` on the pending block where the node supports it: a reveal needs its
    commitment in an earlier block, and on "latest" a commitment just mined is in the same block
    (anvil, geth). eth-tester, which refuses the tag, already estimates on its pending block."""
    try:
        return int(fn.estimate_gas(params, block_identifier="pending"))
    except Web3RPCError as exc:
        if "not been implemented" not in str(exc) and "-32601" not in str(exc):
            raise
    return int(fn.estimate_gas(params))


def _base_tx(w3: Web3, sender: TxSigner) -> TxParams:
    return {
        "from": sender.address,
        "nonce": w3.eth.get_transaction_count(sender.address, "pending"),
    }


def _sign_and_send(w3: Web3, sender: TxSigner, tx: TxParams, action: str) -> TxReceipt:
    signed = sender.sign_transaction(cast(dict[str, Any], tx))
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
    if receipt["status"] != 1:
        raise L1TransactionError(
            action, f"reverted in block {receipt['blockNumber']}: {_replay_reason(w3, tx, receipt)}"
        )
    return receipt


def _replay_reason(w3: Web3, tx: TxParams, receipt: TxReceipt) -> str:
    """The revert reason, by re-running the transaction on the state before its block."""
    call: TxParams = {k: v for k, v in tx.items() if k in ("from", "to", "data", "value", "gas")}  # type: ignore[assignment]
    try:
        w3.eth.call(call, int(receipt["blockNumber"]) - 1)
    except REVERTS as exc:
        return _reason(exc)
    except Exception as exc:  # the node may not keep old state: say so instead
        return f"reason unavailable ({type(exc).__name__})"
    return f"out of gas? used {receipt['gasUsed']} of {tx.get('gas')}"


def _reason(exc: Exception) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return str(message).removeprefix("execution reverted: ")


def connect(
    urls: tuple[str, ...],
    rollup: str,
    metrics: Metrics | None = None,
    *,
    timeout: float = L1_TIMEOUT,
) -> list[RollupClient]:
    """Clients of the rollup at ``rollup`` on each endpoint, checked: the node answers and the
    contract has code. Errors name an endpoint by host:port only (paths often carry API keys).
    With ``metrics`` every request is timed and errors are counted per endpoint. A request is
    abandoned after ``timeout`` seconds; reads are retried on transport failures (see
    :mod:`watchtower.l1.instrumented`)."""
    if not Web3.is_address(rollup):
        raise InputError(f"--rollup {rollup!r} is not an address")
    clients = []
    for url in urls:
        where = endpoint_label(url)
        provider = InstrumentedHTTPProvider(url, metrics, request_kwargs={"timeout": timeout})
        w3 = Web3(provider)
        try:
            if not w3.is_connected():
                raise L1UnavailableError(f"cannot reach the L1 node at {where}")
            code = w3.eth.get_code(Web3.to_checksum_address(rollup))
        except InputError:
            raise
        except Exception as exc:  # any transport failure: say which endpoint, in one line
            raise L1UnavailableError(f"L1 node at {where}: {type(exc).__name__}") from None
        if not code:
            raise InputError(f"no contract at {rollup} on {where}")
        clients.append(RollupClient(w3, rollup))
    return clients
