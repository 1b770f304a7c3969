/*
 * forkserver.c — accept loop with one forked process per connection (see
 * forkserver.h).
 *
 * Trust: nothing from peers is read here; a connection is accepted and
 * handed to a child.  Resource use is bounded by max_children, per
 * client address by forkserver_per_source() and per local user by
 * forkserver_per_uid() (one client cannot take every process); a failing
 * accept (EMFILE, ENFILE, ENOBUFS) pauses that
 * listener briefly instead of spinning.
 */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "common/cidr.h"
#include "common/forkserver.h"
#include "common/io.h"
#include "common/log.h"

#define FORKSERVER_MAX_FDS	16
#define ACCEPT_BURST		32	/* connections per wake-up */
#define PAUSE_USEC		(200 * 1000ULL)	/* after EMFILE and such */
#define WORKER_IDLE_SEC		60	/* an idle worker this long exits */
#define WORKER_WAIT_MS		5000	/* passing a connection to a worker */

/* A worker process (max_use > 1), seen from the server. */
struct worker {
	struct forkserver *fs;
	pid_t pid;
	int ctl;		/* our end of its socketpair; -1 once closed */
	sd_event_source *src;
	int busy;		/* serving a connection */
	int retired;		/* said it exits, or told to: no more work */
	uint64_t idle_since;	/* CLOCK_MONOTONIC usec */
	struct worker *next, *prev;
};

/* A connection being served, for the limit per client address: by a
 * process of its own (pid) or by a worker (w). */
struct source {
	pid_t pid;
	const struct worker *w;
	unsigned char addr[16];	/* IPv6, IPv4 as ::ffff:a.b.c.d */
};

struct forkserver {
	sd_event *ev;
	sd_event_source *src[FORKSERVER_MAX_FDS];
	sd_event_source *pause;
	const int *fds;
	int n;
	unsigned children, max, max_use;
	forkserver_child_fn *child;
	void *arg;
	struct worker *workers;	/* max_use > 1 */
	sd_event_source *idle_timer;
	int epfd;		/* the loop's epoll descriptor, or -1 */
	struct source *srcs;	/* per_source: one per connection served */
	unsigned nsrcs;
};

static unsigned per_source;		/* 0: no limit */
static const char *per_source_refusal;
static const struct cidrlist *per_source_exempt;
static unsigned per_uid;		/* 0: no limit */
static bool (*per_uid_trusted)(uid_t, void *);
static void *per_uid_arg;

void
forkserver_per_uid(unsigned max, bool (*trusted)(uid_t, void *), void *arg)
{
	per_uid = max;
	per_uid_trusted = trusted;
	per_uid_arg = arg;
}

void
forkserver_per_source(unsigned max, const char *refusal,
    const struct cidrlist *exempt)
{
	per_source = max;
	per_source_refusal = refusal;
	per_source_exempt = exempt;
}

/* The client's address as 16 octets, and the limit for it in *max; 0
 * for no limit (the exempt networks and uids, other families).  A unix
 * socket peer's key is its uid after 12 octets of 0xfe, which no IPv6
 * address we would see starts with. */
static int
source_key(int conn, const struct sockaddr_storage *ss,
    unsigned char key[16], unsigned *max)
{
	if (ss->ss_family == AF_UNIX) {
		struct ucred cr;
		socklen_t len = sizeof(cr);
		uint32_t uid;

		if (per_uid == 0)
			return 0;
		if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cr, &len) ==
		    -1 || len != sizeof(cr))
			return 0;	/* the queue treats it as a stranger */
		if (cr.uid == 0 || (per_uid_trusted != NULL &&
		    per_uid_trusted(cr.uid, per_uid_arg)))
			return 0;
		memset(key, 0xfe, 12);
		uid = (uint32_t)cr.uid;
		memcpy(key + 12, &uid, 4);
		*max = per_uid;
		return 1;
	}
	if (per_source == 0 || (per_source_exempt != NULL &&
	    cidrlist_match(per_source_exempt, (const struct sockaddr *)ss)))
		return 0;
	*max = per_source;
	if (ss->ss_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)(const void *)ss)->
		    sin6_addr, 16);
		return 1;
	}
	if (ss->ss_family == AF_INET) {
		memset(key, 0, 10);
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)(const void *)
		    ss)->sin_addr, 4);
		return 1;
	}
	return 0;
}

