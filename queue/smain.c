/*
 * smain.c — posthorn-send: the scheduler.  Recovers the spool, then runs
 * an sd-event loop: wake-ups from posthorn-queue on SPOOL/wake, a timer
 * for the next due message, delivery agents' sockets and exits (and the
 * spawner's reports of them), SIGTERM (clean stop: idle agents are sent
 * away, busy ones get STOP_GRACE_USEC), SIGHUP (reload; idle agents,
 * which read the old configuration, are sent away).  Type=notify:
 * READY=1 after recovery, WATCHDOG=1 when WATCHDOG_USEC is set, STATUS=
 * with counts.  Trusts its
 * configuration; wake-up datagrams are checked (only N, F and D are
 * known).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/log.h"
#include "common/qid.h"
#include "queue/closer.h"
#include "queue/notify.h"
#include "queue/sched.h"

#define STOP_GRACE_USEC (10 * 1000000ULL)
#define SWEEP_USEC (3600 * 1000000ULL)
#define PICKUP_USEC (1000000ULL)

static const char *confdir;

static int
wake_cb(sd_event_source *src, int fd, uint32_t revents, void *arg)
{
	struct sched *s = arg;
	char b[300];
	const char *why;
	ssize_t n;
	int i, scan = 0;

	(void)src;
	(void)revents;
	for (i = 0; i < 1000; i++) {
		n = recv(fd, b, sizeof(b) - 1, MSG_DONTWAIT);
		if (n <= 0)
			break;
		b[n] = '\0';
		s->woken = 1;
		if (n == 1 && b[0] == 'N')
			scan = 1;
		else if (b[0] == 'N' && n == QID_LEN + 1 && qid_valid(b + 1)) {
			if (!s->stopping)
				(void)pickup_one(s, b + 1);
		} else if (b[0] == 'F' && n == 1)
			sched_flush(s, NULL);
		else if (b[0] == 'F' && memchr(b, '\0', (size_t)n) == NULL &&
		    addr_domain_valid(b + 1, (size_t)n - 1, 0, &why) == 0)
			sched_flush(s, b + 1);
		else if (b[0] == 'D' && n == QID_LEN + 1 && qid_valid(b + 1))
			sched_remove(s, b + 1);
		else
			log_msg(LOG_WARNING, "wake", "reason",
			    "unknown datagram", NULL);
	}
	if (scan && !s->stopping)
		(void)scan_incoming(s);
	sched_kick(s);
	return 0;
}

/* The wake socket's queue is short (net.unix.max_dgram_qlen) and
 * injectors never block on it: under load some "NQID" are lost.  A
 * second after any wake-up, scan incoming/ for what they named. */
static int
pickup_cb(sd_event_source *src, uint64_t usec, void *arg)
{
	struct sched *s = arg;

	if (s->woken && !s->stopping) {
		s->woken = 0;
		if (scan_incoming(s) > 0)
			sched_kick(s);
	}
	sd_event_source_set_time(src, usec + PICKUP_USEC);
	sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
	return 0;
}

static int
sweep_cb(sd_event_source *src, uint64_t usec, void *arg)
{
	struct sched *s = arg;

	if (!s->stopping)
		sweep(s);
	sd_event_source_set_time(src, usec + SWEEP_USEC);
	sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
	return 0;
}

/* Every delivery in progress holds descriptors (message, agent socket):
 * allow as many as the hard limit permits. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int
bind_wake(struct sched *s)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (spool_path(sun.sun_path, sizeof(sun.sun_path), s->spool, "wake",
	    "") == -1)
		return -1;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return -1;
	(void)unlink(sun.sun_path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chmod(sun.sun_path, 0660) == -1 ||
	    sd_event_add_io(s->ev, NULL, fd, EPOLLIN, wake_cb, s) < 0) {
		close(fd);
		return -1;
	}
	return 0;
}

static int
stop_now(sd_event_source *src, uint64_t usec, void *arg)
{
	struct sched *s = arg;

	(void)src;
	(void)usec;
	agents_kill_all();
	return sd_event_exit(s->ev, 0);
}

static int
post_cb(sd_event_source *src, void *arg)
{
	struct sched *s = arg;

	(void)src;
	if (s->stopping && agents_running() == 0)
		return sd_event_exit(s->ev, 0);
	return 0;
}

static int
term_cb(sd_event_source *src, const struct signalfd_siginfo *si, void *arg)
{
	struct sched *s = arg;
	uint64_t now;

	(void)src;
	(void)si;
	if (s->stopping)
		return 0;
	log_msg(LOG_INFO, "stopping", "agents", agents_running() > 0 ?
	    "running" : "none", NULL);
	notify_send("STOPPING=1", true);
	s->stopping = 1;
	agents_close_idle();
	sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
	sd_event_now(s->ev, CLOCK_MONOTONIC, &now);
	if (sd_event_add_time(s->ev, NULL, CLOCK_MONOTONIC,
	    now + STOP_GRACE_USEC, 0, stop_now, s) < 0 ||
	    sd_event_add_post(s->ev, NULL, post_cb, s) < 0 ||
	    agents_running() == 0)
		return sd_event_exit(s->ev, 0);
	return 0;
}

/* WATCHDOG=1 from the event loop, every quarter of WATCHDOG_USEC: a
 * loop that hangs stops the pings and the service manager restarts us. */
