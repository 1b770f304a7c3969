/*
 * posthorn-spawn — the local-delivery spawner: the only posthorn code that
 * changes uid.
 *
 *   posthorn-spawn [-C DIR] [-u USER] [-- /path/posthorn-send [args...]]
 *
 * Without a command it runs posthorn-send from its own directory with
 * "-C DIR" (that is how posthorn-run starts it).
 * Started as root by posthorn-send.service (holding only CAP_SETUID and
 * CAP_SETGID: CapabilityBoundingSet=CAP_SETUID CAP_SETGID), or as the
 * calling user by posthorn-run.  Started as root any other way, it drops
 * every other capability itself (but CAP_KILL, to pass SIGTERM on) once
 * the scheduler runs.  It
 *
 *   1. makes a socketpair and starts the scheduler (the command after
 *      "--") as USER (default posthorn-queue; if that user does not exist
 *      and -u was not given, or -u root is given, the scheduler keeps our
 *      ids, as posthorn-run run by root expects) with its end named by
 *      POSTHORN_SPAWN_FD;
 *   2. reads requests "S rcpt" + a descriptor (queue/PROTOCOL.md section
 *      4, spawn_request_read) — the descriptor is the control socket of a
 *      delivery agent, the job already written into it by the scheduler;
 *   3. for each, resolves rcpt (local_resolve; local_resolve_mailbox,
 *      without the aliases, for a request marked "own mailbox") to a uid:
 *        system user              → its uid, gid, supplementary groups
 *        virtual mailbox          → the mailbox owner's uid/gid
 *        alias, unknown, uid 0 or
 *        a service account        → alias_user (default "nobody")
 *      and starts posthorn-local under it with the descriptor on fd 3,
 *      /dev/null on 0 and 1, a clean environment that names rcpt
 *      (SPAWN_RCPT_ENV: posthorn-local delivers to no other recipient,
 *      so a job cannot borrow the uid chosen for somebody else);
 *   4. relays the scheduler's READY=1, WATCHDOG=1, STATUS= ... to
 *      NOTIFY_SOCKET (queue/notify.h): the unit allows notifications from
 *      its main process, us, only;
 *   5. passes SIGTERM, SIGINT and SIGHUP on to the scheduler (SIGHUP:
 *      it rereads its configuration; systemctl reload signals us);
 *   6. exits when the scheduler exits, with its exit status.
 *
 * Every child (the scheduler, each agent) runs in a session of its own
 * with /dev/null as stdin and never a terminal on any descriptor, so
 * that started from a root shell no child can reach the shell
 * (child_stdio).  A recipient that resolves to a posthorn service
 * account (local_service_account) is treated like root.
 *
 * At most 2 * local_concurrency + 8 local agents and 2 *
 * remote_concurrency + 8 remote agents run at once (max_agents); a
 * request beyond that is refused (a temporary failure).
 *
 * It never reads message bytes (it never has the message descriptor: the
 * job was written into the control socket before it was handed over) and
 * never runs anything as uid 0: a recipient that resolves to root runs
 * posthorn-local as alias_user, which then refuses with 5.7.1 unless an
 * alias sends the mail elsewhere.  After changing ids the child checks
 * real and effective ids before exec.  When not started as root it
 * changes no ids at all (posthorn-run as an ordinary user).  If fork
 * fails the descriptor is just closed: the scheduler sees EOF without a
 * result, a temporary failure.
 *
 * Trust: requests come from the scheduler (less privileged than us): the
 * recipient is re-validated by spawn_request_read and only ever used as a
 * lookup key.  The tables are reloaded for every request, so alias and
 * mailbox changes apply without a restart.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "common/agent.h"
#include "common/config.h"
#include "common/io.h"
#include "common/localuser.h"
#include "common/log.h"
#include "queue/notify.h"

#define DEFAULT_USER	"posthorn-queue"
#define REMOTE_USER	"posthorn-remote"

/* The ids a child will run as. */
struct ids {
	uid_t uid;
	gid_t gid;
	char name[256];		/* for initgroups; "" = no passwd entry */
	bool nogroups;		/* no supplementary groups at all */
};

