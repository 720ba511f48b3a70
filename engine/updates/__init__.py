"""Applying feedback: the update manager and drift detection."""
