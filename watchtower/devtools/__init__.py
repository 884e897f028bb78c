"""Developer tools: deterministic keys and transactions, fixture generation."""
