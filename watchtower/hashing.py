"""Which keccak implementation eth-hash uses, chosen by the program, never at import.

Keccak is computed for every trie node. eth-hash's shared ``keccak`` (``eth_hash.auto``, which
py-evm, py-trie and this package all call) prefers pycryptodome when both backends are installed;
pysha3 hashes a trie node about 2.3x faster (bench/bench_replay.py), and both give the same
digests. Entry points (the CLI, the benchmarks, the test suite) call :func:`use_fast_keccak`
once; importing the package changes nothing, neither the environment nor any library state.
"""

from __future__ import annotations

import importlib.util
import os

from eth_hash.auto import keccak


def use_fast_keccak() -> str:
    """Point eth-hash's shared keccak at pysha3 when it is installed, unless the user chose a
    backend with ``ETH_HASH_BACKEND``; returns the backend in use ("pysha3" or "auto")."""
    if os.environ.get("ETH_HASH_BACKEND") or importlib.util.find_spec("sha3") is None:
        return "auto"
    from eth_hash.backends.pysha3 import PySha3Backend

    backend = PySha3Backend()
    keccak.hasher = backend.keccak256  # type: ignore[assignment]  # same call, param named prehash
    keccak.preimage = backend.preimage  # type: ignore[assignment]  # same call, param named prehash
    return "pysha3"


__all__ = ["use_fast_keccak"]
