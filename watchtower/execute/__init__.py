"""Execution: the persistent state database, the state transition and batch replay."""
