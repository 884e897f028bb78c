"""Development tools of the channel schemes (docs/channels.md): deploy the three contracts on a
devnet, open channels, sign states, payments and cheques off-chain between two keys, close with
an old state (the attack a guardian answers), and write the monitoring requests a user hands the
guardian (``watchtower channels submit``).

Off-chain state lives in a **wallet** per party: one JSON file per address in a wallet directory
(``channel-wallets/0xabc….json``) holding every co-signed state of its state channels, the
latest payment of its payment channels and the latest cheque of its chequebooks. Two keys in one
process stand for the two parties: a development tool, never for real money.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from watchtower.channels import codec, eip712
from watchtower.channels.chain import client_for
from watchtower.channels.types import (
    ChannelState,
    Cheque,
    Domain,
    Kind,
    MonitoringRequest,
    Payment,
    Reward,
)
from watchtower.errors import InputError
from watchtower.l1.channels import (
    ChequebookClient,
    PaymentChannelClient,
    StateChannelClient,
)
from watchtower.l1.rollup import L1TransactionError
from watchtower_dev.chain import free_port, fund
from watchtower_dev.devnet import dev_key

_E = TypeVar("_E")
ETHER = 10**18
#: The contracts of each scheme.
CONTRACT_NAMES = {
    Kind.STATE: "StateChannel",
    Kind.PAYMENT: "PaymentChannel",
    Kind.CHEQUE: "Chequebook",
}
#: The shell file ``channel-devnet`` writes in its data directory: ``. DATA_DIR/env``.
ENV_FILE = "env"
WALLET_FORMAT = "watchtower-channel-wallet"
#: Ether a channel devnet gives each development key.
PARTY_FUNDS = 100 * ETHER
#: Ether the devnet's chequebook (Alice is its issuer) starts with.
CHEQUEBOOK_FUNDS = 10 * ETHER


def address_hex(address: bytes | str) -> str:
    """A checksummed ``0x`` address."""
    return str(Web3.to_checksum_address(address))


def address_bytes(address: str) -> bytes:
    return bytes.fromhex(address.removeprefix("0x").removeprefix("0X"))


def _key(account: LocalAccount) -> bytes:
    return bytes(account.key)


# -- transactions: through the typed clients of watchtower.l1.channels ------------------------


def client(w3: Web3, kind: Kind, address: str) -> Any:
    """The typed client (:mod:`watchtower.l1.channels`) of scheme ``kind`` at ``address``."""
    return client_for(w3, kind, address)


def contract_at(w3: Web3, kind: Kind, address: str) -> Contract:
    """The web3 contract of scheme ``kind`` at ``address`` (its events, for the demo's checks)."""
    contract: Contract = client(w3, kind, address).contract
    return contract


def now(w3: Web3) -> int:
    """The L1 head's timestamp."""
    return int(w3.eth.get_block("latest")["timestamp"])


def owed(w3: Web3, kind: Kind, contract: str, account: str) -> int:
    """What the contract owes ``account`` (``owed(a)``, paid by ``withdraw()``)."""
    return int(client(w3, kind, contract).owed(account))


def withdraw_owed(w3: Web3, kind: Kind, contract: str, account: LocalAccount) -> int:
    """``withdraw()``: take what the contract owes ``account``; the amount paid."""
    c = client(w3, kind, contract)
    amount = int(c.owed(account.address))
    if amount:
        c.withdraw(account)
    return amount


def _only(events: list[Any], kind: type[_E], action: str) -> _E:
    for event in events:
        if isinstance(event, kind):
            return event
    raise L1TransactionError(action, f"the transaction logged no {kind.__name__}")


# -- the devnet ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelDevnet:
    """The three contracts on one chain, two parties and a guardian (development keys)."""

    w3: Web3
    chain_id: int
    state_channel: str
    payment_channel: str
    chequebook: str  # Alice's
    alice: LocalAccount
    bob: LocalAccount
    guardian: LocalAccount
    rpc_url: str = ""

    def environment(self) -> dict[str, str]:
        """What a walk-through needs, by shell variable name (devnet keys: public knowledge)."""
        env = {
            "L1_RPC": self.rpc_url,
            "CHAIN_ID": str(self.chain_id),
            "STATE_CHANNEL": self.state_channel,
            "PAYMENT_CHANNEL": self.payment_channel,
            "CHEQUEBOOK": self.chequebook,
        }
        for name, account in (
            ("ALICE", self.alice),
            ("BOB", self.bob),
            ("GUARDIAN", self.guardian),
        ):
            env[f"{name}_KEY"] = "0x" + bytes(account.key).hex()
            env[f"{name}_ADDRESS"] = account.address
        return {k: v for k, v in env.items() if v}

    def write_env(self, path: Path, wallets: Path, guardian_api: str = "") -> Path:
        """``export NAME=value`` lines (for ``. path``), written atomically; ``CHANNEL_WALLETS``
        is ``wallets``, ``GUARDIAN_URL`` the intake API of the guardian of ``guardian.toml``."""
        env = {**self.environment(), "CHANNEL_WALLETS": str(wallets.resolve())}
        if guardian_api:
            env["GUARDIAN_URL"] = f"http://{guardian_api}"
        lines = ["# watchtower channel-devnet: public development keys, for devnets only"]
        lines += [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return path


#: The guardian's configuration file ``channel-devnet`` writes next to its env file.
GUARDIAN_CONFIG = "guardian.toml"
#: Where that guardian serves its intake API (another free port when it is taken), and the
#: variable holding the API's token.
GUARDIAN_API = "127.0.0.1:9110"
GUARDIAN_TOKEN_ENV = "GUARD_TOKEN"  # noqa: S105  (a variable's name)


def guardian_api() -> str:
    """:data:`GUARDIAN_API` if its port is free, else 127.0.0.1 and a free port."""
    import socket

    host, port = GUARDIAN_API.split(":")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, int(port)))
        except OSError:
            return f"{host}:{free_port()}"
    return GUARDIAN_API