static unsigned
source_count(const struct forkserver *fs, const unsigned char key[16])
{
	unsigned n = 0;

	for (unsigned i = 0; i < fs->nsrcs; i++)
		if (memcmp(fs->srcs[i].addr, key, 16) == 0)
			n++;
	return n;
}

/* Room for one per process (max_children) was made at start. */
static void
source_add(struct forkserver *fs, pid_t pid, const struct worker *w,
    const unsigned char key[16])
{
	if (fs->srcs == NULL || fs->nsrcs >= fs->max)
		return;
	fs->srcs[fs->nsrcs].pid = pid;
	fs->srcs[fs->nsrcs].w = w;
	memcpy(fs->srcs[fs->nsrcs].addr, key, 16);
	fs->nsrcs++;
}

/* The connection of process pid (w NULL), or of worker w, has ended. */
static void
source_end(struct forkserver *fs, pid_t pid, const struct worker *w)
{
	for (unsigned i = 0; i < fs->nsrcs; i++)
		if (w != NULL ? fs->srcs[i].w == w :
		    fs->srcs[i].w == NULL && fs->srcs[i].pid == pid) {
			fs->srcs[i] = fs->srcs[--fs->nsrcs];
			return;
		}
}

/* Over the limit for its address: say why (if it fits in the socket
 * buffer, never waiting) and close. */
static void
source_refuse(int conn, const struct sockaddr_storage *ss,
    const unsigned char key[16])
{
	char ip[64];
	uint32_t uid;

	if (ss->ss_family == AF_UNIX) {
		close(conn);
		memcpy(&uid, key + 12, 4);
		snprintf(ip, sizeof(ip), "%lu", (unsigned long)uid);
		log_msg(LOG_WARNING, "too_many_connections", "uid", ip,
		    "limit", "per user", (char *)NULL);
		return;
	}
	if (per_source_refusal != NULL)
		(void)send(conn, per_source_refusal,
		    strlen(per_source_refusal), MSG_DONTWAIT | MSG_NOSIGNAL);
	close(conn);
	ip_format((const struct sockaddr *)ss, ip, sizeof(ip));
	log_msg(LOG_WARNING, "too_many_connections", "client", ip, "limit",
	    "per address", (char *)NULL);
}

static void
set_listening(struct forkserver *fs, int on)
{
	for (int i = 0; i < fs->n; i++)
		sd_event_source_set_enabled(fs->src[i],
		    on ? SD_EVENT_ON : SD_EVENT_OFF);
}

static int can_take(const struct forkserver *fs);

/* An idle worker at the process limit can take a connection too: it
 * reports nothing until it has served one, so waiting for it would leave
 * the listeners off until it is retired. */
static int
on_pause_end(sd_event_source *s, uint64_t usec, void *ud)
{
	struct forkserver *fs = ud;

	(void)s;
	(void)usec;
	if (can_take(fs))
		set_listening(fs, 1);
	return 0;
}

/* The pause timer exists from the start (disabled): when descriptors
 * have run out, creating its timerfd here would fail, and nothing would
 * ever turn the listener on again. */
static void
pause_listening(struct forkserver *fs)
{
	set_listening(fs, 0);
	sd_event_source_set_time_relative(fs->pause, PAUSE_USEC);
	sd_event_source_set_enabled(fs->pause, SD_EVENT_ONESHOT);
}

/* The server's event loop is not the child's: its epoll descriptor would
 * let a compromised child (an smtpd session, unprivileged) add entries
 * with pointers of its choosing to the loop of the server (root, maybe),
 * its timerfds would let it move the server's timers.  sd-event does not
 * name its signalfd and timerfds, so they are found by kind: the
 * programs on this loop hold no such descriptor of their own. */
