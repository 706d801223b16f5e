"""Thin trigger adapters: parse the input, call one service, shape the response."""