/* A delivery agent we started and have not reaped yet: only these may
 * be killed on request (a zombie keeps its pid, so the pid cannot have
 * been reused before we reap it). */
struct child {
	pid_t pid;
	uint64_t id;		/* the scheduler's name for it */
	char kind;		/* SPAWN_LOCAL or SPAWN_REMOTE */
};

struct children {
	struct child *v;
	size_t n, cap;		/* cap = max_agents() */
};

static volatile sig_atomic_t got_term, got_hup;

static void
on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

/* SIGHUP (systemctl reload: ExecReload= signals the main process, us) is
 * for the scheduler, which rereads its configuration; its default action
 * would end us, and with us the unit. */
static void
on_hup(int sig)
{
	(void)sig;
	got_hup = 1;
}

/* SIGCHLD only interrupts ppoll() (see serve); reaping is done there. */
static void
on_chld(int sig)
{
	(void)sig;
}

static int
ids_of_user(const char *user, struct ids *id)
{
	struct passwd *pw = getpwnam(user);

	if (pw == NULL || pw->pw_uid == 0)
		return -1;
	id->uid = pw->pw_uid;
	id->gid = pw->pw_gid;
	snprintf(id->name, sizeof(id->name), "%s", pw->pw_name);
	return 0;
}

/*
 * In the child, as root: become id for good, then check it.  Any failure
 * ends the child before it runs anything.
 */
/* In a child: say why it cannot go on (stderr is the scheduler's log,
 * so the administrator sees more than "agent ended without result"). */
static void child_fail(const char *what, const char *path,
    const struct ids *id) __attribute__((noreturn));

static void
child_fail(const char *what, const char *path, const struct ids *id)
{
	char uid[32];

	snprintf(uid, sizeof(uid), "%lu", (unsigned long)id->uid);
	log_msg(LOG_ERR, "spawn_failed", "step", what, "path", path,
	    "uid", uid, "reason", strerror(errno), NULL);
	_exit(111);
}

/*
 * In a child (the scheduler, an agent), before it runs anything: a
 * session of its own, so that it has no controlling terminal (started
 * from a root shell, a child running as another user could otherwise
 * open /dev/tty and push input into the shell with TIOCSTI); stdin from
 * /dev/null; and /dev/null instead of a terminal on fd 1 or 2, since
 * any descriptor of a terminal lets its holder read what is typed there
 * (main() warns that those log lines are lost; posthorn-run and systemd
 * never give us a terminal).
 */
static void
child_stdio(const struct ids *id)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (setsid() == -1)
		child_fail("setsid", "", id);
	if (null == -1 || dup2(null, 0) != 0 ||
	    (isatty(1) == 1 && dup2(null, 1) != 1) ||
	    (isatty(2) == 1 && dup2(null, 2) != 2))
		child_fail("stdio", "/dev/null", id);
	if (null > 2)
		close(null);
}

static void
become(const struct ids *id)
{
	if (id->uid == 0)
		return;		/* the scheduler keeps root (see above) */
	if (id->nogroups) {
		if (setgroups(0, NULL) != 0)
			child_fail("setgroups", "", id);
	} else if (id->name[0] != '\0') {
		if (initgroups(id->name, id->gid) != 0)
			child_fail("initgroups", id->name, id);
	} else if (setgroups(1, &id->gid) != 0)
		child_fail("setgroups", "", id);
	if (setgid(id->gid) != 0 || setuid(id->uid) != 0)
		child_fail("setuid", "", id);
	if (getuid() != id->uid || geteuid() != id->uid ||
	    getgid() != id->gid || getegid() != id->gid || geteuid() == 0 ||
	    setuid(0) == 0 || (id->nogroups && getgroups(0, NULL) != 0)) {
		errno = EPERM;
		child_fail("check ids", "", id);
	}
}

/*
 * As root, after the scheduler has started: keep only CAP_SETUID and
 * CAP_SETGID (what systemd's CapabilityBoundingSet= gives the unit; this
 * does the same under posthorn-run or a plain root shell), plus CAP_KILL
 * if we still have it, so that SIGTERM can be passed on to a scheduler
 * running as another user.  Dropping from the bounding set needs
 * CAP_SETPCAP and is best effort; reducing the permitted and effective
 * sets always works and is required.
 */
