/*
 * run.c — posthorn-run: run a complete posthorn instance in the foreground
 * from one configuration directory, as the calling user, without systemd
 * as PID 1.
 *
 * It does what the socket units and posthorn-send.service do under
 * systemd: binds the SMTP listeners (listen, submission_listen,
 * smtps_listen; port 0 picks a free port) and the queue's unix socket, and
 * for every accepted connection starts one posthorn-smtpd or
 * posthorn-queue with the connection on fd 0 and fd 1 (Accept=yes, inetd,
 * tcpserver; TCPREMOTEIP etc. set like tcpserver).  It starts the
 * scheduler (posthorn-spawn, which runs posthorn-send; or posthorn-send
 * itself) with NOTIFY_SOCKET and waits for READY=1, restarts it with a
 * backoff when it dies, and on SIGINT/SIGTERM stops everything it started
 * (each child leads its own process group, signalled by its PID) and
 * exits 0.  The bound addresses go to DIR/run/listen, readiness to
 * DIR/run/ready (tests poll for both).
 *
 * Trust: the configuration directory is the caller's own.  Peers are
 * never read here: connection bytes only reach the exec'd programs.
 * Notifications are accepted only from processes of our own uid.
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

#define MAX_LISTENERS	64
#define MAX_SESSIONS	1000	/* simultaneous smtpd per listener */
#define MAX_INJECTIONS	256	/* simultaneous posthorn-queue */
#define ACCEPT_BURST	64	/* connections taken per wake-up */
#define STOP_GRACE_USEC	(10 * 1000000ULL)	/* SIGTERM, then SIGKILL */
#define BACKOFF_MIN_USEC	(500 * 1000ULL)
#define BACKOFF_MAX_USEC	(30 * 1000000ULL)
#define STABLE_USEC	(60 * 1000000ULL)	/* up this long: reset backoff */
#define PAUSE_USEC	(200 * 1000ULL)	/* after EMFILE and the like */

enum lkind { L_SMTP, L_SUBMISSION, L_SMTPS, L_QUEUE };

static const char *const lkind_name[] = {
	"smtp", "submission", "smtps", "queue"
};

struct run;

struct listener {
	struct run *run;
	enum lkind kind;
	int fd;
	sd_event_source *src;
	sd_event_source *pause;
	unsigned nchildren;
	unsigned max;
	char addr[PATH_MAX];	/* printable: "127.0.0.1:2525", "[::1]:25",
				   or the socket path */
};

struct child {
	pid_t pid;
	struct listener *l;
};

struct run {
	struct config cfg;
	char dir[PATH_MAX];
	char rundir[PATH_MAX];
	sd_event *ev;
	struct listener ls[MAX_LISTENERS];
	size_t nls;
	struct child *kids;
	size_t nkids, kcap;
	pid_t sched_pid;
	pid_t sched_pgid;	/* process group of the latest scheduler */
	char sched_prog[PATH_MAX];
	uint64_t sched_started;
	uint64_t backoff;
	sd_event_source *restart;
	int notify_fd;
	char notify_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	bool ready;
	bool stopping;
	bool smtpd_drop;	/* root without a posthorn-smtpd user: */
	uid_t smtpd_uid;	/* run sessions as nobody */
	gid_t smtpd_gid;
};

static uint64_t
now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

static int
mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t len, i;

	len = strlen(path);
	if (len == 0 || len >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, mode) == -1 && errno != EEXIST)
			return -1;
		tmp[i] = i == len ? '\0' : '/';
	}
	return 0;
}

static int
parent_dir(const char *path, char *out, size_t outsz)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (slash == NULL)
		return snprintf(out, outsz, ".") < (int)outsz ? 0 : -1;
	n = (size_t)(slash - path);
	if (n == 0)
		n = 1;
	if (n >= outsz)
		return -1;
	memcpy(out, path, n);
	out[n] = '\0';
	return 0;
}

static void
format_sockaddr(const struct sockaddr_storage *ss, char *out, size_t outsz)
{
	char ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(out, outsz, "%s:%u", ip, ntohs(s4->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(out, outsz, "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else {
		snprintf(out, outsz, "?");
	}
}

static void
split_sockaddr(const struct sockaddr_storage *ss, char *ip, size_t ipsz,
    char *port, size_t portsz)
{
	unsigned p = 0;

	ip[0] = '\0';
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, ip, (socklen_t)ipsz);
		p = ntohs(s4->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, (socklen_t)ipsz);
		p = ntohs(s6->sin6_port);
	}
	snprintf(port, portsz, "%u", p);
}

