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
 *   3. for each, resolves rcpt (local_resolve) to a uid:
 *        system user              → its uid, gid, supplementary groups
 *        virtual mailbox          → the mailbox owner's uid/gid
 *        alias, unknown, or uid 0 → alias_user (default "nobody")
 *      and starts posthorn-local under it with the descriptor on fd 3,
 *      /dev/null on 0 and 1, a clean environment that names rcpt
 *      (SPAWN_RCPT_ENV: posthorn-local delivers to no other recipient,
 *      so a job cannot borrow the uid chosen for somebody else);
 *   4. exits when the scheduler exits, with its exit status.
 *
 * At most 2 * local_concurrency + 8 agents run at once (max_agents); a
 * request beyond that is closed unanswered (a temporary failure).
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
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/agent.h"
#include "common/config.h"
#include "common/localuser.h"
#include "common/log.h"

#define DEFAULT_USER	"posthorn-queue"

/* The ids a child will run as. */
struct ids {
	uid_t uid;
	gid_t gid;
	char name[256];		/* for initgroups; "" = no passwd entry */
};

static volatile sig_atomic_t got_term;

static void
on_term(int sig)
{
	(void)sig;
	got_term = 1;
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

static void
become(const struct ids *id)
{
	if (id->uid == 0)
		return;		/* the scheduler keeps root (see above) */
	if (id->name[0] != '\0') {
		if (initgroups(id->name, id->gid) != 0)
			child_fail("initgroups", id->name, id);
	} else if (setgroups(1, &id->gid) != 0)
		child_fail("setgroups", "", id);
	if (setgid(id->gid) != 0 || setuid(id->uid) != 0)
		child_fail("setuid", "", id);
	if (getuid() != id->uid || geteuid() != id->uid ||
	    getgid() != id->gid || getegid() != id->gid || geteuid() == 0 ||
	    setuid(0) == 0) {
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

/* Start the scheduler with its end of the spawn socket. */
static pid_t
start_send(char **argv, bool root, const struct ids *id, int *spawnfd)
{
	int sv[2];
	char num[16];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		die(71, "socketpair", strerror(errno));
	pid = fork();
	if (pid < 0)
		die(71, "fork", strerror(errno));
	if (pid == 0) {
		if (root)
			become(id);
		if (fcntl(sv[1], F_SETFD, 0) != 0)
			_exit(111);
		snprintf(num, sizeof(num), "%d", sv[1]);
		if (setenv(SPAWN_FD_ENV, num, 1) != 0)
			_exit(111);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		execv(argv[0], argv);
		child_fail("exec", argv[0], id);
	}
	close(sv[1]);
	*spawnfd = sv[0];
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
ids_for(const struct config *cfg, const char *rcpt, const struct ids *alias,
    struct ids *id)
{
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
	rc = local_resolve(cfg, &t, rcpt, &tg, &err);
	local_tables_free(&t);
	if (rc < 0)
		log_msg(LOG_ERR, "lookup_failed", "to", rcpt, "reason",
		    buf_str(&err), NULL);
	buf_free(&err);
	if (rc != 1 || tg.uid == 0 || tg.uid == (uid_t)-1 ||
	    (tg.kind != LOCAL_USER && tg.kind != LOCAL_MAILBOX))
		return;
	id->uid = tg.uid;
	id->gid = tg.gid;
	id->name[0] = '\0';
	if (tg.kind == LOCAL_USER)
		snprintf(id->name, sizeof(id->name), "%s", tg.user);
	else if ((pw = getpwuid(tg.uid)) != NULL && pw->pw_gid == tg.gid)
		snprintf(id->name, sizeof(id->name), "%s", pw->pw_name);
}

/* Fork posthorn-local for one request; the parent keeps nothing.
 * Returns 1 when a child was started. */
static int
spawn_local(const char *local, const char *cfgdir, bool root,
    const struct ids *id, const char *rcpt, int ctlfd)
{
	char js[256], er[ADDR_MAX + 32], *envp[4], *argv[4];
	const char *jenv = getenv("JOURNAL_STREAM");
	int null, n = 0;
	pid_t pid;

	pid = fork();
	if (pid != 0) {
		if (pid < 0)
			log_msg(LOG_ERR, "spawn_failed", "reason",
			    strerror(errno), NULL);
		return pid > 0;
	}
	if (root && id->uid == 0)
		_exit(111);	/* never: ids_for() excludes uid 0 */
	if (root)
		become(id);
	if (ctlfd != AGENT_FD && dup2(ctlfd, AGENT_FD) != AGENT_FD)
		_exit(111);
	if (fcntl(AGENT_FD, F_SETFD, 0) != 0)
		_exit(111);
	null = open("/dev/null", O_RDWR);
	if (null < 0 || dup2(null, 0) != 0 || dup2(null, 1) != 1)
		_exit(111);
	close_range(AGENT_FD + 1, ~0U, 0);
	envp[n++] = (char *)"PATH=/usr/bin:/bin";
	snprintf(er, sizeof(er), "%s=%s", SPAWN_RCPT_ENV, rcpt);
	envp[n++] = er;
	if (jenv != NULL && snprintf(js, sizeof(js), "JOURNAL_STREAM=%s",
	    jenv) < (int)sizeof(js))
		envp[n++] = js;
	envp[n] = NULL;
	argv[0] = (char *)"posthorn-local";
	argv[1] = (char *)"-C";
	argv[2] = (char *)cfgdir;
	argv[3] = NULL;
	execve(local, argv, envp);
	child_fail("exec", local, id);
}

/* Wait for the scheduler, passing on SIGTERM/SIGINT while we wait. */
static void
wait_send(pid_t send, int *status)
{
	while (waitpid(send, status, 0) < 0) {
		if (errno != EINTR)
			return;
		if (got_term)
			kill(send, SIGTERM);
	}
}

/* Reap children (*live counts the delivery agents still running);
 * returns 1 when the scheduler has exited (*status). */
static int
reap(pid_t send, int *status, size_t *live)
{
	pid_t p;
	int st, done = 0;

	while ((p = waitpid(-1, &st, WNOHANG)) > 0)
		if (p == send) {
			*status = st;
			done = 1;
		} else if (*live > 0)
			(*live)--;
	return done;
}

/*
 * At most this many agents at once: the scheduler runs local_concurrency
 * of them, and a few more may still be exiting.  A scheduler that asks
 * for more (subverted, or broken) must not make us fill other users'
 * process limits or the pid space; the extra requests are closed
 * unanswered, which the scheduler sees as a temporary failure.
 */
static size_t
max_agents(const struct config *cfg)
{
	uint64_t n = cfg->local_concurrency;

	if (n == 0 || n > 10000)
		n = 10000;
	return (size_t)(2 * n + 8);
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

/*
 * Serve requests until the scheduler goes away; returns our exit code.
 * Every pass reaps children and passes a pending SIGTERM on.
 */
static int
serve(const struct config *cfg, const char *dir, const char *local,
    bool root, const struct ids *aliasid, pid_t send, int spawnfd)
{
	struct stream s;
	struct ids lid;
	char rcpt[ADDR_MAX + 1];
	int ctlfd, st = 0, rc, sent_term = 0;
	size_t live = 0;

	stream_init(&s, spawnfd, spawnfd, 5000);
	stream_enable_fds(&s);
	for (;;) {
		if (reap(send, &st, &live))
			break;
		if (got_term && !sent_term) {
			kill(send, SIGTERM);
			sent_term = 1;
		}
		if (stream_wait_readable(&s, 1000) <= 0)
			continue;	/* nothing yet: reap, look again */
		rc = spawn_request_read(&s, rcpt, sizeof(rcpt), &ctlfd);
		if (rc == 0) {
			/* the scheduler closed its end: wait for it */
			wait_send(send, &st);
			break;
		}
		if (rc < 0) {
			log_msg(LOG_ERR, "protocol_error", "detail",
			    "bad spawn request; stopping the scheduler", NULL);
			kill(send, SIGTERM);
			wait_send(send, &st);
			stream_free(&s);
			return 1;
		}
		if (live >= max_agents(cfg)) {
			log_msg(LOG_WARNING, "spawn_refused", "to", rcpt,
			    "reason", "too many delivery agents running", NULL);
			close(ctlfd);
			continue;
		}
		ids_for(cfg, rcpt, aliasid, &lid);
		live += (size_t)spawn_local(local, dir, root, &lid, rcpt, ctlfd);
		close(ctlfd);
	}
	stream_free(&s);
	return exit_code(st);
}

/* The ids of the scheduler (-u) and of alias deliveries (alias_user). */
static void
setup_ids(const struct config *cfg, const char *user, bool explicit_user,
    struct ids *sendid, struct ids *aliasid)
{
	memset(sendid, 0, sizeof(*sendid));	/* uid 0: keep our ids */
	memset(aliasid, 0, sizeof(*aliasid));
	if (geteuid() != 0)
		return;
	if (strcmp(user, "root") != 0 && ids_of_user(user, sendid) != 0) {
		if (explicit_user)
			die(67, "no such user", user);
		log_msg(LOG_WARNING, "no_user", "user", user, "detail",
		    "the scheduler keeps running as root", NULL);
	}
	if (ids_of_user(cfg->alias_user, aliasid) != 0)
		die(67, "alias_user: no such user (or it is root)",
		    cfg->alias_user);
}

int
main(int argc, char **argv)
{
	static struct config cfg;
	struct ids sendid, aliasid;
	struct buf err = BUF_INIT;
	struct sigaction sa;
	const char *dir = NULL, *user = DEFAULT_USER;
	char sendprog[4096], *sendargv[4], **cmd, local[4096], code[16];
	bool root = geteuid() == 0, explicit_user = false;
	int ch, spawnfd, rc;
	pid_t send;

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
	if (libexec_path("posthorn-local", local, sizeof(local)) != 0)
		die(78, "cannot find posthorn-local", "");
	setup_ids(&cfg, user, explicit_user, &sendid, &aliasid);
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
	signal(SIGPIPE, SIG_IGN);
	send = start_send(cmd, root, &sendid, &spawnfd);
	if (root)
		drop_caps();
	log_msg(LOG_INFO, "started", "scheduler", cmd[0], NULL);
	rc = serve(&cfg, dir, local, root, &aliasid, send, spawnfd);
	snprintf(code, sizeof(code), "%d", rc);
	log_msg(LOG_INFO, "stopped", "status", code, NULL);
	return rc;
}
