"""Process names as supervisorctl takes them: ``name``, ``group:name``, ``group:*``, ``all``.

One difference from supervisorctl, on purpose: a bare ``tornado`` that is a
group whose processes are named otherwise (numprocs=4) means the whole group,
where supervisorctl answers "no such process", and a bare process name
(``tornado-8080``) finds that process in its group.  Operators name programs,
not namespecs.
"""

from __future__ import annotations

import difflib
from typing import Iterable, Sequence

from herd import text as safe
from herd.supervisor.models import ProcessInfo


def matches(spec: str, info: ProcessInfo) -> bool:
    """Does the name ``spec`` select the process ``info``?"""
    if spec == "all":
        return True
    group, sep, name = spec.partition(":")
    if sep:
        return info.group == group and (name in ("", "*") or info.name == name)
    return info.group == spec or info.name == spec


def select(specs: Sequence[str], infos: Iterable[ProcessInfo]) -> tuple[list[ProcessInfo], list[str]]:
    """The processes selected by ``specs`` (in supervisord's order) and the specs matching none.

    No specs means every process.
    """
    infos = list(infos)
    if not specs:
        return infos, []
    unmatched = [s for s in specs if not any(matches(s, i) for i in infos)]
    chosen = [i for i in infos if any(matches(s, i) for s in specs)]
    return chosen, unmatched


def typeable(infos: Iterable[ProcessInfo]) -> set[str]:
    """Every name an operator may type for these processes: groups, full names, bare process names."""
    found: set[str] = set()
    for info in infos:
        found.update((info.group, info.name, info.fullname))
    return found


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'tornado'?)`` for a near miss, else nothing."""
    close = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def offered(infos: Iterable[ProcessInfo]) -> set[str]:
    """Names to offer for completion: all, group names, group:* and group:name (as supervisorctl prints them).

    A name with a control character (or anything else herd.text would
    escape) is never offered: a completion would put it raw on the terminal,
    and an escaped form would name no process.
    """
    names: set[str] = set()
    for info in infos:
        if not (safe.is_safe(info.group) and safe.is_safe(info.name)):
            continue
        names.add("all")
        names.add(info.group)
        names.add(info.fullname)
        if info.name != info.group:
            names.add(f"{info.group}:*")
    return names
