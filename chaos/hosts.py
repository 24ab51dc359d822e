"""hosts.py -- the chaos suite's hosts: Linux network namespaces on a bridge.

One namespace per host (PREFIX-r1 ... PREFIX-c) and a switch namespace
PREFIX-sw holding the bridge br0 and the switch side of every veth pair; each
host holds the other side as eth0 with 10.A.B.k/24. The root namespace's
network is never touched. cut(host) takes the host's switch-side veth down (a
silent partition: no RST, no FIN); heal(host) brings it up.

Every process is started through Net.popen (ip netns exec execs the program:
the pid is the program's own) and recorded; Net.cleanup() stops them by pid
(SIGCONT, SIGTERM, SIGKILL after a grace), reaps them, kills by pid whatever
is still inside one of our namespaces (grandchildren), and deletes the
namespaces (which deletes the veths).
"""
import os
import re
import signal
import subprocess
import threading
import time

# host name -> last octet of its address
HOSTS = {"r1": 1, "r2": 2, "r3": 3, "w1": 11, "w2": 12, "w3": 13, "c": 20}
NAME_RE = re.compile(r"^tqc(\d+)-[a-z0-9]+$")


def ip(*args, check=True):
    """Runs `ip ARGS`; raises RuntimeError with its stderr on failure."""
    p = subprocess.run(["ip", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if check and p.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), p.stderr.strip()))
    return p


def netns_list():
    p = ip("netns", "list", check=False)
    return [line.split()[0] for line in p.stdout.splitlines() if line.strip()]


def netns_pids(ns):
    p = ip("netns", "pids", ns, check=False)
    return [int(x) for x in p.stdout.split() if x.isdigit()]


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def can_netns():
    """True when this process may make network namespaces (probed with a
    throwaway one)."""
    if os.geteuid() != 0:
        return False
    name = "tqc%d-probe" % os.getpid()
    try:
        if ip("netns", "add", name, check=False).returncode != 0:
            return False
    except FileNotFoundError:  # no ip(8)
        return False
    ip("netns", "del", name, check=False)
    return True


def remove_stale(log=None):
    """Removes tqc<pid>-* namespaces of runs whose pid is gone, killing (by
    pid) any process still inside them first."""
    for ns in netns_list():
        m = NAME_RE.match(ns)
        if not m or pid_alive(int(m.group(1))):
            continue
        for pid in netns_pids(ns):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        ip("netns", "del", ns, check=False)
        if log:
            log("removed stale namespace %s" % ns)


class Net:
    def __init__(self, pid=None):
        pid = os.getpid() if pid is None else pid
        self.prefix = "tqc%d" % pid
        self.sw = self.prefix + "-sw"
        self.subnet = "10.213.%d" % (pid % 250)
        self.addr = {h: "%s.%d" % (self.subnet, k) for h, k in HOSTS.items()}
        self.made = []          # namespaces created, in order
        self.procs = []         # every Popen started, in order
        self.lock = threading.Lock()
        self.closed = False     # cleanup began: no process starts any more

    def ns(self, host):
        return "%s-%s" % (self.prefix, host)

    def veth(self, host):
        """The switch-side end of host's link (in the switch namespace)."""
        return "v-" + host

    def setup(self):
        ip("netns", "add", self.sw)
        self.made.append(self.sw)
        ip("-n", self.sw, "link", "set", "lo", "up")
        ip("-n", self.sw, "link", "add", "br0", "type", "bridge", "stp_state", "0",
           "forward_delay", "0")
        ip("-n", self.sw, "link", "set", "br0", "up")
        for h in HOSTS:
            ns = self.ns(h)
            ip("netns", "add", ns)
            self.made.append(ns)
            ip("-n", self.sw, "link", "add", self.veth(h), "type", "veth",
               "peer", "name", "eth0", "netns", ns)
            ip("-n", self.sw, "link", "set", self.veth(h), "master", "br0")
            ip("-n", self.sw, "link", "set", self.veth(h), "up")
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "addr", "add", self.addr[h] + "/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")

    def cut(self, host):
        ip("-n", self.sw, "link", "set", self.veth(host), "down")

    def heal(self, host):
        ip("-n", self.sw, "link", "set", self.veth(host), "up")

    def popen(self, host, argv, env=None, stdout=None, stderr=None, stdin=None):
        """Starts argv in host's namespace, in a session of its own (a Ctrl-C
        reaches run.py alone, which stops everything in order)."""
        if self.closed:
            raise RuntimeError("the hosts are being removed")
        p = subprocess.Popen(["ip", "netns", "exec", self.ns(host), *argv], env=env,
                             stdout=stdout, stderr=stderr, stdin=stdin,
                             start_new_session=True)
        with self.lock:
            self.procs.append(p)
        return p

    def run(self, host, argv, timeout=30, env=None):
        """Runs argv in host's namespace to its end; (rc, stdout, stderr).
        rc None when it timed out (it is killed)."""
        p = self.popen(host, argv, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            out, err = p.communicate(timeout=timeout)
            return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            return None, out.decode(errors="replace"), err.decode(errors="replace")

    def stop_all(self, grace=3.0, keep=()):
        """SIGCONT, SIGTERM, then SIGKILL after grace, every process started
        (but those in keep); reaps each."""
        with self.lock:
            procs = [p for p in self.procs if p.poll() is None and p not in keep]
        for sig in (signal.SIGCONT, signal.SIGTERM):
            for p in procs:
                try:
                    os.kill(p.pid, sig)
                except ProcessLookupError:
                    pass
        end = time.time() + grace
        for p in procs:
            try:
                p.wait(timeout=max(0.05, end - time.time()))
            except subprocess.TimeoutExpired:
                pass
        for p in procs:
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()

    def cleanup(self, grace=3.0):
        """Stops every process, kills (by pid) what is left inside our
        namespaces, deletes the namespaces."""
        self.closed = True
        self.stop_all(grace)
        for ns in self.made:
            for pid in netns_pids(ns):
                try:
                    os.kill(pid, signal.SIGCONT)
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        # our own children among those are reaped by stop_all; the rest were
        # re-parented away from us
        for ns in reversed(self.made):
            ip("netns", "del", ns, check=False)
        self.made = []
