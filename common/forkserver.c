/*
 * forkserver.c — a server of forked processes on listening sockets (see
 * forkserver.h): one process per connection, accepted by the server, or a
 * pool of workers that accept by themselves.
 *
 * Trust: nothing from peers is read here; a worker reads only one-byte
 * reports ("A", "D", "X") on its own channel, and anything else makes the
 * server stop counting on it.  Resource use is bounded by max_children; a
 * failing accept (EMFILE, ENFILE, ENOBUFS) or fork pauses briefly instead
 * of spinning.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "common/forkserver.h"
#include "common/io.h"
#include "common/log.h"

#define FORKSERVER_MAX_FDS	16
#define ACCEPT_BURST		32	/* connections per wake-up */
#define PAUSE_USEC		(200 * 1000ULL)	/* after EMFILE and such */
#define WORKER_IDLE_SEC		60	/* an idle worker this long exits */
#define WORKER_WAIT_MS		5000	/* a worker's report to the server */

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
	int at_limit;		/* max_use > 1: every worker busy, no room */
	sd_event_source *idle_timer;
	int epfd;		/* the loop's epoll descriptor, or -1 */
};

static void
set_listening(struct forkserver *fs, int on)
{
	for (int i = 0; i < fs->n; i++)
		sd_event_source_set_enabled(fs->src[i],
		    on ? SD_EVENT_ON : SD_EVENT_OFF);
}

static int can_take(const struct forkserver *fs);
static void keep_one_idle(struct forkserver *fs);

/* After a failed accept or fork: accept again, or start the worker that
 * could not be started. */
static int
on_pause_end(sd_event_source *s, uint64_t usec, void *ud)
{
	struct forkserver *fs = ud;

	(void)s;
	(void)usec;
	if (fs->max_use > 1)
		keep_one_idle(fs);
	else if (can_take(fs))
		set_listening(fs, 1);
	return 0;
}

/* The timer exists from the start (disabled): when descriptors have run
 * out, creating one here would fail and nothing would ever turn the
 * listener on again. */
static void
pause_retry(struct forkserver *fs)
{
	sd_event_source_set_time_relative(fs->pause, PAUSE_USEC);
	sd_event_source_set_enabled(fs->pause, SD_EVENT_ONESHOT);
}

