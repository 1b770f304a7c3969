# test_smtpd_common.py — shared harness for the smtpd end-to-end tests
# (imported, not run: this file is not executable).
#
# Builds a throw-away configuration directory, a queue (the real
# bin/posthorn-queue with a temporary spool when it exists, else a fake
# speaking queue/PROTOCOL.md's framing that keeps messages in memory),
# and runs bin/posthorn-smtpd per connection with the TCP connection on
# fd 0/1 (inetd style) on 127.0.0.1 with a port the kernel picked, or
# once with a listening socket passed as LISTEN_FDS.  As root, smtpd runs
# as nobody (setpriv), since it refuses to stay root.  Every process the
# harness starts is killed by PID at exit.
import atexit
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "bin")
SMTPD = os.environ.get("POSTHORN_TEST_SMTPD", os.path.join(BIN, "posthorn-smtpd"))
CHECKPW = os.path.join(BIN, "posthorn-checkpassword")
HOST = "mx.example.org"
GREETING = b"220 mx.example.org ESMTP\r\n"

_procs = []


def skip(why):
    sys.stderr.write(why + "\n")
    sys.exit(77)


def fail(why):
    sys.stderr.write("FAIL: " + why + "\n")
    sys.exit(1)


_dirs = []


def _cleanup():
    """Kill what we started, then remove the instances' directories (in
    that order: a queue still running would write into a directory being
    removed, and leave it behind)."""
    for p in _procs:
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
    for d in _dirs:
        shutil.rmtree(d, True)


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))


# ---- the fake queue ---------------------------------------------------------

def _read_frame(f):
    """One netstring frame from a file object: (tag, payload) or None."""
    digits = b""
    while True:
        c = f.read(1)
        if not c:
            return None
        if c == b":":
            break
        if not c.isdigit() or len(digits) > 10:
            raise ValueError("bad frame length")
        digits += c
    n = int(digits)
    data = f.read(n)
    if len(data) != n or f.read(1) != b",":
        raise ValueError("short frame")
    return data[:1].decode("latin-1"), data[1:]


def _frame(tag, payload):
    body = tag.encode() + payload
    return str(len(body)).encode() + b":" + body + b","


def _envelope_fields(payload):
    """Nested envelope frames -> list of (tag, payload)."""
    out = []
    i = 0
    while i < len(payload):
        j = payload.index(b":", i)
        n = int(payload[i:j])
        body = payload[j + 1:j + 1 + n]
        out.append((body[:1].decode("latin-1"), body[1:]))
        i = j + 1 + n + 1
    return out


class FakeQueue:
    """Speaks the injection protocol; keeps accepted messages.  To an
    announced envelope (frame A) it answers I with the id at once, unless
    a test sets `hold` (a threading.Event: I waits for it, at most 30 s)
    or `mode`: "lose" closes without an I, "refuse" answers an empty I
    and, after the data, 452 4.5.3."""

    def __init__(self, path):
        self.path = path
        self.messages = []      # (envelope frames, message bytes)
        self.flushes = []
        self.counter = 0
        self.mode = "ok"
        self.hold = None
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.sock.listen(64)
        t = threading.Thread(target=self._serve, daemon=True)
        t.start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._client, args=(c,),
                             daemon=True).start()

    def _client(self, c):
        f = c.makefile("rb")
        try:
            while True:
                fr = _read_frame(f)
                if fr is None:
                    return
                tag, payload = fr
                if tag == "F":
                    with self.lock:
                        self.flushes.append(payload.decode())
                    c.sendall(_frame("R", b"250\x002.0.0\x00flushing\x00"))
                    continue
                if tag not in ("E", "A"):
                    return
                env = _envelope_fields(payload)
                with self.lock:
                    self.counter += 1
                    qid = "%020X" % self.counter
                    mode, hold = self.mode, self.hold
                if tag == "A":
                    if mode == "lose":
                        return
                    if hold is not None:
                        hold.wait(30)
                    c.sendall(_frame("I", b"" if mode == "refuse" else
                                     qid.encode()))
                msg = b""
                while True:
                    fr = _read_frame(f)
                    if fr is None:
                        return      # abandoned
                    if fr[0] == "M":
                        msg += fr[1]
                    elif fr[0] == ".":
                        break
                    else:
                        return
                if mode == "refuse":
                    c.sendall(_frame("R", b"452\x004.5.3\x00"
                                     b"too many recipients\x00"))
                    continue
                with self.lock:
                    self.messages.append((env, msg))
                c.sendall(_frame("R", b"250\x002.0.0\x00Ok: queued as " +
                                 qid.encode() + b"\x00" + qid.encode()))
        except (ValueError, OSError):
            return
        finally:
            c.close()

    def count(self):
        with self.lock:
            return len(self.messages)


