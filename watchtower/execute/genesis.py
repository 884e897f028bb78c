"""The state root of a genesis allocation, computed in memory (``watchtower genesis-root``)."""

from __future__ import annotations

from collections.abc import Mapping

from eth.db.atomic import AtomicDB

from watchtower.execute.state import build_genesis
from watchtower.rollup.types import GenesisAccount


def allocation_root(alloc: Mapping[bytes, GenesisAccount]) -> bytes:
    """The genesis root of ``alloc`` under the rollup's rules (protocol.md §2); nothing is
    written anywhere. Raises :class:`GenesisError` for an allocation §2 forbids."""
    return build_genesis(AtomicDB(), alloc)
