"""Parallel fan-out over hosts: sessions (kept-alive connections) and per-host results."""

from herd.fleet.fanout import Fleet, HostResult
from herd.fleet.session import HostSession, SessionPool

__all__ = ["Fleet", "HostResult", "HostSession", "SessionPool"]