static struct listener *
listener_new(struct run *r, enum lkind kind, int fd)
{
	struct listener *l;

	if (r->nls == MAX_LISTENERS)
		return NULL;
	l = &r->ls[r->nls++];
	memset(l, 0, sizeof(*l));
	l->run = r;
	l->kind = kind;
	l->fd = fd;
	l->max = kind == L_QUEUE ? MAX_INJECTIONS : MAX_SESSIONS;
	return l;
}

/* "host:port", "[v6]:port", "host" (the kind's standard port) or
 * "host:0" (a free port, chosen by the kernel). */
static int
listen_spec(enum lkind kind, const char *spec, char *host, size_t hostsz,
    unsigned *port)
{
	static const unsigned std[] = { 25, 587, 465, 0 };
	char tmp[300];
	size_t n = strlen(spec);
	const char *first = strchr(spec, ':');
	bool zero;

	zero = n > 2 && strcmp(spec + n - 2, ":0") == 0 &&
	    ((spec[0] == '[' && spec[n - 3] == ']') ||
	    (spec[0] != '[' && first == spec + n - 2));
	if (zero) {
		if (n - 2 >= sizeof(tmp))
			return -1;
		memcpy(tmp, spec, n - 2);
		tmp[n - 2] = '\0';
		if (parse_hostport(tmp, host, hostsz, port) == -1 ||
		    *port != 0)
			return -1;
		return 0;
	}
	if (parse_hostport(spec, host, hostsz, port) == -1)
		return -1;
	if (*port == 0)
		*port = std[kind];
	return 0;
}

/* Bind every address "host:port" resolves to. */
static int
bind_tcp(struct run *r, enum lkind kind, const char *spec, struct buf *err)
{
	struct addrinfo hints, *res, *ai;
	char host[256], portstr[16];
	unsigned port;
	int rc, n = 0;

	if (listen_spec(kind, spec, host, sizeof(host), &port) == -1) {
		buf_printf(err, "%s: bad listen address \"%s\"",
		    lkind_name[kind], spec);
		return -1;
	}
	snprintf(portstr, sizeof(portstr), "%u", port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &res);
	if (rc != 0) {
		buf_printf(err, "%s: cannot resolve \"%s\": %s",
		    lkind_name[kind], spec, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct listener *l;
		int fd, one = 1;

		fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd == -1)
			goto fail;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
			    sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
		    listen(fd, 128) == -1 ||
		    getsockname(fd, (struct sockaddr *)&ss, &sl) == -1) {
			close(fd);
			goto fail;
		}
		if ((l = listener_new(r, kind, fd)) == NULL) {
			close(fd);
			errno = EMFILE;
			goto fail;
		}
		format_sockaddr(&ss, l->addr, sizeof(l->addr));
		n++;
	}
	freeaddrinfo(res);
	return n > 0 ? 0 : -1;
fail:
	buf_printf(err, "%s: cannot listen on %s: %s", lkind_name[kind], spec,
	    strerror(errno));
	freeaddrinfo(res);
	return -1;
}

static int
sun_fill(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun->sun_path, path, strlen(path));
	return 0;
}

/* Remove a stale socket left by an earlier run (never a regular file). */
static void
unlink_stale_socket(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
}

static int
bind_queue(struct run *r, struct buf *err)
{
	const char *path = r->cfg.queue_socket;
	struct sockaddr_un sun;
	char dir[PATH_MAX];
	struct listener *l;
	int fd;

	if (parent_dir(path, dir, sizeof(dir)) == -1 ||
	    mkdir_p(dir, 0755) == -1 || sun_fill(&sun, path) == -1) {
		buf_printf(err, "queue socket %s: %s", path, strerror(errno));
		return -1;
	}
	unlink_stale_socket(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chmod(path, 0666) == -1 || listen(fd, 128) == -1) {
		buf_printf(err, "queue socket %s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if ((l = listener_new(r, L_QUEUE, fd)) == NULL) {
		close(fd);
		buf_printf(err, "too many listeners");
		return -1;
	}
	snprintf(l->addr, sizeof(l->addr), "%s", path);
	return 0;
}

static int
child_add(struct run *r, pid_t pid, struct listener *l)
{
	if (r->nkids == r->kcap) {
		size_t ncap = r->kcap ? r->kcap * 2 : 64;
		struct child *nk = xrealloc_array(r->kids, ncap, sizeof(*nk));

		if (nk == NULL)
			return -1;
		r->kids = nk;
		r->kcap = ncap;
	}
	r->kids[r->nkids].pid = pid;
	r->kids[r->nkids].l = l;
	r->nkids++;
	return 0;
}

/* In the child: a clean signal state, our own process group, and the
 * program. */
static void __attribute__((noreturn))
child_exec(const char *prog, char *const argv[], int connfd)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setpgid(0, 0);
	if (connfd >= 0) {
		if (dup2(connfd, 0) == -1 || dup2(connfd, 1) == -1)
			_exit(EX_OSERR);
		if (connfd > 1)
			close(connfd);
	}
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDNAMES");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	execv(prog, argv);
	log_msg(LOG_ERR, "exec_failed", "program", prog, "reason",
	    strerror(errno), NULL);
	_exit(EX_UNAVAILABLE);
}

