"""herd's error tree, and the exit codes the CLI maps it to.

Errors from the outside world (paramiko, socket, xmlrpc.client, yaml) are
translated into this tree once, at the boundary where they occur, with
``raise ... from exc``.  Everything above that boundary (fleet, operations,
CLI) only sees these classes, so it can decide exit codes and messages in
one place without knowing about SSH or HTTP.

::

    HerdError                       anything herd reports as a plain sentence (.reason: without host)
    ├── UsageError                  bad command line (exit 2)
    ├── NotConfirmed                the user said no at a confirmation prompt; nothing changed (exit 1)
    ├── InventoryError              bad inventory file: file:line, key path (exit 2)
    ├── RollRefused                 a rolling restart's pre-flight refused; nothing touched (exit 3 or 4)
    ├── NotRunning                  fg: the process to attach to is not RUNNING (exit 3)
    ├── LogGone                     a log cannot be read any more (removed, disabled by a reload)
    ├── SupervisorFault             supervisord answered a call with a fault;
    │                               the host is reachable (per-process failure)
    └── AboutHost                   about one host: .host, and .reason without it
        ├── Unsupported             the host's supervisord release lacks what was asked
        │                           (names the release and the one that added it; exit 5)
        └── HostError               one host could not be served (exit 4)
            ├── ConnectError            TCP/DNS/SSH handshake failed
            ├── HostTimeout             the host did not answer within --timeout
            ├── AuthError               SSH authentication refused
            ├── HostKeyError            unknown or changed host key
            ├── TunnelRefused           SSH works but nothing listens where a tunnel leads
            │   ├── SocketMissing       ... because the unix socket does not exist
            │   ├── TunnelDenied        ... because the host's permissions refuse the user
            │   └── TunnelAmbiguous     ... because discovery found several (supervisords running)
            ├── SupervisorUnavailable   SSH works but supervisord cannot be reached
            │   │                       (no socket, permission denied, no rpcinterface)
            │   └── SupervisorAuthRefused   ... because it answered HTTP 401 (username/password)
            ├── BecomeError             SSH works but sudo (inventory ``become``) did not
            │                           let herd's agent run: no sudo, password needed or
            │                           wrong, not in sudoers
            └── UnexpectedError         a bug in herd met while serving the host (a
                                        Python exception the tree does not name): that
                                        host's result, never the other hosts' (-vv: where)

Exit code 130 (EXIT_INTERRUPTED) is Ctrl-C or SIGTERM, whatever was running; 6 (EXIT_LOST) a
command a keeper accepted and then lost (herd/keeper/client.py): it may have run, it is not run again.

Messages never contain secrets: supervisor and sudo passwords are not interpolated
into any message here or elsewhere.
"""

from __future__ import annotations

from typing import Iterable

from herd import text

# Exit codes shared by the commands (docs/commands.md documents them).
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_RUNNING = 3
EXIT_UNREACHABLE = 4
EXIT_UNSUPPORTED = 5    # a host's supervisord release cannot do what was asked (nothing else went wrong)
EXIT_LOST = 6           # a keeper accepted the command, then died, went silent or failed: outcome unknown, not rerun
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM (128 + SIGINT, as shells report it)


class HerdError(Exception):
    """Base of every error herd reports to a user as one line."""

    exit_code = EXIT_FAILED

    @property
    def message(self) -> str:
        return str(self)

    @property
    def reason(self) -> str:
        """The sentence without any host prefix, for places that already name the host."""
        return str(self)


class UsageError(HerdError):
    """The command line asks for something herd cannot do."""

    exit_code = EXIT_USAGE


class NotConfirmed(HerdError):
    """The user answered no (or nothing) to a confirmation: nothing was changed (the audit trail: refused)."""

    def __init__(self, message: str = "not confirmed; nothing was changed") -> None:
        super().__init__(message)


class InventoryError(HerdError):
    """The inventory is unreadable or invalid.

    Rendered as ``file:line: key.path: what is wrong`` so an editor can jump
    to it, always on one line: a value quoted in it is shortened and escaped
    by the loader (herd.text.shorten), and anything else that would break the
    line is escaped here.
    """

    exit_code = EXIT_USAGE

    def __init__(self, what: str, *, file: str | None = None, line: int | None = None,
                 column: int | None = None, key: str | None = None) -> None:
        self.what = what
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        key = f"{self.key}: " if self.key else ""
        return text.field(f"{where}{key}{self.what}")   # one line, whatever the file held


class AboutHost(HerdError):
    """An error about one host: ``host`` (its inventory name) and the sentence without it (``reason``)."""

    def __init__(self, host: str, reason: str) -> None:
        self.host = host
        self._reason = reason
        super().__init__(f"{host}: {reason}")

    @property
    def reason(self) -> str:
        return self._reason


class HostError(AboutHost):
    """A host could not be served; carries the host's inventory name."""

    exit_code = EXIT_UNREACHABLE


class ConnectError(HostError):
    """No SSH session could be established (refused, DNS, handshake)."""


class HostTimeout(HostError):
    """The host did not answer within the configured timeout."""


class AuthError(HostError):
    """The SSH server refused every key herd offered."""


class HostKeyError(HostError):
    """The host's key is unknown (not trusted yet) or differs from the known one."""


class TunnelRefused(HostError):
    """A tunnel's far end (a port on the host) refused the connection."""


class SocketMissing(TunnelRefused):
    """The unix socket a tunnel leads to does not exist on the host (``path``; empty: none was found).

    Raised by the SSH layer, which knows nothing of what should listen
    there; the fleet layer says what that means for supervisord.
    """

    def __init__(self, host: str, reason: str, path: str, *, running: tuple[str, ...] = (),
                 notes: tuple[str, ...] = ()) -> None:
        self.path = path
        self.running = running    # with no path: what discovery saw run, but not where it listens
        self.notes = notes        # ... and what it could not see (hidepid, other users' files)
        super().__init__(host, reason)


