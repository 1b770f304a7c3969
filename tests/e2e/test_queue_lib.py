"""test_queue_lib.py — shared harness of the queue's end-to-end tests
(tests/e2e/test_queue_*; this module is not executable, so run-all skips it).

A Queue is a temporary instance: a spool, a posthorn.conf, a libexec
directory whose posthorn-local/-remote/-bounce are the fake agent
(build/queue-test/fakeagent, see tests/e2e/test_queue_fakeagent.c), a
posthorn-queue serving a unix socket the test binds itself (LISTEN_FDS),
and a posthorn-send started with NOTIFY_SOCKET so the test knows when it is
ready.  Every process is stopped by PID in stop(); tests call it in
`finally`.  Only unix sockets are used: no ports.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# QUEUE_TEST_BIN: run the tests against other builds (e.g. sanitizers)
BIN = os.environ.get("QUEUE_TEST_BIN", os.path.join(ROOT, "bin"))
HELP = os.environ.get("QUEUE_TEST_HELPERS",
                      os.path.join(ROOT, "build", "queue-test"))
QCLIENT = os.path.join(HELP, "qclient")
FAKEAGENT = os.path.join(HELP, "fakeagent")


def build():
    """Build what the tests need (a no-op when up to date)."""
    r = subprocess.run(["make", "-s", "-C", ROOT, "bin/posthorn-queue",
                        "bin/posthorn-send", FAKEAGENT, QCLIENT],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0:
        sys.stderr.write(r.stderr.decode(errors="replace"))
        need = [os.path.join(BIN, "posthorn-queue"),
                os.path.join(BIN, "posthorn-send"), FAKEAGENT, QCLIENT]
        if not all(os.path.exists(p) for p in need):
            raise SystemExit("build failed")


def frame(tag, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return b"%d:%s%s," % (len(payload) + 1, tag.encode(), payload)


def envelope(sender, rcpts):
    """A minimal envelope in common/envelope.c's encoding."""
    e = frame("S", sender)
    for r in rcpts:
        e += frame("R", r)
    return frame("E", e)


def read_frame(sock):
    """Read one frame from a socket: (tag, payload) or None at EOF."""
    head = b""
    while not head.endswith(b":"):
        c = sock.recv(1)
        if not c:
            return None
        head += c
        if len(head) > 12:
            raise ValueError("bad frame header %r" % head)
    n = int(head[:-1])
    body = b""
    while len(body) < n + 1:
        c = sock.recv(n + 1 - len(body))
        if not c:
            raise ValueError("EOF inside frame")
        body += c
    assert body[-1:] == b",", body
    return chr(body[0]), body[1:-1]


