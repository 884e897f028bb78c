"""A signer that holds no key: transactions are signed by a separate signer process over JSON-RPC
``eth_signTransaction`` (web3signer, an Ethereum node with an unlocked account, a Clef-style
proxy, or anvil on a devnet), so the challenger's key never enters the watchtower's memory.

The signer is not trusted to sign what was asked: every signed transaction is decoded and checked
field by field (sender, nonce, recipient, value, data, gas, fees, chain id) before the service
records or broadcasts it, so a compromised or buggy signer can refuse to sign, but cannot make
the watchtower send something else.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_hash.auto import keccak
from hexbytes import HexBytes
from web3 import Web3

from watchtower.errors import InputError, WatchtowerError

#: The transaction fields a signed transaction must carry exactly as asked.
_CHECKED = (
    "nonce",
    "to",
    "value",
    "data",
    "gas",
    "maxFeePerGas",
    "maxPriorityFeePerGas",
    "chainId",
)

Post = Callable[[str, bytes, float], bytes]


class RemoteSignerError(WatchtowerError):
    """The signer process did not answer, refused, or signed something other than asked."""


def _post(url: str, body: bytes, timeout: float) -> bytes:
    request = urllib.request.Request(  # noqa: S310 (the URL was checked to be http or https)
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http/s only)
            data: bytes = response.read()
            return data
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RemoteSignerError(f"remote signer unreachable: {reason}") from None


@dataclass(frozen=True)
class SignedTransaction:
    """What :meth:`RemoteSigner.sign_transaction` returns: the attributes of eth-account's
    signed transaction that the service uses."""

    raw_transaction: HexBytes
    hash: HexBytes


def _quantity(value: Any) -> str:
    return hex(int(value))


def _request_fields(tx: Mapping[str, Any], sender: str) -> dict[str, Any]:
    out: dict[str, Any] = {"from": sender}
    for key, value in tx.items():
        if key in ("from",):
            continue
        if key in ("to",):
            out[key] = Web3.to_checksum_address(value)
        elif key == "data":
            out[key] = "0x" + bytes(HexBytes(value)).hex()
        elif key in ("nonce", "value", "gas", "maxFeePerGas", "maxPriorityFeePerGas", "chainId"):
            out[key] = _quantity(value)
        elif key == "type":
            out[key] = _quantity(int(value, 16) if isinstance(value, str) else value)
        else:
            out[key] = value
    return out


def _same(key: str, asked: Any, signed: Any) -> bool:
    if key == "to":
        return bool(Web3.to_checksum_address(asked) == Web3.to_checksum_address(signed))
    if key == "data":
        return bytes(HexBytes(asked)) == bytes(HexBytes(signed))
    return int(asked) == int(signed)


class RemoteSigner:
    """Signs through ``eth_signTransaction`` at ``url`` for ``address``.

    ``post`` sends one JSON-RPC body and returns the response body (injected in tests)."""

    def __init__(
        self, url: str, address: str, *, timeout: float = 10.0, post: Post = _post
    ) -> None:
        try:
            self.address = Web3.to_checksum_address(address)
        except ValueError:
            raise InputError(f"signer.remote_address {address!r:.50} is not an address") from None
        self.url = url
        self.timeout = timeout
        self._post = post
        self._id = 0

    def _call(self, method: str, params: list[Any]) -> Any:
        self._id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
        raw = self._post(self.url, body.encode(), self.timeout)
        try:
            reply = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise RemoteSignerError(f"remote signer: {method} answered non-JSON") from None
        if not isinstance(reply, dict):
            raise RemoteSignerError(f"remote signer: {method} answered {type(reply).__name__}")
        if reply.get("error"):
            error = reply["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            raise RemoteSignerError(f"remote signer refused {method}: {str(message)[:200]}")
        return reply.get("result")

    def accounts(self) -> list[str] | None:
        """The accounts the signer offers (``eth_accounts``), or None if it does not say."""
        try:
            result = self._call("eth_accounts", [])
        except RemoteSignerError as exc:
            if "unreachable" in str(exc):
                raise
            return None
        if isinstance(result, list) and all(isinstance(a, str) for a in result):
            return result
        return None

    def sign_transaction(self, tx: Mapping[str, Any]) -> SignedTransaction:
        """The signed bytes of ``tx`` (an EIP-1559 transaction dict as web3 builds it), checked
        to be exactly ``tx`` signed by :attr:`address`."""
        result = self._call("eth_signTransaction", [_request_fields(tx, self.address)])
        if isinstance(result, dict):  # geth and Clef answer {"raw": ..., "tx": ...}
            result = result.get("raw")
        if not isinstance(result, str) or not result.startswith("0x"):
            raise RemoteSignerError(
                "remote signer: eth_signTransaction returned no raw transaction"
            )
        raw = HexBytes(result)
        try:
            signer = Account.recover_transaction(raw)
            fields = TypedTransaction.from_bytes(raw).as_dict()
        except Exception as exc:  # any decoding failure of untrusted bytes: one line
            raise RemoteSignerError(
                f"remote signer returned an undecodable transaction ({exc})"
            ) from None
        if Web3.to_checksum_address(signer) != self.address:
            raise RemoteSignerError(
                f"remote signer signed as {signer}, not as {self.address}: refusing to send it"
            )
        for key in _CHECKED:
            if key in tx and not _same(key, tx[key], fields.get(key, 0 if key != "data" else b"")):
                raise RemoteSignerError(
                    f"remote signer changed {key} (asked {tx[key]!r:.60}, signed "
                    f"{fields.get(key)!r:.60}): refusing to send it"
                )
        return SignedTransaction(raw_transaction=raw, hash=HexBytes(keccak(raw)))