def write_guardian_config(net: ChannelDevnet, path: Path, api: str = GUARDIAN_API) -> Path:
    """A ``watchtower run --config`` file guarding the devnet's three contracts (channels only),
    its intake API on ``api`` with the token in ``$GUARD_TOKEN``."""
    contracts = ", ".join(
        f'{{kind = "{kind.value}", address = "{address}"}}'
        for kind, address in (
            (Kind.STATE, net.state_channel),
            (Kind.PAYMENT, net.payment_channel),
            (Kind.CHEQUE, net.chequebook),
        )
    )
    text = f"""# watchtower channel-devnet: a guardian of the devnet's channel contracts
[l1]
poll_interval = 1

[service]
guard = ["channels"]

[channels]
contracts = [{contracts}]
api_listen = "{api}"
api_token_env = "{GUARDIAN_TOKEN_ENV}"
confirmations = 1
"""
    path.write_text(text, encoding="utf-8")
    return path


def deploy_channel_devnet(w3: Web3, rpc_url: str = "") -> ChannelDevnet:
    """Fund the development keys (from the chain's first unlocked account: anvil, eth-tester)
    and deploy the state channel, the payment channel and Alice's chequebook."""
    deployer = dev_key("channel-deployer")
    alice, bob, guardian = dev_key("alice"), dev_key("bob"), dev_key("guardian")
    fund(w3, deployer.address, 10 * ETHER)
    for account in (alice, bob, guardian):
        fund(w3, account.address, PARTY_FUNDS)
    state_channel = StateChannelClient.deploy(w3, deployer).address
    payment_channel = PaymentChannelClient.deploy(w3, deployer).address
    chequebook = ChequebookClient.deploy(w3, alice, alice.address, CHEQUEBOOK_FUNDS).address
    return ChannelDevnet(
        w3=w3,
        chain_id=int(w3.eth.chain_id),
        state_channel=state_channel,
        payment_channel=payment_channel,
        chequebook=chequebook,
        alice=alice,
        bob=bob,
        guardian=guardian,
        rpc_url=rpc_url,
    )


# -- wallets ---------------------------------------------------------------------------------------


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def unhex(text: str) -> bytes:
    return bytes.fromhex(text.removeprefix("0x"))