static void
set_tcp_env(int conn)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char ip[INET6_ADDRSTRLEN], port[16];

	setenv("PROTO", "TCP", 1);
	sl = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (getpeername(conn, (struct sockaddr *)&ss, &sl) == 0) {
		split_sockaddr(&ss, ip, sizeof(ip), port, sizeof(port));
		setenv("TCPREMOTEIP", ip, 1);
		setenv("TCPREMOTEPORT", port, 1);
	}
	sl = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (getsockname(conn, (struct sockaddr *)&ss, &sl) == 0) {
		split_sockaddr(&ss, ip, sizeof(ip), port, sizeof(port));
		setenv("TCPLOCALIP", ip, 1);
		setenv("TCPLOCALPORT", port, 1);
	}
}

static int
spawn_for(struct run *r, struct listener *l, int conn)
{
	char prog[PATH_MAX];
	char *argv[5];
	int argc = 0;
	pid_t pid;

	if (libexec_path(l->kind == L_QUEUE ? "posthorn-queue" :
	    "posthorn-smtpd", prog, sizeof(prog)) == -1)
		return -1;
	argv[argc++] = l->kind == L_QUEUE ? "posthorn-queue" :
	    "posthorn-smtpd";
	if (l->kind == L_SUBMISSION)
		argv[argc++] = "--submission";
	else if (l->kind == L_SMTPS)
		argv[argc++] = "--smtps";
	argv[argc++] = "-C";
	argv[argc++] = r->dir;
	argv[argc] = NULL;
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		unsetenv("NOTIFY_SOCKET");
		if (l->kind != L_QUEUE)
			set_tcp_env(conn);
		if (l->kind != L_QUEUE && r->smtpd_drop &&
		    (setgroups(0, NULL) == -1 || setgid(r->smtpd_gid) == -1 ||
		    setuid(r->smtpd_uid) == -1 || setuid(0) == 0))
			_exit(EX_OSERR);
		child_exec(prog, argv, conn);
	}
	setpgid(pid, pid);
	if (child_add(r, pid, l) == -1) {
		/* cannot track it: do not let it run untracked */
		kill(pid, SIGKILL);
		return -1;
	}
	l->nchildren++;
	return 0;
}

static int on_pause_end(sd_event_source *s, uint64_t usec, void *ud);

static void
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
			    "reason", strerror(errno), NULL);
			listener_pause(r, l);
			return 0;
		}
		if (spawn_for(r, l, conn) == -1) {
			log_msg(LOG_ERR, "spawn_failed", "listener", l->addr,
			    "reason", strerror(errno), NULL);
			close(conn);
			listener_pause(r, l);
			return 0;
		}
		close(conn);
	}
	if (l->nchildren >= l->max) {
		log_msg(LOG_WARNING, "limit_reached", "listener", l->addr,
		    NULL);
		sd_event_source_set_enabled(s, SD_EVENT_OFF);
	}
	return 0;
}

/* ---- the scheduler --------------------------------------------------- */

static int
sched_start(struct run *r)
{
	char *argv[6];
	pid_t pid;

	argv[0] = strrchr(r->sched_prog, '/') + 1;
	argv[1] = "-C";
	argv[2] = r->dir;
	argv[3] = NULL;
	/* the spawner would switch the scheduler to posthorn-queue when run
	 * by root; under posthorn-run everything runs as the caller */
	if (geteuid() == 0 && strcmp(argv[0], "posthorn-spawn") == 0) {
		argv[3] = "-u";
		argv[4] = "root";
		argv[5] = NULL;
	}
	if ((pid = fork()) == -1) {
		log_msg(LOG_ERR, "spawn_failed", "program", r->sched_prog,
		    "reason", strerror(errno), NULL);
		return -1;
	}
	if (pid == 0) {
		setenv("NOTIFY_SOCKET", r->notify_path, 1);
		child_exec(r->sched_prog, argv, -1);
	}
	setpgid(pid, pid);
	r->sched_pid = pid;
	r->sched_pgid = pid;
	r->sched_started = now_usec();
	{
		char p[32];

		snprintf(p, sizeof(p), "%ld", (long)pid);
		log_msg(LOG_INFO, "started", "program", argv[0], "pid", p,
		    NULL);
	}
	return 0;
}

