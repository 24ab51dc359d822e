"""A small RESP2 client for the chaos checker: standard library only.

One blocking socket, a connect timeout and a read timeout, and pipelining:
`pipeline(cmds)` writes every command in one send and reads the replies in
order. Bulk strings come back as str (UTF-8, invalid bytes replaced), arrays
as lists, nil as None. An error reply inside a pipeline is returned in its
place as a RespError object (the other replies are still good); a single
`call` raises it. A broken connection raises ConnectionError.
"""

import socket


class RespError(Exception):
    """An error reply from Redis (`-ERR ...`)."""


def encode(args):
    """One command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, bytes):
            b = a
        elif isinstance(a, str):
            b = a.encode()
        else:
            b = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class Redis:
    def __init__(self, host, port, connect_timeout=5.0, timeout=30.0):
        self.host, self.port = host, int(port)
        self.sock = socket.create_connection((host, self.port), timeout=connect_timeout)
        self.sock.settimeout(timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------ reading
    def _fill(self):
        if self.pos > 65536 and self.pos * 2 > len(self.buf):
            del self.buf[: self.pos]
            self.pos = 0
        chunk = self.sock.recv(1 << 18)
        if not chunk:
            raise ConnectionError("redis %s:%d closed the connection" % (self.host, self.port))
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos : i])
                self.pos = i + 2
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) - self.pos < n + 2:
            self._fill()
        b = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n + 2
        return b

    def _reply(self):
        line = self._line()
        if not line:
            raise ConnectionError("empty RESP line")
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode("utf-8", "replace")
        if t == b"-":
            return RespError(rest.decode("utf-8", "replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            return self._exact(n).decode("utf-8", "replace")
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self._reply() for _ in range(n)]
        raise ConnectionError("bad RESP type byte %r" % t)

    # ------------------------------------------------------------ commands
    def pipeline(self, cmds):
        """Send every command at once; the replies in order (errors in place)."""
        if not cmds:
            return []
        self.sock.sendall(b"".join(encode(c) for c in cmds))
        return [self._reply() for _ in cmds]

    def call(self, *args):
        r = self.pipeline([args])[0]
        if isinstance(r, RespError):
            raise r
        return r


def pairs(flat):
    """HGETALL's flat list as a dict (None for an empty reply: no key)."""
    if not flat:
        return None
    return {flat[i]: flat[i + 1] for i in range(0, len(flat) - 1, 2)}
