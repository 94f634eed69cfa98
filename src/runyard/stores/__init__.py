"""Stores: runyard's own registry (SQLAlchemy) and the MLflow tracking adapter."""
