"""What the typed clients of the three channel contracts share: sending (signed locally, a
revert raising :class:`~watchtower.l1.rollup.L1TransactionError` with the contract's reason),
event decoding, ``owed``/``withdraw`` and the EIP-712 views; the empty reward."""

from __future__ import annotations

from typing import Any, cast

from eth_typing import ABIEvent, ChecksumAddress
from eth_utils.abi import event_abi_to_log_topic
from web3 import Web3
from web3._utils.events import get_event_data
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import FilterParams, LogReceipt, TxReceipt, Wei

from watchtower.channels.types import ChannelState, Reward
from watchtower.l1.channel_events import ChannelEvent, _decode
from watchtower.l1.rollup import L1TransactionError, _base_tx, _sign_and_send, send_call
from watchtower.rollup.artifacts import load_artifact
from watchtower.submit.signer import TxSigner

__all__ = ["NO_REWARD", "ZERO_ADDRESS"]

ZERO_ADDRESS = b"\x00" * 20
#: The empty reward (``amount = 0``): send it with an empty signature.
NO_REWARD = Reward(channel_id=0, nonce=0, amount=0, monitor=ZERO_ADDRESS)


def _addr(a: str | bytes) -> ChecksumAddress:
    """A checksum address from 20 bytes or a hex string."""
    if isinstance(a, bytes):
        if len(a) != 20:
            raise ValueError(f"an address is 20 bytes, got {len(a)}")
        return Web3.to_checksum_address(a)
    return Web3.to_checksum_address(a)


def _reward_tuple(r: Reward) -> tuple[int, int, int, str]:
    return (r.channel_id, r.nonce, r.amount, _addr(r.monitor))


def _state_tuple(s: ChannelState) -> tuple[int, int, int, int]:
    return (s.channel_id, s.nonce, s.balance_a, s.balance_b)


# -- the shared client machinery ------------------------------------------------------------------


class _ChannelContract:
    """Sending, event decoding and ``owed``/``withdraw``, common to the three contracts."""

    CONTRACT_NAME = ""
    #: the events decoded into dataclasses (others, e.g. ``Withdrawn``, are skipped)
    EVENTS: tuple[str, ...] = ()

    def __init__(self, w3: Web3, address: str | bytes) -> None:
        self.w3 = w3
        self.address = _addr(address)
        abi: list[dict[str, Any]] = load_artifact(self.CONTRACT_NAME)["abi"]  # type: ignore[assignment]
        self.contract: Contract = w3.eth.contract(address=self.address, abi=abi)
        self._events: dict[bytes, tuple[str, ABIEvent]] = {}
        for entry in abi:
            if entry.get("type") == "event" and entry["name"] in self.EVENTS:
                event = cast(ABIEvent, entry)
                self._events[bytes(event_abi_to_log_topic(event))] = (entry["name"], event)

    @classmethod
    def _deploy_contract(
        cls, w3: Web3, deployer: TxSigner, args: tuple[Any, ...], value: int = 0
    ) -> str:
        artifact = load_artifact(cls.CONTRACT_NAME)
        factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        params = _base_tx(w3, deployer)
        params["value"] = Wei(value)
        tx = factory.constructor(*args).build_transaction(params)
        receipt = _sign_and_send(w3, deployer, tx, f"deploy {cls.CONTRACT_NAME}")
        address = receipt["contractAddress"]
        if address is None:
            raise L1TransactionError(f"deploy {cls.CONTRACT_NAME}", "no contract address")
        return str(address)

    def _send(
        self, sender: TxSigner, fn: ContractFunction, action: str, value: int = 0
    ) -> TxReceipt:
        return send_call(self.w3, sender, fn, action, value)

    # -- events ---------------------------------------------------------------------------------
    def _decode_logs(self, logs: list[LogReceipt]) -> list[ChannelEvent]:
        out: list[ChannelEvent] = []
        for log in logs:
            if _addr(str(log["address"])) != self.address or not log["topics"]:
                continue
            known = self._events.get(bytes(log["topics"][0]))
            if known is None:
                continue
            name, abi = known
            out.append(_decode(name, get_event_data(self.w3.codec, abi, log)))
        out.sort(key=lambda e: (e.block_number, e.log_index))
        return out

    def events(self, from_block: int, to_block: int) -> list[ChannelEvent]:
        """This contract's events in blocks ``from_block`` .. ``to_block``, in chain order."""
        params: FilterParams = {
            "address": self.address,
            "fromBlock": from_block,
            "toBlock": to_block,
        }
        return self._decode_logs(list(self.w3.eth.get_logs(params)))

    def receipt_events(self, receipt: TxReceipt) -> list[ChannelEvent]:
        """This contract's events in a transaction receipt."""
        return self._decode_logs(list(receipt["logs"]))

    # -- common ---------------------------------------------------------------------------------
    def owed(self, account: str | bytes) -> int:
        return int(self.contract.functions.owed(_addr(account)).call())

    def domain_separator(self) -> bytes:
        return bytes(self.contract.functions.domainSeparator().call())

    def hash_reward(self, r: Reward) -> bytes:
        """The contract's EIP-712 digest of ``r`` (what the user signs)."""
        return bytes(self.contract.functions.hashReward(_reward_tuple(r)).call())

    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)
