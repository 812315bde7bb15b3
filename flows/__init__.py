"""Orchestration and I/O: Prefect flows, input readers, validation runner and the CLI."""