static void
close_loop_fds(const struct forkserver *fs)
{
	static const char *const kinds[] = { "anon_inode:[eventpoll]",
		"anon_inode:[signalfd]", "anon_inode:[timerfd]" };
	int found[64], nfound = 0;
	char path[64], link[64];
	struct dirent *de;
	ssize_t n;
	DIR *d;

	if (fs->epfd >= 0)
		close(fs->epfd);
	if ((d = opendir("/proc/self/fd")) == NULL)
		return;
	while ((de = readdir(d)) != NULL && nfound < 64) {
		int fd = atoi(de->d_name);

		if (fd < 3 || fd == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if ((n = readlink(path, link, sizeof(link) - 1)) <= 0)
			continue;
		link[n] = '\0';
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
			if (strcmp(link, kinds[k]) == 0)
				found[nfound++] = fd;
	}
	closedir(d);
	for (int i = 0; i < nfound; i++)
		close(found[i]);
}

/* In a new child: no listening sockets, none of the server's event loop,
 * default signals.  The parent's loop is never used here. */
static void
prepare_child(struct forkserver *fs)
{
	sigset_t none;

	for (int i = 0; i < fs->n; i++)
		close(fs->fds[i]);
	close_loop_fds(fs);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static void __attribute__((noreturn))
run_child(struct forkserver *fs, int conn)
{
	prepare_child(fs);
	_exit(fs->child(conn, fs->arg));
}

/* ---- workers (max_use > 1) ---------------------------------------- */

static void (*worker_exit_fn)(void);

void
forkserver_at_worker_exit(void (*fn)(void))
{
	worker_exit_fn = fn;
}

static void __attribute__((noreturn))
worker_exit(int code)
{
	if (worker_exit_fn != NULL)
		worker_exit_fn();
	_exit(code);
}

/* SIGTERM/SIGINT between connections (a supervisor stopping the whole
 * process group): leave like a worker told to stop, through the hook.
 * Between connections both are blocked except inside ppoll, so one that
 * comes at any moment there is seen; during a connection the default
 * action applies, as for any child. */
static volatile sig_atomic_t worker_stop;

static void
worker_stop_handler(int sig)
{
	(void)sig;
	worker_stop = 1;
}

/* idle: our handler, the signals blocked; else the defaults, unblocked.
 * Returns 1 if, on leaving the idle state, one of them was pending. */
static int
worker_signals(int idle)
{
	struct sigaction sa;
	sigset_t ss, pending;
	int was_pending = 0;

	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = idle ? worker_stop_handler : SIG_DFL;
	sigemptyset(&sa.sa_mask);
	if (idle)
		(void)sigprocmask(SIG_BLOCK, &ss, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	if (!idle) {
		if (sigpending(&pending) == 0 &&
		    (sigismember(&pending, SIGTERM) == 1 ||
		    sigismember(&pending, SIGINT) == 1))
			was_pending = 1;
		else
			(void)sigprocmask(SIG_UNBLOCK, &ss, NULL);
	}
	return was_pending;
}

/* In the worker: take connections from ctl until told to stop (EOF) or
 * max_use is reached.  Each one is answered "D" (done, ready for more) or
 * "X" (done, exiting), so the server never hands a connection to a
 * worker that is leaving. */
static void __attribute__((noreturn))
worker_loop(struct forkserver *fs, int ctl)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;
	struct pollfd pfd = { .fd = ctl, .events = POLLIN };
	sigset_t during_wait;
	struct msghdr mh;
	struct cmsghdr *c;
	struct iovec iov;
	unsigned used = 0;
	char byte;
	ssize_t r;
	int conn;

	worker_signals(1);
	(void)sigprocmask(SIG_SETMASK, NULL, &during_wait);
	sigdelset(&during_wait, SIGTERM);
	sigdelset(&during_wait, SIGINT);
	for (;;) {
		if (worker_stop)
			worker_exit(0);
		if (ppoll(&pfd, 1, NULL, &during_wait) == -1) {
			if (errno == EINTR)
				continue;
			worker_exit(1);
		}
		if (worker_stop)
			worker_exit(0);
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = &byte;
		iov.iov_len = 1;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.b;
		mh.msg_controllen = sizeof(cm.b);
		r = recvmsg(ctl, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (r == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			worker_exit(0);	/* the server closed: we are done */
		conn = -1;
		c = CMSG_FIRSTHDR(&mh);
		if (c != NULL && c->cmsg_level == SOL_SOCKET &&
		    c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&conn, CMSG_DATA(c), sizeof(int));
		if (conn < 0 || (mh.msg_flags & MSG_CTRUNC))
			worker_exit(1);	/* not what the server sends */
		if (worker_signals(0)) {
			/* a connection that came with the signal: its
			 * client sees the end of the connection, as if we
			 * had died */
			close(conn);
			worker_exit(0);
		}
		r = fs->child(conn, fs->arg);
		worker_signals(1);
		close(conn);
		/* non-zero: the child asks not to be reused */
		byte = ++used >= fs->max_use || r != 0 ? 'X' : 'D';
		if (io_write_all(ctl, &byte, 1, WORKER_WAIT_MS) != 0 ||
		    byte == 'X')
			worker_exit(0);
	}
}

static uint64_t
mono_usec(const struct forkserver *fs)
{
	uint64_t now = 0;

	sd_event_now(fs->ev, CLOCK_MONOTONIC, &now);
	return now;
}

/* Stop giving w work; closing our end tells an idle worker to exit. */
static void
worker_retire(struct worker *w)
{
	source_end(w->fs, 0, w);
	w->retired = 1;
	w->src = sd_event_source_disable_unref(w->src);
	if (w->ctl != -1) {
		close(w->ctl);
		w->ctl = -1;
	}
}

static void
worker_free(struct worker *w)
{
	struct forkserver *fs = w->fs;

	worker_retire(w);
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		fs->workers = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	free(w);
}

static void set_listening(struct forkserver *fs, int on);

/* What a worker says: "D" ready again, "X" leaving; EOF or anything
 * else: it is no longer usable. */
static int
on_worker(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
	struct worker *w = ud;
	struct forkserver *fs = w->fs;
	char b[16];
	ssize_t n;

	(void)s;
	(void)revents;
	n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n == 1 && b[0] == 'D' && w->busy) {
		source_end(fs, 0, w);
		w->busy = 0;
		w->idle_since = mono_usec(fs);
		if (fs->pause == NULL ||
		    sd_event_source_get_enabled(fs->pause, NULL) == 0)
			set_listening(fs, 1);
		return 0;
	}
	/* 'X', EOF, or a protocol error: the process is reaped later */
	worker_retire(w);
	return 0;
}

/* Fork a worker.  busy_conn is the connection the server holds right
 * now: the worker must not keep the inherited copy (the client would
 * never see EOF), it gets its own over the socketpair. */
static struct worker *
worker_start(struct forkserver *fs, int busy_conn)
{
	struct worker *w;
	int sv[2];
	pid_t pid;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		free(w);
		return NULL;
	}
	pid = fork();
	if (pid == 0) {
		free(w);	/* the server's record of this worker */
		close(sv[0]);
		close(busy_conn);
		for (struct worker *o = fs->workers; o != NULL; o = o->next)
			if (o->ctl != -1)
				close(o->ctl);
		prepare_child(fs);
		worker_loop(fs, sv[1]);
	}
	close(sv[1]);
	if (pid == -1) {
		close(sv[0]);
		free(w);
		return NULL;
	}
	w->fs = fs;
	w->pid = pid;
	w->ctl = sv[0];
	if (sd_event_add_io(fs->ev, &w->src, w->ctl, EPOLLIN, on_worker,
	    w) < 0) {
		close(w->ctl);
		kill(pid, SIGKILL);	/* reaped and counted by on_sigchld */
		free(w);
		fs->children++;
		return NULL;
	}
	w->next = fs->workers;
	if (fs->workers != NULL)
		fs->workers->prev = w;
	fs->workers = w;
	fs->children++;
	return w;
}

/* Hand conn to an idle worker, starting one if none is idle.  The
 * worker: handed over (conn is ours to close); NULL: not. */
static struct worker *
worker_take(struct forkserver *fs, int conn)
{
	struct worker *w;
	const char c = 'C';

	/* an idle worker may have died a moment ago: try the next one */
	for (int attempt = 0; attempt < 3; attempt++) {
		for (w = fs->workers; w != NULL; w = w->next)
			if (!w->busy && !w->retired)
				break;
		if (w == NULL && fs->children < fs->max)
			w = worker_start(fs, conn);
		if (w == NULL)
			return NULL;
		if (io_send_fd(w->ctl, &c, 1, conn, WORKER_WAIT_MS) == 0) {
			w->busy = 1;
			return w;
		}
		worker_retire(w);
	}
	return NULL;
}

/* Can another connection be taken now (an idle worker, or room for a
 * new process)? */
static int
can_take(const struct forkserver *fs)
{
	if (fs->children < fs->max)
		return 1;
	if (fs->max_use <= 1)
		return 0;
	for (const struct worker *w = fs->workers; w != NULL; w = w->next)
		if (!w->busy && !w->retired)
			return 1;
	return 0;
}

/* Once a minute: idle workers beyond their time are told to exit. */
static int
on_idle_timer(sd_event_source *s, uint64_t usec, void *ud)
{
	struct forkserver *fs = ud;

	for (struct worker *w = fs->workers; w != NULL; w = w->next)
		/* idle_since may be later than usec (a report handled after
		 * the timer was due): no unsigned wrap-around */
		if (!w->busy && !w->retired &&
		    w->idle_since + WORKER_IDLE_SEC * 1000000ULL <= usec)
			worker_retire(w);
	sd_event_source_set_time(s, usec + WORKER_IDLE_SEC * 1000000ULL);
	sd_event_source_set_enabled(s, SD_EVENT_ON);
	return 0;
}

static int
on_accept(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
	struct forkserver *fs = ud;
	struct sockaddr_storage ss;
	unsigned char key[16];
	socklen_t sl;
	unsigned limit = 0;
	int conn, keyed;
	pid_t pid;

	(void)s;
	(void)revents;
	for (int i = 0; i < ACCEPT_BURST && can_take(fs); i++) {
		sl = sizeof(ss);
		memset(&ss, 0, sizeof(ss));
		conn = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
		if (conn == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR || errno == ECONNABORTED)
				return 0;
			log_msg(LOG_ERR, "accept_failed", "reason",
			    strerror(errno), (char *)NULL);
			pause_listening(fs);
			return 0;
		}
		keyed = fs->srcs != NULL && source_key(conn, &ss, key, &limit);
		if (keyed && source_count(fs, key) >= limit) {
			source_refuse(conn, &ss, key);
			continue;
		}
		if (fs->max_use > 1) {
			struct worker *w = worker_take(fs, conn);

			close(conn);
			if (w != NULL && keyed)
				source_add(fs, 0, w, key);
			if (w == NULL) {
				log_msg(LOG_ERR, "worker_failed", "reason",
				    strerror(errno), (char *)NULL);
				pause_listening(fs);
				return 0;
			}
			continue;
		}
		pid = fork();
		if (pid == 0)
			run_child(fs, conn);
		close(conn);
		if (pid == -1) {
			log_msg(LOG_ERR, "fork_failed", "reason",
			    strerror(errno), (char *)NULL);
			pause_listening(fs);
			return 0;
		}
		fs->children++;
		if (keyed)
			source_add(fs, pid, NULL, key);
	}
	if (!can_take(fs)) {
		log_msg(LOG_WARNING, "limit_reached", "reason",
		    "too many connections at once; new ones wait",
		    (char *)NULL);
		set_listening(fs, 0);
	}
	return 0;
}

static int
on_sigchld(sd_event_source *s, const struct signalfd_siginfo *si, void *ud)
{
	struct forkserver *fs = ud;
	int reaped = 0;

	(void)s;
	(void)si;
	for (int i = 0; i < 100000; i++) {
		pid_t pid = waitpid(-1, NULL, WNOHANG);
		struct worker *w;

		if (pid <= 0)
			break;
		for (w = fs->workers; w != NULL && w->pid != pid; w = w->next)
			;
		if (w != NULL)
			worker_free(w);
		else
			source_end(fs, pid, NULL);
		if (fs->children > 0)
			fs->children--;
		reaped = 1;
	}
	if (reaped && can_take(fs) && (fs->pause == NULL ||
	    sd_event_source_get_enabled(fs->pause, NULL) == 0))
		set_listening(fs, 1);
	return 0;
}

static int
on_stop(sd_event_source *s, const struct signalfd_siginfo *si, void *ud)
{
	struct forkserver *fs = ud;

	(void)s;
	(void)si;
	sd_event_exit(fs->ev, 0);
	return 0;
}

/* A worker pool holds one descriptor per worker: make room for them
 * (the soft limit is often 1024; the hard one much higher). */
static void
raise_fd_limit(unsigned max)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)max * 2 + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ?
	    want : rl.rlim_max;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
}

