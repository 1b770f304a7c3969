/*
 * run.c — posthorn-run: run a complete posthorn instance in the foreground
 * from one configuration directory, as the calling user, without systemd
 * as PID 1.
 *
 * It does what the socket units and posthorn-send.service do under
 * systemd: binds the SMTP listeners (listen, submission_listen,
 * smtps_listen; port 0 picks a free port) and the queue's unix socket, and
 * hands each socket to one long-running posthorn-smtpd or posthorn-queue
 * with LISTEN_FDS (as an Accept=no socket unit would; restarted with a
 * backoff when it dies, restarted at once on SIGHUP), or with -a starts
 * one per accepted connection with the connection on fd 0 and fd 1
 * (Accept=yes, inetd, tcpserver; TCPREMOTEIP etc. set like tcpserver).
 * It starts the
 * scheduler (posthorn-spawn, which runs posthorn-send; or posthorn-send
 * itself) with NOTIFY_SOCKET and waits for READY=1, restarts it with a
 * backoff when it dies, and on SIGINT/SIGTERM stops everything it started
 * (each child leads its own session and process group, signalled by its
 * PID) and
 * exits 0.  The bound addresses go to DIR/run/listen, readiness to
 * DIR/run/ready (tests poll for both).  It is a child subreaper, and its
 * children carry a parent-death signal, so no scheduler outlives it.
 *
 * This file is the event loop (sd-event: listeners, SIGCHLD, signals,
 * the notification socket, timers) and main(); run_net.c binds the
 * sockets and writes the files, run_proc.c starts and signals children.
 *
 * Trust: the configuration directory is the caller's own.  Peers are
 * never read here: connection bytes only reach the exec'd programs.
 * Notifications are accepted only from the scheduler we started (as
 * NotifyAccess=main), of our own uid or root.  Children never get our
 * terminal or the descriptors we inherited (run_proc.c).
 */
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/io.h"
#include "common/log.h"
#include "common/units.h"
#include "queue/run.h"

static int on_pause_end(sd_event_source *s, uint64_t usec, void *ud);

void
listener_pause(struct run *r, struct listener *l)
{
	sd_event_source_set_enabled(l->src, SD_EVENT_OFF);
	if (l->pause == NULL)
		sd_event_add_time_relative(r->ev, &l->pause, CLOCK_MONOTONIC,
		    PAUSE_USEC, 0, on_pause_end, l);
	else {
		sd_event_source_set_time_relative(l->pause, PAUSE_USEC);
		sd_event_source_set_enabled(l->pause, SD_EVENT_ONESHOT);
	}
}

static int
on_pause_end(sd_event_source *s, uint64_t usec, void *ud)
{
	struct listener *l = ud;

	(void)s;
	(void)usec;
	if (l->src != NULL && l->nchildren < l->max)
		sd_event_source_set_enabled(l->src, SD_EVENT_ON);
	return 0;
}

static int
on_accept(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
	struct listener *l = ud;
	struct run *r = l->run;
	int i, conn;

	(void)revents;
	for (i = 0; i < ACCEPT_BURST && l->nchildren < l->max; i++) {
		conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn == -1) {
			if (errno == EAGAIN || errno == EINTR ||
			    errno == ECONNABORTED)
				return 0;
			log_msg(LOG_ERR, "accept_failed", "listener", l->addr,
			    "reason", strerror(errno), (char *)NULL);
			listener_pause(r, l);
			return 0;
		}
		if (spawn_for(r, l, conn) == -1) {
			log_msg(LOG_ERR, "spawn_failed", "listener", l->addr,
			    "reason", strerror(errno), (char *)NULL);
			close(conn);
			listener_pause(r, l);
			return 0;
		}
		close(conn);
	}
	if (l->nchildren >= l->max) {
		log_msg(LOG_WARNING, "limit_reached", "listener", l->addr,
		    (char *)NULL);
		sd_event_source_set_enabled(s, SD_EVENT_OFF);
	}
	return 0;
}

static int on_restart(sd_event_source *s, uint64_t usec, void *ud);

