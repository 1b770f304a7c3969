"""test_remote_lib.py — helpers for posthorn-remote's end-to-end tests
(imported by tests/e2e/test_remote_*; not a test itself, not executable).

- build_driver(): compiles test_remote_driver.c (a stand-in scheduler that
  speaks the agent protocol through common/agent.c) into build/e2e/.
- Tmp: a scratch directory (mode 0755 so the unprivileged agent can read
  its configuration), removed at the end.
- Unbound: Debian's unbound on 127.0.0.1 at a free port with local-data
  lines, started and stopped by PID.
- Peer: a scripted SMTP/LMTP server in threads, listening on one or more
  loopback addresses that share one port (so one remote_port reaches every
  "MX host"), recording every command and the exact DATA bytes.
- make_ca()/make_leaf(): a test CA and certificates it signs (SANs).
- PolicyServer: an HTTPS server (http.server + ssl, in a thread) serving
  MTA-STS policies by Host header; port 443 on a dedicated loopback
  address, so only as root.
- run(): writes the job file, runs the driver with bin/posthorn-remote
  (as user nobody through setpriv when we are root) and parses results.

Every server started here is stopped in stop_all(), called by finish()
and at interpreter exit.
"""

import atexit
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BIN = os.path.join(ROOT, "bin")
DRIVER = os.path.join(ROOT, "build", "e2e", "remote-driver")
# the program under test (overridable to test another build of it)
REMOTE = os.environ.get("POSTHORN_REMOTE_BIN",
                        os.path.join(BIN, "posthorn-remote"))

_stoppers = []
failures = []


def stop_all():
    while _stoppers:
        f = _stoppers.pop()
        try:
            f()
        except Exception as e:  # keep stopping the rest
            sys.stderr.write("cleanup: %r\n" % (e,))


atexit.register(stop_all)
signal.signal(signal.SIGTERM, lambda *a: (stop_all(), os._exit(1)))


def skip(reason):
    stop_all()
    sys.stderr.write(reason + "\n")
    sys.stderr.flush()
    os._exit(77)


def check(cond, what):
    if cond:
        print("ok   " + what)
    else:
        print("FAIL " + what)
        failures.append(what)
    sys.stdout.flush()


def eq(got, want, what):
    check(got == want, "%s (got %r, want %r)" % (what, got, want)
          if got != want else what)


def finish():
    stop_all()
    if failures:
        sys.stderr.write("%d check(s) failed\n" % len(failures))
        sys.exit(1)
    sys.exit(0)


def require_remote():
    if not os.access(REMOTE, os.X_OK):
        skip("not built yet: " + REMOTE)


def build_driver():
    lib = os.path.join(ROOT, "build", "common", "lib.a")
    src = os.path.join(HERE, "test_remote_driver.c")
    if not os.path.exists(lib):
        skip("build/common/lib.a not built yet (run make)")
    if (os.path.exists(DRIVER) and os.path.getmtime(DRIVER) >
            max(os.path.getmtime(src), os.path.getmtime(lib))):
        return DRIVER
    os.makedirs(os.path.dirname(DRIVER), exist_ok=True)
    pk = subprocess.run(["pkg-config", "--cflags", "--libs", "libsystemd",
                         "openssl"], stdout=subprocess.PIPE, text=True,
                        check=True).stdout.split()
    tmp = DRIVER + ".%d" % os.getpid()
    subprocess.run([os.environ.get("CC", "cc"), "-std=c17", "-D_GNU_SOURCE",
                    "-O1", "-I", ROOT, src, lib, "-o", tmp] + pk +
                   ["-lcrypt", "-lresolv"], check=True)
    os.rename(tmp, DRIVER)
    return DRIVER


