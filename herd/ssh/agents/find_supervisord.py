# The discovering agent's search: run on a host by the host's own Python (2.6 to 3.x, standard
# library only), inside one exec channel (herd/ssh/discover.py builds the script: this text,
# then the settings ROOT and COMMON, then the choice and the relay loop).  Not a herd module:
# package data, read as text; the tests import it to run its functions on a fake host tree.
#
# Two views of the host, as an operator would take them:
#   what supervisorctl would use: the first supervisord.conf of its search order, its
#     [supervisorctl] serverurl, else its [unix_http_server] file;
#   what runs: supervisord processes in /proc (in this mount namespace: a container's
#     paths are not ours), their -c config or the one supervisord found from its working
#     directory, the unix sockets and TCP ports they listen on (their fds matched to
#     /proc/net/unix and /proc/net/tcp), else what their config says they listen on.
# Every path of the host is read through at() so that ROOT can be a fake tree.
import errno
import json
import os
import socket
import struct

try:
    from configparser import RawConfigParser
except ImportError:
    from ConfigParser import RawConfigParser

ROOT = ""
COMMON = []
LIMIT = 1 << 20


def at(path):
    return ROOT + path


def read(path, limit=LIMIT):
    try:
        f = open(at(path), "rb")
        try:
            return f.read(limit)
        finally:
            f.close()
    except (IOError, OSError):
        return None


def text(data):
    return data.decode("utf-8", "replace")


def readlink(path):
    try:
        return os.readlink(at(path))
    except OSError:
        return None


def exists(path):
    return os.path.exists(at(path))


def which(name):
    for d in os.environ.get("PATH", "").split(os.pathsep):
        p = os.path.join(d or ".", name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p


# -- configs ------------------------------------------------------------------

def search_order(executables, cwd):
    """supervisord's (and supervisorctl's) config search: beside the program, the working directory, /etc."""
    out = []
    for exe in executables:
        if exe:
            up = os.path.dirname(os.path.dirname(os.path.join(cwd, exe)))
            out += [os.path.join(up, "etc", "supervisord.conf"), os.path.join(up, "supervisord.conf")]
    out += [os.path.join(cwd, "supervisord.conf"), os.path.join(cwd, "etc", "supervisord.conf"),
            "/etc/supervisord.conf", "/etc/supervisor/supervisord.conf"]
    return out


def first_existing(paths):
    for path in paths:
        if os.path.isfile(at(path)):
            return path


def parse(path):
    try:
        parser = RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False)
    except TypeError:
        parser = RawConfigParser()
    data = read(path)
    if data is None:
        return None
    try:
        if hasattr(parser, "read_string"):
            parser.read_string(text(data), path)
        else:
            import StringIO
            parser.readfp(StringIO.StringIO(data), path)
    except Exception:
        return None
    return parser


def option(parser, section, name, here):
    if not parser.has_option(section, name):
        return None
    value = parser.get(section, name).strip()
    names = dict(("ENV_" + k, v) for k, v in os.environ.items())
    names["here"] = here
    try:
        value = value % names
    except Exception:
        pass
    return value or None


def password(parser, section, here):
    value = option(parser, section, "password", here)
    if value and value.startswith("{SHA}"):
        return None
    return value


def inet_target(port):
    """[inet_http_server] port (9001, :9001, *:9001, host:9001) as host:port to connect to."""
    host, sep, number = port.rpartition(":")
    if not sep:
        host, number = "", port
    if host in ("", "*", "0.0.0.0"):
        host = "127.0.0.1"
    return "%s:%s" % (host, number.strip())


def supervisorctl_target(path):
    """What supervisorctl would connect to with the config at ``path``; None if it names nothing."""
    parser = parse(path)
    if parser is None:
        return None
    here = os.path.dirname(path)
    url = option(parser, "supervisorctl", "serverurl", here)
    section, how = "supervisorctl", "[supervisorctl] serverurl"
    if not url and option(parser, "unix_http_server", "file", here):
        url = "unix://" + option(parser, "unix_http_server", "file", here)
        section, how = "unix_http_server", "[unix_http_server] file"
    if not url:
        return None
    if url.startswith("unix://"):
        where = url[len("unix://"):]
    elif url.startswith("http://"):
        hostport = url[len("http://"):].split("/")[0]
        where = hostport if ":" in hostport else hostport + ":80"
    else:
        return None
    return {"target": where, "how": "%s in %s" % (how, path), "config": path,
            "username": option(parser, section, "username", here), "password": password(parser, section, here)}


