"""posthorn.py — the shared library of posthorn's end-to-end tests.

Start a complete instance with bin/posthorn-run in a private temporary
directory (listeners on port 0, read back from DIR/run/listen), send mail
through SMTP or bin/sendmail, wait for it in a Maildir with a bounded
poll, replay SMTP dialogs byte for byte, and stop everything by PID.

    import sys, os
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
    import posthorn as ph

    ph.require("posthorn-run", "posthorn-smtpd", "posthorn-queue",
               "posthorn-send", "posthorn-local")
    with ph.Instance() as inst:          # writes the config, starts, waits
        inst.send("a@example.org", ["user@posthorn.test"], b"Subject: x\\n\\nhi\\n")
        [msg] = inst.wait_maildir(count=1)
        d = inst.dialog()                # the first "smtp" listener
        d.script('''
            <~ 220
            -> EHLO client.example
            <~ 250
            -> QUIT
            <- 221 2.0.0 mx.posthorn.test Bye
        ''')

The default instance: hostname mx.posthorn.test; local domains
posthorn.test, mx.posthorn.test and localhost; user@ and postmaster@ go to
inst.maildir; one SMTP listener on 127.0.0.1 (a free port).  Instance()
takes conf={key: value}, listen={kind: addr}, mailboxes/aliases/routes/...,
env= (e.g. POSTHORN_LIBEXEC for fake agents) and run_as=uid.

A test exits 0 to pass, 77 to skip (ph.skip(reason): the reason is the last
line on stderr) and anything else to fail (ph.fail(msg), or any exception).
Only skip while a program the test needs is missing from bin/ (require()).
Every server an Instance starts is stopped by PID when the `with` block
ends, on SIGTERM (run-all's timeout) and at interpreter exit.  The
instance directory is deleted when the `with` block ends normally and kept
(its path printed) when it ends with an exception, or always with
POSTHORN_E2E_KEEP=1.
"""

import atexit
import codecs
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
# POSTHORN_E2E_BIN: run the tests against programs elsewhere (installed)
BIN = os.environ.get("POSTHORN_E2E_BIN") or os.path.join(ROOT, "bin")

DOMAIN = "posthorn.test"
HOSTNAME = "mx.posthorn.test"
USER = "user@" + DOMAIN

_instances = []


def skip(reason):
    """Skip the test: exit 77 with reason as the last line on stderr."""
    sys.stderr.flush()
    print(reason, file=sys.stderr, flush=True)
    _cleanup_all()
    os._exit(77)


def fail(msg):
    """Fail the test with a message (an AssertionError: exit 1)."""
    raise AssertionError(msg)


def require(*programs):
    """Skip unless every named program exists in bin/ and is executable."""
    missing = [p for p in programs if not os.access(os.path.join(BIN, p), os.X_OK)]
    if missing:
        skip("not built yet: " + ", ".join("bin/" + p for p in missing))


def program(name):
    return os.path.join(BIN, name)