static void
drop_caps(void)
{
	struct __user_cap_header_struct hdr;
	struct __user_cap_data_struct data[2];
	const uint32_t keep = (1u << CAP_SETUID) | (1u << CAP_SETGID) |
	    (1u << CAP_KILL);
	int cap;

	for (cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (cap != CAP_SETUID && cap != CAP_SETGID && cap != CAP_KILL)
			(void)prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
	memset(&hdr, 0, sizeof(hdr));
	memset(data, 0, sizeof(data));
	hdr.version = _LINUX_CAPABILITY_VERSION_3;
	if (syscall(SYS_capget, &hdr, data) != 0)
		die(71, "cannot read capabilities", strerror(errno));
	data[0].permitted &= keep;
	data[0].effective = data[0].permitted;
	data[0].inheritable = 0;
	memset(&data[1], 0, sizeof(data[1]));
	if (syscall(SYS_capset, &hdr, data) != 0)
		die(71, "cannot drop capabilities", strerror(errno));
}

/*
 * In the scheduler's child, before exec: its end of the notification
 * relay (see notify.h) instead of NOTIFY_SOCKET, and the watchdog, if it
 * is ours (WATCHDOG_PID unset or our pid), handed on to it.
 */
static void
child_notify(int relay, uint64_t watchdog)
{
	char num[32];

	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	if (relay < 0)
		return;
	snprintf(num, sizeof(num), "%d", relay);
	if (fcntl(relay, F_SETFD, 0) != 0 ||
	    setenv(NOTIFY_FD_ENV, num, 1) != 0)
		_exit(111);
	if (watchdog == 0)
		return;
	snprintf(num, sizeof(num), "%llu", (unsigned long long)watchdog);
	if (setenv("WATCHDOG_USEC", num, 1) != 0)
		_exit(111);
	snprintf(num, sizeof(num), "%ld", (long)getpid());
	if (setenv("WATCHDOG_PID", num, 1) != 0)
		_exit(111);
}

/* Start the scheduler with its end of the spawn socket (and, with
 * NOTIFY_SOCKET set, of the notification relay: *relayfd, else -1). */
static pid_t
start_send(char **argv, bool root, const struct ids *id, int *spawnfd,
    int *relayfd)
{
	int sv[2], nv[2] = { -1, -1 };
	uint64_t watchdog = 0;
	char num[16];
	sigset_t none;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		die(71, "socketpair", strerror(errno));
	if (getenv("NOTIFY_SOCKET") != NULL &&
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, nv) != 0)
		die(71, "socketpair", strerror(errno));
	if (sd_watchdog_enabled(0, &watchdog) <= 0)
		watchdog = 0;
	pid = fork();
	if (pid < 0)
		die(71, "fork", strerror(errno));
	if (pid == 0) {
		child_stdio(id);
		if (root)
			become(id);
		child_notify(nv[1], watchdog);
		if (fcntl(sv[1], F_SETFD, 0) != 0)
			_exit(111);
		snprintf(num, sizeof(num), "%d", sv[1]);
		if (setenv(SPAWN_FD_ENV, num, 1) != 0)
			_exit(111);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(argv[0], argv);
		child_fail("exec", argv[0], id);
	}
	close(sv[1]);
	*spawnfd = sv[0];
	if (nv[1] >= 0)
		close(nv[1]);
	*relayfd = nv[0];
	return pid;
}

/*
 * Which ids posthorn-local runs with for rcpt.  When the lookup itself
 * fails (a broken table, the password database down, a mailbox whose
 * owner we may not see) the agent still starts, as alias_user: it meets
 * the same failure and reports it to the scheduler as a temporary failure
 * with a diagnostic, instead of a bare "agent ended without result".
 */
