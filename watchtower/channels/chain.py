"""The guardian's L1 port (:class:`~watchtower.channels.guardian.ChannelChain`) over a real node:
the typed clients of :mod:`watchtower.l1.channels` for the views, the calls and the events."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import TransactionNotFound, Web3Exception

from watchtower.channels.facts import (
    CASH,
    CLAIM,
    SETTLE,
    UPDATE,
    ChannelEvent,
    Facts,
    Head,
    Status,
    TxReceipt,
)
from watchtower.channels.intake import ChainFacts, status_of
from watchtower.channels.intake import Status as IntakeStatus
from watchtower.channels.types import ChannelState, Cheque, Kind, MonitoringRequest, Payment
from watchtower.errors import one_line
from watchtower.l1.channels import (
    NO_REWARD,
    ChequebookClient,
    PaymentChannelClient,
    PaymentStatus,
    StateChannelClient,
    StateStatus,
)

Client = StateChannelClient | PaymentChannelClient | ChequebookClient


def client_for(w3: Web3, kind: Kind, address: bytes | str) -> Client:
    if kind is Kind.STATE:
        return StateChannelClient(w3, address)
    if kind is Kind.PAYMENT:
        return PaymentChannelClient(w3, address)
    return ChequebookClient(w3, address)


class Web3ChannelChain:
    """:class:`~watchtower.channels.guardian.ChannelChain` for a web3 endpoint."""

    def __init__(self, w3: Web3, contracts: dict[bytes, Kind]) -> None:
        self.w3 = w3
        self.clients: dict[bytes, Client] = {
            address: client_for(w3, kind, address) for address, kind in contracts.items()
        }

    def _client(self, contract: bytes) -> Client:
        client = self.clients.get(contract)
        if client is None:
            raise ValueError(f"contract 0x{contract.hex()} is not guarded")
        return client

    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    def head(self) -> Head:
        block = self.w3.eth.get_block("latest")
        try:
            tip = int(self.w3.eth.max_priority_fee)
        except (Web3Exception, ValueError, NotImplementedError):
            tip = 10**9
        return Head(
            number=int(block["number"]),
            timestamp=int(block["timestamp"]),
            base_fee=int(block.get("baseFeePerGas", 0) or 0),
            tip=tip,
        )

    def block_hash(self, number: int) -> bytes | None:
        try:
            return bytes(self.w3.eth.get_block(number)["hash"])
        except Web3Exception:
            return None

    def confirmed_nonce(self, address: str) -> int:
        return int(self.w3.eth.get_transaction_count(Web3.to_checksum_address(address), "latest"))

    def facts(self, kind: Kind, contract: bytes, channel_key: int) -> Facts:
        client = self._client(contract)
        if isinstance(client, StateChannelClient):
            c = client.channel(channel_key)
            status = {
                StateStatus.OPEN: Status.OPEN,
                StateStatus.CLOSING: Status.CLOSING,
                StateStatus.SETTLED: Status.SETTLED,
            }.get(c.status, Status.MISSING)
            victim_balance = c.balance_b if c.closer == c.a else c.balance_a
            return Facts(
                status=status,
                nonce=c.nonce,
                deadline=c.deadline,
                reward_monitor=c.reward_monitor,
                reward=c.reward_amount,
                victim_balance=victim_balance,
                parties=(c.a, c.b),
                closer=c.closer,
            )
        if isinstance(client, PaymentChannelClient):
            p = client.channel(channel_key)
            status = {
                PaymentStatus.OPEN: Status.OPEN,
                PaymentStatus.CLAIMED: Status.SETTLED,
                PaymentStatus.RECLAIMED: Status.SETTLED,
            }.get(p.status, Status.MISSING)
            return Facts(
                status=status,
                deadline=p.expiration,
                parties=(p.sender, p.recipient),
                deposit=p.deposit,
            )
        beneficiary = channel_key.to_bytes(20, "big")
        return Facts(
            status=Status.OPEN,
            paid_out=client.paid_out(beneficiary),
            liquid=client.liquid_balance(),
            parties=(client.issuer(),),
        )

    def intake_facts(self, kind: Kind, contract: bytes, channel_key: int) -> ChainFacts:
        client = self._client(contract)
        now = int(self.w3.eth.get_block("latest")["timestamp"])
        if isinstance(client, StateChannelClient):
            c = client.channel(channel_key)
            return ChainFacts(
                now=now, status=status_of(Kind.STATE, int(c.status)), party_a=c.a, party_b=c.b,
                deposit_a=c.deposit_a, deposit_b=c.deposit_b, nonce=c.nonce,
                deadline=c.deadline, closer=c.closer,
            )  # fmt: skip
        if isinstance(client, PaymentChannelClient):
            p = client.channel(channel_key)
            return ChainFacts(
                now=now, status=status_of(Kind.PAYMENT, int(p.status)), party_a=p.sender,
                party_b=p.recipient, deposit_a=p.deposit, expiration=p.expiration,
            )  # fmt: skip
        beneficiary = channel_key.to_bytes(20, "big")
        try:
            issuer = client.issuer()
        except Web3Exception:
            return ChainFacts(now=now, status=IntakeStatus.NONE)
        return ChainFacts(
            now=now, status=IntakeStatus.OPEN, party_a=issuer,
            paid_out=client.paid_out(beneficiary),
        )  # fmt: skip

    def build(
        self, action: str, request: MonitoringRequest, sender: str, with_reward: bool
    ) -> dict[str, Any]:
        client = self._client(request.contract)
        reward = request.reward if with_reward and request.reward is not None else NO_REWARD
        reward_sig = request.reward_signature if with_reward else b""
        m = request.message
        if action == UPDATE and isinstance(client, StateChannelClient):
            assert isinstance(m, ChannelState)
            fn = client.update_function(
                m,
                request.signatures[0],
                request.signatures[1],
                reward=reward,
                reward_sig=reward_sig,
            )
        elif action == SETTLE and isinstance(client, StateChannelClient):
            assert isinstance(m, ChannelState)
            fn = client.settle_function(m.channel_id)
        elif action == CLAIM and isinstance(client, PaymentChannelClient):
            assert isinstance(m, Payment)
            fn = client.claim_function(
                m, request.signatures[0], reward=reward, reward_sig=reward_sig
            )
        elif action == CASH and isinstance(client, ChequebookClient):
            assert isinstance(m, Cheque)
            fn = client.cash_cheque_function(
                m, request.signatures[0], reward=reward, reward_sig=reward_sig
            )
        else:
            raise ValueError(f"no {action} for a {request.kind} contract")
        sender = Web3.to_checksum_address(sender)
        try:
            gas = int(fn.estimate_gas({"from": sender}))
        except Web3Exception as exc:  # a revert: no answer from this tick
            raise ValueError(f"{action} would revert: {one_line(exc)}") from None
        data = fn._encode_transaction_data()
        return {"to": client.address, "data": data, "gas": gas * 5 // 4 + 10_000}

    def send_raw(self, raw: bytes) -> None:
        try:
            self.w3.eth.send_raw_transaction(HexBytes(raw))
        except Web3Exception as exc:
            raise ValueError(one_line(exc)) from None

    def receipt(self, tx_hash: bytes) -> TxReceipt | None:
        try:
            r = self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            return None
        return TxReceipt(int(r["status"]), int(r["blockNumber"]), int(r["gasUsed"]))

    def events(self, contracts: Sequence[bytes], first: int, last: int) -> list[ChannelEvent]:
        out: list[ChannelEvent] = []
        for contract in contracts:
            for e in self._client(contract).events(first, last):
                fields = dataclasses.asdict(e)
                key = fields.get("channel_id")
                if key is None:
                    beneficiary = fields.get("beneficiary")
                    key = int.from_bytes(beneficiary, "big") if beneficiary else 0
                out.append(
                    ChannelEvent(
                        name=type(e).__name__,
                        contract=contract,
                        channel_key=int(key),
                        block=e.block_number,
                        log_index=e.log_index,
                        fields=fields,
                    )
                )
        out.sort(key=lambda e: (e.block, e.log_index))
        return out