class RealQueue:
    """bin/posthorn-queue with a temporary spool, seen from outside: the
    accepted messages are read back from the spool (the queue files
    incoming/QID: message, record, footer), flush requests from the scheduler's
    wake socket, which this harness binds in place of posthorn-send."""

    def __init__(self, spool):
        self.spool = spool
        os.makedirs(spool, exist_ok=True)
        self.wake = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.wake.bind(os.path.join(spool, "wake"))
        self.wake.setblocking(False)
        self._flushes = []

    def _qids(self):
        """Complete queue files (mode 0640, queue/SPOOL.md) in incoming/.
        A file may vanish between the listing and its stat (the queue
        removes a refused message's file, or a spare, after smtpd has
        answered): it is not counted."""
        d = os.path.join(self.spool, "incoming")
        if not os.path.isdir(d):
            return []
        out = []
        for n in os.listdir(d):
            try:
                if os.stat(os.path.join(d, n)).st_mode & 0o040:
                    out.append(n)
            except FileNotFoundError:
                pass
        return sorted(out)

    @property
    def messages(self):
        out = []
        for qid in self._qids():
            with open(os.path.join(self.spool, "incoming", qid), "rb") as f:
                data = f.read()
            off = int(data[-31:][14:30], 16)   # the footer
            rec = data[off:-31]
            env = []
            i = 0
            while i < len(rec):
                j = rec.index(b":", i)
                n = int(rec[i:j])
                body = rec[j + 1:j + 1 + n]
                if body[:1] == b"E":
                    env = _envelope_fields(body[1:])
                i = j + 1 + n + 1
            out.append((env, data[:off]))
        return out

    def count(self):
        return len(self._qids())

    @property
    def flushes(self):
        while True:
            try:
                d = self.wake.recv(1024)
            except BlockingIOError:
                break
            if d.startswith(b"F"):
                self._flushes.append(d[1:].decode())
        return self._flushes


# ---- configuration and servers ------------------------------------------------

