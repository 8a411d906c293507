"""Prompt templates: stored per owner (or global), cached in memory, rendered into chat bodies."""