void
sched_schedule_restart(struct run *r)
{
	char d[32];

	if (now_usec() - r->sched_started >= STABLE_USEC)
		r->backoff = BACKOFF_MIN_USEC;
	snprintf(d, sizeof(d), "%llums",
	    (unsigned long long)(r->backoff / 1000));
	log_msg(LOG_WARNING, "restart_scheduled", "program",
	    strrchr(r->sched_prog, '/') + 1, "delay", d, (char *)NULL);
	if (r->restart == NULL)
		sd_event_add_time_relative(r->ev, &r->restart,
		    CLOCK_MONOTONIC, r->backoff, 0, on_restart, r);
	else {
		sd_event_source_set_time_relative(r->restart, r->backoff);
		sd_event_source_set_enabled(r->restart, SD_EVENT_ONESHOT);
	}
	r->backoff *= 2;
	if (r->backoff > BACKOFF_MAX_USEC)
		r->backoff = BACKOFF_MAX_USEC;
}

static int
on_restart(sd_event_source *s, uint64_t usec, void *ud)
{
	struct run *r = ud;

	(void)s;
	(void)usec;
	if (r->stopping || r->sched_pid != 0)
		return 0;
	if (r->sched_pgid > 0)
		kill(-r->sched_pgid, SIGKILL);
	signal_sched_orphans(r, SIGKILL);
	if (sched_start(r) == -1)
		sched_schedule_restart(r);
	return 0;
}

static int
on_server_restart(sd_event_source *s, uint64_t usec, void *ud)
{
	struct listener *l = ud;
	struct run *r = l->run;

	(void)s;
	(void)usec;
	if (r->stopping || l->server_pid != 0)
		return 0;
	if (server_start(r, l) == -1) {
		log_msg(LOG_ERR, "spawn_failed", "listener", l->addr,
		    "reason", strerror(errno), (char *)NULL);
		server_schedule_restart(r, l);
	}
	return 0;
}

/* A server that died is started again after a delay that doubles like
 * the scheduler's; one stopped by SIGHUP at once. */
void
server_schedule_restart(struct run *r, struct listener *l)
{
	uint64_t delay;

	if (l->server_backoff == 0 ||
	    now_usec() - l->server_started >= STABLE_USEC)
		l->server_backoff = BACKOFF_MIN_USEC;
	delay = l->server_reload ? 0 : l->server_backoff;
	if (!l->server_reload) {
		char d[32];

		snprintf(d, sizeof(d), "%llums",
		    (unsigned long long)(delay / 1000));
		log_msg(LOG_WARNING, "restart_scheduled", "listener", l->addr,
		    "delay", d, (char *)NULL);
		l->server_backoff *= 2;
		if (l->server_backoff > BACKOFF_MAX_USEC)
			l->server_backoff = BACKOFF_MAX_USEC;
	}
	l->server_reload = false;
	if (l->server_restart == NULL)
		sd_event_add_time_relative(r->ev, &l->server_restart,
		    CLOCK_MONOTONIC, delay, 0, on_server_restart, l);
	else {
		sd_event_source_set_time_relative(l->server_restart, delay);
		sd_event_source_set_enabled(l->server_restart,
		    SD_EVENT_ONESHOT);
	}
}

static void
become_ready(struct run *r)
{
	struct buf b = BUF_INIT;
	char p[32];

	r->ready = true;
	snprintf(p, sizeof(p), "%ld", (long)getpid());
	buf_printf(&b, "%s\n", p);
	if (write_run_file(r, "ready", &b) == -1)
		log_msg(LOG_ERR, "write_failed", "file", "run/ready",
		    "reason", strerror(errno), (char *)NULL);
	buf_free(&b);
	log_msg(LOG_INFO, "ready", "pid", p, "dir", r->dir, (char *)NULL);
}

static void
notify_line(struct run *r, const char *line, size_t n)
{
	if (n == 7 && memcmp(line, "READY=1", 7) == 0) {
		if (!r->ready && !r->stopping)
			become_ready(r);
	} else if (n == 10 && memcmp(line, "WATCHDOG=1", 10) == 0) {
		if (r->last_ping == 0)
			log_msg(LOG_DEBUG, "watchdog", "status", "armed",
			    (char *)NULL);	/* the first ping */
		r->last_ping = now_usec();
	} else if (n > 7 && memcmp(line, "STATUS=", 7) == 0) {
		struct logline ll;

		log_begin(&ll, LOG_DEBUG, "scheduler_status");
		log_addn(&ll, "status", line + 7, n - 7);
		log_end(&ll);
	}
}

