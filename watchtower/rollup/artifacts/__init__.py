"""Compiled artifacts of the rollup contracts (``contracts/*.sol``).

The JSON files next to this module are written by ``scripts/build_contracts.py`` with the solc
version pinned in ``package.json``; ``tests/contracts/test_artifacts.py`` fails if they are stale.
Each artifact holds ``contractName``, ``sourceName``, ``abi``, ``bytecode``, ``deployedBytecode``,
``compiler`` (name, version, settings) and ``sourcesSha256``.
"""

from __future__ import annotations

import json
from importlib import resources

__all__ = ["artifact_names", "load_artifact"]


def artifact_names() -> list[str]:
    """Names of the contracts that have an artifact, sorted."""
    files = resources.files(__name__).iterdir()
    return sorted(f.name.removesuffix(".json") for f in files if f.name.endswith(".json"))


def load_artifact(name: str) -> dict[str, object]:
    """The artifact of contract ``name`` (e.g. ``"Rollup"``).

    Raises ``KeyError`` if there is no such artifact.
    """
    if not name.isidentifier():
        raise KeyError(name)
    resource = resources.files(__name__).joinpath(f"{name}.json")
    if not resource.is_file():
        raise KeyError(name)
    data: object = json.loads(resource.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("contractName") != name:
        raise ValueError(f"artifact {name}.json is not an artifact of {name}")
    return {str(k): v for k, v in data.items()}
