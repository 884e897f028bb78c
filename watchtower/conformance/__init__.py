"""Ethereum state-test conformance for the transition engine."""
