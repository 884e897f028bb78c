"""A development rollup: an L1 (anvil or in-process), the contract deployed, a funded proposer.

Keys are deterministic development keys, never to be used on a real network.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
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


#: The proposer's L2 state in a devnet's data directory (``propose --data-dir`` finds it there).
PROPOSER_STATE = "proposer-state"
#: The shell file a devnet writes in its data directory: ``. DATA_DIR/env``.
ENV_FILE = "env"
#: Held while a batch is built and posted, by a running devnet and by ``propose``: two
#: proposers on one data directory never build on the same tip at once.
LOCK_FILE = "proposer.lock"


@contextmanager
def proposer_lock(data_dir: Path) -> Iterator[None]:
    """Exclusive use of the proposer of ``data_dir`` (an advisory ``flock``, released on exit,
    also when the process dies)."""
    from watchtower.errors import InputError

    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        f = (data_dir / LOCK_FILE).open("a")
    except OSError as exc:
        raise InputError(f"--data-dir {data_dir}: {exc.strerror or exc}") from None
    with f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def proposer_state_dir(data_dir: Path) -> Path:
    """Where the proposer of ``data_dir`` keeps its L2 state: ``proposer-state`` (a devnet's
    data directory, or any new one), or ``state`` (older ``propose`` data directories)."""
    old = data_dir / "state"
    return (
        old
        if old.is_dir() and not (data_dir / PROPOSER_STATE).exists()
        else data_dir / PROPOSER_STATE
    )


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
    #: The proposer's state, genesis.json, the L2 mempool, env (a temporary one without
    #: ``start_devnet(data_dir=...)``).
    data_dir: Path
    node: AnvilNode | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @property
    def rpc_url(self) -> str | None:
        return self.node.url if self.node is not None else None

    def environment(self) -> dict[str, str]:
        """What a walk-through needs, by shell variable name (devnet keys: public knowledge)."""
        env = {
            "L1_RPC": self.rpc_url or "",
            "ROLLUP": self.client.address,
            "GENESIS": str(self.genesis_path.resolve()),
            "PROPOSER_KEY": _hex_key(self.proposer.account),
            "PROPOSER_ADDRESS": self.proposer.account.address,
            "CHALLENGER_KEY": _hex_key(self.challenger),
            "CHALLENGER_ADDRESS": self.challenger.address,
            "USER_KEY": _hex_key(self.user),
            "USER_ADDRESS": self.user.address,
        }
        return {k: v for k, v in env.items() if v}

    def write_env(self, path: Path) -> Path:
        """``path``: one ``export NAME=value`` line per :meth:`environment` entry (for ``. path``),
        written atomically (a script waiting for the file never reads half of it)."""
        lines = ["# watchtower devnet: public development keys, for devnets only"]
        lines += [f"export {k}={shlex.quote(v)}" for k, v in self.environment().items()]
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return path

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


def _hex_key(account: LocalAccount) -> str:
    return "0x" + account.key.hex().removeprefix("0x")


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
    tmp = None
    if data_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="wt-devnet-")
        data_dir = Path(tmp.name)
    data_dir.mkdir(parents=True, exist_ok=True)
    # A new chain: what a previous devnet left here describes another one.
    for stale in (data_dir / ENV_FILE, data_dir / L2Mempool.FILENAME):
        stale.unlink(missing_ok=True)
    node = start_anvil(balance=ANVIL_BALANCE) if l1 == "anvil" else None
    try:
        return _deploy(node, data_dir, tmp, challenge_period, min_stake, proposer_bond, params)
    except BaseException:
        if node is not None:
            node.stop()
        if tmp is not None:
            tmp.cleanup()
        raise


def _deploy(  # noqa: PLR0917
    node: AnvilNode | None,
    data_dir: Path,
    tmp: tempfile.TemporaryDirectory[str] | None,
    challenge_period: int,
    min_stake: int,
    proposer_bond: int,
    params: RollupParams,
) -> Devnet:
    w3 = node.web3() if node is not None else embedded_web3()
    genesis = devnet_genesis()
    genesis_path = write_genesis(data_dir / "genesis.json", genesis, params)
    store = StateDB(data_dir / PROPOSER_STATE, sync=False)
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
        data_dir=data_dir,
        node=node,
        _tmp=tmp,
    )
