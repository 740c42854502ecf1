"""Request signing, one module per platform (pure functions, no I/O)."""
