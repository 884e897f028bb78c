"""watchtower: a fraud-proof verifier and watchtower for optimistic rollups.

The package is laid out as the pipeline it runs::

    rollup/     protocol constants, transaction rules, batch codec, bundles   (pure)
    execute/    state database, state transition, replay                      (pure given a DB)
    conformance/  Ethereum state-test runner for the transition engine
    cli/        the command line (edge)

Development tools (devnet, proposers, fixtures, the demo, test chains) are the separate
distribution watchtower-dev (package ``watchtower_dev``, in ``dev/``), never imported here.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
