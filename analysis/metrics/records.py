"""A small base for the frozen result dataclasses the analyses return."""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import Any


class Record:
    """Mixin for result dataclasses: ``to_dict()`` gives plain JSON-ready values."""

    def to_dict(self) -> dict[str, Any]:
        """The dataclass's fields as a dict (nested dataclasses too).

        Returns
        -------
        dict of str to object
            :func:`dataclasses.asdict` of the instance (a deep copy).

        Raises
        ------
        TypeError
            If the class mixing in ``Record`` is not a dataclass.
        """
        if not is_dataclass(self) or isinstance(self, type):
            raise TypeError(f"{type(self).__name__} mixes in Record but is not a dataclass")
        return asdict(self)
