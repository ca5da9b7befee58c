"""testfleet seed app (main.py): the Tornado app of the seed deployment, logging to its own file.

Run as the seed's [program:tornado] runs it: --port, --logging=info,
--log_file_prefix=FILE (stdout/stderr are not logged by supervisord).  It
logs a line every second ("app tick N port P") and one per request; GET /
answers "ok PORT PID".  With tornado missing (python -S, a light fleet) the
same options and log format are served by the standard library.
"""
import logging
import os
import sys
import threading
import time

log = logging.getLogger("app")


def ticks(port):
    n = 0
    while True:
        n += 1
        log.info("app tick %d port %d", n, port)
        time.sleep(1)


def options():
    opts = {"port": "8888", "logging": "info", "log_file_prefix": None}
    for arg in sys.argv[1:]:
        key, _, value = arg.lstrip("-").partition("=")
        opts[key.replace("-", "_")] = value
    return opts


def stdlib_main():
    opts = options()
    port = int(opts["port"])
    handler = logging.FileHandler(opts["log_file_prefix"]) if opts["log_file_prefix"] else logging.StreamHandler()
    handler.setFormatter(logging.Formatter("[%(levelname)1.1s %(asctime)s %(module)s:%(lineno)d] %(message)s",
                                           "%y%m%d %H:%M:%S"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(getattr(logging, opts["logging"].upper()))
    import socket
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(128)
    log.info("app (light) listening on 127.0.0.1:%d pid %d", port, os.getpid())
    threading.Thread(target=ticks, args=(port,), daemon=True).start()
    while True:
        conn, _ = srv.accept()
        with conn:
            try:
                conn.settimeout(5)
                conn.recv(65536)
                body = "ok %d %d" % (port, os.getpid())
                conn.sendall(("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                              % (len(body), body)).encode())
                log.info("200 GET / (127.0.0.1)")
            except OSError:
                pass


def tornado_main():
    import asyncio
    import tornado.options
    import tornado.web

    tornado.options.define("port", default=8888, type=int)
    tornado.options.parse_command_line()
    port = tornado.options.options.port

    class Root(tornado.web.RequestHandler):
        def get(self):
            self.write("ok %d %d" % (port, os.getpid()))

    async def main():
        tornado.web.Application([(r"/", Root)]).listen(port, address="127.0.0.1")
        log.info("app (tornado) listening on 127.0.0.1:%d pid %d", port, os.getpid())
        threading.Thread(target=ticks, args=(port,), daemon=True).start()
        await asyncio.Event().wait()

    asyncio.run(main())


if __name__ == "__main__":
    try:
        import tornado  # noqa: F401
    except ImportError:
        stdlib_main()
    else:
        tornado_main()
