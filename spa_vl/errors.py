"""The one exception users see: a one-line message naming the file, config or value and the fix."""


class SpaVLError(Exception):
    """A user-facing error. ``str(error)`` is one line: what is wrong, where, and what to do."""

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()))
