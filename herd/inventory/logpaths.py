"""Path templates of the app's own log files: ``/srv/app/log/{process}.log``.

The inventory's ``logs:`` mapping (and ``herd tail --file``) name a file on
the host per program, with placeholders filled per process:

* ``{program}``  the program (supervisord's group of the process): ``tornado``
* ``{process}``  the process name: ``tornado-8080``
* ``{num}``      the number at the end of the process name: ``8080``
* ``{host}``     the host's inventory name: ``web01``

``{{`` and ``}}`` are literal braces.  Checking a template (``parse``) and
filling it (``fill``) live here, so the loader, the command line and the log
reader agree on what a template means.  Pure functions: nothing here touches
a host.
"""

from __future__ import annotations

import re
import string
from typing import Mapping

PLACEHOLDERS = ("program", "process", "num", "host")
PROCESS_PLACEHOLDERS = ("program", "process", "num")
_NUMBER = re.compile(r"(\d+)\Z")


class TemplateError(ValueError):
    """A template that cannot be used; the message says why (no file or key: the caller adds them)."""


def parse(template: str) -> tuple[str, ...]:
    """The placeholders ``template`` uses; TemplateError for a malformed or unknown one."""
    if not template.startswith("/"):
        raise TemplateError(f"must be an absolute path on the host (e.g. /srv/app/log/{{process}}.log), "
                            f"got '{template}'")
    if "\0" in template or "\n" in template:
        raise TemplateError("must not contain a NUL or newline character")
    used: list[str] = []
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise TemplateError(f"malformed placeholder in '{template}' ({exc}); write {{{{ and }}}} "
                            f"for literal braces") from exc
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            raise TemplateError(_unknown(name))
        if spec or conversion:
            raise TemplateError(f"placeholder {{{name}}} takes no format or conversion "
                                f"(got '{{{name}{'!' + conversion if conversion else ''}"
                                f"{':' + spec if spec else ''}}}')")
        used.append(name)
    return tuple(used)


def _unknown(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, PLACEHOLDERS, n=1, cutoff=0.5)
    hint = f" (did you mean '{{{close[0]}}}'?)" if close else ""
    known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
    return f"unknown placeholder {{{name}}}{hint}; a template may use {known}"


def process_values(program: str, process: str, host: str) -> dict[str, str]:
    """The placeholder values of one process (``num`` only when its name ends in digits)."""
    values = {"program": program, "process": process, "host": host}
    number = _NUMBER.search(process)
    if number:
        values["num"] = number.group(1)
    return values


def fill(template: str, values: Mapping[str, str]) -> str:
    """``template`` with its placeholders filled; TemplateError naming one it has no value for."""
    for name in parse(template):
        if name not in values:
            if name == "num" and "process" in values:
                raise TemplateError(f"cannot fill {{num}} in {template}: the process name "
                                    f"{values['process']} does not end in a number")
            raise TemplateError(f"cannot fill {{{name}}} in {template}: there is no process here "
                                f"(only {{host}} can be used without a NAME)")
    return template.format_map(dict(values))
