"""Long-running services built on the engine: the real-time mirror (``watch``)."""