/* At most one line a second: anything on the machine may write to the
 * socket, and must not flood our log. */
static void
notify_ignored(struct run *r, const char *why, const struct ucred *cred)
{
	uint64_t now = now_usec();
	char pid[32], uid[32];

	if (r->notify_warned != 0 && now - r->notify_warned < 1000000)
		return;
	r->notify_warned = now;
	snprintf(pid, sizeof(pid), "%ld", cred ? (long)cred->pid : -1L);
	snprintf(uid, sizeof(uid), "%ld", cred ? (long)cred->uid : -1L);
	log_msg(LOG_WARNING, "notify_ignored", "reason", why, "pid", pid,
	    "uid", uid, (char *)NULL);
}

static int
on_notify(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
	struct run *r = ud;
	char data[4096];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct ucred)) +
		    CMSG_SPACE(sizeof(int) * 16)];
	} cm;
	struct iovec iov = { data, sizeof(data) - 1 };
	struct msghdr mh;
	struct cmsghdr *c;
	struct ucred *cred = NULL;
	const char *why = NULL;
	ssize_t n;
	size_t i, start;

	(void)s;
	(void)revents;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof(cm.buf);
	n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
	if (n < 0)
		return 0;
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_CREDENTIALS &&
		    c->cmsg_len == CMSG_LEN(sizeof(struct ucred)))
			cred = (struct ucred *)(void *)CMSG_DATA(c);
		else if (c->cmsg_type == SCM_RIGHTS) {
			/* FDSTORE is not supported: do not leak them */
			int *fds = (int *)(void *)CMSG_DATA(c);
			size_t k, nf = (c->cmsg_len - CMSG_LEN(0)) /
			    sizeof(int);

			for (k = 0; k < nf; k++)
				close(fds[k]);
		}
	}
	/* as NotifyAccess=main: only the scheduler we started (the spawner
	 * relays what posthorn-send says), never an agent or a program a
	 * delivery runs, whatever its uid */
	if (cred == NULL)
		why = "no credentials";
	else if (cred->uid != getuid() && cred->uid != 0)
		why = "foreign uid";
	else if (r->sched_pid <= 0 || cred->pid != r->sched_pid)
		why = "not the scheduler";
	else if ((size_t)n >= sizeof(data) || (mh.msg_flags & MSG_TRUNC))
		why = "oversized";
	if (why != NULL) {
		notify_ignored(r, why, cred);
		return 0;
	}
	for (start = 0, i = 0; i <= (size_t)n; i++) {
		if (i == (size_t)n || data[i] == '\n') {
			notify_line(r, data + start, i - start);
			start = i + 1;
		}
	}
	return 0;
}

/* Copy what children wrote into the log pipe to our stderr (writes of
 * up to PIPE_BUF octets are atomic, so their lines stay whole). */
static void
log_pipe_copy(struct run *r)
{
	char b[16384];
	ssize_t n;
	int i;

	for (i = 0; i < 64; i++) {
		n = read(r->logpipe[0], b, sizeof(b));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		(void)io_write_file(2, b, (size_t)n);
	}
}

static int
on_log(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
	(void)s;
	(void)fd;
	(void)revents;
	log_pipe_copy(ud);
	return 0;
}

/* Children must not get our terminal (see child_exec): when fd 1 or 2
 * is one, they get a pipe there that we copy to stderr. */
