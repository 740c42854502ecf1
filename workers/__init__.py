"""Celery workers: attribution, lot allocation, income split, ledger, reconciliation, alerts."""
