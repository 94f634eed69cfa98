"""Endpoints: registered models served over HTTP by their own processes."""