class Instance:
    """A configuration directory, a queue and a listening port."""

    def __init__(self, extra_conf="", tls=False, passwd=None,
                 relay_networks="127.0.0.0/8", mailboxes="alice /tmp/\n",
                 real_queue=None):
        self.dir = tempfile.mkdtemp(prefix="posthorn-smtpd-e2e-")
        _dirs.append(self.dir)
        os.chmod(self.dir, 0o755)
        # private copies: the checkout may not be reachable by nobody
        bindir = os.path.join(self.dir, "bin")
        os.mkdir(bindir)
        os.chmod(bindir, 0o755)
        self.smtpd = os.path.join(bindir, "posthorn-smtpd")
        self.checkpw = os.path.join(bindir, "posthorn-checkpassword")
        shutil.copy(SMTPD, self.smtpd)
        shutil.copy(CHECKPW, self.checkpw)
        self.sock_path = os.path.join(self.dir, "queue.sock")
        self.queue = None
        self.spool = None
        conf = [
            "hostname = " + HOST,
            "local_domains = example.org",
            "relay_domains = relay.example",
            "relay_networks = " + relay_networks,
            "queue_socket = " + self.sock_path,
            "reverse_dns = no",
            "checkpassword = " + self.checkpw,
            "max_message_size = 100k",
            "max_recipients = 50",
        ]
        if tls:
            key = os.path.join(self.dir, "key.pem")
            cert = os.path.join(self.dir, "cert.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                            "-nodes", "-subj", "/CN=" + HOST, "-keyout", key,
                            "-out", cert, "-days", "2"], check=True,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            os.chmod(key, 0o644)
            conf += ["tls_cert = " + cert, "tls_key = " + key]
            self.cert = cert
        if passwd:
            lines = []
            for user, pw in passwd.items():
                h = subprocess.run(["openssl", "passwd", "-6", pw],
                                   check=True, capture_output=True,
                                   text=True).stdout.strip()
                lines.append("%s:%s\n" % (user, h))
            self._write("passwd", "".join(lines))
        self._write("mailboxes", mailboxes)
        self._write("relocated", "old@example.org new@example.net\n")
        # keys in extra_conf replace the defaults above
        extra_keys = {ln.split("=")[0].strip()
                      for ln in extra_conf.splitlines() if "=" in ln}
        conf = [ln for ln in conf
                if ln.split("=")[0].strip() not in extra_keys]
        self._write("posthorn.conf", "\n".join(conf) + "\n" + extra_conf)
        if real_queue is None:
            real_queue = os.access(os.path.join(BIN, "posthorn-queue"),
                                   os.X_OK)
        if real_queue:
            self._start_real_queue()
        else:
            self.queue = FakeQueue(self.sock_path)
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(128)
        self.port = self.lsock.getsockname()[1]
        self.sessions = []

    def _write(self, name, text):
        p = os.path.join(self.dir, name)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, 0o644)

    def _start_real_queue(self):
        q = os.path.join(BIN, "posthorn-queue")
        if not os.access(q, os.X_OK):
            skip("bin/posthorn-queue not built")
        self.spool = os.path.join(self.dir, "spool")
        with open(os.path.join(self.dir, "posthorn.conf"), "a") as f:
            f.write("spool = %s\n" % self.spool)
        ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ls.bind(self.sock_path)
        os.chmod(self.sock_path, 0o666)
        ls.listen(256)
        self.queue = RealQueue(self.spool)
        p = start_with_listen_fd([q, "-C", self.dir], ls, drop=False)
        ls.close()
        self.queue_proc = p

    def smtpd_argv(self, flags=()):
        return [self.smtpd, "-C", self.dir] + list(flags)

    def connect(self, flags=(), env=None, drop=True, stderr=None):
        """A client socket to a fresh inetd-style smtpd session."""
        c = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        s, _ = self.lsock.accept()
        p = spawn(self.smtpd_argv(flags), stdin=s, stdout=s, env=env,
                  drop=drop, stderr=stderr)
        s.close()
        self.sessions.append(p)
        c.settimeout(30)
        return c, p


def privdrop_prefix():
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def spawn(argv, stdin=None, stdout=None, env=None, drop=True, pass_fds=(),
          stderr=None):
    e = dict(os.environ)
    e.pop("LISTEN_FDS", None)
    e.pop("LISTEN_PID", None)
    if env:
        e.update(env)
    prefix = privdrop_prefix() if drop else []
    p = subprocess.Popen(prefix + argv, stdin=stdin, stdout=stdout,
                         stderr=stderr if stderr else sys.stderr, env=e,
                         pass_fds=pass_fds)
    _procs.append(p)
    return p


