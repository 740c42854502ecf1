"""The sync engine: checkpointed incremental pulls from connectors into the store."""
