"""The declarative base every table module builds on, and the money column type.

Kept apart from ``tables`` so a table module can import it without importing ``tables``,
which in turn imports every table module to gather one metadata for migrations.
"""

from __future__ import annotations

from sqlalchemy import Numeric
from sqlalchemy.orm import DeclarativeBase

# Money as NUMERIC(20, 10), so no float ever touches a balance.
MONEY = Numeric(20, 10)


class Base(DeclarativeBase):
    pass
