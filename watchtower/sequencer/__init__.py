"""The reference proposer: builds batches with the project's own state transition."""