int
forkserver_run(const int *fds, int n, unsigned max_children,
    unsigned max_use, forkserver_child_fn *child, void *arg)
{
	struct forkserver fs;
	sigset_t ss;
	int rc = -1;

	memset(&fs, 0, sizeof(fs));
	fs.epfd = -1;
	if (n < 1 || n > FORKSERVER_MAX_FDS) {
		log_msg(LOG_ERR, "fatal", "reason", "bad number of listening "
		    "sockets", (char *)NULL);
		return -1;
	}
	fs.fds = fds;
	fs.n = n;
	fs.max = max_children > 0 ? max_children : 1;
	fs.max_use = max_use > 0 ? max_use : 1;
	raise_fd_limit(fs.max);
	if ((per_source > 0 || per_uid > 0) &&
	    (fs.srcs = calloc(fs.max, sizeof(*fs.srcs))) == NULL) {
		log_msg(LOG_ERR, "fatal", "reason", "out of memory",
		    (char *)NULL);
		return -1;
	}
	fs.child = child;
	fs.arg = arg;
	sigemptyset(&ss);
	sigaddset(&ss, SIGCHLD);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	if (sigprocmask(SIG_BLOCK, &ss, NULL) != 0 ||
	    sd_event_new(&fs.ev) < 0 ||
	    sd_event_add_signal(fs.ev, NULL, SIGCHLD, on_sigchld, &fs) < 0 ||
	    sd_event_add_signal(fs.ev, NULL, SIGTERM, on_stop, &fs) < 0 ||
	    sd_event_add_signal(fs.ev, NULL, SIGINT, on_stop, &fs) < 0) {
		log_msg(LOG_ERR, "fatal", "reason", "cannot set up the event "
		    "loop", (char *)NULL);
		goto out;
	}
	fs.epfd = sd_event_get_fd(fs.ev);
	for (int i = 0; i < n; i++) {
		if (io_set_nonblock(fds[i], 1) == -1 ||
		    io_set_cloexec(fds[i], 1) == -1 ||
		    sd_event_add_io(fs.ev, &fs.src[i], fds[i], EPOLLIN,
		    on_accept, &fs) < 0) {
			log_msg(LOG_ERR, "fatal", "reason", "cannot watch a "
			    "listening socket", (char *)NULL);
			goto out;
		}
	}
	if (sd_event_add_time_relative(fs.ev, &fs.pause, CLOCK_MONOTONIC,
	    PAUSE_USEC, 0, on_pause_end, &fs) < 0 ||
	    sd_event_source_set_enabled(fs.pause, SD_EVENT_OFF) < 0 ||
	    (fs.max_use > 1 && sd_event_add_time_relative(fs.ev,
	    &fs.idle_timer, CLOCK_MONOTONIC, WORKER_IDLE_SEC * 1000000ULL,
	    1000000, on_idle_timer, &fs) < 0)) {
		log_msg(LOG_ERR, "fatal", "reason", "cannot set up a timer",
		    (char *)NULL);
		goto out;
	}
	(void)sd_notify(0, "READY=1");
	rc = sd_event_loop(fs.ev) < 0 ? -1 : 0;
out:
	for (int i = 0; i < n; i++)
		sd_event_source_disable_unref(fs.src[i]);
	sd_event_source_disable_unref(fs.pause);
	sd_event_source_disable_unref(fs.idle_timer);
	/* workers see EOF and exit after their connection */
	while (fs.workers != NULL)
		worker_free(fs.workers);
	free(fs.srcs);
	sd_event_unref(fs.ev);
	return rc;
}