def served(path):
    """What supervisord serves with the config at ``path``: {target: (username, password)}; None if unreadable."""
    parser = parse(path)
    if parser is None:
        return None
    here = os.path.dirname(path)
    out = {}
    sock = option(parser, "unix_http_server", "file", here)
    if sock:
        out[sock] = (option(parser, "unix_http_server", "username", here), password(parser, "unix_http_server", here))
    port = option(parser, "inet_http_server", "port", here)
    if port:
        out[inet_target(port)] = (option(parser, "inet_http_server", "username", here),
                                  password(parser, "inet_http_server", here))
    return out


# -- processes ----------------------------------------------------------------

def supervisord_args(argv):
    """supervisord's own arguments (and its program path) when ``argv`` runs supervisord, else None."""
    if not argv or not argv[0]:
        return None
    name = os.path.basename(argv[0])
    if name.startswith("supervisord"):
        return argv[0], argv[1:]
    if not (name.startswith("python") or name.startswith("pypy")):
        return None
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "-m":
            if argv[i + 1:i + 2] == ["supervisor.supervisord"]:
                return None, argv[i + 2:]
            return None
        if arg.startswith("-m"):
            return (None, argv[i + 1:]) if arg[2:] == "supervisor.supervisord" else None
        if arg in ("-W", "-X", "-Q"):
            i += 2
            continue
        if arg.startswith("-"):
            i += 1
            continue
        if os.path.basename(arg) in ("supervisord", "supervisord.py"):
            return arg, argv[i + 1:]
        return None
    return None


def config_argument(args):
    for i, arg in enumerate(args):
        if arg in ("-c", "--configuration"):
            return args[i + 1] if i + 1 < len(args) else None
        if arg.startswith("--configuration="):
            return arg.split("=", 1)[1]
        if arg.startswith("-c") and not arg.startswith("--"):
            return arg[2:]
    return None


def cmdline(pid):
    data = read("/proc/%s/cmdline" % pid)
    if not data:
        return None
    return [text(a) for a in data.rstrip(b"\0").split(b"\0")]


def uid(pid):
    data = read("/proc/%s/status" % pid)
    for line in text(data or b"").splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])


def users():
    names = {}
    for line in text(read("/etc/passwd") or b"").splitlines():
        parts = line.split(":")
        if len(parts) > 2 and parts[2].isdigit():
            names.setdefault(int(parts[2]), parts[0])
    return names


def root_mount(pid):
    """The id of the mount at / as ``pid`` sees it: equal for processes of one mount namespace."""
    for line in text(read("/proc/%s/mountinfo" % pid) or b"").splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4] == "/":
            return fields[0]


def hidepid():
    """The hidepid= option of /proc ('2', 'invisible', ...), or None."""
    for line in text(read("/proc/self/mountinfo") or b"").splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4] == "/proc":
            for opt in line.split(" - ", 1)[-1].replace(" ", ",").split(","):
                if opt.startswith("hidepid=") and opt[8:] not in ("0", "off"):
                    return opt[8:]
    return None


def socket_inodes(pid):
    """Inodes of the sockets ``pid`` holds; None when its fds are not ours to read."""
    try:
        fds = os.listdir(at("/proc/%s/fd" % pid))
    except OSError:
        return None
    out = set()
    for fd in fds:
        link = readlink("/proc/%s/fd/%s" % (pid, fd)) or ""
        if link.startswith("socket:["):
            out.add(link[8:-1])
    return out


def unix_listeners():
    """inode -> path of every listening unix socket with a path (/proc/net/unix)."""
    out = {}
    for line in text(read("/proc/net/unix") or b"").splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[7].startswith("/") and int(fields[3], 16) & 0x10000:
            out[fields[6]] = fields[7]
    return out


def tcp_listeners():
    """inode -> host:port of every listening TCP socket (/proc/net/tcp, tcp6)."""
    out = {}
    for name, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", getattr(socket, "AF_INET6", None))):
        for line in text(read(name) or b"").splitlines()[1:]:
            fields = line.split()
            if len(fields) < 10 or fields[3] != "0A" or family is None:
                continue
            address, port = fields[1].split(":")
            raw = b"".join(struct.pack("=I", int(address[i:i + 8], 16)) for i in range(0, len(address), 8))
            try:
                host = socket.inet_ntop(family, raw)
            except (ValueError, socket.error):
                continue
            if host in ("0.0.0.0", "::", "::ffff:0.0.0.0"):
                host = "127.0.0.1"
            if host.startswith("::ffff:"):
                host = host[7:]
            out[fields[9]] = "%s:%d" % (host, int(port, 16))
    return out