static void
pause_listening(struct forkserver *fs)
{
	set_listening(fs, 0);
	pause_retry(fs);
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

/* In a new child: none of the server's event loop, default signals, and
 * no listening sockets unless it is a worker (which accepts on them).
 * The parent's loop is never used here. */
static void
prepare_child(struct forkserver *fs, int worker)
{
	sigset_t none;

	for (int i = 0; i < fs->n && !worker; i++)
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
	prepare_child(fs, 0);
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
 * Between connections both are blocked except inside epoll_pwait, so one
 * that arrives at any moment of the idle loop is seen; during a
 * connection the default action applies, as for any child. */
static volatile sig_atomic_t worker_stop;

static void
worker_stop_handler(int sig)
{
	(void)sig;
	worker_stop = 1;
}

static void
worker_signals(int idle)
{
	struct sigaction sa;
	sigset_t ss;

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
	if (!idle)
		(void)sigprocmask(SIG_UNBLOCK, &ss, NULL);
}

/* Wait up to ms, or until the server closes the channel (then exit). */
static void
worker_pause(int ctl, int ms)
{
	struct pollfd p = { .fd = ctl, .events = POLLIN };

	if (poll(&p, 1, ms) == 1)
		worker_exit(0);
}

/* Accept on listening socket fd, or -1: nothing there (another worker
 * was quicker) or a failure, logged and followed by a pause so that a
 * lack of descriptors or memory does not spin. */
static int
worker_accept(int fd, int ctl)
{
	int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

	if (conn >= 0)
		return conn;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
	    errno == ECONNABORTED)
		return -1;
	log_msg(LOG_ERR, "accept_failed", "reason", strerror(errno),
	    (char *)NULL);
	worker_pause(ctl, (int)(PAUSE_USEC / 1000));
	return -1;
}

/* Did a SIGTERM/SIGINT come while they were blocked? */
static int
worker_stop_pending(void)
{
	sigset_t pending;

	if (worker_stop)
		return 1;
	if (sigpending(&pending) != 0)
		return 0;
	return sigismember(&pending, SIGTERM) == 1 ||
	    sigismember(&pending, SIGINT) == 1;
}

/* In the worker: accept connections on the listening sockets, one at a
 * time, until the server closes ctl or max_use is reached.  The server
 * hears "A" when a connection is taken (so that it starts another worker
 * if this was the last idle one), then "D" (done, accepting again) or "X"
 * (done, exiting).  Idle workers wait in their own epoll with
 * EPOLLEXCLUSIVE: a new connection wakes one of them, not all. */
static void __attribute__((noreturn))
worker_loop(struct forkserver *fs, int ctl)
{
	struct epoll_event ev, got[FORKSERVER_MAX_FDS + 1];
	sigset_t during_wait;
	unsigned used = 0;
	char byte;
	int ep, n, r, conn;

	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		worker_exit(1);
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u32 = (uint32_t)fs->n;	/* the channel to the server */
	if (epoll_ctl(ep, EPOLL_CTL_ADD, ctl, &ev) == -1)
		worker_exit(1);
	for (int i = 0; i < fs->n; i++) {
		ev.events = EPOLLIN | EPOLLEXCLUSIVE;
		ev.data.u32 = (uint32_t)i;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fs->fds[i], &ev) == -1)
			worker_exit(1);
	}
	(void)sigprocmask(SIG_SETMASK, NULL, &during_wait);
	sigdelset(&during_wait, SIGTERM);
	sigdelset(&during_wait, SIGINT);
	for (;;) {
		worker_signals(1);
		if (worker_stop)
			worker_exit(0);
		n = epoll_pwait(ep, got, fs->n + 1, -1, &during_wait);
		if (worker_stop)
			worker_exit(0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			worker_exit(1);
		}
		conn = -1;
		for (int k = 0; k < n; k++)
			if (got[k].data.u32 == (uint32_t)fs->n)
				worker_exit(0);	/* the server closed: done */
		for (int k = 0; k < n && conn == -1; k++)
			conn = worker_accept(fs->fds[got[k].data.u32], ctl);
		if (conn == -1)
			continue;
		if (worker_stop_pending()) {
			/* a connection that came with the signal: its
			 * client sees the end of the connection, as if we
			 * had died */
			close(conn);
			worker_exit(0);
		}
		worker_signals(0);
		/* a server that is gone or retired us still lets us
		 * finish this connection; we leave after it */
		byte = 'A';
		(void)io_write_all(ctl, &byte, 1, WORKER_WAIT_MS);
		r = fs->child(conn, fs->arg);
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

/* Stop counting on w; closing our end tells an idle worker to exit (a
 * busy one exits after its connection). */
static void
worker_retire(struct worker *w)
{
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

static int
on_worker(sd_event_source *s, int fd, uint32_t revents, void *ud);

/* Fork a worker. */
static struct worker *
worker_start(struct forkserver *fs)
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
		close(sv[0]);
		for (struct worker *o = fs->workers; o != NULL; o = o->next)
			if (o->ctl != -1)
				close(o->ctl);
		prepare_child(fs, 1);
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
	w->idle_since = mono_usec(fs);
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

static const struct worker *
idle_worker(const struct forkserver *fs)
{
	for (const struct worker *w = fs->workers; w != NULL; w = w->next)
		if (!w->busy && !w->retired)
			return w;
	return NULL;
}

/* Keep one worker waiting for the next connection while there is room
 * for one; at the limit, connections wait in the listen queue until a
 * worker is done.  A failed fork is tried again after a pause. */
static void
keep_one_idle(struct forkserver *fs)
{
	if (idle_worker(fs) != NULL) {
		fs->at_limit = 0;
		return;
	}
	if (fs->children >= fs->max) {
		if (!fs->at_limit)
			log_msg(LOG_WARNING, "limit_reached", "reason",
			    "too many connections at once; new ones wait",
			    (char *)NULL);
		fs->at_limit = 1;
		return;
	}
	fs->at_limit = 0;
	if (fs->pause != NULL &&
	    sd_event_source_get_enabled(fs->pause, NULL) > 0)
		return;		/* a retry is due anyway */
	if (worker_start(fs) == NULL) {
		log_msg(LOG_ERR, "worker_failed", "reason", strerror(errno),
		    (char *)NULL);
		pause_retry(fs);
	}
}

/* What a worker says: "A" took a connection, "D" done and accepting
 * again, "X" done and leaving; EOF or anything out of turn: it is no
 * longer counted on (the process is reaped later). */
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
	for (ssize_t i = 0; i < n && !w->retired; i++) {
		if (b[i] == 'A' && !w->busy)
			w->busy = 1;
		else if (b[i] == 'D' && w->busy) {
			w->busy = 0;
			w->idle_since = mono_usec(fs);
		} else
			worker_retire(w);
	}
	if (n <= 0)
		worker_retire(w);
	keep_one_idle(fs);
	return 0;
}

/* One process per connection (max_use 1): is there room for another? */
static int
can_take(const struct forkserver *fs)
{
	return fs->children < fs->max;
}

/* Once a minute: idle workers beyond their time are told to exit, all
 * but one, which waits for the next connection. */
static int
on_idle_timer(sd_event_source *s, uint64_t usec, void *ud)
{
	struct forkserver *fs = ud;
	unsigned idle = 0;

	for (struct worker *w = fs->workers; w != NULL; w = w->next)
		if (!w->busy && !w->retired)
			idle++;
	for (struct worker *w = fs->workers; w != NULL && idle > 1;
	    w = w->next)
		/* idle_since may be later than usec (a report handled after
		 * the timer was due): no unsigned wrap-around */
		if (!w->busy && !w->retired &&
		    w->idle_since + WORKER_IDLE_SEC * 1000000ULL <= usec) {
			worker_retire(w);
			idle--;
		}
	sd_event_source_set_time(s, usec + WORKER_IDLE_SEC * 1000000ULL);
	sd_event_source_set_enabled(s, SD_EVENT_ON);
	return 0;
}

/* One process per connection (max_use 1): the server accepts. */
static int
on_accept(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
	struct forkserver *fs = ud;
	pid_t pid;
	int conn;

	(void)s;
	(void)revents;
	for (int i = 0; i < ACCEPT_BURST && can_take(fs); i++) {
		conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR || errno == ECONNABORTED)
				return 0;
			log_msg(LOG_ERR, "accept_failed", "reason",
			    strerror(errno), (char *)NULL);
			pause_listening(fs);
			return 0;
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
		if (fs->children > 0)
			fs->children--;
		reaped = 1;
	}
	if (fs->max_use > 1)
		keep_one_idle(fs);
	else if (reaped && can_take(fs) && (fs->pause == NULL ||
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
		    (fs.max_use <= 1 && sd_event_add_io(fs.ev, &fs.src[i],
		    fds[i], EPOLLIN, on_accept, &fs) < 0)) {
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
	if (fs.max_use > 1)
		keep_one_idle(&fs);	/* the first worker, accepting */
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
	sd_event_unref(fs.ev);
	return rc;
}