static int
watchdog_cb(sd_event_source *src, uint64_t usec, void *arg)
{
	(void)arg;
	notify_send("WATCHDOG=1", true);
	if (sd_event_source_set_time(src, usec + notify_watchdog_usec() / 4)
	    < 0 || sd_event_source_set_enabled(src, SD_EVENT_ONESHOT) < 0)
		log_msg(LOG_ERR, "watchdog", "reason", "cannot rearm the timer",
		    NULL);
	return 0;
}

static int
hup_cb(sd_event_source *src, const struct signalfd_siginfo *si, void *arg)
{
	struct sched *s = arg;
	struct config nc;
	struct buf err = BUF_INIT;

	(void)src;
	(void)si;
	notify_send("RELOADING=1", true);
	if (config_load(confdir, &nc, &err) == -1) {
		log_msg(LOG_ERR, "reload", "status", "failed", "reason",
		    buf_str(&err), NULL);
	} else {
		if (strcmp(nc.spool, s->spool) != 0)
			log_msg(LOG_WARNING, "reload", "reason",
			    "spool change needs a restart", NULL);
		config_free(&s->cfg);
		s->cfg = nc;
		log_msg(LOG_INFO, "reload", "status", "ok", NULL);
	}
	agents_close_idle();	/* they read the old configuration */
	buf_free(&err);
	notify_send("READY=1", true);
	sched_kick(s);
	return 0;
}

int
main(int argc, char **argv)
{
	static struct sched s;
	struct buf err = BUF_INIT;
	sigset_t ss;
	uint64_t now;
	int ch;

	log_init("posthorn-send");
	while ((ch = getopt(argc, argv, "C:v")) != -1) {
		if (ch == 'C')
			confdir = optarg;
		else if (ch == 'v')
			log_set_verbose(1);
		else
			die(64, "usage", "posthorn-send [-v] [-C dir]");
	}
	confdir = config_dir(confdir);
	/* before anything is started: no agent may inherit the socket */
	if (notify_init() == -1)
		die(64, "bad " NOTIFY_FD_ENV, "");
	sigemptyset(&ss);
	sigaddset(&ss, SIGCHLD);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGHUP);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	if (sched_init(&s, confdir, &err) == -1)
		die(78, "configuration error", buf_str(&err));
	if (setenv("POSTHORN_CONF", confdir, 1) == -1 ||
	    spool_drop_privileges(s.spool) == -1)
		die(75, "cannot set up", strerror(errno));
	if (closer_start() == -1)
		log_msg(LOG_WARNING, "closer", "reason", strerror(errno),
		    (char *)NULL);	/* files are closed inline */
	if (agents_init(&s) == -1)
		die(75, "cannot watch the spawner", "");
	if (recover(&s) == -1)
		die(75, "cannot recover the spool", strerror(errno));
	if (bind_wake(&s) == -1)
		die(75, "cannot bind the wake socket", strerror(errno));
	sd_event_now(s.ev, CLOCK_MONOTONIC, &now);
	s.woken = 1;	/* what finished between recovery and bind_wake */
	if (sd_event_add_time(s.ev, NULL, CLOCK_MONOTONIC, now + SWEEP_USEC,
	    60 * 1000000ULL, sweep_cb, &s) < 0 ||
	    sd_event_add_time(s.ev, NULL, CLOCK_MONOTONIC, now + PICKUP_USEC,
	    100000ULL, pickup_cb, &s) < 0 ||
	    sd_event_add_signal(s.ev, NULL, SIGTERM, term_cb, &s) < 0 ||
	    sd_event_add_signal(s.ev, NULL, SIGINT, term_cb, &s) < 0 ||
	    sd_event_add_signal(s.ev, NULL, SIGHUP, hup_cb, &s) < 0 ||
	    (notify_watchdog_usec() > 0 && sd_event_add_time(s.ev, NULL,
	    CLOCK_MONOTONIC, now + notify_watchdog_usec() / 4,
	    notify_watchdog_usec() / 20, watchdog_cb, &s) < 0))
		die(75, "cannot set up the event loop", "");
	sched_kick(&s);
	notify_send("READY=1", true);
	log_msg(LOG_INFO, "ready", NULL);
	sched_status(&s);
	if (sd_event_loop(s.ev) < 0)
		die(75, "event loop failed", "");
	picked_clear(&s);
	log_msg(LOG_INFO, "stopped", NULL);
	return 0;
}