static int on_restart(sd_event_source *s, uint64_t usec, void *ud);

static void
sched_schedule_restart(struct run *r)
{
	char d[32];

	if (now_usec() - r->sched_started >= STABLE_USEC)
		r->backoff = BACKOFF_MIN_USEC;
	snprintf(d, sizeof(d), "%llums",
	    (unsigned long long)(r->backoff / 1000));
	log_msg(LOG_WARNING, "restart_scheduled", "program",
	    strrchr(r->sched_prog, '/') + 1, "delay", d, NULL);
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
	if (sched_start(r) == -1)
		sched_schedule_restart(r);
	return 0;
}

/* ---- readiness ------------------------------------------------------- */

static int
write_run_file(struct run *r, const char *name, const struct buf *b)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/%s", r->rundir, name) >=
	    (int)sizeof(path))
		return -1;
	return io_write_file_atomic(path, b->data ? b->data : "", b->len,
	    0644);
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
		    "reason", strerror(errno), NULL);
	buf_free(&b);
	log_msg(LOG_INFO, "ready", "pid", p, "dir", r->dir, NULL);
}

static void
notify_line(struct run *r, const char *line, size_t n)
{
	if (n == 7 && memcmp(line, "READY=1", 7) == 0) {
		if (!r->ready && !r->stopping)
			become_ready(r);
	} else if (n > 7 && memcmp(line, "STATUS=", 7) == 0) {
		struct logline ll;

		log_begin(&ll, LOG_DEBUG, "scheduler_status");
		log_addn(&ll, "status", line + 7, n - 7);
		log_end(&ll);
	}
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
	if (cred == NULL || (cred->uid != getuid() && cred->uid != 0) ||
	    (size_t)n >= sizeof(data) || (mh.msg_flags & MSG_TRUNC)) {
		log_msg(LOG_WARNING, "notify_ignored", "reason",
		    cred == NULL ? "no credentials" : "foreign or oversized",
		    NULL);
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

static int
bind_notify(struct run *r, struct buf *err)
{
	struct sockaddr_un sun;
	char path[PATH_MAX];
	int fd, one = 1;

	if (snprintf(path, sizeof(path), "%s/notify.sock", r->rundir) >=
	    (int)sizeof(path) || strlen(path) >= sizeof(r->notify_path)) {
		/* too long for a unix socket path: an abstract name */
		unsigned long long rnd = now_usec();

		snprintf(r->notify_path, sizeof(r->notify_path),
		    "@posthorn-run/%ld/%llx", (long)getpid(), rnd);
	} else {
		unlink_stale_socket(path);
		snprintf(r->notify_path, sizeof(r->notify_path), "%s", path);
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, r->notify_path, strlen(r->notify_path));
	if (r->notify_path[0] == '@')
		sun.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one,
	    sizeof(one)) == -1 || bind(fd, (struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(r->notify_path))) == -1) {
		buf_printf(err, "notify socket %s: %s", r->notify_path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	r->notify_fd = fd;
	return 0;
}

/* ---- children and shutdown ------------------------------------------- */

static void
signal_group(pid_t pid, int sig)
{
	if (kill(-pid, sig) == -1)
		kill(pid, sig);
}

/* Orphans: we are a child subreaper, so a descendant whose parent died
 * (posthorn-send after a SIGKILL of posthorn-spawn, an agent) becomes our
 * child.  Signal each child process we do not track, by PID. */
static void
signal_orphans(struct run *r, int sig)
{
	char path[64], stat[512];
	struct dirent *de;
	pid_t self = getpid(), pid;
	ssize_t k;
	size_t i;
	long ppid;
	DIR *d;
	int fd;

	if ((d = opendir("/proc")) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		pid = (pid_t)strtol(de->d_name, NULL, 10);
		snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			continue;
		k = read(fd, stat, sizeof(stat) - 1);
		close(fd);
		if (k <= 0)
			continue;
		stat[k] = '\0';
		/* "pid (comm) state ppid ...": comm may hold anything */
		{
			char *rp = strrchr(stat, ')');

			if (rp == NULL || sscanf(rp + 1, " %*c %ld", &ppid) != 1 ||
			    ppid != (long)self)
				continue;
		}
		for (i = 0; i < r->nkids && r->kids[i].pid != pid; i++)
			;
		if (i == r->nkids && pid != r->sched_pid)
			kill(pid, sig);
	}
	closedir(d);
}

static void
signal_all(struct run *r, int sig)
{
	size_t i;

	if (r->sched_pid > 0)
		signal_group(r->sched_pid, sig);
	if (r->sched_pgid > 0)	/* what is left of an earlier scheduler */
		kill(-r->sched_pgid, sig);
	for (i = 0; i < r->nkids; i++)
		signal_group(r->kids[i].pid, sig);
	signal_orphans(r, sig);
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
	    NULL);
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

static int
on_kill_timeout(sd_event_source *s, uint64_t usec, void *ud)
{
	struct run *r = ud;

	(void)s;
	(void)usec;
	log_msg(LOG_WARNING, "stop_timeout", "action", "SIGKILL", NULL);
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
		close(l->fd);
		l->fd = -1;
	}
	r->restart = sd_event_source_disable_unref(r->restart);
	unlink_stale_socket(r->cfg.queue_socket);
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
		if (r->sched_pid > 0)
			kill(r->sched_pid, SIGHUP);
		return 0;
	}
	snprintf(sig, sizeof(sig), "%u", si->ssi_signo);
	if (r->stopping) {
		log_msg(LOG_WARNING, "stopping", "signal", sig, "action",
		    "SIGKILL", NULL);
		signal_all(r, SIGKILL);
		return 0;
	}
	log_msg(LOG_INFO, "stopping", "signal", sig, NULL);
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
		    "addr", l->addr, NULL);
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

