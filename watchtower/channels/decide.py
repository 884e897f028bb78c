"""Per-channel decisions of the channel guardian (docs/channels.md §6): being written."""
