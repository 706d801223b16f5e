"""Adapters: one module per outside system; chosen only in ``shared.bootstrap``."""