static void
ids_for(const struct config *cfg, const char *rcpt, bool own_mailbox,
    const struct ids *alias, struct ids *id)
{
	const char *service;
	char u[32];

	struct local_tables t;
	struct local_target tg;
	struct buf err = BUF_INIT;
	struct passwd *pw;
	int rc;

	*id = *alias;
	if (local_tables_load(cfg, &t, &err) != 0) {
		log_msg(LOG_ERR, "lookup_failed", "to", rcpt, "reason",
		    buf_str(&err), NULL);
		buf_free(&err);
		return;
	}
	rc = own_mailbox ? local_resolve_mailbox(cfg, &t, rcpt, &tg, &err) :
	    local_resolve(cfg, &t, rcpt, &tg, &err);
	local_tables_free(&t);
	if (rc < 0)
		log_msg(LOG_ERR, "lookup_failed", "to", rcpt, "reason",
		    buf_str(&err), NULL);
	buf_free(&err);
	if (rc != 1 || tg.uid == 0 || tg.uid == (uid_t)-1 ||
	    (tg.kind != LOCAL_USER && tg.kind != LOCAL_MAILBOX))
		return;
	/* never an agent as a posthorn service account: it stays
	 * alias_user, and posthorn-local refuses the recipient (5.7.1) */
	if ((service = local_service_account(cfg, tg.uid)) != NULL) {
		snprintf(u, sizeof(u), "%lu", (unsigned long)tg.uid);
		log_msg(LOG_WARNING, "service_account", "to", rcpt, "uid", u,
		    "user", service, "detail", "a posthorn service account "
		    "gets no mail; the delivery runs as alias_user", NULL);
		return;
	}
	id->uid = tg.uid;
	id->gid = tg.gid;
	id->name[0] = '\0';
	if (tg.kind == LOCAL_USER)
		snprintf(id->name, sizeof(id->name), "%s", tg.user);
	else if ((pw = getpwuid(tg.uid)) != NULL && pw->pw_gid == tg.gid)
		snprintf(id->name, sizeof(id->name), "%s", pw->pw_name);
}

/* What the spawner knows at startup: programs, ids, limits. */
struct spawner {
	const struct config *cfg;
	const char *dir;
	char local[4096], remote[4096];
	bool root;
	struct ids aliasid;	/* alias deliveries (alias_user) */
	struct ids remoteid;	/* posthorn-remote */
	bool remote_ok;		/* remoteid is safe to use (see setup_ids) */
	pid_t send;
	int relay;		/* notification relay (notify.h), or -1 */
	struct children kids;
	struct buf out;		/* X frames not yet sent */
};

/* Fork one delivery agent with ctlfd as its fd 3; rcpt (posthorn-local)
 * and whether it is for rcpt's own mailbox go into its environment.
 * Returns its pid, or -1. */
static pid_t
spawn_agent(const struct spawner *sp, const char *prog, const char *name,
    const struct ids *id, const char *rcpt, bool own_mailbox, int ctlfd)
{
	char js[256], er[ADDR_MAX + 32], *envp[5], *argv[4];
	static char em[] = SPAWN_MAILBOX_ENV "=1";
	const char *jenv = getenv("JOURNAL_STREAM");
	int null, n = 0;
	pid_t pid;
	sigset_t none;

	pid = fork();
	if (pid != 0) {
		if (pid < 0)
			log_msg(LOG_ERR, "spawn_failed", "reason",
			    strerror(errno), NULL);
		return pid;
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	if (sp->root && id->uid == 0)
		_exit(111);	/* never: ids_for(), setup_ids() exclude 0 */
	child_stdio(id);
	if (sp->root)
		become(id);
	if (ctlfd != AGENT_FD && dup2(ctlfd, AGENT_FD) != AGENT_FD)
		_exit(111);
	if (fcntl(AGENT_FD, F_SETFD, 0) != 0)
		_exit(111);
	null = open("/dev/null", O_WRONLY);
	if (null < 0 || dup2(null, 1) != 1)
		_exit(111);
	close_range(AGENT_FD + 1, ~0U, 0);
	envp[n++] = (char *)"PATH=/usr/bin:/bin";
	if (rcpt != NULL) {
		snprintf(er, sizeof(er), "%s=%s", SPAWN_RCPT_ENV, rcpt);
		envp[n++] = er;
		if (own_mailbox)
			envp[n++] = em;
	}
	if (jenv != NULL && snprintf(js, sizeof(js), "JOURNAL_STREAM=%s",
	    jenv) < (int)sizeof(js))
		envp[n++] = js;
	envp[n] = NULL;
	argv[0] = (char *)name;
	argv[1] = (char *)"-C";
	argv[2] = (char *)sp->dir;
	argv[3] = NULL;
	execve(prog, argv, envp);
	child_fail("exec", prog, id);
}

/* Wait for the scheduler, passing on SIGTERM/SIGINT while we wait. */
static void
wait_send(pid_t send, int *status)
{
	sigset_t ts;

	sigemptyset(&ts);
	sigaddset(&ts, SIGTERM);
	sigaddset(&ts, SIGINT);
	sigprocmask(SIG_UNBLOCK, &ts, NULL);
	while (waitpid(send, status, 0) < 0) {
		if (errno != EINTR)
			return;
		if (got_term)
			kill(send, SIGTERM);
	}
}

static struct child *
child_find(struct children *k, uint64_t id)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		if (k->v[i].id == id)
			return &k->v[i];
	return NULL;
}

