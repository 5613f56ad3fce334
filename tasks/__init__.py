"""Prefect tasks: thin wrappers over the engines, with retries, logs and artifacts."""