class Wallet:
    """One party's off-chain messages, in ``DIR/<address>.json``."""

    def __init__(self, directory: Path, owner: str) -> None:
        self.owner = address_hex(owner)
        self.path = directory / f"{self.owner.lower()}.json"
        self.data: dict[str, Any] = {
            "format": WALLET_FORMAT,
            "version": 1,
            "owner": self.owner,
            "state_channels": {},
            "payment_channels": {},
            "cheques": {},
        }
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                raise InputError(f"wallet {self.path}: not readable JSON ({exc})") from None
            if not isinstance(data, dict) or data.get("format") != WALLET_FORMAT:
                raise InputError(f"wallet {self.path}: not a {WALLET_FORMAT} file")
            self.data.update(data)

    def save(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)
        return self.path

    @staticmethod
    def key(chain_id: int, contract: str, channel: int | str) -> str:
        return f"{chain_id}:{address_hex(contract)}:{channel}"

    # state channels
    def state_channel(self, chain_id: int, contract: str, channel_id: int) -> dict[str, Any]:
        entry = self.data["state_channels"].get(self.key(chain_id, contract, channel_id))
        if entry is None:
            raise InputError(
                f"channel {channel_id} of {address_hex(contract)}: not in the wallet of "
                f"{self.owner} ({self.path}): open it with `watchtower channel open`"
            )
        return cast(dict[str, Any], entry)

    def put_state_channel(self, entry: dict[str, Any]) -> None:
        key = self.key(entry["chain_id"], entry["contract"], entry["channel_id"])
        self.data["state_channels"][key] = entry


@dataclass(frozen=True)
class SignedState:
    state: ChannelState
    sig_a: bytes
    sig_b: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "nonce": self.state.nonce,
            "balance_a": str(self.state.balance_a),
            "balance_b": str(self.state.balance_b),
            "sig_a": _hex(self.sig_a),
            "sig_b": _hex(self.sig_b),
        }

    @classmethod
    def from_json(cls, channel_id: int, doc: dict[str, Any]) -> SignedState:
        state = ChannelState(
            channel_id, int(doc["nonce"]), int(doc["balance_a"]), int(doc["balance_b"])
        )
        return cls(state, unhex(doc["sig_a"]), unhex(doc["sig_b"]))

    def as_args(self) -> tuple[tuple[int, int, int, int], bytes, bytes]:
        s = self.state
        return (s.channel_id, s.nonce, s.balance_a, s.balance_b), self.sig_a, self.sig_b


def states_of(entry: dict[str, Any]) -> list[SignedState]:
    """Every state a wallet holds for one channel, nonce 0 (the deposits, unsigned) first."""
    channel_id = int(entry["channel_id"])
    deposits = SignedState(
        ChannelState(channel_id, 0, int(entry["deposit_a"]), int(entry["deposit_b"])), b"", b""
    )
    signed = [SignedState.from_json(channel_id, d) for d in entry.get("states", [])]
    return [deposits, *sorted(signed, key=lambda s: s.state.nonce)]


# -- monitoring requests ---------------------------------------------------------------------------


def make_request(  # noqa: PLR0917
    kind: Kind,
    chain_id: int,
    contract: str,
    message: ChannelState | Payment | Cheque,
    signatures: tuple[bytes, ...],
    user: LocalAccount | None = None,
    reward_wei: int = 0,
    guardian: str | None = None,
) -> MonitoringRequest:
    """A monitoring request for ``message``; with ``reward_wei`` and ``guardian``, a reward offer
    signed by ``user`` (the party the request protects)."""
    domain = Domain(kind, chain_id, address_bytes(address_hex(contract)))
    reward = None
    reward_sig = b""
    if reward_wei:
        if user is None or guardian is None:
            raise InputError("a reward needs the guardian's address and the user's key")
        request = MonitoringRequest(kind, chain_id, domain.contract, message, signatures)
        reward = Reward(request.channel_key, request.sequence, reward_wei, address_bytes(guardian))
        reward_sig = eip712.sign(_key(user), domain, reward)
    return MonitoringRequest(
        kind, chain_id, domain.contract, message, signatures, reward, reward_sig
    )


def request_to_json(request: MonitoringRequest) -> dict[str, Any]:
    """The JSON ``watchtower channels submit`` accepts (docs/channels.md §5, the codec's)."""
    return codec.to_json(request)


def write_request(path: Path, request: MonitoringRequest) -> Path:
    try:
        path.write_text(json.dumps(request_to_json(request), indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--request {path}: cannot write ({exc.strerror or exc})") from None
    return path
