"""The errors users see: one line naming the file, config or value at fault and the fix.

A small hierarchy under :class:`SpaVLError`, so callers can catch what they can handle:

* :class:`SourceError` — where the data should be: a missing folder or shard, not the hub layout,
  the Hub unreachable or offline;
* :class:`SchemaError` — what a file holds: unreadable Parquet or JSON, a missing column, a wrong type;
* :class:`LabelError` — labels a strict source refuses (new names, rows without labels);
* :class:`UsageError` — a parameter value that cannot work (sizes, names, an existing output folder);
* :class:`OutputError` — an output or cache path that cannot be written (also an ``OSError``).

The library never names command-line flags. When the fix is a parameter, the message holds an
``{option}`` placeholder and the error records the parameter: ``str(error)`` spells it as Python
(``overwrite=True``), and the CLI as its flag (``--overwrite``) through :meth:`SpaVLError.render`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def python_option(parameter: str, value: Any) -> str:
    """How a library caller passes a parameter: ``overwrite=True``, ``eval_from='train'``.

    Parameters
    ----------
    parameter : str
        The parameter name.
    value : object
        Its value, spelled with ``repr``.

    Returns
    -------
    str
        ``f"{parameter}={value!r}"``.
    """
    return f"{parameter}={value!r}"


class SpaVLError(Exception):
    """A user-facing error: ``str(error)`` is one line saying what is wrong, where, and what to do.

    Parameters
    ----------
    message : str
        The line; may contain ``{option}`` where the fix names a parameter.
    parameter : str, optional
        The parameter the fix sets (``"overwrite"``, ``"allow_partial"``, ``"eval_from"``...).
    value : object
        The value the fix gives it (``True`` for a switch).
    """

    def __init__(self, message: str, *, parameter: str | None = None, value: Any = True):
        self.template = " ".join(message.split())
        self.parameter = parameter
        self.value = value
        super().__init__(self.render(python_option))

    def render(self, option: Callable[[str, Any], str]) -> str:
        """The message with the fix's parameter spelled by ``option(parameter, value)``.

        Parameters
        ----------
        option : callable of (str, object) -> str
            Spells a parameter and its value: :func:`python_option` for the library, the CLI's
            flag speller for the command line.

        Returns
        -------
        str
            The template with ``{option}`` replaced; the template unchanged when the error has no
            parameter or no placeholder.
        """
        if self.parameter is None or "{option}" not in self.template:
            return self.template
        return self.template.replace("{option}", option(self.parameter, self.value))


class SourceError(SpaVLError):
    """The data is not where, or not all there, as the source says (folder, shards, the Hub)."""


class SchemaError(SpaVLError):
    """A file does not hold what SPA-VL's files hold (unreadable, a missing column, a wrong type)."""


class LabelError(SpaVLError):
    """Labels a strict source refuses: names beyond the reference, rows whose labels are unknown."""


class UsageError(SpaVLError):
    """A parameter value that cannot work: a size out of range, an unknown name, an existing folder."""


class OutputError(SpaVLError, OSError):
    """An output or cache path that cannot be written (also an ``OSError``).

    A full disk, a read-only folder, a file where a folder belongs, another run writing the same
    folder. Code that tolerates an unwritable cache by catching ``OSError`` keeps doing so.
    """
