"""Platform connectors: async clients of the platforms' open APIs, yielding normalised records."""
