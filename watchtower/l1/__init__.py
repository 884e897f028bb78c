"""The L1 edge: development chains, and the rollup contract's client."""
