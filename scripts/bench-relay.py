#!/usr/bin/env python3
"""A TCP relay that adds network latency (part of scripts/bench; stdlib only).

    bench-relay.py LISTEN_ADDR LISTEN_PORT UPSTREAM_ADDR UPSTREAM_PORT RTT_FILE

scripts/bench runs one in each host's network namespace, listening on the
host's address, in front of that host's sshd on 127.0.0.1 (this kernel has no
netem).  RTT_FILE holds the round-trip time in milliseconds; it is read at
each new connection, so the bench changes the RTT without restarting relays.

For one connection with round-trip time R:

* the relay accepts at once, but opens its connection to sshd only 1.5 R
  later: what TCP's SYN, SYN-ACK, ACK would cost before the server sees
  anything (so the client reads the SSH banner 2 R after connecting, as on a
  real network);
* every chunk read from either side is written to the other side R/2 after
  it was read, in order, without holding back the chunks behind it (each
  direction is a queue of (due time, bytes), not a sleeping connection).

Both sockets have TCP_NODELAY: the relay never holds bytes back itself.  What
it cannot model (it terminates TCP): loss, bandwidth, slow start, and ACK
timing across the simulated path (sshd's Nagle waits for the relay's ACKs on
the host's loopback, not for the client's across R).
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time


def _nodelay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _rtt(path: str) -> float:
    try:
        with open(path) as fh:
            return max(0.0, float(fh.read().strip() or 0)) / 1000.0
    except (OSError, ValueError):
        return 0.0


async def _pump(reader: asyncio.StreamReader, queue: asyncio.Queue, delay: float) -> None:
    """Read chunks as they come; queue each with the time it is due on the other side."""
    try:
        while True:
            data = await reader.read(65536)
            queue.put_nowait((time.monotonic() + delay, data))
            if not data:
                return
    except OSError:
        queue.put_nowait((time.monotonic() + delay, b""))


async def _deliver(queue: asyncio.Queue, writer: asyncio.StreamWriter) -> None:
    """Write each queued chunk at its due time; an empty chunk is EOF."""
    try:
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            if writer.transport.get_write_buffer_size() > 1 << 20:
                await writer.drain()
    except OSError:
        pass


async def _serve(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter,
                 upstream: tuple[str, int], rtt_file: str) -> None:
    _nodelay(client_writer)
    rtt = _rtt(rtt_file)
    accepted = time.monotonic()
    to_server: asyncio.Queue = asyncio.Queue()
    reading = asyncio.ensure_future(_pump(client_reader, to_server, rtt / 2))
    tasks = [reading]
    try:
        wait = accepted + 1.5 * rtt - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            up_reader, up_writer = await asyncio.open_connection(*upstream)
        except OSError:
            return
        _nodelay(up_writer)
        to_client: asyncio.Queue = asyncio.Queue()
        tasks += [asyncio.ensure_future(_deliver(to_server, up_writer)),
                  asyncio.ensure_future(_pump(up_reader, to_client, rtt / 2)),
                  asyncio.ensure_future(_deliver(to_client, client_writer))]
        # done when both directions delivered their EOF (or failed)
        await asyncio.gather(tasks[1], tasks[3], return_exceptions=True)
        up_writer.close()
    finally:
        for task in tasks:
            task.cancel()
        client_writer.close()


async def _main(listen: tuple[str, int], upstream: tuple[str, int], rtt_file: str) -> None:
    server = await asyncio.start_server(lambda r, w: _serve(r, w, upstream, rtt_file),
                                        listen[0], listen[1], backlog=512, reuse_address=True)
    print(f"relay {listen[0]}:{listen[1]} -> {upstream[0]}:{upstream[1]}, rtt from {rtt_file}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    listen = (argv[0], int(argv[1]))
    upstream = (argv[2], int(argv[3]))
    try:
        asyncio.run(_main(listen, upstream, argv[4]))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