/* Queue an X frame for the scheduler.  The queue is bounded: every
 * agent is answered once and at most max_agents() run at once, and we
 * stop reading requests while it is long (serve). */
static void
answer(struct spawner *sp, uint64_t id, const char *how, unsigned code)
{
	if (spawn_exit_put(&sp->out, id, how, code) == -1)
		log_msg(LOG_ERR, "spawn_answer", "reason", "out of memory",
		    NULL);
}

/* Send what we can of the answers without blocking. */
static void
flush_answers(struct spawner *sp, int fd)
{
	ssize_t n;

	while (sp->out.len > 0) {
		n = send(fd, sp->out.data, sp->out.len,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;	/* EAGAIN: later; EPIPE: it is gone */
		buf_consume(&sp->out, (size_t)n);
	}
}

/* Reap children, answering for each agent; returns 1 when the scheduler
 * has exited (*status). */
static int
reap(struct spawner *sp, int *status)
{
	struct child *c;
	pid_t p;
	int st, done = 0;

	while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
		if (p == sp->send) {
			*status = st;
			done = 1;
			continue;
		}
		for (c = sp->kids.v; c < sp->kids.v + sp->kids.n; c++)
			if (c->pid == p)
				break;
		if (c == sp->kids.v + sp->kids.n)
			continue;
		if (WIFEXITED(st))
			answer(sp, c->id, "exit", (unsigned)WEXITSTATUS(st));
		else
			answer(sp, c->id, "signal", WIFSIGNALED(st) ?
			    (unsigned)WTERMSIG(st) : 0);
		*c = sp->kids.v[--sp->kids.n];
	}
	return done;
}

/*
 * At most this many agents of a kind at once: the scheduler runs
 * local_concurrency (remote_concurrency) of them, and a few more may
 * still be exiting.  A scheduler that asks for more (subverted, or
 * broken) must not make us fill other users' process limits or the pid
 * space; the extra requests are refused, which the scheduler sees as a
 * temporary failure.
 */
static size_t
max_agents(const struct config *cfg, char kind)
{
	uint64_t n = kind == SPAWN_LOCAL ? cfg->local_concurrency :
	    cfg->remote_concurrency;

	if (n == 0 || n > 10000)
		n = 10000;
	return (size_t)(2 * n + 8);
}

static size_t
count_kind(const struct children *k, char kind)
{
	size_t i, n = 0;

	for (i = 0; i < k->n; i++)
		n += k->v[i].kind == kind;
	return n;
}

static int
exit_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
}

static void
usage(void)
{
	die(64, "usage", "posthorn-spawn [-C DIR] [-u USER] [-- "
	    "/path/posthorn-send [args...]]");
}

