"""Observability: what one data-plane request did (the record), and where it goes (metrics, logs, traces)."""
