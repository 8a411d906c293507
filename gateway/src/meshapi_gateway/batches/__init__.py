"""Batches: durable bulk inference, each request run once through the live pipeline."""
