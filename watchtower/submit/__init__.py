"""Submitting challenges to L1: the journal, fee bumping, the deadline policy."""
