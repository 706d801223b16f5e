"""Orchestration: each service takes its ports as arguments and holds no global state."""