def poll(cond, timeout=20.0, interval=0.05, what="condition"):
    """Call cond() until it returns something true, at most timeout
    seconds; return that value or fail."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            fail("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def _cleanup_all():
    for inst in list(_instances):
        try:
            inst.stop()
        except Exception as e:  # cleanup must go on
            print("posthorn.py: cleanup: %s" % e, file=sys.stderr)


atexit.register(_cleanup_all)
if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
    signal.signal(signal.SIGTERM, _on_sigterm)


# ---- Maildir --------------------------------------------------------------

def maildir_files(path):
    """Sorted full paths of the messages in path/new and path/cur."""
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(path, sub)
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            continue
        out.extend(os.path.join(d, n) for n in names if not n.startswith("."))
    return sorted(out)


def make_maildir(path, owner=None):
    """Create a Maildir.  Run as root, it is given to owner ((uid, gid);
    default "nobody"): the spawner never runs a delivery as root, it
    delivers to a virtual mailbox as the mailbox's owner (and a root-owned
    one as alias_user)."""
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    if os.geteuid() == 0:
        if owner is None:
            import pwd
            pw = pwd.getpwnam("nobody")
            owner = (pw.pw_uid, pw.pw_gid)
        for d in [path] + [os.path.join(path, s) for s in ("tmp", "new", "cur")]:
            os.chown(d, owner[0], owner[1])
            os.chmod(d, 0o700)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def strip_trace(msg, names=(b"Received", b"Return-Path", b"Delivered-To")):
    """msg without its leading trace fields (the ones delivery and the
    SMTP server add): what was injected, for byte-exact comparisons."""
    lines = msg.split(b"\n")
    i = 0
    while i < len(lines):
        name = lines[i].split(b":", 1)[0]
        if lines[i] and name.lower() in [n.lower() for n in names]:
            i += 1
            while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
                i += 1
            continue
        break
    return b"\n".join(lines[i:])


def header(msg, name):
    """Values of every header field called name (unfolded, str)."""
    head = msg.split(b"\n\n", 1)[0].decode("utf-8", "replace")
    out, cur = [], None
    for line in head.split("\n"):
        if line[:1] in (" ", "\t") and cur is not None:
            cur[1] += " " + line.strip()
            continue
        if ":" in line:
            k, v = line.split(":", 1)
            cur = [k.strip(), v.strip()]
            out.append(cur)
        else:
            cur = None
    return [v for k, v in out if k.lower() == name.lower()]


# ---- processes ------------------------------------------------------------

def _proc_env(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def _proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def processes_of(directory, exclude=()):
    """PIDs of processes started for the instance in directory: their
    command line names it or their environment has POSTHORN_CONF=it."""
    d = os.fsencode(directory)
    mark = b"POSTHORN_CONF=" + d
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if pid == os.getpid() or pid in exclude:
            continue
        if d in _proc_cmdline(pid) or mark in _proc_env(pid):
            try:
                with open("/proc/%d/stat" % pid) as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z":
                found.append(pid)
    return sorted(found)


# ---- an instance ----------------------------------------------------------

class Instance:
    """A posthorn instance in a temporary directory, run by posthorn-run.

    conf: posthorn.conf keys to add or override (a value of None removes
    a default key); listen: {kind: address or [addresses]} for
    posthorn-run's -l (default {"smtp": "127.0.0.1:0"}; kinds smtp,
    submission, smtps; port 0 = a free port, read back with addr(kind));
    run_as: a uid to run posthorn-run and sendmail as (only when the test
    runs as root; the instance directory is chowned to it);
    mailboxes: {key: path} for the mailboxes table (a
    relative path is taken under the instance directory; a trailing slash
    means Maildir); aliases, relocated, routes, passwd: file contents;
    run_args: extra options for posthorn-run (e.g. ["-a"]).
    env: extra environment for posthorn-run (e.g. POSTHORN_LIBEXEC for
    fake agents).  The default configuration accepts mail for
    posthorn.test and localhost, and user@ and postmaster@ go to the
    Maildir inst.maildir.
    """

    def __init__(self, conf=None, mailboxes=None, aliases=None,
                 relocated=None, routes=None, passwd=None, env=None,
                 listen=None, run_as=None, start=True, verbose=False,
                 run_args=()):
        self.dir = tempfile.mkdtemp(prefix="ph-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.maildir = os.path.join(self.dir, "Maildir") + "/"
        self.conf = {
            "hostname": HOSTNAME,
            "local_domains": DOMAIN + ", " + HOSTNAME + ", localhost",
            "spool": os.path.join(self.dir, "spool"),
            "queue_socket": os.path.join(self.dir, "run", "queue.sock"),
            "mailboxes": os.path.join(self.dir, "mailboxes"),
            "aliases": os.path.join(self.dir, "aliases"),
            "relocated": os.path.join(self.dir, "relocated"),
            "routes": os.path.join(self.dir, "routes"),
            "passwd": os.path.join(self.dir, "passwd"),
            "retry_min": "1s",
            "retry_max": "10s",
        }
        for k, v in (conf or {}).items():
            if v is None:
                self.conf.pop(k, None)
            else:
                self.conf[k] = v
        self.mailboxes = mailboxes if mailboxes is not None else {
            "user": "Maildir/", "postmaster": "Maildir/"}
        self.files = {"aliases": aliases, "relocated": relocated,
                      "routes": routes, "passwd": passwd}
        # listeners, given to posthorn-run as "-l kind=addr" (port 0: a
        # free port); a "listen" key in conf replaces the default
        if listen is None:
            listen = {} if "listen" in self.conf else {"smtp": "127.0.0.1:0"}
        self.listen_opts = list(run_args)
        for kind, addrs in listen.items():
            for a in ([addrs] if isinstance(addrs, str) else addrs):
                self.listen_opts += ["-l", "%s=%s" % (kind, a)]
        self.env = env or {}
        self.verbose = verbose
        # run_as: a uid (tests run by root) that runs posthorn-run and
        # sendmail, as an ordinary user would; the directory is theirs
        self.run_as = run_as if os.geteuid() == 0 else None
        self.wrap = []
        if self.run_as:
            self.wrap = ["setpriv", "--reuid=%d" % run_as,
                         "--regid=%d" % run_as, "--clear-groups"]
        self.proc = None
        self.listen = {}
        self.leftovers = []
        self.logfile = os.path.join(self.dir, "posthorn-run.log")
        self.write_config()
        if self.run_as:
            for top, dirs, files in os.walk(self.dir):
                for n in [top] + [os.path.join(top, f) for f in files]:
                    os.chown(n, self.run_as, self.run_as)
        _instances.append(self)
        if start:
            try:
                self.start()
            except BaseException:
                self.stop()
                raise

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        if exc_type is None:
            self.remove()
        else:
            print("posthorn.py: instance kept for inspection: %s" % self.dir,
                  file=sys.stderr)
        return False

    def remove(self):
        """Delete the instance directory (after stop()); kept when
        POSTHORN_E2E_KEEP is set."""
        if self.proc is None and not os.environ.get("POSTHORN_E2E_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def write_config(self):
        with open(self.path("posthorn.conf"), "w") as f:
            f.write("# written by tests/e2e/lib/posthorn.py\n")
            for k, v in self.conf.items():
                f.write("%s = %s\n" % (k, v))
        with open(self.path("mailboxes"), "w") as f:
            for k, v in self.mailboxes.items():
                if not v.startswith("/"):
                    v = os.path.join(self.dir, v)
                f.write("%s\t%s\n" % (k, v))
                if v.endswith("/"):
                    make_maildir(v, self.run_as and (self.run_as, self.run_as))
        for name, text in self.files.items():
            if text is not None:
                with open(self.path(name), "w") as f:
                    f.write(text)

    # -- running --

    def start(self, timeout=20.0):
        require("posthorn-run")
        if self not in _instances:
            _instances.append(self)
        for name in ("ready", "listen"):
            try:
                os.unlink(self.path("run", name))
            except FileNotFoundError:
                pass
        env = dict(os.environ)
        env.update(self.env)
        argv = self.wrap + [program("posthorn-run"), "-C", self.dir] + \
            self.listen_opts
        if self.verbose:
            argv.append("-v")
        self.log = open(self.logfile, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log,
                                     env=env)
        deadline = time.monotonic() + timeout
        ready = self.path("run", "ready")
        while True:
            if self.proc.poll() is not None:
                fail("posthorn-run exited with %s before it was ready:\n%s"
                     % (self.proc.returncode, self.log_tail()))
            try:
                with open(ready) as f:
                    if f.read().strip() == str(self.proc.pid):
                        break
            except FileNotFoundError:
                pass
            if time.monotonic() >= deadline:
                fail("posthorn-run not ready after %.0fs:\n%s"
                     % (timeout, self.log_tail()))
            time.sleep(0.05)
        self.listen = {}
        with open(self.path("run", "listen")) as f:
            for line in f:
                kind, addr = line.split()
                self.listen.setdefault(kind, []).append(addr)
        return self

    def stop(self, timeout=15.0):
        """Stop posthorn-run with SIGTERM (SIGKILL after timeout) and kill,
        by PID, anything of this instance still running afterwards
        (recorded in self.leftovers).  Returns posthorn-run's exit code."""
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            rc = self.proc.returncode
            self.proc = None
            self.log.close()
            # children get up to a second to go after their parent
            deadline = time.monotonic() + 1.0
            while True:
                left = processes_of(self.dir)
                if not left or time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
            self.leftovers = left
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self in _instances:
            _instances.remove(self)
        return rc

    def signal(self, sig):
        self.proc.send_signal(sig)

    def log_text(self):
        try:
            return read_file(self.logfile).decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=20.0):
        """Wait until the instance's log (every program's stderr) matches
        the regular expression pattern; return the match."""
        import re
        return poll(lambda: re.search(pattern, self.log_text()),
                    timeout=timeout, what="log line %r" % pattern)

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])

    # -- addresses --

    def addr(self, kind="smtp", i=0):
        """(host, port) of a listener ("smtp", "submission", "smtps")."""
        try:
            a = self.listen[kind][i]
        except (KeyError, IndexError):
            fail("no %s listener: %r" % (kind, self.listen))
        host, port = a.rsplit(":", 1)
        return host.strip("[]"), int(port)

    @property
    def queue_socket(self):
        return self.conf["queue_socket"]

    # -- sending --

    def smtp(self, kind="smtp", timeout=20):
        host, port = self.addr(kind)
        return smtplib.SMTP(host, port, local_hostname="client.example",
                            timeout=timeout)

    def send(self, sender, rcpts, msg, kind="smtp"):
        """Send msg (bytes) with smtplib; fails unless every recipient is
        accepted."""
        with self.smtp(kind) as s:
            refused = s.sendmail(sender, rcpts, msg)
        if refused:
            fail("recipients refused: %r" % (refused,))

    def sendmail(self, args, data=b"", env=None, timeout=30, prog="sendmail"):
        """Run bin/sendmail -C DIR ARGS with data on stdin; returns the
        CompletedProcess (returncode, stdout, stderr as bytes)."""
        e = dict(os.environ)
        e.update(env or {})
        return subprocess.run(self.wrap + [program(prog), "-C", self.dir] +
                              list(args),
                              input=data, capture_output=True, env=e,
                              timeout=timeout)

    def dialog(self, kind="smtp", timeout=10.0):
        return Dialog(*self.addr(kind), timeout=timeout)

    # -- receiving --

    def wait_maildir(self, path=None, count=1, timeout=20.0):
        """Wait until the Maildir holds at least count messages; return
        their contents (bytes), sorted by file name."""
        path = path or self.maildir

        def enough():
            files = maildir_files(path)
            return files if len(files) >= count else None
        deadline = time.monotonic() + timeout
        while True:
            files = enough()
            if files:
                return [read_file(p) for p in files]
            if time.monotonic() >= deadline:
                fail("%d message(s) expected in %s, found %d after %.0fs;"
                     " posthorn-run log:\n%s"
                     % (count, path, len(maildir_files(path)), timeout,
                        self.log_tail()))
            time.sleep(0.05)