static int
log_pipe_open(struct run *r, struct buf *err)
{
	r->pipe_out = isatty(1) == 1;
	r->pipe_err = isatty(2) == 1;
	if (!r->pipe_out && !r->pipe_err)
		return 0;
	if (pipe2(r->logpipe, O_CLOEXEC) == -1 ||
	    io_set_nonblock(r->logpipe[0], 1) == -1 ||
	    sd_event_add_io(r->ev, NULL, r->logpipe[0], EPOLLIN, on_log,
	    r) < 0) {
		buf_printf(err, "log pipe: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Stopping ends when no child at all is left, orphans included. */
static void
maybe_exit(struct run *r)
{
	siginfo_t si;

	if (!r->stopping || r->sched_pid != 0 || r->nkids != 0)
		return;
	memset(&si, 0, sizeof(si));
	if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == -1 &&
	    errno == ECHILD)
		sd_event_exit(r->ev, 0);
}

static void
log_exit(const char *what, pid_t pid, int status, int prio)
{
	char p[32], st[64];

	snprintf(p, sizeof(p), "%ld", (long)pid);
	if (WIFEXITED(status))
		snprintf(st, sizeof(st), "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(st, sizeof(st), "signal %d", WTERMSIG(status));
	else
		snprintf(st, sizeof(st), "status %d", status);
	log_msg(prio, "exited", "program", what, "pid", p, "status", st,
	    (char *)NULL);
}

static void
reaped(struct run *r, pid_t pid, int status)
{
	size_t i;

	if (pid == r->sched_pid) {
		r->sched_pid = 0;
		log_exit(strrchr(r->sched_prog, '/') + 1, pid, status,
		    r->stopping ? LOG_INFO : LOG_ERR);
		/* never two schedulers on one spool: what the dead one
		 * started (posthorn-send under the spawner, agents) goes
		 * too, and is killed outright before the next start */
		kill(-pid, SIGTERM);
		signal_sched_orphans(r, SIGTERM);
		if (!r->stopping)
			sched_schedule_restart(r);
		return;
	}
	for (i = 0; i < r->nkids; i++) {
		struct listener *l;

		if (r->kids[i].pid != pid)
			continue;
		l = r->kids[i].l;
		r->kids[i] = r->kids[--r->nkids];
		if (pid == l->server_pid) {
			l->server_pid = 0;
			log_exit(l->kind == L_QUEUE ? "posthorn-queue" :
			    "posthorn-smtpd", pid, status, r->stopping ||
			    l->server_reload ? LOG_INFO : LOG_ERR);
			if (!r->stopping)
				server_schedule_restart(r, l);
			return;
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			log_exit(l->kind == L_QUEUE ? "posthorn-queue" :
			    "posthorn-smtpd", pid, status, LOG_DEBUG);
		if (l->nchildren > 0)
			l->nchildren--;
		if (!r->stopping && l->src != NULL && l->nchildren < l->max &&
		    (l->pause == NULL || sd_event_source_get_enabled(l->pause,
		    NULL) == 0))
			sd_event_source_set_enabled(l->src, SD_EVENT_ON);
		return;
	}
}

static int
on_sigchld(sd_event_source *s, const struct signalfd_siginfo *si, void *ud)
{
	struct run *r = ud;
	int i, status;
	pid_t pid;

	(void)s;
	(void)si;
	for (i = 0; i < 100000; i++) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0)
			break;
		reaped(r, pid, status);
	}
	maybe_exit(r);
	return 0;
}

/* The scheduler's watchdog, as systemd's WatchdogSec= would keep it:
 * once the scheduler has pinged (so it does ping), a silence longer than
 * WATCHDOG_USEC means it hangs; its process group is killed and the
 * restart path starts a new one. */
static int
on_watchdog_check(sd_event_source *s, uint64_t usec, void *ud)
{
	struct run *r = ud;
	char p[32];

	(void)usec;
	if (!r->stopping && r->sched_pid > 0 && r->last_ping != 0 &&
	    now_usec() - r->last_ping > r->watchdog_usec) {
		snprintf(p, sizeof(p), "%ld", (long)r->sched_pid);
		log_msg(LOG_ERR, "watchdog_timeout", "pid", p, "action",
		    "SIGKILL", (char *)NULL);
		r->last_ping = 0;
		signal_sched_children(r, SIGKILL);
		kill(-r->sched_pgid, SIGKILL);
	}
	sd_event_source_set_time_relative(s, r->watchdog_usec / 4);
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

static int
on_kill_timeout(sd_event_source *s, uint64_t usec, void *ud)
{
	struct run *r = ud;

	(void)s;
	(void)usec;
	log_msg(LOG_WARNING, "stop_timeout", "action", "SIGKILL", (char *)NULL);
	signal_all(r, SIGKILL);
	return 0;
}

static void
stop(struct run *r)
{
	size_t i;

	r->stopping = true;
	for (i = 0; i < r->nls; i++) {
		struct listener *l = &r->ls[i];

		l->src = sd_event_source_disable_unref(l->src);
		l->pause = sd_event_source_disable_unref(l->pause);
		l->server_restart =
		    sd_event_source_disable_unref(l->server_restart);
		close(l->fd);
		l->fd = -1;
	}
	r->restart = sd_event_source_disable_unref(r->restart);
	r->watchdog = sd_event_source_disable_unref(r->watchdog);
	unlink_own_socket(r->cfg.queue_socket, r->qsock_dev,
	    r->qsock_ino);
	signal_all(r, SIGTERM);
	sd_event_add_time_relative(r->ev, NULL, CLOCK_MONOTONIC,
	    STOP_GRACE_USEC, 0, on_kill_timeout, r);
	maybe_exit(r);
}

static int
on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *ud)
{
	struct run *r = ud;
	char sig[16];

	(void)s;
	if (si->ssi_signo == SIGHUP) {
		log_msg(LOG_INFO, "reload", (char *)NULL);
		reload_scheduler(r);
		servers_reload(r);
		return 0;
	}
	snprintf(sig, sizeof(sig), "%u", si->ssi_signo);
	if (r->stopping) {
		log_msg(LOG_WARNING, "stopping", "signal", sig, "action",
		    "SIGKILL", (char *)NULL);
		signal_all(r, SIGKILL);
		return 0;
	}
	log_msg(LOG_INFO, "stopping", "signal", sig, (char *)NULL);
	stop(r);
	return 0;
}

/* ---- setup ----------------------------------------------------------- */

static int
bind_all(struct run *r, struct buf *err)
{
	const struct strlist *lists[3] = { &r->cfg.listen,
		&r->cfg.submission_listen, &r->cfg.smtps_listen };
	enum lkind kinds[3] = { L_SMTP, L_SUBMISSION, L_SMTPS };
	struct buf lb = BUF_INIT;
	size_t i, j;
	int rc = 0;

	for (i = 0; i < 3; i++)
		for (j = 0; j < lists[i]->n; j++)
			if (bind_tcp(r, kinds[i], lists[i]->v[j], err) == -1)
				return -1;
	if (bind_queue(r, err) == -1)
		return -1;
	for (i = 0; i < r->nls; i++) {
		struct listener *l = &r->ls[i];

		buf_printf(&lb, "%s %s\n", lkind_name[l->kind], l->addr);
		log_msg(LOG_INFO, "listening", "kind", lkind_name[l->kind],
		    "addr", l->addr, (char *)NULL);
		if (!r->per_connection)
			continue;	/* the servers accept (server_start) */
		if (sd_event_add_io(r->ev, &l->src, l->fd, EPOLLIN, on_accept,
		    l) < 0) {
			buf_printf(err, "sd_event_add_io failed");
			rc = -1;
			break;
		}
	}
	if (rc == 0 && write_run_file(r, "listen", &lb) == -1) {
		buf_printf(err, "%s/listen: %s", r->rundir, strerror(errno));
		rc = -1;
	}
	buf_free(&lb);
	return rc;
}

/* One posthorn-run per directory: a second one would take over the
 * first one's queue socket.  The lock lives as long as the process. */
static int
lock_instance(struct run *r, struct buf *err)
{
	char path[PATH_MAX];
	int fd;

	if (snprintf(path, sizeof(path), "%s/lock", r->rundir) >=
	    (int)sizeof(path)) {
		buf_printf(err, "%s/lock: path too long", r->rundir);
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd == -1) {
		buf_printf(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		buf_printf(err, "%s: %s", path, errno == EWOULDBLOCK ?
		    "another posthorn-run is running in this directory" :
		    strerror(errno));
		close(fd);
		return -1;
	}
	return 0;	/* fd stays open (close-on-exec) until we exit */
}

/* Run by root, remote agents run as posthorn-remote (or nobody, as the
 * spawner chooses) and accept an MTA-STS cache directory only if it is
 * their own: make it for them, inside the instance's directory.  An
 * ordinary user's agents make it themselves. */
static void
make_mta_sts_cache(const struct run *r)
{
	const char *d = r->cfg.mta_sts_cache, *why = NULL;
	struct passwd *pw;
	struct stat st;
	int fd = -1;

	if (geteuid() != 0 || !r->cfg.mta_sts || d == NULL || *d == '\0' ||
	    lstat(d, &st) == 0)
		return;
	if ((pw = getpwnam("posthorn-remote")) == NULL)
		pw = getpwnam("nobody");
	if (pw == NULL || pw->pw_uid == 0)
		return;
	/* chown the directory we made, never what a path names by then
	 * (a symbolic link put in its place would hand its target over) */
	if (mkdir(d, 0700) == -1 ||
	    (fd = open(d, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC))
	    == -1 || fstat(fd, &st) == -1)
		why = strerror(errno);
	else if (st.st_uid != 0)
		why = "replaced after it was made; left alone";
	else if (fchown(fd, pw->pw_uid, pw->pw_gid) == -1 ||
	    fchmod(fd, 0700) == -1)
		why = strerror(errno);
	if (fd != -1)
		close(fd);
	if (why != NULL)
		log_msg(LOG_WARNING, "mta_sts_cache", "dir", d, "reason", why,
		    (char *)NULL);
}

/* -l KIND=ADDR: listeners from the command line replace the
 * configuration's for that kind (tests: "-l smtp=127.0.0.1:0"). */
struct lopt {
	const char *spec[MAX_LISTENERS];
	size_t n;
};

static int
apply_lopts(struct run *r, const struct lopt *lo, struct buf *err)
{
	struct strlist *lists[3] = { &r->cfg.listen,
		&r->cfg.submission_listen, &r->cfg.smtps_listen };
	bool replaced[3] = { false, false, false };
	size_t i, k, n;

	for (i = 0; i < lo->n; i++) {
		for (k = 0; k < 3; k++) {
			n = strlen(lkind_name[k]);
			if (strncmp(lo->spec[i], lkind_name[k], n) == 0 &&
			    lo->spec[i][n] == '=')
				break;
		}
		if (k == 3) {
			buf_printf(err, "-l %s: expected smtp=, submission= "
			    "or smtps= and an address", lo->spec[i]);
			return -1;
		}
		if (!replaced[k]) {
			strlist_free(lists[k]);
			replaced[k] = true;
		}
		if (strlist_add(lists[k], lo->spec[i] + n + 1) == -1) {
			buf_printf(err, "out of memory");
			return -1;
		}
	}
	return 0;
}

static int
setup(struct run *r, const char *dirarg, const struct lopt *lo,
    struct buf *err)
{
	char tmp[PATH_MAX];
	sigset_t ss;

	if (realpath(dirarg, r->dir) == NULL) {
		buf_printf(err, "%s: %s", dirarg, strerror(errno));
		return -1;
	}
	if (config_load(r->dir, &r->cfg, err) == -1 ||
	    apply_lopts(r, lo, err) == -1)
		return -1;
	/* every program started from here, and what they start, finds the
	 * instance (and tests find every process of it) */
	if (setenv("POSTHORN_CONF", r->dir, 1) == -1) {
		buf_printf(err, "setenv: %s", strerror(errno));
		return -1;
	}
	if (snprintf(r->rundir, sizeof(r->rundir), "%s/run", r->dir) >=
	    (int)sizeof(r->rundir) || mkdir_p(r->rundir, 0755) == -1) {
		buf_printf(err, "%s/run: %s", r->dir, strerror(errno));
		return -1;
	}
	if (lock_instance(r, err) == -1)
		return -1;
	if (snprintf(tmp, sizeof(tmp), "%s/ready", r->rundir) <
	    (int)sizeof(tmp))
		unlink(tmp);
	if (mkdir_p(r->cfg.spool, 0700) == -1) {
		buf_printf(err, "spool %s: %s", r->cfg.spool, strerror(errno));
		return -1;
	}
	if (find_scheduler(r, err) == -1)
		return -1;
	make_mta_sts_cache(r);
	check_programs();
	smtpd_identity(r);
	/* orphaned descendants become ours: nothing outlives a stop */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == -1) {
		buf_printf(err, "PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
		return -1;
	}
	sigemptyset(&ss);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGHUP);
	sigaddset(&ss, SIGCHLD);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	if (sd_event_default(&r->ev) < 0 ||
	    sd_event_add_signal(r->ev, NULL, SIGINT, on_signal, r) < 0 ||
	    sd_event_add_signal(r->ev, NULL, SIGTERM, on_signal, r) < 0 ||
	    sd_event_add_signal(r->ev, NULL, SIGHUP, on_signal, r) < 0 ||
	    sd_event_add_signal(r->ev, NULL, SIGCHLD, on_sigchld, r) < 0) {
		buf_printf(err, "cannot set up the event loop");
		return -1;
	}
	if (log_pipe_open(r, err) == -1 || bind_all(r, err) == -1 ||
	    bind_notify(r, err) == -1)
		return -1;
	if (sd_event_add_io(r->ev, NULL, r->notify_fd, EPOLLIN, on_notify,
	    r) < 0 || sd_event_add_time_relative(r->ev, &r->watchdog,
	    CLOCK_MONOTONIC, r->watchdog_usec / 4, 0, on_watchdog_check,
	    r) < 0) {
		buf_printf(err, "cannot watch the notify socket");
		return -1;
	}
	return 0;
}

static void
cleanup(struct run *r)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/ready", r->rundir) <
	    (int)sizeof(path))
		unlink(path);
	if (r->logpipe[0] >= 0)
		log_pipe_copy(r);	/* the last lines of the children */
	if (r->notify_path[0] == '/')
		unlink_stale_socket(r->notify_path);
	unlink_own_socket(r->cfg.queue_socket, r->qsock_dev,
	    r->qsock_ino);
}