static int
find_scheduler(struct run *r, struct buf *err)
{
	if (libexec_path("posthorn-spawn", r->sched_prog,
	    sizeof(r->sched_prog)) == 0 && access(r->sched_prog, X_OK) == 0)
		return 0;
	if (libexec_path("posthorn-send", r->sched_prog,
	    sizeof(r->sched_prog)) == 0 && access(r->sched_prog, X_OK) == 0)
		return 0;
	buf_printf(err, "neither posthorn-spawn nor posthorn-send found "
	    "next to posthorn-run");
	return -1;
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

/* posthorn-smtpd refuses to stay root and becomes posthorn-smtpd by
 * itself.  On a machine without that user (a development box, a test
 * container) posthorn-run, run by root, starts the sessions as nobody:
 * the network-facing program never runs as root. */
static void
smtpd_identity(struct run *r)
{
	struct passwd *pw;

	if (geteuid() != 0 || getpwnam("posthorn-smtpd") != NULL)
		return;
	if ((pw = getpwnam("nobody")) == NULL || pw->pw_uid == 0)
		return;	/* smtpd will refuse, and say why */
	r->smtpd_drop = true;
	r->smtpd_uid = pw->pw_uid;
	r->smtpd_gid = pw->pw_gid;
	log_msg(LOG_INFO, "smtpd_user", "user", "nobody", "reason",
	    "running as root and there is no user posthorn-smtpd", NULL);
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
	smtpd_identity(r);
	/* orphaned descendants become ours: nothing outlives a stop */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1) {
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
	if (bind_all(r, err) == -1 || bind_notify(r, err) == -1)
		return -1;
	if (sd_event_add_io(r->ev, NULL, r->notify_fd, EPOLLIN, on_notify,
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
	if (r->notify_path[0] == '/')
		unlink_stale_socket(r->notify_path);
	unlink_stale_socket(r->cfg.queue_socket);
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: posthorn-run [-v] [-C DIR] "
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

	log_init("posthorn-run");
	while ((c = getopt(argc, argv, "C:l:v")) != -1) {
		switch (c) {
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
	r.backoff = BACKOFF_MIN_USEC;
	if (setup(&r, config_dir(dirarg), &lo, &err) == -1)
		die(EX_CONFIG, buf_str(&err), NULL);
	if (sched_start(&r) == -1)
		sched_schedule_restart(&r);
	rc = sd_event_loop(r.ev);
	cleanup(&r);
	log_msg(LOG_INFO, "stopped", NULL);
	return rc < 0 ? EX_SOFTWARE : 0;
}