# ---- scripted SMTP dialogs --------------------------------------------------

class Dialog:
    """A raw SMTP conversation, checked byte for byte.

    send(b"...")            raw bytes
    cmd("EHLO x")           a line, CRLF added
    expect("250 2.0.0 Ok")  the next line is exactly that (CRLF-terminated)
    reply()                 the next complete reply: [lines] (multi-line ok)
    expect_code("250")      the next complete reply's final line starts so
    expect_close()          the server closed the connection
    starttls(ctx)           wrap the connection in TLS (after "220")

    script(text): one step a line, leading white space ignored:
        -> LINE     cmd(LINE)
        => BYTES    send(BYTES) with \\r \\n \\t \\xNN escapes
        <- LINE     expect(LINE)
        <~ PREFIX   expect_code(PREFIX): whole reply, final line's prefix
        <<          expect_close()
        # ...       comment
    """

    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.timeout = timeout
        self.transcript = []

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def send(self, data):
        self.transcript.append(b"C: " + data)
        self.sock.sendall(data)

    def cmd(self, line):
        self.send(line.encode() + b"\r\n")

    def line(self):
        """The next line with its terminator (bytes); b"" at EOF."""
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self.buf:
            if time.monotonic() >= deadline:
                self._fail("timed out waiting for a line")
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                self._fail("timed out waiting for a line")
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                rest, self.buf = self.buf, b""
                return rest
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        line += b"\n"
        self.transcript.append(b"S: " + line)
        return line

    def _fail(self, msg):
        fail("%s; transcript:\n%s" % (msg, b"".join(
            t if t.endswith(b"\n") else t + b"\n"
            for t in self.transcript).decode("utf-8", "replace")))

    def expect(self, want):
        got = self.line()
        if got != want.encode() + b"\r\n":
            self._fail("expected %r, got %r" % (want + "\r\n", got))

    def reply(self):
        lines = []
        for _ in range(1000):
            got = self.line()
            if not got:
                self._fail("connection closed inside a reply")
            if not got.endswith(b"\r\n") or len(got) < 5 or \
                    not got[:3].isdigit() or got[3:4] not in (b" ", b"-"):
                self._fail("malformed reply line %r" % got)
            lines.append(got[:-2].decode("utf-8", "replace"))
            if got[3:4] == b" ":
                if any(l[:3] != lines[-1][:3] for l in lines):
                    self._fail("mixed codes in a reply: %r" % lines)
                return lines
        self._fail("reply longer than 1000 lines")

    def expect_code(self, prefix):
        lines = self.reply()
        if not lines[-1].startswith(prefix):
            self._fail("expected a reply starting %r, got %r"
                       % (prefix, lines))
        return lines

    def starttls(self, context=None, server_hostname=HOSTNAME):
        """Switch to TLS (after "220 Ready to start TLS" was read).  Bytes
        the server sent before the handshake would be a protocol error:
        fail if any are buffered."""
        import ssl
        if self.buf:
            self._fail("data before the TLS handshake: %r" % self.buf)
        if context is None:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        self.sock = context.wrap_socket(self.sock,
                                        server_hostname=server_hostname)
        self.transcript.append(b"-- TLS --\n")

    def expect_close(self):
        got = self.line()
        if got:
            self._fail("expected the connection to close, got %r" % got)

    def script(self, text):
        for raw in text.splitlines():
            step = raw.strip()
            if not step or step.startswith("#"):
                continue
            op, arg = step[:2], step[3:] if len(step) > 3 else ""
            if op == "->":
                self.cmd(arg)
            elif op == "=>":
                self.send(codecs.escape_decode(arg.encode())[0])
            elif op == "<-":
                self.expect(arg)
            elif op == "<~":
                self.expect_code(arg)
            elif op == "<<":
                self.expect_close()
            else:
                fail("bad dialog step %r" % raw)