class TunnelAmbiguous(TunnelRefused):
    """Discovery found several places the tunnel could lead and nothing says which (``candidates``, described)."""

    def __init__(self, host: str, reason: str, candidates: tuple[str, ...]) -> None:
        self.candidates = candidates
        super().__init__(host, reason)


class TunnelDenied(TunnelRefused):
    """The host refused the tunnel's far end to ``user`` (a socket's mode); ``become``: user is sudo's."""

    def __init__(self, host: str, reason: str, *, what: str, user: str, become: bool) -> None:
        self.what, self.user, self.become = what, user, become
        super().__init__(host, reason)


class SupervisorUnavailable(HostError):
    """SSH works, but supervisord's XML-RPC interface cannot be used."""


class SupervisorAuthRefused(SupervisorUnavailable):
    """supervisord answered HTTP 401: the inventory's username/password are wrong or missing.

    The host is up and answering: tables say ``UNAUTHORIZED``, not UNREACHABLE,
    so nobody goes looking for a network problem.
    """


class BecomeError(HostError):
    """``become`` is set, but sudo on the host refused to run herd's agent.

    The message names the cause and the inventory key that fixes it; it
    never contains the sudo password.
    """


class UnexpectedError(HostError):
    """A bug in herd met while serving one host: reported as that host's failure (herd/fleet/fanout.py).

    Its cause is the original exception (``-vv`` shows the traceback); the
    host's session is reset, as after any host error, since its state is
    unknown.
    """


class RollRefused(HerdError):
    """A rolling restart's pre-flight found a reason not to start; nothing was touched.

    ``exit_code`` is 3 (targets not RUNNING) or 4 (hosts unreachable);
    ``problems`` are the sentences, one per host or process, and ``hint``
    what would let the roll start.
    """

    def __init__(self, exit_code: int, problems: list[str], hint: str = "") -> None:
        self.exit_code = exit_code
        self.problems = problems
        self.hint = hint
        super().__init__(f"refusing to roll: {len(problems)} problem(s): " + "; ".join(problems))


class NotRunning(HerdError):
    """``herd fg``: the process is not RUNNING, so there is nothing to attach to."""

    exit_code = EXIT_NOT_RUNNING


class LogGone(HerdError):
    """A log cannot be read any more (process removed, log disabled by a reload).

    A follow says so in the stream and goes on with the host's other logs.
    """


class SupervisorFault(HerdError):
    """supervisord answered an XML-RPC call with a fault.

    ``code`` is supervisor's fault code (see supervisor.xmlrpc.Faults);
    ``text`` is supervisor's fault string, e.g. ``BAD_NAME: nosuch``.
    """

    def __init__(self, code: int, text: str) -> None:
        self.code = code
        self.text = text
        super().__init__(f"{text} (fault {code})")


class HostInterrupted(AboutHost):
    """Ctrl-C (or SIGTERM) came before the host answered: its result in a fan-out cut short (herd/fleet/fanout.py).

    Not a HostError: nothing is known to be wrong with the host; the user stopped waiting.
    """

    exit_code = EXIT_INTERRUPTED


class Unsupported(AboutHost):
    """A host's supervisord release cannot do what was asked; the host itself answers.

    ``web03: supervisord 3.1.4 cannot signal processes (added in 3.2.0)``:
    never reported as unreachable (not a HostError), exit 5 when nothing worse happened.
    """

    exit_code = EXIT_UNSUPPORTED


def exit_code_for(host_errors: Iterable[HerdError], failed: bool) -> int:
    """A command's exit code from its per-host errors and whether anything else failed.

    4 when a host could not be served (wins), 1 when something failed on a
    host that answered, 5 when the only trouble is a release that lacks
    what was asked, else 0.
    """
    errors = list(host_errors)
    if any(not isinstance(e, Unsupported) for e in errors):
        return EXIT_UNREACHABLE
    if failed:
        return EXIT_FAILED
    return EXIT_UNSUPPORTED if errors else EXIT_OK


def causes(exc: BaseException, limit: int = 10) -> list[BaseException]:
    """What led to ``exc``, nearest first: its ``__cause__`` (``raise ... from``), or its
    ``__context__`` when it has no cause (an exception raised while handling another),
    then theirs; at most ``limit``, each once.

    A ``raise ... from None`` ends the chain there: it hides the context on purpose
    (herd does so where the cause could hold a secret).  ``herd -vv`` prints this chain
    under a command's one-line error (herd.cli.run_command).
    """
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(found) < limit:
        nearer = current.__cause__
        if nearer is None and not current.__suppress_context__:
            nearer = current.__context__
        if nearer is None or nearer is exc or any(nearer is seen for seen in found):
            break
        found.append(nearer)
        current = nearer
    return found


class Faults:
    """supervisor.xmlrpc.Faults, copied so the core never imports supervisor."""

    UNKNOWN_METHOD = 1
    INCORRECT_PARAMETERS = 2
    BAD_ARGUMENTS = 3
    SIGNATURE_UNSUPPORTED = 4
    SHUTDOWN_STATE = 6
    BAD_NAME = 10
    BAD_SIGNAL = 11
    NO_FILE = 20
    NOT_EXECUTABLE = 21
    FAILED = 30
    ABNORMAL_TERMINATION = 40
    SPAWN_ERROR = 50
    ALREADY_STARTED = 60
    NOT_RUNNING = 70
    SUCCESS = 80
    ALREADY_ADDED = 90
    STILL_RUNNING = 91
    CANT_REREAD = 92