def socket_name(path, pid):
    """supervisord binds PATH.PID and renames it to PATH: /proc/net/unix keeps the name it bound."""
    stem, dot, digits = path.rpartition(".")
    if dot and digits.isdigit() and not exists(path) and exists(stem):
        return stem
    return path


def process_config(pid, prog, args, cwd):
    """(config path, how it was found) of a running supervisord, or (None, why not)."""
    given = config_argument(args)
    if given:
        if os.path.isabs(given):
            return given, "-c"
        if cwd:
            return os.path.join(cwd, given), "-c, relative to its working directory"
        return None, "its -c %s is relative and its working directory is not readable" % given
    if not cwd:
        return None, "it names no -c and its working directory is not readable"
    exes = [prog] if prog else []
    found = first_existing(search_order(exes, cwd))
    if found:
        return found, "found from its working directory %s" % cwd
    return None, "no supervisord.conf in its search order from %s" % cwd


def running():
    """The supervisord processes of this mount namespace, what each listens on, and notes on what was hidden."""
    names = users()
    mine = root_mount("self")
    me = os.getpid()
    unix = tcp = None
    found, notes, elsewhere = [], [], 0
    try:
        pids = sorted(int(p) for p in os.listdir(at("/proc")) if p.isdigit())
    except OSError:
        pids = []
    for pid in pids:
        if pid == me:
            continue
        argv = cmdline(pid)
        parsed = argv and supervisord_args(argv)
        if not parsed:
            continue
        theirs = root_mount(pid)
        if mine and theirs and theirs != mine:
            elsewhere += 1
            continue
        prog, args = parsed
        owner = uid(pid)
        proc = {"pid": pid, "user": names.get(owner, "uid %s" % owner), "endpoints": [], "notes": []}
        cwd = readlink("/proc/%s/cwd" % pid)
        proc["config"], proc["config_how"] = process_config(pid, prog, args, cwd)
        config = served(proc["config"]) if proc["config"] else None
        inodes = socket_inodes(pid)
        if inodes is not None:
            if unix is None:
                unix, tcp = unix_listeners(), tcp_listeners()
            targets = [socket_name(unix[i], pid) for i in sorted(inodes) if i in unix]
            targets += [tcp[i] for i in sorted(inodes) if i in tcp]
            proc["from"] = "its open sockets"
        elif config is not None:
            targets = sorted(config)
            proc["from"] = "its config"
            proc["notes"].append("its open files are not readable as this user")
        else:
            targets = []
            proc["from"] = None
            proc["notes"].append("neither its open files nor its config are readable as this user")
        for target in targets:
            username, secret = (config or {}).get(target, (None, None))
            proc["endpoints"].append({"target": target, "username": username, "password": secret})
        found.append(proc)
    if elsewhere:
        notes.append("%d supervisord process(es) in other mount namespaces (containers) not considered" % elsewhere)
    hidden = hidepid()
    if hidden and os.geteuid() != 0:
        notes.append("/proc is mounted with hidepid=%s: other users' processes are hidden from this user "
                     "(become: true sees them)" % hidden)
    return found, notes


# -- the choice ---------------------------------------------------------------

def describe(proc):
    """For -v: where it listens, and where its config came from."""
    where = ", ".join(endpoint_text(e["target"]) for e in proc["endpoints"]) or "listening where is unknown"
    config = proc["config"] and "%s (%s)" % (proc["config"], proc["config_how"]) or proc["config_how"]
    return "%s: pid %s, user %s, config %s" % (where, proc["pid"], proc["user"], config)


def brief(proc):
    """For the one line listing several: where it listens (pid, user, config)."""
    where = " and ".join(endpoint_text(e["target"]) for e in proc["endpoints"]) or "listening where is unknown"
    return "%s (pid %s, %s, %s)" % (where, proc["pid"], proc["user"], proc["config"] or "config unknown")


def endpoint_text(target):
    return "unix://" + target if target.startswith("/") else "http://" + target


