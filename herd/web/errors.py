"""The dashboard's refusal: what the page asked for is not done (HTTP 400), or must be confirmed (409)."""

from __future__ import annotations

from herd.errors import HerdError


class Refused(HerdError):
    """A request the dashboard will not carry out (HTTP 400), or that needs confirming first (409)."""

    def __init__(self, message: str, *, confirm: bool = False) -> None:
        super().__init__(message)
        self.confirm = confirm


class Forbidden(Refused):
    """The user's roles do not allow it (HTTP 403): one sentence saying who, what, where and why not."""
