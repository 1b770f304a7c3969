"""test_local_lib.py — helpers shared by the posthorn-local / posthorn-spawn
end-to-end tests (tests/e2e/test_local_*; this file is not executable, so
run-all does not run it).

build_driver() compiles tests/e2e/test_local_driver.c (a stand-in
scheduler) against build/common/lib.a; Conf writes a private
configuration directory; agent() runs posthorn-local on one job through
the driver and returns the parsed results.
"""
import os
import pwd
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.path.join(ROOT, "bin")
DRIVER = os.path.join(ROOT, "build", "e2e", "local-driver")
DOMAIN = "posthorn.test"

failures = []


def skip(reason):
    sys.stderr.write(reason + "\n")
    sys.exit(77)


def check(cond, what):
    if not cond:
        failures.append(what)
        sys.stderr.write("FAIL: %s\n" % what)
    else:
        sys.stderr.write("ok: %s\n" % what.split("\n")[0][:200])


def finish():
    if failures:
        sys.stderr.write("%d check(s) failed\n" % len(failures))
        sys.exit(1)
    sys.exit(0)


def require(*progs):
    miss = [p for p in progs if not os.access(os.path.join(BIN, p), os.X_OK)]
    if miss:
        skip("not built yet: " + ", ".join("bin/" + p for p in miss))


def build_driver():
    lib = os.path.join(ROOT, "build", "common", "lib.a")
    src = os.path.join(HERE, "test_local_driver.c")
    if not os.path.exists(lib):
        skip("build/common/lib.a not built yet (run make)")
    if (os.path.exists(DRIVER) and
            os.path.getmtime(DRIVER) > max(os.path.getmtime(src),
                                           os.path.getmtime(lib))):
        return DRIVER
    os.makedirs(os.path.dirname(DRIVER), exist_ok=True)
    pk = subprocess.run(["pkg-config", "--cflags", "--libs", "libsystemd",
                         "openssl"], stdout=subprocess.PIPE, text=True,
                        check=True).stdout.split()
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-std=c17", "-D_GNU_SOURCE", "-O1", "-I", ROOT,
                    src, lib, "-o", DRIVER + ".tmp"] + pk +
                   ["-lcrypt", "-lresolv"], check=True)
    os.rename(DRIVER + ".tmp", DRIVER)
    return DRIVER


def parse(out):
    """Driver output -> list of (index, status, dsn, text), plus flags."""
    res, done, code = [], False, None
    for line in out.splitlines():
        if line.startswith("R "):
            parts = line.split(" ", 4)
            res.append((int(parts[1]), parts[2], parts[3],
                        parts[4] if len(parts) > 4 else ""))
        elif line == "Z":
            done = True
        elif line.startswith("exit "):
            code = int(line[5:])
    return res, done, code


class Conf:
    """A scratch configuration directory (removed by cleanup())."""

    def __init__(self, owner=None):
        self.dir = tempfile.mkdtemp(prefix="posthorn-local-e2e.")
        os.chmod(self.dir, 0o755)
        self.owner = owner      # pwd entry the deliveries run as, or None
        self.keys = {
            "hostname": "mx." + DOMAIN,
            "local_domains": DOMAIN,
            "spool": self.path("spool"),
            "queue_socket": self.path("queue.sock"),
            "mail_spool_dir": self.path("mail"),
            "lock_timeout": "3s",
            "local_program_timeout": "5s",
        }
        os.mkdir(self.path("mail"))
        self.give(self.path("mail"))

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def give(self, p):
        if self.owner is not None:
            os.chown(p, self.owner.pw_uid, self.owner.pw_gid)

    def write(self, name, text, mode=0o644):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    def save(self):
        self.write("posthorn.conf", "".join(
            "%s = %s\n" % kv for kv in self.keys.items()))

    def message(self, data, name="msg"):
        p = self.path(name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def agent_cmd(conf, as_user=None):
    cmd = [os.path.join(BIN, "posthorn-local"), "-C", conf.dir]
    if as_user is not None:
        cmd = ["/usr/bin/setpriv", "--reuid=%d" % as_user.pw_uid,
               "--regid=%d" % as_user.pw_gid, "--clear-groups", "--"] + cmd
    return cmd


def agent(conf, msgfile, sender, rcpts, as_user=None, timeout=60):
    """Run one job through posthorn-local; returns (results, done, exit,
    stderr)."""
    p = subprocess.run([DRIVER, "agent", msgfile, sender] + list(rcpts) +
                       ["--"] + agent_cmd(conf, as_user),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout)
    res, done, code = parse(p.stdout)
    return res, done, code, p.stderr


def test_user(name):
    """Create a system user (root only); returns its pwd entry."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                    "/usr/sbin/nologin", name], check=True)
    return pwd.getpwnam(name)


def remove_user(name):
    subprocess.run(["userdel", name], stderr=subprocess.DEVNULL)
