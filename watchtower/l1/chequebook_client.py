"""The typed client of one issuer's Chequebook contract (contracts/Chequebook.sol,
docs/channels.md §4): deploy, the writes and the views."""

from __future__ import annotations

from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from watchtower.channels.types import Cheque, Reward
from watchtower.l1.channel_contract import (
    NO_REWARD,
    _addr,
    _ChannelContract,
    _reward_tuple,
)
from watchtower.l1.channel_events import _raw
from watchtower.submit.signer import TxSigner

__all__ = ["CHEQUEBOOK_REVERTS", "ChequebookClient"]

#: Every revert reason of Chequebook, in the order its functions check them (docs/channels.md
#: §4, "Exact details"); an :class:`L1TransactionError`'s ``reason`` is one of these.
CHEQUEBOOK_REVERTS: tuple[str, ...] = tuple(
    "Chequebook: " + r
    for r in (
        "issuer is zero",
        "bad signature",
        "nothing to cash",
        "bad reward",
        "not the issuer",
        "amount above the liquid balance",
        "nothing owed",
        "transfer failed",
    )
)


# -- chequebook ---------------------------------------------------------------------------------


class ChequebookClient(_ChannelContract):
    """Read and write one issuer's Chequebook contract (docs/channels.md §4)."""

    CONTRACT_NAME = "Chequebook"
    EVENTS = ("ChequeCashed", "ChequeBounced", "IssuerWithdrew")

    @classmethod
    def deploy(
        cls, w3: Web3, deployer: TxSigner, issuer: str | bytes, balance: int = 0
    ) -> ChequebookClient:
        return cls(w3, cls._deploy_contract(w3, deployer, (_addr(issuer),), value=balance))

    def cash_cheque_function(
        self,
        cheque: Cheque,
        issuer_sig: bytes,
        *,
        reward: Reward = NO_REWARD,
        reward_sig: bytes = b"",
    ) -> ContractFunction:
        return self.contract.functions.cashCheque(
            _addr(cheque.beneficiary),
            cheque.cumulative_payout,
            issuer_sig,
            _reward_tuple(reward),
            reward_sig,
        )

    def cash_cheque(
        self,
        sender: TxSigner,
        cheque: Cheque,
        issuer_sig: bytes,
        *,
        reward: Reward = NO_REWARD,
        reward_sig: bytes = b"",
    ) -> TxReceipt:
        fn = self.cash_cheque_function(cheque, issuer_sig, reward=reward, reward_sig=reward_sig)
        return self._send(
            sender,
            fn,
            f"cash cheque of {cheque.cumulative_payout} for 0x{cheque.beneficiary.hex()}",
        )

    def deposit(self, sender: TxSigner, amount: int) -> TxReceipt:
        fn = self.contract.functions.deposit()
        return self._send(sender, fn, "deposit to chequebook", value=amount)

    def issuer_withdraw(self, issuer: TxSigner, amount: int) -> TxReceipt:
        """``withdraw(uint256)``: the issuer moves ``amount`` of the liquid balance to its owed."""
        fn = self.contract.get_function_by_signature("withdraw(uint256)")(amount)
        return self._send(issuer, fn, f"issuer withdraws {amount} from the chequebook")

    def withdraw(self, sender: TxSigner) -> TxReceipt:
        """``withdraw()``: pay the caller its ``owed``."""
        fn = self.contract.get_function_by_signature("withdraw()")()
        return self._send(sender, fn, "withdraw")

    # -- views ----------------------------------------------------------------------------------
    def issuer(self) -> bytes:
        return _raw(self.contract.functions.issuer().call())

    def paid_out(self, beneficiary: str | bytes) -> int:
        return int(self.contract.functions.paidOut(_addr(beneficiary)).call())

    def liquid_balance(self) -> int:
        return int(self.contract.functions.liquidBalance().call())

    def total_owed(self) -> int:
        return int(self.contract.functions.totalOwed().call())

    def hash_cheque(self, cheque: Cheque) -> bytes:
        """The contract's EIP-712 digest of ``cheque`` (what the issuer signs)."""
        fn = self.contract.functions.hashCheque(_addr(cheque.beneficiary), cheque.cumulative_payout)
        return bytes(fn.call())