/* One request.  -1: a protocol error (the scheduler is stopped). */
static int
handle(struct spawner *sp, struct spawn_req *rq)
{
	struct ids lid;
	struct child *c;
	char num[24];
	pid_t pid;

	snprintf(num, sizeof(num), "%llu", (unsigned long long)rq->id);
	if (rq->kind == SPAWN_KILL) {
		if ((c = child_find(&sp->kids, rq->id)) != NULL) {
			log_msg(LOG_WARNING, "kill", "agent", num, NULL);
			kill(c->pid, SIGKILL);
		}
		return 0;
	}
	if (child_find(&sp->kids, rq->id) != NULL) {
		close(rq->fd);
		log_msg(LOG_ERR, "protocol_error", "detail",
		    "agent id already in use", "agent", num, NULL);
		return -1;
	}
	if (count_kind(&sp->kids, rq->kind) >= max_agents(sp->cfg, rq->kind)) {
		log_msg(LOG_WARNING, "spawn_refused", "to", rq->kind ==
		    SPAWN_LOCAL ? rq->rcpt : "(remote)", "reason",
		    "too many delivery agents running", NULL);
		pid = -1;
	} else if (rq->kind == SPAWN_REMOTE && !sp->remote_ok) {
		log_msg(LOG_ERR, "spawn_refused", "agent", "posthorn-remote",
		    "reason", "no user to run it as (see the log at start)",
		    NULL);
		pid = -1;
	} else if (rq->kind == SPAWN_REMOTE)
		pid = spawn_agent(sp, sp->remote, "posthorn-remote",
		    &sp->remoteid, NULL, false, rq->fd);
	else {
		ids_for(sp->cfg, rq->rcpt, rq->own_mailbox, &sp->aliasid,
		    &lid);
		pid = spawn_agent(sp, sp->local, "posthorn-local", &lid,
		    rq->rcpt, rq->own_mailbox, rq->fd);
	}
	close(rq->fd);
	if (pid < 0) {
		answer(sp, rq->id, "refused", 0);
		return 0;
	}
	sp->kids.v[sp->kids.n].pid = pid;
	sp->kids.v[sp->kids.n].id = rq->id;
	sp->kids.v[sp->kids.n].kind = rq->kind;
	sp->kids.n++;
	return 0;
}

#define ANSWERS_MAX	(64 * 1024)	/* stop reading requests beyond */

/*
 * Pass on what the scheduler told the service manager (notify.h): the
 * unit accepts notifications from us, its main process, only.  Each
 * message is sent on as the lines of it that notify_relayable() allows,
 * never a MAINPID=, FDSTORE=, NOTIFYACCESS= or WATCHDOG=trigger.  At EOF
 * (the scheduler is gone) the relay is closed.
 */
static void
relay_notify(struct spawner *sp)
{
	char in[NOTIFY_LINE_MAX * 8], out[sizeof(in) + 1];
	size_t start, i, o;
	bool important;
	ssize_t n;
	int k;

	for (k = 0; sp->relay >= 0 && k < 64; k++) {
		n = recv(sp->relay, in, sizeof(in), MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			close(sp->relay);
			sp->relay = -1;
			return;
		}
		if ((size_t)n > sizeof(in)) {
			log_msg(LOG_WARNING, "notify_dropped", "reason",
			    "oversized", NULL);
			continue;
		}
		important = false;
		for (o = 0, start = 0, i = 0; i <= (size_t)n; i++) {
			if (i < (size_t)n && in[i] != '\n')
				continue;
			if (notify_relayable(in + start, i - start)) {
				if (o > 0)
					out[o++] = '\n';
				memcpy(out + o, in + start, i - start);
				o += i - start;
				/* READY=1, STOPPING=1, RELOADING=1 */
				important = important || (in[start] != 'W' &&
				    memcmp(in + start, "STATUS=", 7) != 0);
			} else if (i > start)
				log_msg(LOG_WARNING, "notify_dropped", "reason",
				    "not a message posthorn-send sends", NULL);
			start = i + 1;
		}
		if (o == 0)
			continue;
		out[o] = '\0';
		notify_relay_send(out, important);
	}
}

/*
 * Serve requests until the scheduler goes away; returns our exit code.
 * SIGCHLD, SIGTERM, SIGINT and SIGHUP are blocked except inside ppoll(),
 * so a child's end or a signal wakes us at once; every pass reaps
 * children (answering for them), passes a SIGTERM or SIGHUP on and sends
 * answers.
 */
