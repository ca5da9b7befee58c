"""A fake supervisord, in process, under herd's real XML-RPC client.

Like httpx's MockTransport: the fake sits at the lowest seam herd owns (the
RPC pipe that carries XML-RPC bodies), so :class:`SupervisorClient`, its
fault translation, ``system.multicall`` and everything above it run for
real.  What the fake models, following supervisord 4 (supervisor/process.py,
rpcinterface.py, options.readFile/tailFile):

* processes with supervisord's states and transitions, driven by time:
  STARTING -> RUNNING after ``startsecs``; a program that exits at once goes
  BACKOFF (retry delays 1, 2, 3 ... x ``backoff_unit``) and FATAL after
  ``startretries``; STOPPING -> STOPPED after ``stop_delay``; a crash of a
  RUNNING process with autorestart is EXITED then STARTING again with a new
  pid; ``wait=False`` starts and stops, as herd uses them;
* faults with supervisord's codes (BAD_NAME, NOT_RUNNING, ALREADY_STARTED,
  NO_FILE, BAD_ARGUMENTS, BAD_SIGNAL, SHUTDOWN_STATE, UNKNOWN_METHOD ...);
* process logs as bytes, read with readFile's and tailFile's exact offset
  semantics; rotation (the file starts over) and clearing;
* a host that drops its connection (``FakeHost.break_connection``) or hangs
  is an error of the pipe, as with a real host;
* the release it plays (``version``, and ``python`` 2 or 3 for the
  interpreter supervisord runs on), as herd meets them in the wild: before
  3.0 an array in a request keeps only its first element and an empty one
  is an HTTP 500 (a multicall runs its first call only); before 3.2.0
  multicall runs its calls up front (and a real one answers a call per
  second past the second: ``slow_multicalls`` counts such batches) and
  there is no ``signalProcess``; getAllConfigInfo is thin before 4.0
  (names, autostart, priorities); the default ``exitcodes`` is 0,2 before
  4.0; on Python 2 log bytes go into the answer as they are, invalid UTF-8
  included.

* its config as supervisord keeps it (rpcinterface.reloadConfig,
  addProcessGroup, removeProcessGroup; options.process_config,
  supervisord.diff_to_active): three layers.  The *file* config is what the
  config files now say (a test edits it); the *staged* config is what the
  last reloadConfig read (getAllConfigInfo shows it, ``inuse`` says which
  groups are active); the *active* groups run on the config they were added
  with.  reloadConfig stages the file and answers [[added, changed,
  removed]] against the active groups (changed: any config field of the
  program differs, numprocs included); a file that does not parse is the
  fault CANT_REREAD with supervisord's text, and the last good config stays
  staged.  addProcessGroup (BAD_NAME unless staged, ALREADY_ADDED when
  active) makes the group's processes STOPPED; the autostart ones start on
  supervisord's next turn (the next call that looks at them).
  removeProcessGroup is BAD_NAME for an inactive group and STILL_RUNNING
  while a process is not STOPPED, EXITED, FATAL or UNKNOWN.

Editing the file config (what a test does on the "host", then herd rereads)::

    supervisor.edit_config("tornado", command="/srv/app/v2", numprocs=6)
    supervisor.write_config(ProgramSpec("extra"))     # a new [program:extra]
    supervisor.delete_config("worker")                # [program:worker] deleted
    supervisor.break_config()                         # the files no longer parse
    supervisor.fix_config()                           # they parse again

``ProgramSpec`` fields that are the program's behaviour rather than its
config (``fails``, ``stop_delay``, ``backoff_unit``) are not compared: a
``break_program`` is a bad build, not a config change, while
``edit_config(name, command=..., fails=True)`` is a new command that exits at
once.  ``supervisor.running_config(group)`` is the config an active group
runs on; ``supervisor.starts`` counts every start of a process (by start,
autostart or autorestart; not the retries of BACKOFF).

For tests above the wire (rolling, update): ``tornado_hosts(3, changed=
["web02"])`` is a 3-host fleet like the demo's (tornado numprocs 4 on ports
8080-8083, serving while RUNNING, and worker), whose tornado command is
changed in the config files of the hosts named (``TORNADO_V2``; ``fails``,
``numprocs`` and any other field through ``edit``) and not yet reread;
``fake_fleet(hosts)`` puts a herd.fleet.Fleet over them.  ``supervisor.hooks
[method]`` runs before each call of that method: it may block (a Ctrl-C
arriving mid-call) or raise ``fault(Faults.X, text)``.

tests/test_fake_contract.py runs the same checks against this fake and a
real supervisord of the test fleet, so the two cannot drift apart.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import socket
import subprocess
import sys
import threading
import time
import xmlrpc.client
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from herd.errors import ConnectError, Faults, SupervisorUnavailable, TunnelRefused
from herd.fleet import Fleet
from herd.inventory.model import Host
from herd.ssh.connection import CommandResult
from herd.supervisor.client import SupervisorClient
from herd.supervisor.models import ProcessState
from herd.supervisor.transport import HTTPStatusError

Clock = Callable[[], float]


def _release(version: str) -> tuple[int, int, int, int]:
    """(major, minor, micro, 0 for a pre-release else 4): enough to place the releases herd knows."""
    head = version.split("a")[0].split("b")[0]
    numbers = [int(n) for n in head.split(".") if n.isdigit()] + [0, 0, 0]
    return numbers[0], numbers[1], numbers[2], 4 if head == version else 0

STOPPED_STATES = (ProcessState.STOPPED, ProcessState.EXITED, ProcessState.FATAL, ProcessState.UNKNOWN)
SPAWN_ERROR = "Exited too quickly (process log may have details)"
SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "KILL": 9, "USR1": 10, "USR2": 12, "TERM": 15}


class _Fault(Exception):
    def __init__(self, code: int, text: str = "") -> None:
        name = next((n for n in dir(Faults) if getattr(Faults, n) == code and n.isupper()), str(code))
        self.code = code
        self.text = f"{name}: {text}" if text else name
        super().__init__(self.text)


def fault(code: int, text: str = "") -> Exception:
    """A fault as supervisord answers it (``Faults.FAILED``...), for a hook to raise."""
    return _Fault(code, text)


@dataclass
class ProgramSpec:
    """How a fake program behaves; ``numprocs`` > 1 gives ``name-<n>`` processes in group ``name``."""

    name: str
    command: str | None = None     # None: /usr/local/bin/<name>
    numprocs: int = 1
    numprocs_start: int = 0
    startsecs: float = 0.05
    startretries: int = 3
    backoff_unit: float = field(default=0.02, compare=False)   # supervisord's 1 s, 2 s, 3 s between retries
    stop_delay: float = field(default=0.0, compare=False)       # how long the program takes to stop
    autostart: bool = True
    autorestart: bool = True
    fails: bool = field(default=False, compare=False)   # exits at once whenever started: BACKOFF, then FATAL
    stdout_logfile: str | None = "auto"
    stderr_logfile: str | None = "auto"
    exitcodes: tuple[int, ...] | None = None   # None: the release's default (0,2 before 4.0, then 0)

    @property
    def argv(self) -> str:
        """The command line, as getAllConfigInfo's ``command`` shows it."""
        return self.command if self.command is not None else f"/usr/local/bin/{self.name}"

    def command_for(self, process_name: str) -> str:
        """The command line of one of its processes, ``%(process_num)s`` expanded as supervisord does."""
        num = process_name.rpartition("-")[2] if self.numprocs > 1 else str(self.numprocs_start)
        return self.argv.replace("%(process_num)s", num).replace("%(program_name)s", self.name)

    def process_names(self) -> list[str]:
        if self.numprocs == 1:
            return [self.name]
        return [f"{self.name}-{self.numprocs_start + i}" for i in range(self.numprocs)]


