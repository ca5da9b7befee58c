"""testfleet app: GET / -> 200 "ok <port> <pid>" on 127.0.0.1.

--light serves with bare sockets (no tornado) to save memory.  Exits 1 at
start-up when --broken-flag names an existing file (testfleet break_app).
With --log_file_prefix=FILE (the seed deployment's tornado option) it logs
to that file, as tornado does, instead of stdout.

Runs on Python 2.7 and 3.6 too (--light): the test fleet's hosts whose only
Python is an old one (herd.localfleet.distro, "pythons") run it on theirs.
"""
import os
import signal
import sys
import time

LOG = [sys.stdout]


def log(*parts):
    LOG[0].write(" ".join(str(p) for p in (time.strftime("%Y-%m-%dT%H:%M:%S"),) + parts) + "\n")
    LOG[0].flush()


def options(argv):
    opts = {"port": None, "broken-flag": None, "light": False}
    for arg in argv:
        key, _, value = arg.lstrip("-").partition("=")
        opts[key] = value or True
    return int(opts["port"]), opts["broken-flag"], opts["light"]


def options_log_file(argv):
    for arg in argv:
        if arg.startswith("--log_file_prefix="):
            return arg.partition("=")[2]
    return None


def on_term(signum, frame):
    log("app stopping on signal", signum)
    os._exit(0)


def serve_light(port):
    import socket
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(128)
    log("app (light) listening on 127.0.0.1:%d pid %d" % (port, os.getpid()))
    while True:
        conn, _ = srv.accept()
        try:
            try:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data and len(data) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                path = data.split(b" ", 2)[1] if data.count(b" ") >= 2 else b""
                status, body = ("200 OK", "ok %d %d" % (port, os.getpid())) if path == b"/" \
                    else ("404 Not Found", "not found")
                conn.sendall(("HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                              "Connection: close\r\n\r\n%s" % (status, len(body), body)).encode())
                log("GET", path.decode("utf-8", "replace"), status.split()[0])
            except (OSError, IOError):
                pass
        finally:
            conn.close()


def serve_tornado(port):
    import asyncio
    import tornado.ioloop
    import tornado.web

    class Root(tornado.web.RequestHandler):
        def get(self):
            self.write("ok %d %d" % (port, os.getpid()))

    def log_request(handler):
        log(handler.request.method, handler.request.uri, handler.get_status())

    asyncio.set_event_loop(asyncio.new_event_loop())   # no async def: this file compiles on Python 2.7
    tornado.web.Application([(r"/", Root)], log_function=log_request).listen(port, address="127.0.0.1")
    log("app (tornado) listening on 127.0.0.1:%d pid %d" % (port, os.getpid()))
    tornado.ioloop.IOLoop.current().start()


def main():
    port, flag, light = options(sys.argv[1:])
    prefix = options_log_file(sys.argv[1:])
    if prefix:
        LOG[0] = open(prefix, "a", buffering=1)
    if flag and os.path.exists(flag):
        sys.stderr.write("app: refusing to start on port %d: %s exists (testfleet break_app)\n" % (port, flag))
        sys.stderr.flush()
        sys.exit(1)
    signal.signal(signal.SIGTERM, on_term)
    (serve_light if light else serve_tornado)(port)


if __name__ == "__main__":
    main()