static int
serve(struct spawner *sp, int spawnfd)
{
	struct stream s;
	struct spawn_req rq;
	struct pollfd pfd[2];
	sigset_t none;
	int st = 0, rc, sent_term = 0;

	sigemptyset(&none);
	stream_init(&s, spawnfd, spawnfd, 5000);
	stream_enable_fds(&s);
	for (;;) {
		relay_notify(sp);
		if (reap(sp, &st))
			break;
		if (got_term && !sent_term) {
			kill(sp->send, SIGTERM);
			sent_term = 1;
		}
		if (got_hup) {	/* blocked but in ppoll(): none is lost */
			got_hup = 0;
			if (!sent_term)
				kill(sp->send, SIGHUP);
		}
		flush_answers(sp, spawnfd);
		if (stream_pending(&s) == 0 || sp->out.len >= ANSWERS_MAX) {
			pfd[0].fd = spawnfd;
			pfd[0].events = (short)((sp->out.len < ANSWERS_MAX ?
			    POLLIN : 0) | (sp->out.len > 0 ? POLLOUT : 0));
			pfd[0].revents = 0;
			pfd[1].fd = sp->relay;	/* -1: ignored */
			pfd[1].events = POLLIN;
			pfd[1].revents = 0;
			rc = ppoll(pfd, 2, &(struct timespec){ 1, 0 }, &none);
			if (rc <= 0 || (pfd[0].revents & (POLLIN | POLLHUP |
			    POLLERR)) == 0 || sp->out.len >= ANSWERS_MAX)
				continue;	/* relay, reap, send, look again */
		}
		rc = spawn_request_read(&s, &rq);
		if (rc == 0) {
			/* the scheduler closed its end: wait for it */
			wait_send(sp->send, &st);
			break;
		}
		if (rc < 0 || handle(sp, &rq) < 0) {
			if (rc < 0)
				log_msg(LOG_ERR, "protocol_error", "detail",
				    "bad spawn request; stopping the "
				    "scheduler", NULL);
			kill(sp->send, SIGTERM);
			wait_send(sp->send, &st);
			stream_free(&s);
			return 1;
		}
	}
	relay_notify(sp);	/* what the scheduler said last */
	stream_free(&s);
	return exit_code(st);
}

/*
 * The ids of the scheduler (-u), of alias deliveries (alias_user) and of
 * posthorn-remote: the user posthorn-remote, or nobody when it does not
 * exist, without supplementary groups.  The remote agent talks to the
 * network and must not be able to touch the spool, so it must be neither
 * root nor the scheduler's user nor the spool's owner; if it would be
 * (e.g. -u nobody on a host without posthorn-remote), remote requests
 * are refused and mail for other hosts waits.
 */
static void
setup_ids(struct spawner *sp, const char *user, bool explicit_user,
    struct ids *sendid)
{
	struct stat st;

	memset(sendid, 0, sizeof(*sendid));	/* uid 0: keep our ids */
	memset(&sp->aliasid, 0, sizeof(sp->aliasid));
	memset(&sp->remoteid, 0, sizeof(sp->remoteid));
	sp->remote_ok = true;
	if (!sp->root)
		return;
	if (strcmp(user, "root") != 0 && ids_of_user(user, sendid) != 0) {
		if (explicit_user)
			die(67, "no such user", user);
		log_msg(LOG_WARNING, "no_user", "user", user, "detail",
		    "the scheduler keeps running as root", NULL);
	}
	if (ids_of_user(sp->cfg->alias_user, &sp->aliasid) != 0)
		die(67, "alias_user: no such user (or it is root)",
		    sp->cfg->alias_user);
	/* aliases' |programs and /files run as alias_user: never as the
	 * spool's owner or a program facing the network */
	if (local_service_account(sp->cfg, sp->aliasid.uid) != NULL)
		die(78, "alias_user must not be a posthorn service account "
		    "(posthorn-queue, posthorn-smtpd, posthorn-remote, the "
		    "spool's owner)", sp->cfg->alias_user);
	sp->remoteid.nogroups = true;
	if (ids_of_user(REMOTE_USER, &sp->remoteid) != 0) {
		if (ids_of_user("nobody", &sp->remoteid) != 0) {
			sp->remote_ok = false;
			log_msg(LOG_ERR, "no_user", "user", REMOTE_USER,
			    "detail", "nor nobody: remote deliveries wait",
			    NULL);
			return;
		}
		log_msg(LOG_WARNING, "privileges", "user", "nobody",
		    "reason", "user " REMOTE_USER " does not exist; "
		    "posthorn-remote runs as nobody", NULL);
	}
	if (sp->remoteid.uid == sendid->uid || (stat(sp->cfg->spool, &st) == 0
	    && st.st_uid == sp->remoteid.uid)) {
		sp->remote_ok = false;
		log_msg(LOG_ERR, "privileges", "user", sp->remoteid.name,
		    "reason", "the remote delivery user must not be the "
		    "scheduler's user or own the spool; remote deliveries "
		    "wait", NULL);
	} else if (sp->remoteid.uid == sp->aliasid.uid) {
		/* the usual case without the posthorn users: both nobody.
		 * Refusing would stop every such install; the agents are
		 * not dumpable, so neither can ptrace the other, but each
		 * can still signal the other and anything else of nobody's
		 * (posthorn-run's SMTP sessions, other daemons) */
		log_msg(LOG_WARNING, "shared_uid", "user", sp->remoteid.name,
		    "agents", "posthorn-remote alias_user", "detail",
		    "remote deliveries and alias deliveries (|programs, "
		    "/files) run as one user; create the user "
		    REMOTE_USER " (systemd-sysusers) to separate them", NULL);
	}
}