@dataclass
class _Process:
    spec: ProgramSpec
    name: str
    group: str
    state: ProcessState = ProcessState.STOPPED
    pid: int = 0
    start: float = 0.0             # clock time of the last spawn
    stop: float = 0.0
    since: float = 0.0             # clock time the current state began
    retries: int = 0
    spawnerr: str = ""
    exitstatus: int = 0
    autostart_pending: bool = False   # added by addProcessGroup: supervisord starts it on its next turn
    logs: dict[str, bytearray] = field(default_factory=lambda: {"stdout": bytearray(), "stderr": bytearray()})

    @property
    def fullname(self) -> str:
        return self.name if self.name == self.group else f"{self.group}:{self.name}"


class FakeSupervisor:
    """supervisord's process model and XML-RPC methods, in memory.

    ``clock`` defaults to time.monotonic: herd's waits and polls are real,
    so keep ``startsecs`` and delays small.  Every method may be called from
    several threads (herd fans out): one lock guards the state.
    """

    def __init__(self, programs: Iterable[ProgramSpec] = (), *, identification: str = "supervisor",
                 version: str = "4.2.5", python: int = 3, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.identification = identification
        self.version = version
        self.python = python
        release = _release(version)
        self.arrays_keep_first = release < (3, 0, 0, 4)       # fixed in 3.0 final
        self.multicall_up_front = release < (3, 2, 0, 0)
        self.has_signal = release >= (3, 2, 0, 0)
        self.config_fields = release >= (4, 0, 0, 0)
        self.default_exitcodes = (0,) if release >= (4, 0, 0, 0) else (0, 2)
        self.slow_multicalls = 0            # multicalls of more than two calls sent to a release before 3.2.0
        self.state = "RUNNING"
        self.calls: list[str] = []          # every method called, in order (multicall's parts included)
        self.main_log = bytearray()
        self._epoch = time.time() - clock()
        self._pids = itertools.count(1000)
        self._lock = threading.RLock()
        self.processes: dict[str, _Process] = {}     # the active groups' processes, by full name
        self.file_config: dict[str, ProgramSpec] = {}    # what the config files now say (edit_config ...)
        self.file_error: str | None = None               # why the files no longer parse (break_config)
        self.staged: dict[str, ProgramSpec] = {}         # what the last reloadConfig read
        self.active: dict[str, ProgramSpec] = {}         # active group -> the config it was added with
        self.starts: collections.Counter[str] = collections.Counter()   # starts per process full name
        self.hooks: dict[str, Callable[[Sequence[Any]], None]] = {}     # method -> run before it (see dispatch)
        for spec in programs:
            self.add_program(spec)

    # -- set-up and events (what a test does to the "host") ---------------------------

    def add_program(self, spec: ProgramSpec) -> None:
        """A program in the config since supervisord started: in the files, staged, active, RUNNING."""
        with self._lock:
            spec = dataclasses.replace(spec)        # this host's own copy: an edit here stays here
            self.file_config[spec.name] = self.staged[spec.name] = spec
            self.active[spec.name] = spec
            for name in spec.process_names():
                process = _Process(spec, name, spec.name)
                self.processes[process.fullname] = process
                if spec.autostart:
                    self._spawn(process, self.clock())
                    if not spec.fails:  # as if supervisord had started it a minute ago
                        process.start -= 60
                        process.state, process.since = ProcessState.RUNNING, process.start

    def edit_config(self, name: str, **changes: Any) -> ProgramSpec:
        """[program:NAME] in the config files now says ``changes`` (command=, numprocs=, fails= ...).

        Nothing runs on it until reloadConfig and addProcessGroup, as with supervisord.
        """
        with self._lock:
            if name not in self.file_config:
                raise KeyError(f"no [program:{name}] in the fake's config files")
            spec = self.file_config[name] = dataclasses.replace(self.file_config[name], **changes)
            return spec

    def write_config(self, spec: ProgramSpec) -> None:
        """A [program:...] section written into the config files (a new group, or one replaced whole)."""
        with self._lock:
            self.file_config[spec.name] = dataclasses.replace(spec)

    def delete_config(self, name: str) -> None:
        """[program:NAME] deleted from the config files."""
        with self._lock:
            del self.file_config[name]

    def break_config(self, section: str = "half") -> str:
        """The config files no longer parse: a [program:SECTION] without a command.  supervisord's message."""
        with self._lock:
            self.file_error = (f"program section program:{section} does not specify a command in section "
                               f"'program:{section}' (file: '/etc/supervisor/supervisord.conf')")
            return self.file_error

    def fix_config(self) -> None:
        """The config files parse again."""
        with self._lock:
            self.file_error = None

    def running_config(self, group: str) -> ProgramSpec:
        """The config an active group runs on (what it was added with)."""
        with self._lock:
            return self.active[group]

    def write_log(self, name: str, data: bytes, channel: str = "stdout") -> None:
        """The process writes ``data`` to its stdout (or stderr) log."""
        with self._lock:
            self._process(name).logs[channel].extend(data)

    def rotate_log(self, name: str, channel: str = "stdout") -> None:
        """The log file is rotated: it starts over empty."""
        with self._lock:
            self._process(name).logs[channel] = bytearray()

    def crash(self, name: str, exitstatus: int = 1) -> None:
        """The process dies on its own; with autorestart supervisord spawns it again."""
        with self._lock:
            process = self._process(name)
            now = self.clock()
            self._advance(process, now)
            process.state, process.since, process.stop = ProcessState.EXITED, now, now
            process.exitstatus, process.pid = exitstatus, 0
            if process.spec.autorestart:
                self._spawn(process, now)
                self.starts[process.fullname] += 1

    def lose_track(self, name: str) -> None:
        """supervisord's own UNKNOWN state (an internal error): it refuses to start the process."""
        with self._lock:
            process = self._process(name)
            process.state, process.since, process.pid = ProcessState.UNKNOWN, self.clock(), 0

    def break_program(self, name: str, fails: bool = True) -> None:
        """From the next start on, the program exits at once (a bad build), or works again.

        A build is not config: the program fails (or works) whatever config it is re-added with.
        """
        with self._lock:
            specs = [p.spec for p in self.processes.values() if p.group == name]
            specs += [c[name] for c in (self.active, self.staged, self.file_config) if name in c]
            for spec in specs:
                spec.fails = fails

    def states(self) -> dict[str, str]:
        """Every active process's state name by full name, for assertions (not recorded in ``calls``)."""
        with self._lock:
            return {i["group"] + ":" + i["name"] if i["group"] != i["name"] else i["name"]: i["statename"]
                    for i in self._all_info()}

    def info(self, name: str) -> dict[str, Any]:
        """getProcessInfo's answer, for assertions."""
        with self._lock:
            process = self._process(name)
            self._advance(process, self.clock())
            return self._info(process)

    # -- XML-RPC -----------------------------------------------------------------

    def dispatch(self, method: str, params: Sequence[Any]) -> Any:
        """One XML-RPC call; raises _Fault as supervisord answers a fault.

        ``hooks[method](params)`` runs first, outside the lock: a test's way to
        hold a call back (it blocks) or make it fail (it raises ``fault(...)``).
        """
        hook = self.hooks.get(method)
        if hook is not None:
            hook(params)
        with self._lock:
            self.calls.append(method)
            if method == "system.multicall":
                if self.multicall_up_front and len(params[0]) > 2:
                    self.slow_multicalls += 1
                return [self._one_of_multicall(call) for call in params[0]]
            handler = _METHODS.get(method)
            if handler is None or method not in self.methods():
                raise _Fault(Faults.UNKNOWN_METHOD)
            if self.state == "SHUTDOWN" and method.startswith("supervisor."):
                raise _Fault(Faults.SHUTDOWN_STATE)
            try:
                return handler(self, *params)
            except TypeError:
                raise _Fault(Faults.INCORRECT_PARAMETERS) from None

    def methods(self) -> list[str]:
        """system.listMethods: what this release has."""
        return sorted(m for m in [*_METHODS, "system.multicall"]
                      if self.has_signal or not m.startswith("supervisor.signalProcess"))

    def unmarshal(self, params: tuple[Any, ...]) -> tuple[Any, ...]:
        """The request's parameters as this release's XML-RPC parser reads them.

        Before 3.0 supervisord's ElementTree unmarshaller kept only the first
        element of every array and failed on an empty one (HTTP 500).
        """
        if not self.arrays_keep_first:
            return params

        def first_only(value: Any) -> Any:
            if isinstance(value, list):
                if not value:
                    raise HTTPStatusError(500, "Internal Server Error")
                return [first_only(value[0])]
            if isinstance(value, dict):
                return {k: first_only(v) for k, v in value.items()}
            return value
        return tuple(first_only(p) for p in params)

    def _one_of_multicall(self, call: dict[str, Any]) -> Any:
        try:
            return self.dispatch(call["methodName"], call.get("params", []))
        except _Fault as fault:
            return {"faultCode": fault.code, "faultString": fault.text}
        except UnicodeDecodeError as exc:     # as supervisord's multicall reports it (FAILED + the exception)
            return {"faultCode": Faults.FAILED, "faultString": f"FAILED: <class 'UnicodeDecodeError'>:{exc}"}

    # daemon
    def _get_state(self) -> dict[str, Any]:
        return {"statecode": 1, "statename": self.state}

    def _get_pid(self) -> int:
        return 42

    def _read_log(self, offset: int, length: int) -> str:
        return _read_file(bytes(self.main_log), offset, length, self.python)

    # processes
    def _all_info(self) -> list[dict[str, Any]]:
        now = self.clock()
        for process in self.processes.values():
            self._advance(process, now)
        return [self._info(p) for p in sorted(self.processes.values(), key=lambda p: (p.group, p.name))]

    def _all_config(self) -> list[dict[str, Any]]:
        """The part of getAllConfigInfo herd reads, of the *staged* config: before 4.0 names, autostart and
        priorities only.  ``inuse``: the group is active.  Sorted by process name, as supervisord does."""
        configs = []
        for spec in self.staged.values():
            for name in spec.process_names():
                p = _Process(spec, name, spec.name)
                config: dict[str, Any] = {"group": p.group, "name": p.name, "autostart": spec.autostart,
                                          "inuse": p.group in self.active, "group_prio": 999, "process_prio": 999}
                if self.config_fields:
                    config.update({"command": spec.command_for(name), "startsecs": int(spec.startsecs),
                                   "startretries": spec.startretries, "autorestart": spec.autorestart,
                                   "stdout_logfile": self._logfile(p, "stdout") or "none",
                                   "stderr_logfile": self._logfile(p, "stderr") or "none",
                                   "stdout_logfile_maxbytes": 0, "stderr_logfile_maxbytes": 0,
                                   "redirect_stderr": False, "stdout_syslog": False, "stderr_syslog": False,
                                   "exitcodes": list(self._exitcodes(p))})
                configs.append(config)
        return sorted(configs, key=lambda c: c["name"])

    def _reload_config(self) -> list[list[list[str]]]:
        """reloadConfig: stage what the files say; [[added, changed, removed]] against the active groups."""
        if self.file_error is not None:
            raise _Fault(Faults.CANT_REREAD, self.file_error)      # the last good config stays staged
        self.staged = {name: dataclasses.replace(spec) for name, spec in self.file_config.items()}
        added = sorted(n for n in self.staged if n not in self.active)
        changed = sorted(n for n, spec in self.staged.items() if n in self.active and spec != self.active[n])
        removed = [n for n in self.active if n not in self.staged]
        return [[added, changed, removed]]

    def _add_group(self, name: str) -> bool:
        """addProcessGroup: the staged group's processes, STOPPED; supervisord starts the autostart ones next turn."""
        spec = self.staged.get(name)
        if spec is None:
            raise _Fault(Faults.BAD_NAME, name)
        if name in self.active:
            raise _Fault(Faults.ALREADY_ADDED, name)
        spec = self.active[name] = dataclasses.replace(spec)
        now = self.clock()
        for process_name in spec.process_names():
            process = _Process(spec, process_name, name, since=now, autostart_pending=spec.autostart)
            self.processes[process.fullname] = process
        return True

    def _remove_group(self, name: str) -> bool:
        """removeProcessGroup: only an active group, and only when every process is stopped (STOPPED_STATES)."""
        if name not in self.active:
            raise _Fault(Faults.BAD_NAME, name)
        members = [p for p in self.processes.values() if p.group == name]
        now = self.clock()
        for process in members:
            self._advance(process, now)
        if any(p.state not in STOPPED_STATES for p in members):
            raise _Fault(Faults.STILL_RUNNING, name)
        for process in members:
            del self.processes[process.fullname]
        del self.active[name]
        return True

    def _exitcodes(self, process: _Process) -> tuple[int, ...]:
        return process.spec.exitcodes if process.spec.exitcodes is not None else self.default_exitcodes

    def _get_info(self, name: str) -> dict[str, Any]:
        process = self._process(name)
        self._advance(process, self.clock())
        return self._info(process)

    def _start(self, name: str, wait: bool = True) -> bool:
        process = self._process(name)
        now = self.clock()
        self._advance(process, now)
        if process.state in (ProcessState.RUNNING, ProcessState.STARTING, ProcessState.BACKOFF,
                             ProcessState.STOPPING):
            raise _Fault(Faults.ALREADY_STARTED, name)
        if process.state is ProcessState.UNKNOWN:
            raise _Fault(Faults.FAILED, f"{name} is in an unknown process state")
        process.retries = 0
        self._spawn(process, now)
        self.starts[process.fullname] += 1
        if wait:
            raise _Fault(Faults.INCORRECT_PARAMETERS, "the fake supports startProcess(name, False) only")
        return True

    def _stop(self, name: str, wait: bool = True) -> bool:
        process = self._process(name)
        now = self.clock()
        self._advance(process, now)
        if process.state not in (ProcessState.RUNNING, ProcessState.STARTING, ProcessState.BACKOFF):
            raise _Fault(Faults.NOT_RUNNING, name)
        if process.state is ProcessState.BACKOFF or process.spec.stop_delay <= 0:
            self._stopped(process, now)
        else:
            process.state, process.since = ProcessState.STOPPING, now
        if wait:
            raise _Fault(Faults.INCORRECT_PARAMETERS, "the fake supports stopProcess(name, False) only")
        return True

    def _signal(self, name: str, signal: str | int) -> bool:
        process = self._process(name)
        self._advance(process, self.clock())
        if str(signal).upper().removeprefix("SIG") not in SIGNALS and not str(signal).isdigit():
            raise _Fault(Faults.BAD_SIGNAL, str(signal))
        if process.state not in (ProcessState.RUNNING, ProcessState.STARTING, ProcessState.STOPPING):
            raise _Fault(Faults.NOT_RUNNING, name)
        return True

    def _read_stdout(self, name: str, offset: int, length: int) -> str:
        return self._read_channel(name, "stdout", offset, length)

    def _read_stderr(self, name: str, offset: int, length: int) -> str:
        return self._read_channel(name, "stderr", offset, length)

    def _tail_stdout(self, name: str, offset: int, length: int) -> list[Any]:
        return self._tail_channel(name, "stdout", offset, length)

    def _tail_stderr(self, name: str, offset: int, length: int) -> list[Any]:
        return self._tail_channel(name, "stderr", offset, length)

    def _clear_logs(self, name: str) -> bool:
        process = self._process(name)
        for channel in process.logs:
            process.logs[channel] = bytearray()
        return True

    def _read_channel(self, name: str, channel: str, offset: int, length: int) -> str:
        process = self._process(name)
        if self._logfile(process, channel) is None:
            raise _Fault(Faults.NO_FILE, "None")
        return _read_file(bytes(process.logs[channel]), int(offset), int(length), self.python)

    def _tail_channel(self, name: str, channel: str, offset: int, length: int) -> list[Any]:
        process = self._process(name)
        if self._logfile(process, channel) is None:
            return ["", 0, False]
        return _tail_file(bytes(process.logs[channel]), int(offset), int(length), self.python)

    # -- the state machine ---------------------------------------------------------

    def _process(self, name: str) -> _Process:
        process = self.processes.get(name)
        if process is None:
            matches = [p for p in self.processes.values() if p.name == name and p.group == name]
            if not matches:
                raise _Fault(Faults.BAD_NAME, name)
            process = matches[0]
        return process

    def _spawn(self, process: _Process, now: float) -> None:
        process.state, process.since, process.start = ProcessState.STARTING, now, now
        process.pid, process.spawnerr = next(self._pids), ""

    def _stopped(self, process: _Process, now: float) -> None:
        process.state, process.since, process.stop, process.pid = ProcessState.STOPPED, now, now, 0

    def _advance(self, process: _Process, now: float) -> None:
        """Apply every transition that time has brought, in order."""
        spec = process.spec
        while True:
            if process.state is ProcessState.STARTING:
                if spec.fails:
                    process.retries += 1
                    process.pid, process.spawnerr = 0, SPAWN_ERROR
                    if process.retries > spec.startretries:
                        process.state = ProcessState.FATAL
                        return
                    process.state = ProcessState.BACKOFF
                    continue
                if now - process.since < spec.startsecs:
                    return
                process.state, process.since = ProcessState.RUNNING, process.since + spec.startsecs
            elif process.state is ProcessState.BACKOFF:
                delay = process.retries * spec.backoff_unit
                if now - process.since < delay:
                    return
                at = process.since + delay
                self._spawn(process, at)
            elif process.state is ProcessState.STOPPING:
                if now - process.since < spec.stop_delay:
                    return
                self._stopped(process, process.since + spec.stop_delay)
            elif process.state is ProcessState.STOPPED and process.autostart_pending:   # added: its next turn
                process.autostart_pending = False
                process.retries = 0
                self._spawn(process, now)
                self.starts[process.fullname] += 1
            else:
                return

    def _logfile(self, process: _Process, channel: str) -> str | None:
        configured = process.spec.stdout_logfile if channel == "stdout" else process.spec.stderr_logfile
        if configured is None:
            return None
        if configured == "auto":
            return f"/var/log/supervisor/{process.name}-{channel}.log"
        return configured

    def _info(self, process: _Process) -> dict[str, Any]:
        start = int(self._epoch + process.start) if process.start else 0
        stop = int(self._epoch + process.stop) if process.stop else 0
        now = int(self._epoch + self.clock())
        info = {
            "name": process.name, "group": process.group, "state": int(process.state),
            "statename": process.state.name, "pid": process.pid, "start": start, "stop": stop, "now": now,
            "spawnerr": process.spawnerr, "exitstatus": process.exitstatus,
            "logfile": self._logfile(process, "stdout") or "",
            "stdout_logfile": self._logfile(process, "stdout") or "",
            "stderr_logfile": self._logfile(process, "stderr") or "",
        }
        info["description"] = _describe(info)
        return info


def _describe(info: dict[str, Any]) -> str:
    """supervisord's description field (rpcinterface._interpretProcessInfo)."""
    state = info["state"]
    if state == ProcessState.RUNNING:
        seconds = max(0, info["now"] - info["start"])
        return f"pid {info['pid']}, uptime {seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    if state in (ProcessState.FATAL, ProcessState.BACKOFF):
        return info["spawnerr"] or f'unknown error (try "tail {info["name"]}")'
    if state in (ProcessState.STOPPED, ProcessState.EXITED):
        return time.strftime("%b %d %I:%M %p", time.localtime(info["stop"])) if info["start"] else "Not started"
    return ""


def _text(chunk: bytes, python: int) -> str:
    """How supervisord hands log bytes to its XML-RPC marshaller.

    On Python 3 it decodes them as UTF-8 (a bad byte fails the call); on
    Python 2 the bytes go into the answer as they are: here a bad byte is
    kept as its surrogate escape, which FakePipe writes back as the raw byte.
    """
    return chunk.decode("utf-8", "surrogateescape" if python == 2 else "strict")


def _read_file(data: bytes, offset: int, length: int, python: int = 3) -> str:
    """supervisor.options.readFile over bytes in memory."""
    if offset < 0:
        if length:
            raise _Fault(Faults.BAD_ARGUMENTS)
        chunk = data[max(0, len(data) + offset):]
    else:
        if length < 0:
            raise _Fault(Faults.BAD_ARGUMENTS)
        chunk = data[offset:] if length == 0 else data[offset:offset + length]
    return _text(chunk, python)


def _tail_file(data: bytes, offset: int, length: int, python: int = 3) -> list[Any]:
    """supervisor.options.tailFile over bytes in memory: [text, new offset, overflow]."""
    size, overflow = len(data), False
    if size > offset + length:
        overflow, offset = True, size - 1
    if offset + length > size:
        if offset > size - 1:
            length = 0
        offset = size - length
    offset, length = max(0, offset), max(0, length)
    chunk = data[offset:offset + length] if length else b""
    return [_text(chunk, python), size, overflow]


_METHODS: dict[str, Callable[..., Any]] = {
    "system.listMethods": FakeSupervisor.methods,
    "supervisor.getAPIVersion": lambda self: "3.0",
    "supervisor.getSupervisorVersion": lambda self: self.version,
    "supervisor.getIdentification": lambda self: self.identification,
    "supervisor.getState": FakeSupervisor._get_state,
    "supervisor.getPID": FakeSupervisor._get_pid,
    "supervisor.readLog": FakeSupervisor._read_log,
    "supervisor.getAllProcessInfo": FakeSupervisor._all_info,
    "supervisor.getAllConfigInfo": FakeSupervisor._all_config,
    "supervisor.getProcessInfo": FakeSupervisor._get_info,
    "supervisor.startProcess": FakeSupervisor._start,
    "supervisor.stopProcess": FakeSupervisor._stop,
    "supervisor.signalProcess": FakeSupervisor._signal,
    "supervisor.readProcessStdoutLog": FakeSupervisor._read_stdout,
    "supervisor.readProcessStderrLog": FakeSupervisor._read_stderr,
    "supervisor.tailProcessStdoutLog": FakeSupervisor._tail_stdout,
    "supervisor.tailProcessStderrLog": FakeSupervisor._tail_stderr,
    "supervisor.clearProcessLogs": FakeSupervisor._clear_logs,
    "supervisor.reloadConfig": FakeSupervisor._reload_config,
    "supervisor.addProcessGroup": FakeSupervisor._add_group,
    "supervisor.removeProcessGroup": FakeSupervisor._remove_group,
}


class FakePipe:
    """An RPC pipe (herd/supervisor/transport.RPCPipe's interface) into a FakeSupervisor."""

    max_answer = 64 * 1024 * 1024
    connections = 1

    def __init__(self, host: "FakeHost") -> None:
        self._host = host

    def post(self, body: bytes) -> bytes:
        self._host.before_call()
        supervisor = self._host.supervisor
        params, method = xmlrpc.client.loads(body)
        params = supervisor.unmarshal(params)
        try:
            result = supervisor.dispatch(method or "", params)
        except _Fault as fault:
            return xmlrpc.client.dumps(xmlrpc.client.Fault(fault.code, fault.text), methodresponse=True).encode()
        except UnicodeDecodeError:       # supervisord 4 on Python 3: the log's bytes are not UTF-8
            raise HTTPStatusError(500, "Internal Server Error") from None
        answer = xmlrpc.client.dumps((result,), methodresponse=True, allow_none=True)
        return answer.encode("utf-8", "surrogateescape")     # Python 2's raw bytes, as they were

    def close(self) -> None:
        pass


class FakeHost:
    """A HostAccess (herd/fleet/access.py) whose supervisord is a FakeSupervisor.

    ``broken`` makes every call fail as a lost connection until ``repair()``;
    ``connects`` counts (re)connections, as sshd's log counts logins.
    ``listening`` ports accept health probes (answering ``http_status``);
    with ``serving``, so does port N while a process named ``*-N`` is RUNNING
    (an app that listens once started, and not while stopped or failing);
    ``commands`` maps a --cmd probe's command line to its exit status.
    """

    def __init__(self, host: Host | str, supervisor: FakeSupervisor, *, timeout: float = 5.0) -> None:
        self.host = host if isinstance(host, Host) else Host(name=host)
        self.supervisor = supervisor
        self.timeout = timeout
        self.broken: str | None = None
        self.connects = 0
        self.listening: set[int] = set()
        self.serving = False
        self.http_status = 200
        self.commands: dict[str, int] = {}
        self._client: SupervisorClient | None = None
        self._drops = 0     # calls still to be lost on the wire (drop_next_calls)
        self.agents: list[subprocess.Popen[bytes]] = []     # agent scripts started (open_agent)

    @property
    def name(self) -> str:
        return self.host.name

    def break_connection(self, why: str = "connection reset by peer") -> None:
        self.broken = why
        self._client = None

    def repair(self) -> None:
        self.broken = None

    def drop_next_calls(self, count: int = 1) -> None:
        """The next ``count`` calls are lost on the wire (the connection resets), then it works again:
        a blip, where ``break_connection`` is an outage."""
        self._drops = count

    def before_call(self) -> None:
        if self.broken:
            raise ConnectionResetError(self.broken)
        if self._drops:
            self._drops -= 1
            raise ConnectionResetError("connection reset by peer")

    def client(self) -> SupervisorClient:
        if self.broken:
            raise ConnectError(self.name, f"SSH connection lost: {self.broken}")
        if self._client is None:
            self.connects += 1
            self._client = SupervisorClient(self.name, FakePipe(self), endpoint="unix:///fake/supervisor.sock",
                                            timeout=self.timeout)
        return self._client

    @property
    def connected(self) -> bool:
        return self._client is not None and not self.broken

    def reset(self) -> None:
        self._client = None

    abort = close = reset

    def open_tcp(self, host: str, port: int, timeout: float) -> socket.socket:
        if self.broken:
            raise ConnectError(self.name, f"SSH connection lost: {self.broken}")
        if port not in self.listening and not (self.serving and port in self.serving_ports()):
            raise TunnelRefused(self.name, f"nothing accepts connections on {host}:{port}")
        ours, theirs = socket.socketpair()
        threading.Thread(target=self._answer_http, args=(theirs,), daemon=True).start()
        ours.settimeout(timeout)
        return ours

    def serving_ports(self) -> set[int]:
        """The ports of the RUNNING processes named ``*-PORT`` (tornado-8080 serves 8080)."""
        ports = set()
        for name, state in self.supervisor.states().items():
            tail = name.rpartition("-")[2]
            if state == "RUNNING" and tail.isdigit():
                ports.add(int(tail))
        return ports

    def _answer_http(self, sock: socket.socket) -> None:
        with sock:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = sock.recv(4096)
                if not chunk:
                    return
                request += chunk
            sock.sendall(f"HTTP/1.1 {self.http_status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())

    def run(self, command: str, timeout: float) -> CommandResult:
        if self.broken:
            raise ConnectError(self.name, f"SSH connection lost: {self.broken}")
        status = self.commands.get(command, 0)
        return CommandResult(status, "", "" if status == 0 else f"{command}: failed")

    def open_agent(self, script: str, args: Sequence[str], what: str) -> socket.socket:
        """The agent script run here, by this Python, its stdin/stdout a socketpair (files are local)."""
        if self.broken:
            raise ConnectError(self.name, f"SSH connection lost: {self.broken}")
        ours, theirs = socket.socketpair()
        proc = subprocess.Popen([sys.executable, "-c", script, *args], stdin=theirs.fileno(), stdout=theirs.fileno(),
                                stderr=subprocess.PIPE)
        theirs.close()
        ours.settimeout(self.timeout)
        if ours.recv(1) != b"+":
            ours.close()
            err = proc.communicate(timeout=self.timeout)[1].decode("utf-8", "replace").strip()
            raise SupervisorUnavailable(self.name, f"{what} on the host failed: {err or 'no ready byte'}")
        self.agents.append(proc)
        return ours


class FakeSource:
    """A session source for herd.fleet.Fleet (herd/fleet/source.py): one FakeHost per host name.

    The hosts outlive the Fleets made on it (a test looks at them after),
    so close() keeps them; discard() resets them, as a pool's would.
    """

    def __init__(self, hosts: Iterable[FakeHost], timeout: float = 5.0, *, reopen_dead: bool = False) -> None:
        self.hosts = {h.name: h for h in hosts}
        self._timeout = timeout
        self._reopen_dead = reopen_dead

    @property
    def timeout(self) -> float:
        return self._timeout

    @property
    def reopen_dead(self) -> bool:
        return self._reopen_dead

    def session(self, host: Host) -> FakeHost:
        return self.hosts[host.name]

    def close(self) -> None:
        pass

    def discard(self) -> None:
        for host in self.hosts.values():
            host.reset()


def fake_fleet(hosts: Sequence[FakeHost], *, timeout: float = 5.0, forks: int = 50,
               reopen_dead: bool = False) -> Fleet:
    """A herd.fleet.Fleet over fake hosts, as operations take it."""
    return Fleet([h.host for h in hosts], FakeSource(hosts, timeout, reopen_dead=reopen_dead), forks=forks)


TORNADO_V2 = "/srv/tornado/v2/bin/tornado --port=%(process_num)s"


def tornado_hosts(count: int = 3, *, changed: Iterable[str] = (), stop_delay: float = 0.0,
                  **edit: Any) -> list[FakeHost]:
    """``count`` hosts web01.. as the demo's: tornado (numprocs 4, ports 8080-8083, serving while RUNNING) and
    worker, all RUNNING; on the hosts named in ``changed`` the config files give tornado a new command
    (``TORNADO_V2`` unless ``edit`` says otherwise: ``command=``, ``numprocs=6``, ``fails=True`` ...), not yet
    reread, so supervisord runs the old one until the group is updated.  ``stop_delay``: how long a tornado
    process takes to stop (STOPPING meanwhile), old and new."""
    hosts = []
    for i in range(1, count + 1):
        supervisor = FakeSupervisor([ProgramSpec("tornado", numprocs=4, numprocs_start=8080, stop_delay=stop_delay,
                                                 command="/srv/tornado/v1/bin/tornado --port=%(process_num)s"),
                                     ProgramSpec("worker")])
        host = FakeHost(f"web{i:02d}", supervisor)
        host.serving = True
        hosts.append(host)
    for host in hosts:
        if host.name in set(changed):
            host.supervisor.edit_config("tornado", **{"command": TORNADO_V2, **edit})
    return hosts
