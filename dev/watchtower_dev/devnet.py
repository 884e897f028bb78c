"""A development rollup: an L1 (anvil or in-process), the contract deployed, a funded proposer.

Keys are deterministic development keys, never to be used on a real network.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account as EthAccount
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from web3 import Web3

from watchtower.execute.replay import init_genesis
from watchtower.execute.statedb import StateDB
from watchtower.l1.rollup import RollupClient, RollupConfig
from watchtower.rollup.bridge import genesis_balance
from watchtower.rollup.bundle import Bundle, bundle_to_json
from watchtower.rollup.params import RollupParams
from watchtower.rollup.types import GenesisAccount
from watchtower_dev.chain import AnvilNode, embedded_web3, fund, start_anvil
from watchtower_dev.proposer import ETHER, L2Mempool, Proposer, devnet_genesis

L1_KINDS = ("embedded", "anvil")
#: ether in each of anvil's funded accounts on a devnet: enough to back the genesis (64,000).
ANVIL_BALANCE = 1_000_000


def dev_key(name: str) -> LocalAccount:
    """A deterministic development key (public knowledge: for devnets only)."""
    account: LocalAccount = EthAccount.from_key(keccak(b"watchtower-devnet/" + name.encode()))
    return account


def write_genesis(
    path: Path, genesis: dict[bytes, GenesisAccount], params: RollupParams | None = None
) -> Path:
    """Write ``genesis`` as the allocation JSON that ``watchtower run --genesis`` reads."""
    document = bundle_to_json(Bundle(params or RollupParams(), genesis, ()))["genesis"]
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return path


def write_devnet_genesis(path: Path) -> Path:
    """The devnet's L2 genesis file at ``path`` (for ``watchtower run --genesis``)."""
    return write_genesis(path, devnet_genesis())


@dataclass
class Devnet:
    w3: Web3
    client: RollupClient
    proposer: Proposer
    challenger: LocalAccount
    config: RollupConfig
    #: A development user with ether on L1 (to deposit; its key signs its L2 withdrawals).
    user: LocalAccount
    #: The L2 genesis allocation as JSON (what ``watchtower run --genesis`` reads).
    genesis_path: Path
    node: AnvilNode | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @property
    def rpc_url(self) -> str | None:
        return self.node.url if self.node is not None else None

    def close(self) -> None:
        self.proposer.store.close()
        if self.node is not None:
            self.node.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Devnet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_devnet(
    l1: str = "embedded",
    *,
    data_dir: Path | None = None,
    challenge_period: int = 7 * 24 * 3600,
    min_stake: int = ETHER,
    proposer_bond: int = 2 * ETHER,
    params: RollupParams | None = None,
) -> Devnet:
    """Start an L1, deploy the rollup for the devnet genesis, fund and register a proposer."""
    if l1 not in L1_KINDS:
        raise ValueError(f"l1 must be one of {', '.join(L1_KINDS)}, not {l1!r}")
    params = params or RollupParams()
    node = start_anvil(balance=ANVIL_BALANCE) if l1 == "anvil" else None
    w3 = node.web3() if node is not None else embedded_web3()
    tmp = None
    if data_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="wt-devnet-")
        data_dir = Path(tmp.name)
    data_dir.mkdir(parents=True, exist_ok=True)
    genesis = devnet_genesis()
    genesis_path = write_genesis(data_dir / "genesis.json", genesis, params)
    store = StateDB(data_dir / "proposer-state", sync=False)
    genesis_root = init_genesis(store, genesis)
    proposer_key, challenger_key = dev_key("proposer"), dev_key("challenger")
    supply = genesis_balance(genesis)  # what the deployer pays in (§8.6)
    for account in (proposer_key, challenger_key):
        fund(w3, account.address, 4_000 * ETHER)  # bonds: every pending batch locks one
    fund(w3, proposer_key.address, supply)  # the deployer backs the genesis
    user = dev_key("user")
    fund(w3, user.address, 1_000 * ETHER)
    config = RollupConfig(
        genesis_root=genesis_root,
        chain_id=params.chain_id,
        base_fee=params.base_fee,
        challenge_period=challenge_period,
        min_stake=min_stake,
        proposer_bond=proposer_bond,
        genesis_supply=supply,
    )
    client = RollupClient.deploy(w3, proposer_key, config)
    proposer = Proposer(
        client=client,
        account=proposer_key,
        store=store,
        params=params,
        mempool=L2Mempool.in_dir(data_dir),
    )
    client.register(proposer_key, proposer.coinbase, proposer_bond)
    return Devnet(
        w3=w3,
        client=client,
        proposer=proposer,
        challenger=challenger_key,
        config=config,
        user=user,
        genesis_path=genesis_path,
        node=node,
        _tmp=tmp,
    )
