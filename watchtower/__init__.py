"""watchtower: a fraud-proof verifier and watchtower for optimistic rollups.

The package is laid out as the pipeline it runs::

    rollup/     protocol constants, transaction rules, batch codec, bundles   (pure)
    execute/    state database, state transition, replay                      (pure given a DB)
    conformance/  Ethereum state-test runner for the transition engine
    devtools/   fixture generation for tests, demos and benchmarks
    cli.py      the command line (edge)
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
