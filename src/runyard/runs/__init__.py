"""Runs: configuration, submission, the client-side Run, in-job logging, metric ingest."""
