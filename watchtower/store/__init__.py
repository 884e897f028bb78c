"""The service's persistent store (SQLite): progress, verdicts, the challenge journal."""