def attempt(target):
    """A connected socket to ``target`` (a socket path or host:port), or the socket.error."""
    try:
        # open_socket: herd/ssh/relay.py's OPEN_SOCKET, before this text in the script
        return open_socket(at(target) if target.startswith("/") else target), None  # noqa: F821
    except socket.error as e:
        return None, e


def own_cwd():
    """The agent's working directory as a path of the host (inside ROOT when a test runs it there)."""
    cwd = os.getcwd()
    if ROOT and (cwd + "/").startswith(ROOT + "/"):
        return cwd[len(ROOT):] or "/"
    return cwd


def reason(e):
    return e.strerror or str(e)


def choose():
    """(socket, report) or (None, failure): the supervisord to relay to, and why it was chosen.

    The config's target when it answers; what runs when the config names
    nothing or a target that does not answer; the common paths when neither
    says anything; a failure listing them when several run (the inventory
    must say which).
    """
    seen = []
    config_path = first_existing(search_order([which("supervisorctl"), which("supervisord")], own_cwd()))
    named = config_path and supervisorctl_target(config_path)
    if config_path and not named:
        seen.append("%s names no socket or URL" % config_path)
    procs, notes = running()
    for proc in procs:
        seen.append("supervisord runs: %s" % describe(proc))
    hidden = notes + [n for p in procs for n in p["notes"]]
    if len(procs) > 1:
        return None, {"errno": 0, "kind": "several", "target": "", "how": "", "reason": "several supervisords run",
                      "running": [brief(p) for p in procs], "seen": seen, "notes": notes}
    failure = None
    if named:
        s, failure = use_config(named, procs, seen)
        if s is not None:
            return s, dict(named, seen=seen, notes=notes)
    s, found = use_process(procs, named, failure)
    if s is not None:
        return s, dict(found, seen=seen, notes=notes)
    failure = found or failure
    if failure:
        return None, dict(failure, kind="dead", seen=seen, notes=hidden)
    if not named and not [p for p in procs if p["endpoints"]]:
        s, found = use_common()
        if found:
            return s, dict(found, seen=seen, notes=notes)
    return None, {"errno": 0, "kind": "nothing", "target": "", "how": "", "reason": "nothing found",
                  "running": [brief(p) for p in procs], "seen": seen, "notes": hidden}


def use_config(named, procs, seen):
    """(socket, None) when the config's target answers (its how says which process listens there), else (None, failure)."""
    s, e = attempt(named["target"])
    if s is None:
        seen.append("%s (%s) does not answer: %s" % (named["target"], named["how"], reason(e)))
        return None, {"errno": e.errno or 0, "target": named["target"], "how": named["how"], "reason": reason(e)}
    for proc in procs:
        if [x for x in proc["endpoints"] if x["target"] == named["target"]]:
            named["how"] += ", where supervisord pid %s listens" % proc["pid"]
        else:
            named["how"] += "; supervisord pid %s runs as %s" % (proc["pid"], proc["user"])
    return s, None


def use_process(procs, named, failure):
    """(socket, what) for the first endpoint of a running supervisord that answers, else (None, last failure)."""
    last = None
    for proc in procs:
        for endpoint in proc["endpoints"]:
            if named and endpoint["target"] == named["target"]:
                continue    # tried: the config names the socket of the supervisord that runs
            why = "supervisord pid %s running as %s with %s, %s" % (
                proc["pid"], proc["user"], proc["config"] or "a config herd cannot see",
                "seen listening there" if proc["from"] == "its open sockets" else "listening there per its config")
            if failure:
                why += "; %s (%s) does not answer" % (failure["target"], failure["how"])
            s, e = attempt(endpoint["target"])
            if s is not None:
                return s, dict(endpoint, how=why, config=proc["config"])
            last = {"errno": e.errno or 0, "target": endpoint["target"], "how": why, "reason": reason(e)}
    return None, last


def use_common():
    """(socket, what) or (None, failure) for the first of COMMON that exists; (None, None) when none does."""
    for path in COMMON:
        if exists(path):
            s, e = attempt(path)
            if s is not None:
                return s, {"target": path, "how": "common socket path", "config": None, "username": None,
                           "password": None}
            return None, {"errno": e.errno or 0, "kind": "dead", "target": path, "how": "common socket path",
                          "reason": reason(e)}
    return None, None


def report(data):
    return json.dumps(data).encode("utf-8")
