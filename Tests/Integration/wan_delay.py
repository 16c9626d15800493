"""A wide-area link in user space, for kernels without sch_netem: every IP packet routed into the
tun device IN waits DELAY seconds (constant, so order is kept), a LOSS fraction of them is dropped
(seeded: the same packets on every run), and the rest are written to the tun device OUT, from where
the kernel forwards them on (policy routing `iif OUT` sends them to the real interface).

    python3 wan_delay.py IN OUT DELAY_SECONDS LOSS_FRACTION SEED

Prints "ready" once both devices exist; runs until killed. Counts go to stderr on exit (SIGTERM).
"""
import collections, fcntl, os, random, select, signal, struct, sys, time

TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def main():
    name_in, name_out, delay, loss, seed = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
    fd_in, fd_out = open_tun(name_in), open_tun(name_out)
    draw = random.Random(seed)
    held = collections.deque()  # (release time, packet), oldest first
    counts = {"forwarded": 0, "dropped": 0}

    def report(*_):
        print(f"wan_delay: {counts['forwarded']} forwarded, {counts['dropped']} dropped", file=sys.stderr, flush=True)
        os._exit(0)
    signal.signal(signal.SIGTERM, report)
    print("ready", flush=True)
    while True:
        now = time.monotonic()
        while held and held[0][0] <= now:
            os.write(fd_out, held.popleft()[1])
            counts["forwarded"] += 1
        timeout = max(0.0, held[0][0] - now) if held else 1.0
        if select.select([fd_in], [], [], timeout)[0]:
            packet = os.read(fd_in, 65536)
            if draw.random() < loss:
                counts["dropped"] += 1
            else:
                held.append((time.monotonic() + delay, packet))


main()
