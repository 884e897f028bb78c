"""watchtower: a fraud-proof verifier and watchtower for optimistic rollups.

The package is laid out as the pipeline it runs::

    rollup/     protocol constants, transaction rules, batch codec, bundles   (pure)
    execute/    state database, state transition, replay                      (pure given a DB)
    conformance/  Ethereum state-test runner for the transition engine
    devtools/   fixture generation for tests, demos and benchmarks
    cli.py      the command line (edge)
"""

import importlib.util
import os

# Keccak is computed for every trie node. eth-hash prefers pycryptodome when both backends are
# installed; pysha3 hashes a trie node about 2.3x faster (bench/bench_replay.py). Both give the
# same digests. An explicit ETH_HASH_BACKEND set by the user still wins.
if importlib.util.find_spec("sha3") is not None:
    os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")

__version__ = "0.1.0"
__all__ = ["__version__"]