int
main(int argc, char **argv)
{
	static struct config cfg;
	static struct spawner sp;
	struct ids sendid;
	struct buf err = BUF_INIT;
	struct sigaction sa;
	const char *dir = NULL, *user = DEFAULT_USER;
	char sendprog[4096], *sendargv[4], **cmd, code[16];
	bool explicit_user = false;
	sigset_t block;
	int ch, spawnfd, rc;

	if (io_stdio_open() == -1)	/* no received descriptor is 0-2 */
		die(71, "cannot open /dev/null on descriptors 0-2",
		    strerror(errno));
	log_init("posthorn-spawn");
	while ((ch = getopt(argc, argv, "+C:u:")) != -1) {
		if (ch == 'C')
			dir = optarg;
		else if (ch == 'u') {
			user = optarg;
			explicit_user = true;
		} else
			usage();
	}
	dir = config_dir(dir);
	if (optind < argc && argv[optind][0] != '/')
		usage();
	if (config_load(dir, &cfg, &err) != 0)
		die(78, "configuration error", buf_str(&err));
	sp.cfg = &cfg;
	sp.dir = dir;
	sp.root = geteuid() == 0;
	buf_init(&sp.out);
	if (libexec_path("posthorn-local", sp.local, sizeof(sp.local)) != 0 ||
	    libexec_path("posthorn-remote", sp.remote, sizeof(sp.remote)) != 0)
		die(78, "cannot find the delivery agents", "");
	sp.kids.cap = max_agents(&cfg, SPAWN_LOCAL) +
	    max_agents(&cfg, SPAWN_REMOTE);
	sp.kids.v = calloc(sp.kids.cap, sizeof(*sp.kids.v));
	if (sp.kids.v == NULL)
		die(71, "out of memory", "");
	setup_ids(&sp, user, explicit_user, &sendid);
	cmd = argv + optind;
	if (optind == argc) {
		if (libexec_path("posthorn-send", sendprog,
		    sizeof(sendprog)) != 0)
			die(78, "cannot find posthorn-send", "");
		sendargv[0] = sendprog;
		sendargv[1] = (char *)"-C";
		sendargv[2] = (char *)dir;
		sendargv[3] = NULL;
		cmd = sendargv;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_chld;
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, NULL);
	if (isatty(2) == 1)
		log_msg(LOG_WARNING, "terminal", "detail", "standard error is "
		    "a terminal, which the scheduler and the agents do not "
		    "get: their log lines are lost (run posthorn-run, or "
		    "posthorn-send.service)", NULL);
	sp.send = start_send(cmd, sp.root, &sendid, &spawnfd, &sp.relay);
	if (sp.root)
		drop_caps();
	log_msg(LOG_INFO, "started", "scheduler", cmd[0], NULL);
	rc = serve(&sp, spawnfd);
	snprintf(code, sizeof(code), "%d", rc);
	log_msg(LOG_INFO, "stopped", "status", code, NULL);
	return rc;
}
