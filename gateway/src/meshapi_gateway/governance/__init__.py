"""Key governance: budgets with periods, model allowlists, expiry (docs/accounts.md)."""