def start_with_listen_fd(argv, lsock, drop=True, env=None):
    """Run argv with lsock as fd 3, LISTEN_FDS=1 and LISTEN_PID = its pid
    (sh sets it and execs, so the pid stays the same)."""
    prefix = privdrop_prefix() if drop else []
    fd = lsock.fileno()
    e = dict(os.environ)
    if env:
        e.update(env)
    e["LISTEN_FDS"] = "1"

    def child():
        os.dup2(fd, 3)
        os.set_inheritable(3, True)

    p = subprocess.Popen(["/bin/sh", "-c",
                          'LISTEN_PID=$$; export LISTEN_PID; exec "$@"',
                          "sh"] + prefix + argv,
                         env=e, preexec_fn=child, close_fds=False,
                         stderr=sys.stderr)
    _procs.append(p)
    return p


# ---- dialogs --------------------------------------------------------------------

class Dialog:
    """Byte-exact scripted client."""

    def __init__(self, sock):
        self.s = sock
        self.pending = b""

    def send(self, data):
        self.s.sendall(data)

    def expect(self, want, timeout=30):
        """Read exactly len(want) octets and compare them."""
        deadline = time.time() + timeout
        got = self.pending
        while len(got) < len(want):
            self.s.settimeout(max(0.1, deadline - time.time()))
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            got += chunk
        self.pending = got[len(want):]
        got = got[:len(want)]
        if got != want:
            fail("expected %r\n      got %r" % (want, got))

    def expect_line_prefix(self, prefix, timeout=30):
        """Read one reply line; it must start with prefix.  Returns it."""
        deadline = time.time() + timeout
        got = self.pending
        while b"\r\n" not in got:
            self.s.settimeout(max(0.1, deadline - time.time()))
            chunk = self.s.recv(65536)
            if not chunk:
                break
            got += chunk
        line, sep, rest = got.partition(b"\r\n")
        self.pending = rest
        if not line.startswith(prefix):
            fail("expected a line starting %r, got %r" % (prefix, line))
        return line

    def expect_eof(self, timeout=30):
        deadline = time.time() + timeout
        got = self.pending
        while True:
            self.s.settimeout(max(0.1, deadline - time.time()))
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                fail("no EOF; pending %r" % got)
            except ConnectionResetError:
                return
            if not chunk:
                break
            got += chunk
        if got:
            fail("unexpected data before EOF: %r" % got)

    def starttls(self, ctx=None):
        if ctx is None:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        self.s = ctx.wrap_socket(self.s, server_hostname=HOST)
        return self.s


def ehlo_reply(helo, ip="127.0.0.1", size=102400, starttls=False,
               auth=False):
    r = b"250-" + HOST.encode() + b" Hello " + helo.encode() + \
        b" [" + ip.encode() + b"]\r\n"
    r += b"250-PIPELINING\r\n250-SIZE %d\r\n250-8BITMIME\r\n" % size
    r += b"250-ENHANCEDSTATUSCODES\r\n"
    if starttls:
        r += b"250-STARTTLS\r\n"
    if auth:
        r += b"250-AUTH PLAIN LOGIN\r\n"
    r += b"250-SMTPUTF8\r\n250-DSN\r\n250-ETRN\r\n250 CHUNKING\r\n"
    return r


def wait_exit(p, timeout):
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


def need_binaries():
    for b in (SMTPD, CHECKPW):
        if not os.access(b, os.X_OK):
            skip("%s not built (make)" % b)


QUEUED = b"250 2.0.0 Ok: queued as "


def expect_queued(d):
    """The 250 after a message: a valid queue id."""
    line = d.expect_line_prefix(QUEUED)
    qid = line[len(QUEUED):]
    if len(qid) != 20 or not all(c in b"0123456789ABCDEF" for c in qid):
        fail("bad queue id in %r" % line)
    return qid.decode()


def strip_received(msg):
    """Message bytes without the first (our) Received header."""
    if not msg.startswith(b"Received: from "):
        fail("message does not start with our Received header: %r"
             % msg[:80])
    lines = msg.split(b"\n")
    i = 1
    while i < len(lines) and lines[i].startswith(b"\t"):
        i += 1
    return b"\n".join(lines[i:])
