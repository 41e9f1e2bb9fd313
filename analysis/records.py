"""A small base for the frozen result dataclasses the analyses return."""

from __future__ import annotations

from dataclasses import asdict


class Record:
    """Mixin for result dataclasses: ``to_dict()`` gives plain JSON-ready values."""

    def to_dict(self) -> dict:
        return asdict(self)
