"""test_sendmail_lib.py — shared by the sendmail end-to-end tests
(tests/e2e/test_sendmail_*; this module is not executable, so run-all
skips it).

FakeQueue listens on a unix socket in place of posthorn-queue and speaks
its injection protocol (queue/PROTOCOL.md §1a): it records each message
(envelope recipients and data), answers each transaction with the next
of the verdicts it was given (250 once they run out), and, like
posthorn-queue, drops a connection idle for longer than its limit
without a verdict — a limit a test can make short, which the real queue's
(smtp_timeout + 300 s) cannot be.  on_connect, if given, is called with
the client's pid (SO_PEERCRED) while the client waits on the connection.
"""
import re
import socket
import struct
import threading


def frames(data):
    """Split data into netstring frames: [(tag, payload)]; ValueError
    if it is not exactly a sequence of frames."""
    out, pos = [], 0
    while pos < len(data):
        m = re.compile(rb"(\d+):").match(data, pos)
        if not m:
            raise ValueError("bad frame")
        n = int(m.group(1))
        end = m.end() + n
        if n == 0 or data[end:end + 1] != b",":
            raise ValueError("bad frame")
        out.append((data[m.end():m.end() + 1], data[m.end() + 1:end]))
        pos = end + 1
    return out


def frame(tag, payload):
    return b"%d:%s%s," % (len(payload) + 1, tag, payload)


class FakeQueue:
    def __init__(self, path, idle=10.0, verdicts=(), on_connect=None):
        self.idle = idle
        self.on_connect = on_connect    # called with the client's pid
        self.verdicts = list(verdicts)
        self.messages = []      # (recipients, data) per complete message
        self.dropped = 0        # connections closed for idleness / errors
        self.errors = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                try:
                    if self.on_connect is not None:
                        cred = c.getsockopt(socket.SOL_SOCKET,
                                            socket.SO_PEERCRED,
                                            struct.calcsize("3i"))
                        self.on_connect(struct.unpack("3i", cred)[0])
                    self._one(c)
                except Exception as e:  # recorded; the test checks
                    self.errors.append(repr(e))

    def _read_frame(self, c, state):
        while True:
            m = re.match(rb"(\d+):", state["buf"])
            if m:
                end = m.end() + int(m.group(1))
                if len(state["buf"]) > end:
                    f = frames(state["buf"][:end + 1])[0]
                    state["buf"] = state["buf"][end + 1:]
                    return f
            data = c.recv(65536)
            if not data:
                raise EOFError
            state["buf"] += data

    def _one(self, c):
        c.settimeout(self.idle)
        state = {"buf": b""}
        got = []
        try:
            while True:
                tag, payload = self._read_frame(c, state)
                got.append((tag, payload))
                if tag == b".":
                    break
        except (socket.timeout, EOFError, ValueError):
            self.dropped += 1
            return
        if got[0][0] != b"E" or any(t != b"M" for t, _ in got[1:-1]):
            raise ValueError("unexpected frames %r" % [t for t, _ in got])
        rcpts = [p.decode() for t, p in frames(got[0][1]) if t == b"R"]
        self.messages.append((rcpts, b"".join(p for _, p in got[1:-1])))
        code, dsn, text = (self.verdicts.pop(0) if self.verdicts
                           else ("250", "2.0.0", "queued"))
        c.sendall(frame(b"R", b"\0".join(x.encode() for x in
                                          (code, dsn, text, ""))))

    def close(self):
        self.sock.close()
