"""What the bench scripts need from this machine: a free loopback port for
a server they start, and a process's peak resident memory."""

import socket


def free_port():
    """A loopback TCP port nothing listens on (free when this returns)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mib(pid):
    """Peak resident memory (VmHWM) of process `pid`, in MiB."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0
