"""Progress bars: one line per step of a command, inner bars that leave no trace.

Every bar of spa-vl comes from :func:`progress_bar`. A bar opened while another is showing (the
image hashes, encoded texts or bootstrap resamples inside a report stage) takes the next line and
is erased when it closes (``leave=None``), so a finished run shows one line per stage and no
partial bars. The CLI shows bars only on a terminal (``--quiet`` or a redirected stderr: none), so
CI logs are not flooded.
"""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm


def progress_bar(total: int | None = None, desc: str = "", unit: str = "it", *, enabled: bool = True, **kwargs: Any) -> tqdm:
    """A tqdm bar that stays when it is the only one, and is erased when nested under another.

    Parameters
    ----------
    total : int, optional
        Steps expected (None: a counter without a bar).
    desc : str, default ""
        The label before the bar.
    unit : str, default "it"
        What a step is (``"img"``, ``"text"``, ``"resample"``).
    enabled : bool, default True
        False gives a disabled bar (updates cost nothing and print nothing).
    **kwargs
        Other :class:`tqdm.tqdm` arguments (``iterable`` to wrap a sequence of ``total`` items;
        ``leave`` overrides the nesting rule).

    Returns
    -------
    tqdm.tqdm
        The bar; use it as a context manager or close it.
    """
    kwargs.setdefault("leave", None)  # tqdm: leave only at position 0, i.e. when not nested
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, **kwargs)


__all__ = ["progress_bar"]
