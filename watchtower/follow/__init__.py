"""Following the rollup on L1: log scanning, cross-endpoint agreement, reorg detection."""
