"""Benchmark definitions (JSON data) and the embedded benchmark's data and hub."""
