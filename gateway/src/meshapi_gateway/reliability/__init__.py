"""Reliability mechanics shared by every provider: timeouts, retries, breakers, disconnects."""
