"""Count the SQL statements an engine sends: the tests' query budgets and the benchmark's query columns."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


class QueryCounter:
    """Listen to ``engine`` from creation until ``close()`` (or the end of a ``with`` block), keeping each statement."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.statements: list[str] = []
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)

    @property
    def count(self) -> int:
        """Statements seen since creation or the last ``reset()``."""
        return len(self.statements)

    def reset(self) -> None:
        self.statements = []

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)

    def __enter__(self) -> QueryCounter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
