"""Shared test helpers: a real HTTP server on 127.0.0.1, recorded-traffic replay, spec validation."""