/* WATCHDOG_SEC, or POSTHORN_RUN_WATCHDOG seconds (tests: 1..3600). */
static uint64_t
watchdog_usec(void)
{
	const char *v = getenv("POSTHORN_RUN_WATCHDOG");
	uint64_t sec;

	if (v == NULL || parse_uint(v, 3600, &sec) == -1 || sec == 0)
		sec = WATCHDOG_SEC;
	return sec * 1000000ULL;
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: posthorn-run [-av] [-C DIR] "
	    "[-l smtp|submission|smtps=ADDR ...]\n");
	exit(EX_USAGE);
}

int
main(int argc, char **argv)
{
	static struct run r;
	static struct lopt lo;
	struct buf err = BUF_INIT;
	const char *dirarg = NULL;
	int c, rc;

	io_stdio_open();	/* no socket of ours is 0-2 */
	log_init("posthorn-run");
	while ((c = getopt(argc, argv, "aC:l:v")) != -1) {
		switch (c) {
		case 'a':
			r.per_connection = true;
			break;
		case 'C':
			dirarg = optarg;
			break;
		case 'l':
			if (lo.n == MAX_LISTENERS)
				usage();
			lo.spec[lo.n++] = optarg;
			break;
		case 'v':
			log_set_verbose(1);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	r.notify_fd = -1;
	r.logpipe[0] = r.logpipe[1] = -1;
	r.backoff = BACKOFF_MIN_USEC;
	r.watchdog_usec = watchdog_usec();
	if (setup(&r, config_dir(dirarg), &lo, &err) == -1)
		die(EX_CONFIG, buf_str(&err), NULL);
	if (sched_start(&r) == -1)
		sched_schedule_restart(&r);
	for (size_t i = 0; !r.per_connection && i < r.nls; i++)
		if (server_start(&r, &r.ls[i]) == -1) {
			log_msg(LOG_ERR, "spawn_failed", "listener",
			    r.ls[i].addr, "reason", strerror(errno),
			    (char *)NULL);
			server_schedule_restart(&r, &r.ls[i]);
		}
	rc = sd_event_loop(r.ev);
	cleanup(&r);
	log_msg(LOG_INFO, "stopped", (char *)NULL);
	return rc < 0 ? EX_SOFTWARE : 0;
}
