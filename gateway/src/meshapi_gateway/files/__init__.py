"""Uploaded and generated files: metadata in the database, bytes in a pluggable storage."""
