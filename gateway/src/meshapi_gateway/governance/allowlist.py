"""Which models a key (or team) may use: exact ids and ``vendor/*`` patterns.

Parsed once when the key cache loads a key, so the per-request check is a set lookup
and, for patterns, a prefix test.
"""

from __future__ import annotations

from dataclasses import dataclass


def entry_problem(entry: str) -> str | None:
    """Why ``entry`` cannot be in an allowlist, or ``None``."""
    if not entry or entry != entry.strip():
        return "must be a model id or a 'vendor/*' pattern, without spaces around it"
    if "*" in entry and (not entry.endswith("/*") or entry.count("*") != 1 or len(entry) < 3):
        return "the only wildcard allowed is a whole vendor: 'vendor/*'"
    return None


# Compared by identity (``eq=False``): each is parsed once, when its row is loaded, and the price plans
# are kept per allowlist, so the per-call lookup hashes it without a Python call.
@dataclass(frozen=True, slots=True, eq=False)
class Allowlist:
    exact: frozenset[str]
    prefixes: tuple[str, ...]  # "vendor/" for each "vendor/*"

    @classmethod
    def of(cls, entries: list[str]) -> "Allowlist":
        return cls(
            frozenset(e for e in entries if not e.endswith("/*")), tuple(e[:-1] for e in entries if e.endswith("/*"))
        )

    def allows(self, model_id: str) -> bool:
        return model_id in self.exact or (bool(self.prefixes) and model_id.startswith(self.prefixes))