class Tmp:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="posthorn-remote-")
        os.chmod(self.dir, 0o755)
        _stoppers.append(self.cleanup)

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def write(self, name, data, mode=0o644):
        p = self.path(name)
        with open(p, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
        os.chmod(p, mode)
        return p

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def free_port(host="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- DNS ------------------------------------------------------------------

class Unbound:
    """unbound on 127.0.0.1:PORT serving local-data; stopped by PID."""

    def __init__(self, tmp, lines, v6=False):
        self.v6 = v6
        if shutil.which("unbound") is None and not os.path.exists(
                "/usr/sbin/unbound"):
            skip("unbound is not installed (tools/deps)")
        self.proc = None
        for attempt in range(5):
            self.port = free_port()
            conf = tmp.write("unbound.conf", self._conf(tmp, lines))
            self.log = open(tmp.path("unbound.out"), "ab")
            self.proc = subprocess.Popen(
                ["/usr/sbin/unbound", "-d", "-c", conf],
                stdout=self.log, stderr=self.log)
            _stoppers.append(self.stop)
            if self._wait_ready():
                return
            self.stop()
        raise AssertionError("unbound did not start; see unbound.out")

    def _conf(self, tmp, lines):
        out = ["server:",
               "  interface: 127.0.0.1@%d" % self.port,
               "  port: %d" % self.port,
               "  do-ip6: %s" % ("yes" if self.v6 else "no"),
               "  do-not-query-localhost: no",
               "  chroot: \"\"",
               "  username: \"\"",
               "  directory: \"%s\"" % tmp.dir,
               "  pidfile: \"%s\"" % tmp.path("unbound.pid"),
               "  use-syslog: no",
               "  logfile: \"\"",
               "  verbosity: 0",
               "  do-daemonize: no",
               "  access-control: 127.0.0.0/8 allow",
               "  access-control: ::1/128 allow"] + (
              ["  interface: ::1@%d" % self.port] if self.v6 else []) + [
               "  module-config: \"iterator\"",
               "  harden-referral-path: no",
               "  qname-minimisation: no",
               # answers in the order given: a test of the order
               # posthorn-remote sorts must not pass by chance
               "  rrset-roundrobin: no",
               "  infra-host-ttl: 1",
               "  local-zone: \"example.test.\" static",
               "  local-zone: \"servfail.test.\" transparent",
               "forward-zone:",
               "  name: \"servfail.test.\"",
               "  forward-addr: 127.0.0.1@9",
               "server:"]
        for l in lines:
            out.append("  local-data: \"%s\"" % l)
        return "\n".join(out) + "\n"

    def _wait_ready(self):
        q = (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
             b"\x07example\x04test\x00\x00\x06\x00\x01")
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(0.2)
            try:
                s.sendto(q, ("127.0.0.1", self.port))
                if s.recv(512)[:2] == b"\x12\x34":
                    return True
            except OSError:
                time.sleep(0.1)
            finally:
                s.close()
        return False

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class FakeDNS:
    """A minimal UDP DNS server on 127.0.0.1 standing in for a validating
    resolver: answers from records {name: [(type, rdata)]} and sets the
    AD bit for names in secure.  Unknown names get NXDOMAIN.  A name with
    a CNAME record (rr_cname) is an alias: a query of another type gets
    the CNAME chain and the records at its end, with the AD bit only when
    every name in the chain is secure (as a validating resolver does).
    sequence[(name, qtype)] = [(records, secure), ...] answers that
    question with one entry per query instead, the last one sticking
    (records: [(type, rdata)], or None for NXDOMAIN): DNS that changes
    between two jobs of one agent."""

    def __init__(self, records, secure=()):
        self.records = {k.lower().rstrip("."): v for k, v in records.items()}
        self.secure = {n.lower().rstrip(".") for n in secure}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries = []
        self.sequence = {}
        self.lock = threading.Lock()
        self.stopping = False
        threading.Thread(target=self._run, daemon=True).start()
        _stoppers.append(self.stop)

    def stop(self):
        self.stopping = True
        self.sock.close()

    def _run(self):
        while not self.stopping:
            try:
                q, addr = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                self.sock.sendto(self._answer(q), addr)
            except (OSError, IndexError, ValueError):
                pass

    def _answer(self, q):
        i, labels = 12, []
        while q[i] != 0:
            labels.append(q[i + 1:i + 1 + q[i]].decode("latin-1"))
            i += 1 + q[i]
        qtype = int.from_bytes(q[i + 1:i + 3], "big")
        qend = i + 5
        name = ".".join(labels).lower()
        self.queries.append((name, qtype))
        # (owner, type, rdata): the CNAME chain, then the records
        answer, cur, secure = [], name, name in self.secure
        with self.lock:
            seq = self.sequence.get((name, qtype))
            if seq:
                rrs, secure = seq.pop(0) if len(seq) > 1 else seq[0]
        if seq:
            exists = rrs is not None
            answer = [(name, qtype, rd) for t, rd in rrs or [] if t == qtype]
        else:
            for _ in range(16):
                cn = [rd for t, rd in self.records.get(cur, []) if t == 5]
                if qtype == 5 or not cn:
                    break
                answer.append((cur, 5, cn[0]))
                cur = wire_name(cn[0])
                secure = secure and cur in self.secure
            answer += [(cur, qtype, rd) for t, rd in
                       self.records.get(cur, []) if t == qtype]
            exists = cur in self.records
        flags = 0x8180 | (q[2] & 0x01) << 8
        if secure:
            flags |= 0x0020
        if not exists:
            flags |= 3
        out = q[:2] + flags.to_bytes(2, "big") + b"\x00\x01" + \
            len(answer).to_bytes(2, "big") + b"\x00\x00\x00\x00" + \
            q[12:qend]
        for owner, t, rd in answer:
            out += (b"\xc0\x0c" if owner == name else dns_name(owner)) + \
                t.to_bytes(2, "big") + b"\x00\x01" + \
                (300).to_bytes(4, "big") + len(rd).to_bytes(2, "big") + rd
        return out


def dns_name(n):
    return b"".join(bytes([len(l)]) + l.encode() for l in
                    n.rstrip(".").split(".")) + b"\x00"


def wire_name(b):
    """The (lower-case) name an uncompressed wire-format name spells."""
    labels, i = [], 0
    while b[i] != 0:
        labels.append(b[i + 1:i + 1 + b[i]].decode("latin-1"))
        i += 1 + b[i]
    return ".".join(labels).lower()


def rr_cname(target):
    return (5, dns_name(target))


def rr_mx(pref, host):
    return (15, pref.to_bytes(2, "big") + dns_name(host))


def rr_a(ip):
    return (1, bytes(int(x) for x in ip.split(".")))


def rr_txt(text):
    b = text.encode()
    return (16, b"".join(bytes([len(b[i:i + 255])]) + b[i:i + 255]
                         for i in range(0, len(b), 255)))


def rr_tlsa(usage, selector, mtype, data):
    return (52, bytes([usage, selector, mtype]) + data)


def cert_sha256(crt):
    """SHA-256 of the whole certificate (TLSA 2 0 1 / 3 0 1)."""
    import hashlib
    der = subprocess.run(["openssl", "x509", "-in", crt, "-outform", "DER"],
                         stdout=subprocess.PIPE, check=True).stdout
    return hashlib.sha256(der).digest()


def spki_sha256(crt):
    """SHA-256 of the certificate's SubjectPublicKeyInfo (TLSA 3 1 1)."""
    import hashlib
    pub = subprocess.run(["openssl", "x509", "-in", crt, "-noout",
                          "-pubkey"], stdout=subprocess.PIPE,
                         check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"],
                         input=pub, stdout=subprocess.PIPE,
                         check=True).stdout
    return hashlib.sha256(der).digest()


# ---- the scripted SMTP/LMTP peer ----------------------------------------

def make_cert(tmp):
    key, crt = tmp.path("peer.key"), tmp.path("peer.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-subj", "/CN=localhost", "-keyout", key,
                    "-out", crt, "-days", "2"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return crt, key


def make_ca(tmp):
    key, crt = tmp.path("ca.key"), tmp.path("ca.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-subj", "/CN=posthorn test CA", "-keyout",
                    key, "-out", crt, "-days", "2", "-addext",
                    "basicConstraints=critical,CA:TRUE", "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.chmod(crt, 0o644)
    return crt, key


def make_leaf(tmp, ca, name, dns_names):
    """A certificate for dns_names signed by ca; returns (crt, key)."""
    key, csr = tmp.path(name + ".key"), tmp.path(name + ".csr")
    crt, ext = tmp.path(name + ".crt"), tmp.path(name + ".ext")
    tmp.write(name + ".ext", "subjectAltName=" + ",".join(
        "DNS:" + n for n in dns_names) + "\n")
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes",
                    "-subj", "/CN=" + dns_names[0], "-keyout", key, "-out",
                    csr], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca[0],
                    "-CAkey", ca[1], "-CAcreateserial", "-out", crt, "-days",
                    "2", "-extfile", ext], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return crt, key


class PolicyServer:
    """HTTPS on ip:443 serving /.well-known/mta-sts.txt for each domain
    in policies ({domain: text}, or {domain: (status, headers, body)});
    requests are recorded in self.requests as (host, path).  tls_max and
    ciphers restrict what it negotiates, as for Peer."""

    def __init__(self, ip, cert, policies, tls_max=None, ciphers=None):
        import http.server
        self.policies = policies
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                host = (self.headers.get("Host") or "").lower()
                outer.requests.append((host, self.path))
                dom = host[8:] if host.startswith("mta-sts.") else ""
                p = outer.policies.get(dom)
                if self.path != "/.well-known/mta-sts.txt" or p is None:
                    p = (404, {"Content-Type": "text/plain"}, "no\n")
                elif isinstance(p, str):
                    p = (200, {"Content-Type": "text/plain"}, p)
                status, headers, body = p
                body = body.encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer((ip, 443), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*cert)
        if ciphers is not None:
            ctx.set_ciphers(ciphers)
        if tls_max is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ctx.minimum_version = ssl.TLSVersion.TLSv1
                ctx.maximum_version = tls_max
        self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        self.thread = threading.Thread(target=self.srv.serve_forever,
                                       daemon=True)
        self.thread.start()
        _stoppers.append(self.stop)

    def stop(self):
        if self.srv is not None:
            self.srv.shutdown()
            self.srv.server_close()
            self.thread.join(5)
        self.srv = None


class Session:
    def __init__(self, local, remote):
        self.local = local
        self.remote = remote
        self.cmds = []
        self.early = []     # commands that arrived with more input behind
                            # them, before their reply (pipelined)
        self.data = []      # one bytes object per DATA, as received
        self.tls = False
        self.sni = None     # the server name the client sent in TLS
        self.closed = False


class Conn:
    """Line I/O over a plain or TLS socket with a byte buffer."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError
        self.buf += d

    def line(self):
        while b"\n" not in self.buf:
            self.fill()
        i = self.buf.index(b"\n")
        l, self.buf = self.buf[:i + 1], self.buf[i + 1:]
        return l

    def data(self):
        """Bytes up to and including the CRLF.CRLF that ends DATA."""
        out = b""
        while True:
            l = self.line()
            out += l
            if l == b".\r\n":
                return out

    def send(self, b):
        self.sock.sendall(b)


def _wire(reply):
    if isinstance(reply, bytes):
        return reply
    return ("\r\n".join(reply.split("\n")) + "\r\n").encode()


class Peer:
    """A scripted SMTP (or LMTP) server.

    replies: keys "greeting", "EHLO", "HELO", "LHLO", "MAIL", "RCPT",
    "RCPT:addr", "DATA", "END", "END:addr" (LMTP), "RSET", "STARTTLS",
    "QUIT"; values are a reply ("250 ok", lines joined with "\\n"), raw
    bytes sent as they are, None (close the connection), "hang" (stop
    answering) or a list of those (one per use, the last one sticks); a key "HOST:ip:" prefix restricts it to one listening
    address.  ext: the EHLO keywords.  after_starttls: bytes sent right
    after the STARTTLS 220.  cert: (crt, key) to offer STARTTLS; with
    tls_fail the "handshake" is answered with garbage; tls_max (an
    ssl.TLSVersion) and ciphers (an OpenSSL cipher list) restrict what it
    negotiates.  Each session records the SNI name the client sent.
    """

    def __init__(self, ips=("127.0.0.1",), port=0, ext=None, replies=None,
                 cert=None, lmtp=False, after_starttls=b"", tls_fail=False,
                 name="peer.test", unix=None, tls_max=None, ciphers=None):
        self.ext = ext if ext is not None else [
            "PIPELINING", "SIZE 10485760", "8BITMIME", "ENHANCEDSTATUSCODES",
            "DSN", "SMTPUTF8"]
        self.replies = dict(replies or {})
        self.cert = cert
        self.lmtp = lmtp
        self.after_starttls = after_starttls
        self.tls_fail = tls_fail
        self.tls_max = tls_max
        self.ciphers = ciphers
        self.name = name
        self.sessions = []
        self.lock = threading.Lock()
        self.socks = []
        self.stopping = False
        if unix is not None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(unix)
            os.chmod(unix, 0o777)
            s.listen(16)
            self.socks.append(s)
            ips = ()
        for ip in ips:
            fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((ip, port))
            port = s.getsockname()[1]
            s.listen(16)
            self.socks.append(s)
        self.port = port
        self.threads = []
        for s in self.socks:
            t = threading.Thread(target=self._accept, args=(s,), daemon=True)
            t.start()
            self.threads.append(t)
        _stoppers.append(self.stop)

    def stop(self):
        self.stopping = True
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self.socks = []

    def _accept(self, ls):
        while not self.stopping:
            try:
                c, addr = ls.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c, addr),
                             daemon=True).start()

    def has(self, key, local):
        """Is there a reply for key (without using up a list's entry)?"""
        return any(k in self.replies for k in ("HOST:%s:%s" % (local, key),
                                                key))

    def reply(self, key, local):
        for k in ("HOST:%s:%s" % (local, key), key):
            if k in self.replies:
                v = self.replies[k]
                if isinstance(v, list):     # one per use, the last sticks
                    with self.lock:
                        v = v.pop(0) if len(v) > 1 else v[0]
                return True, v
        return False, None

    def _say(self, conn, sess, key, default):
        found, r = self.reply(key, sess.local)
        if not found:
            r = default
        if r is None:
            raise EOFError
        if r == "hang":
            time.sleep(3600)
        conn.send(_wire(r))
        return r if isinstance(r, str) else r.decode("latin-1")

    def _ehlo(self, sess):
        lines = [self.name] + list(self.ext)
        if self.cert is not None and not sess.tls:
            lines.append("STARTTLS")
        return "\n".join(("250-" if i < len(lines) - 1 else "250 ") + l
                         for i, l in enumerate(lines))

    def _serve(self, sock, addr):
        sock.settimeout(120)
        local = sock.getsockname()
        sess = Session(local if isinstance(local, str) else local[0], addr)
        with self.lock:
            self.sessions.append(sess)
        conn = Conn(sock)
        rcpts = []
        try:
            self._say(conn, sess, "greeting", "220 %s ESMTP test peer"
                      % self.name)
            while True:
                raw = conn.line()
                line = raw.rstrip(b"\r\n").decode("latin-1")
                sess.cmds.append(line)
                if conn.buf:
                    sess.early.append(line)
                verb = line.split(" ", 1)[0].split(":", 1)[0].upper()
                if verb in ("EHLO", "LHLO"):
                    self._say(conn, sess, verb, self._ehlo(sess))
                elif verb == "HELO":
                    self._say(conn, sess, "HELO", "250 %s" % self.name)
                elif verb == "STARTTLS" and self.cert and not sess.tls:
                    found, r = self.reply("STARTTLS", sess.local)
                    r = r if found else "220 2.0.0 go"
                    if r is None:
                        raise EOFError
                    # the reply and any injected bytes in one segment
                    conn.send(_wire(r) + self.after_starttls)
                    if not r.startswith("220"):
                        continue
                    if self.tls_fail:
                        conn.send(b"this is not TLS\r\n" * 4)
                        raise EOFError
                    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                    ctx.load_cert_chain(*self.cert)
                    if self.ciphers is not None:
                        ctx.set_ciphers(self.ciphers)
                    if self.tls_max is not None:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            ctx.minimum_version = ssl.TLSVersion.TLSv1
                            ctx.maximum_version = self.tls_max

                    def sni(sobj, name, c, sess=sess):
                        sess.sni = name
                    ctx.sni_callback = sni
                    conn = Conn(ctx.wrap_socket(sock, server_side=True))
                    sess.tls = True
                elif verb == "MAIL":
                    rcpts = []
                    self._say(conn, sess, "MAIL", "250 2.1.0 ok")
                elif verb == "RCPT":
                    a = line[line.index("<") + 1:line.index(">")] \
                        if "<" in line and ">" in line else ""
                    found = self.has("RCPT:" + a, sess.local)
                    r = self._say(conn, sess, "RCPT:" + a if found else
                                  "RCPT", "250 2.1.5 ok")
                    if r.startswith("2"):
                        rcpts.append(a)
                elif verb == "DATA":
                    r = self._say(conn, sess, "DATA",
                                  "354 go" if rcpts else "554 5.5.1 no "
                                  "valid recipients")
                    if not r.startswith("354"):
                        continue
                    sess.data.append(conn.data())
                    if self.lmtp:
                        for a in rcpts:
                            found = self.has("END:" + a, sess.local)
                            self._say(conn, sess, "END:" + a if found
                                      else "END", "250 2.0.0 <%s> ok" % a)
                    else:
                        self._say(conn, sess, "END",
                                  "250 2.0.0 Ok: queued as T%d"
                                  % len(sess.data))
                elif verb == "RSET":
                    rcpts = []
                    self._say(conn, sess, "RSET", "250 2.0.0 ok")
                elif verb == "QUIT":
                    self._say(conn, sess, "QUIT", "221 2.0.0 bye")
                    break
                elif verb == "NOOP":
                    self._say(conn, sess, "NOOP", "250 2.0.0 ok")
                else:
                    self._say(conn, sess, verb, "502 5.5.1 unknown")
        except (EOFError, OSError, ssl.SSLError, ValueError):
            pass
        finally:
            sess.closed = True
            try:
                sock.close()
            except OSError:
                pass

    def all_sessions(self):
        with self.lock:
            return list(self.sessions)

    def wait_closed(self, n, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            s = self.all_sessions()
            if len(s) >= n and all(x.closed for x in s):
                return s
            time.sleep(0.02)
        return self.all_sessions()


def peers_on_one_port(specs, tries=10):
    """Start one Peer per kwargs dict in specs, all on the same port (the
    first one's ephemeral port); retried when a later bind collides."""
    for attempt in range(tries):
        started = []
        try:
            for kw in specs:
                port = started[0].port if started else 0
                started.append(Peer(port=port, **kw))
            return started
        except OSError:
            for p in started:
                p.stop()
    raise AssertionError("no common free port for the peers")


# ---- running the agent ----------------------------------------------------

def write_conf(tmp, port, dns_port=None, routes=None, extra=None):
    lines = ["hostname = client.posthorn.test",
             "remote_port = %d" % port,
             "remote_connect_timeout = 5s",
             "smtp_timeout = 10s"]
    if dns_port is not None:
        lines.append("dns_servers = 127.0.0.1:%d" % dns_port)
    lines.append("routes = %s" % tmp.path("routes"))
    tmp.write("routes", "".join("%s %s\n" % r for r in (routes or [])))
    extra = extra or []
    keys = {e.split("=")[0].strip() for e in extra}
    lines = [l for l in lines if l.split("=")[0].strip() not in keys]
    lines += extra
    tmp.write("posthorn.conf", "\n".join(lines) + "\n")
    return tmp.dir


class Result:
    def __init__(self, out, err):
        self.out = out
        self.log = err
        self.jobs = []
        self.exit = None
        for line in out.splitlines():
            if line.startswith("J "):
                self.jobs.append([])
            elif line.startswith("R "):
                p = line.split(" ", 5)
                self.jobs[-1].append({"index": int(p[1]), "status": p[2],
                                      "dsn": p[3], "relay": p[4],
                                      "text": p[5] if len(p) > 5 else ""})
            elif line.startswith("exit "):
                self.exit = int(line[5:])

    def one(self, job=0):
        return {r["index"]: r for r in self.jobs[job]}

    def logs(self, event):
        return [l for l in self.log.splitlines() if "event=%s " % event in
                l + " "]


def unprivileged():
    """Command prefix running the agent as nobody when we are root."""
    if os.getuid() != 0:
        return []
    nobody = pwd.getpwnam("nobody")
    return [shutil.which("setpriv") or "/usr/bin/setpriv",
            "--reuid=%d" % nobody.pw_uid,
            "--regid=%d" % nobody.pw_gid, "--clear-groups", "--"]


def run(tmp, conf, jobs, prefix=None, timeout=120, env=None):
    """jobs: list of dicts {domain, msg (bytes), sender, rcpts: [str or
    "addr NOTIFY=..."], opts: [..], sleep: n}."""
    lines = []
    for i, j in enumerate(jobs):
        m = tmp.write("msg%d" % i, j["msg"])
        if j.get("sleep"):
            lines.append("sleep %d" % j["sleep"])
        lines.append("job %s %s" % (j["domain"], m))
        lines.append("from %s" % (j.get("sender") or "<>"))
        for r in j["rcpts"]:
            lines.append("rcpt %s" % r)
        for o in j.get("opts", []):
            lines.append("opt %s" % o)
    jf = tmp.write("jobs", "\n".join(lines) + "\n")
    cmd = [build_driver(), jf, "--"] + (prefix if prefix is not None else
                                        unprivileged()) + \
        [REMOTE, "-C", conf]
    e = dict(os.environ)
    e.pop("JOURNAL_STREAM", None)
    e.update(env or {})
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, env=e)
    r = Result(p.stdout.decode("latin-1"), p.stderr.decode("latin-1"))
    sys.stdout.write(r.out)
    sys.stdout.write(r.log)
    return r


MSG = (b"From: a@client.test\nTo: b@example.test\nSubject: test\n\n"
       b"line 1\n.leading dot\n..two dots\n.\nlast line\n")
MSG_WIRE = (b"From: a@client.test\r\nTo: b@example.test\r\nSubject: test"
            b"\r\n\r\nline 1\r\n..leading dot\r\n...two dots\r\n..\r\n"
            b"last line\r\n.\r\n")
