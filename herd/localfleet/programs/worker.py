"""testfleet worker: a line on stdout every second, one on stderr every 5 s."""
import os
import signal
import sys
import time


def main():
    host = sys.argv[1] if len(sys.argv) > 1 else "?"
    signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(0))
    n = 0
    while True:
        n += 1
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        print("%s worker %s tick %d" % (stamp, host, n), flush=True)
        if n % 5 == 1:
            print("%s worker %s stderr tick %d" % (stamp, host, n), file=sys.stderr, flush=True)
        time.sleep(1)


if __name__ == "__main__":
    main()
