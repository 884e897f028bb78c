"""Fraud proofs: build the challenge's arguments for one step, and check them with no state."""