class Queue:
    def __init__(self, conf="", agents=True, retry_min="1s", retry_max="4s",
                 base="/tmp"):
        self.dir = tempfile.mkdtemp(prefix="phq.", dir=base)
        os.chmod(self.dir, 0o755)
        self.spool = os.path.join(self.dir, "spool")
        self.sock = os.path.join(self.dir, "queue.sock")
        self.conf = os.path.join(self.dir, "conf")
        self.libexec = os.path.join(self.dir, "libexec")
        self.agentdir = os.path.join(self.dir, "agent")
        self.logfile = os.path.join(self.dir, "send.log")
        self.qlogfile = os.path.join(self.dir, "queue.log")
        for d in (self.conf, self.libexec, self.agentdir,
                  os.path.join(self.agentdir, "msg")):
            os.makedirs(d)
        if agents:
            for n in ("posthorn-local", "posthorn-remote", "posthorn-bounce"):
                os.symlink(FAKEAGENT, os.path.join(self.libexec, n))
        with open(os.path.join(self.conf, "posthorn.conf"), "w") as f:
            f.write("hostname = mx.test\n"
                    "local_domains = localhost, local.test\n"
                    "spool = %s\n"
                    "queue_socket = %s\n"
                    "retry_min = %s\n"
                    "retry_max = %s\n" % (self.spool, self.sock, retry_min,
                                           retry_max))
            f.write(conf)
        self.queue = None
        self.send = None
        self.lsock = None
        self.notify = None
        self.env = dict(os.environ)
        self.env.update({"POSTHORN_LIBEXEC": self.libexec,
                         "FAKE_AGENT_DIR": self.agentdir,
                         "POSTHORN_CONF": self.conf})
        for k in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID",
                  "LISTEN_FDNAMES", "WATCHDOG_USEC", "WATCHDOG_PID",
                  "JOURNAL_STREAM", "POSTHORN_SPAWN_FD"):
            self.env.pop(k, None)

    # ---- processes ---------------------------------------------------
    def start_queue(self, wrap=None):
        """posthorn-queue serving the listening socket self.sock."""
        if self.lsock is None:
            self.lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.lsock.bind(self.sock)
            self.lsock.listen(64)
        fd = self.lsock.fileno()
        # the shell's pid is the queue's after exec: LISTEN_PID matches
        cmd = (wrap or []) + ["/bin/sh", "-c",
                              'export LISTEN_FDS=1 LISTEN_PID=$$; exec "$@"', "sh",
                              os.path.join(BIN, "posthorn-queue"), "-C",
                              self.conf]
        log = open(self.qlogfile, "ab")

        def child():
            # close_fds=False: Python's own descriptors are close-on-exec
            # (PEP 446), and this dup must survive as fd 3
            if fd == 3:    # dup2(3, 3) would not clear close-on-exec
                os.set_inheritable(3, True)
            else:
                os.dup2(fd, 3)
        self.queue = subprocess.Popen(cmd, env=self.env, preexec_fn=child,
                                      stdin=subprocess.DEVNULL,
                                      stdout=log, stderr=log,
                                      close_fds=False,
                                      start_new_session=True)
        log.close()

    def start_send(self, extra_env=None, pass_fds=(), wait=True):
        npath = os.path.join(self.dir, "notify.sock")
        if self.notify is None:
            self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.notify.bind(npath)
            self.notify_msgs = []
            self.notify_cv = threading.Condition()
            threading.Thread(target=self._notify_reader,
                             daemon=True).start()
        start = len(self.notify_msgs)
        env = dict(self.env)
        env["NOTIFY_SOCKET"] = npath
        if extra_env:
            env.update(extra_env)
        log = open(self.logfile, "ab")
        self.send = subprocess.Popen([os.path.join(BIN, "posthorn-send"),
                                      "-C", self.conf], env=env,
                                     stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=log, pass_fds=pass_fds)
        log.close()
        if wait:
            self.wait_notify("READY=1", start=start)

    def _notify_reader(self):
        """Keep reading the notify socket (sd_notify blocks when its
        queue is full, as it would if systemd stopped reading)."""
        while True:
            try:
                msg = self.notify.recv(4096).decode()
            except OSError:
                return
            with self.notify_cv:
                self.notify_msgs.append(msg)
                self.notify_cv.notify_all()

    def wait_notify(self, what, timeout=20, start=0):
        """Wait for a notify message containing the line `what` (or, if
        `what` ends in "=", starting with it) among messages[start:]."""
        end = time.time() + timeout
        exited_at = None
        with self.notify_cv:
            while time.time() < end:
                for m in self.notify_msgs[start:]:
                    for line in m.split("\n"):
                        if line == what or (what.endswith("=") and
                                            line.startswith(what)):
                            return line
                # a process that exited may have sent its last message
                # (STOPPING=1) just before: give the reader thread a moment
                if self.send is not None and self.send.poll() is not None:
                    if exited_at is None:
                        exited_at = time.time()
                    elif time.time() - exited_at > 2.0:
                        raise AssertionError("posthorn-send exited %d: %s" % (
                            self.send.returncode, self.send_log()[-2000:]))
                self.notify_cv.wait(0.2)
        raise AssertionError("no %s from posthorn-send" % what)

    def kill(self, which, sig=signal.SIGKILL):
        p = getattr(self, which)
        if p is not None and p.poll() is None:
            if which == "queue":
                # its own process group: the per-connection children too
                try:
                    os.killpg(p.pid, sig)
                except ProcessLookupError:
                    pass
            else:
                os.kill(p.pid, sig)
            p.wait(timeout=30)
        setattr(self, which, None)

    def stop(self, keep=False):
        for which in ("queue", "send"):
            try:
                self.kill(which)
            except Exception:
                pass
        for s in (self.lsock, self.notify):
            if s is not None:
                s.close()
        if not keep and not os.environ.get("KEEP_TEST_DIR"):
            shutil.rmtree(self.dir, ignore_errors=True)

    # ---- clients ------------------------------------------------------
    def inject(self, sender, rcpts, data, timeout=60):
        """(code, dsn, qid, text) from build/queue-test/qclient."""
        r = subprocess.run([QCLIENT, self.sock, "inject", sender] +
                           list(rcpts), input=data, stdout=subprocess.PIPE,
                           timeout=timeout, env=self.env)
        out = r.stdout.decode().rstrip("\n")
        parts = out.split(" ", 3)
        if len(parts) < 4 or not parts[0].isdigit():
            return (0, "", "", out)
        return (int(parts[0]), parts[1], parts[2], parts[3])

    def qclient(self, *args):
        r = subprocess.run([QCLIENT, self.sock] + list(args),
                           stdout=subprocess.PIPE, timeout=60, env=self.env)
        return r.returncode, r.stdout.decode()

    def raw(self, data, shut=True, timeout=10):
        """Send raw bytes, return the frames the queue answers."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(self.sock)
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        out = []
        while True:
            f = read_frame(s)
            if f is None:
                break
            out.append(f)
        s.close()
        return out

    # ---- observations ------------------------------------------------
    def agent_log(self):
        """Lines of the fake agents' log, split into fields."""
        try:
            with open(os.path.join(self.agentdir, "log")) as f:
                return [l.split() for l in f.read().splitlines()]
        except FileNotFoundError:
            return []

    def delivered(self, qid, index):
        with open(os.path.join(self.agentdir, "msg", "%s.%d" % (qid, index)),
                  "rb") as f:
            return f.read()

    def send_log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def queue_log(self):
        try:
            with open(self.qlogfile, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def queue_file(self, qid):
        """(message, first record) of the queue file incoming/QID or
        msg/QID (queue/SPOOL.md "Queue file"), checking its footer."""
        for sub in ("incoming", "msg"):
            try:
                with open(os.path.join(self.spool, sub, qid), "rb") as f:
                    data = f.read()
                break
            except FileNotFoundError:
                continue
        else:
            raise AssertionError("no queue file %s" % qid)
        footer = data[-31:]
        if not (footer.startswith(b"posthorn-qf-1 ") and
                footer.endswith(b"\n")):
            raise AssertionError("bad footer %r" % footer)
        off = int(footer[14:30], 16)
        return data[:off], data[off:-31]

    def files(self, sub):
        """Names in spool/sub; in incoming/ without the workers' spare
        queue files (empty, mode 0600: queue/SPOOL.md "Injection")."""
        d = os.path.join(self.spool, sub)
        try:
            names = sorted(os.listdir(d))
        except FileNotFoundError:
            return []
        if sub == "incoming":
            names = [n for n in names if not self._spare(os.path.join(d, n))]
        return names

    @staticmethod
    def _spare(path):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return True
        return st.st_size == 0 and st.st_mode & 0o777 == 0o600

    def wait_for(self, pred, timeout=20, what="condition"):
        end = time.time() + timeout
        while time.time() < end:
            v = pred()
            if v:
                return v
            time.sleep(0.05)
        raise AssertionError("timed out waiting for %s\n--- send log:\n%s" %
                             (what, self.send_log()[-3000:]))

    def wait_empty(self, timeout=20):
        try:
            self.wait_for(lambda: not self.files("env") and
                          not self.files("incoming") and
                          not self.files("msg"), timeout, "an empty spool")
        except AssertionError as e:
            left = {d: self.files(d) for d in ("env", "incoming", "msg", "tmp")}
            raise AssertionError("%s; left: %r" % (e, left))


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def run(main):
    """Run main(); exit 0 on success, 1 with the reason on failure."""
    build()
    try:
        main()
    except AssertionError as e:
        print("FAIL:", e, file=sys.stderr)
        sys.exit(1)
    print("ok")
    sys.exit(0)
