/*
 * agents.c — posthorn-send's delivery agent processes: start one per job
 * (fork+exec of libexec_path(name), or through the root spawner for local
 * deliveries), hand it the job over a socketpair (queue/PROTOCOL.md §3),
 * read its results without blocking, enforce a time limit, and reap it.
 *
 * Trusts: nothing an agent says.  Frames are size-limited and results are
 * validated (agent_result_decode, job_result); a misbehaving agent is
 * killed and its unreported recipients get a temporary failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/frame.h"
#include "common/log.h"
#include "queue/sched.h"

#define AGENT_IN_MAX	(64 * 1024)	/* unconsumed result bytes */
#define AGENT_FRAME_MAX	8192
#define AGENT_REUSE_MAX	100	/* jobs per remote agent: other domains
				   waiting for a slot get their turn */

static uint64_t agent_limit(const struct sched *s, const struct job *j);

struct agent {
	struct sched *s;
	struct job *job;	/* NULL once finished */
	char name[32];
	pid_t pid;		/* -1: started by the spawner */
	int fd;			/* our end of the control socket */
	struct buf in;
	sd_event_source *io, *timer, *child;
	int exited;
	unsigned jobs;		/* jobs given to this process */
	struct agent *next, *prev;
};

static struct agent *all_agents;
static size_t nagents;

size_t
agents_running(void)
{
	return nagents;
}

void
agents_kill_all(void)
{
	struct agent *a;

	for (a = all_agents; a != NULL; a = a->next)
		if (a->pid > 0 && !a->exited)
			kill(a->pid, SIGTERM);
}

static void
agent_free(struct agent *a)
{
	if (a->io != NULL)
		sd_event_source_disable_unref(a->io);
	if (a->timer != NULL)
		sd_event_source_disable_unref(a->timer);
	if (a->child != NULL)
		sd_event_source_disable_unref(a->child);
	if (a->fd != -1)
		close(a->fd);
	buf_free(&a->in);
	if (a->prev != NULL)
		a->prev->next = a->next;
	else
		all_agents = a->next;
	if (a->next != NULL)
		a->next->prev = a->prev;
	nagents--;
	free(a);
}

/* The job is over (results applied or not): close our end so the agent
 * sees EOF, and free the agent once its process is gone too. */
static void
agent_finish(struct agent *a, const char *reason)
{
	struct job *j = a->job;

	if (a->io != NULL) {
		sd_event_source_disable_unref(a->io);
		a->io = NULL;
	}
	if (a->timer != NULL) {
		sd_event_source_disable_unref(a->timer);
		a->timer = NULL;
	}
	if (a->fd != -1) {
		close(a->fd);
		a->fd = -1;
	}
	a->job = NULL;
	if (a->pid <= 0 || a->exited)
		agent_free(a);
	if (j != NULL) {
		j->agent = NULL;
		job_finished(j, reason);
	}
}

/* Is p[0..n) a complete frame (1), incomplete (0) or malformed (-1)? */
static int
frame_complete(const char *p, size_t n, size_t *total)
{
	size_t i, v = 0;

	for (i = 0; i < n && i <= 10; i++) {
		if (p[i] == ':')
			break;
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (size_t)(p[i] - '0');
	}
	if (i > 10 || v > AGENT_FRAME_MAX)
		return -1;
	if (i == n)
		return 0;
	*total = i + 1 + v + 1;
	return n >= *total ? 1 : 0;
}

/* Process complete frames in a->in.  0 go on, 1 done (Z), -1 bad. */
static int
agent_parse(struct agent *a, const char **why)
{
	struct agent_result r;
	const char *pl;
	size_t total, plen, used;
	char tag;
	int c;

	for (;;) {
		c = frame_complete(a->in.data, a->in.len, &total);
		if (c == 0)
			return 0;
		if (c == -1 || frame_decode(a->in.data, a->in.len,
		    AGENT_FRAME_MAX, &tag, &pl, &plen, &used) != FRAME_OK) {
			*why = "malformed frame";
			return -1;
		}
		c = agent_result_decode(tag, pl, plen, &r, why);
		buf_consume(&a->in, used);
		if (c == -1)
			return -1;
		if (c == 2)
			return 1;
		if (job_result(a->job, &r) == -1) {
			*why = "result for an unknown or repeated recipient";
			return -1;
		}
	}
}

/* After a remote agent's done frame: give it the next waiting job for
 * the same domain on the same connection (PROTOCOL.md §3), so that it can
 * reuse its SMTP connection.  1 if it got one. */
static int
agent_reuse(struct agent *a)
{
	struct job *old = a->job, *next;
	struct envelope e;
	uint64_t now;
	int r;

	if (old->cls != CLASS_REMOTE || a->pid <= 0 || a->exited ||
	    ++a->jobs >= AGENT_REUSE_MAX)
		return 0;
	next = sched_take_waiting(a->s, CLASS_REMOTE, old->domain);
	if (next == NULL)
		return 0;
	a->job = next;
	next->agent = a;
	old->agent = NULL;
	job_finished(old, "delivery agent ended early");
	r = job_envelope(next, &e);
	if (r == 0) {
		r = agent_job_send(a->fd, next->kind, &e, next->idx,
		    next->domain, next->round->msgfd);
		free(e.rcpts);
	}
	if (r == -1) {
		kill(a->pid, SIGKILL);
		agent_finish(a, "cannot send job to delivery agent");
		return -1;
	}
	sd_event_now(a->s->ev, CLOCK_MONOTONIC, &now);
	sd_event_source_set_time(a->timer, now + agent_limit(a->s, next) *
	    1000000ULL);
	sd_event_source_set_enabled(a->timer, SD_EVENT_ONESHOT);
	return 1;
}

/* Read what is available.  Returns 1 when the job ended (done, EOF,
 * error), after finishing the agent; 0 otherwise. */
static int
agent_drain(struct agent *a)
{
	char b[8192];
	const char *why = "";
	ssize_t n;
	int r;

	for (;;) {
		n = recv(a->fd, b, sizeof(b), MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0) {
			agent_finish(a, "delivery agent crashed");
			return 1;
		}
		if (buf_append(&a->in, b, (size_t)n) == -1 ||
		    a->in.len > AGENT_IN_MAX) {
			why = "too much output";
			r = -1;
		} else
			r = agent_parse(a, &why);
		if (r == 1) {
			r = agent_reuse(a);
			if (r == 1)
				continue;
			if (r == 0)
				agent_finish(a, "delivery agent ended early");
			return 1;
		}
		if (r == -1) {
			log_msg(LOG_ERR, "agent", "qid",
			    a->job->round->ent->qid, "agent", a->name,
			    "reason", why, NULL);
			if (a->pid > 0)
				kill(a->pid, SIGKILL);
			agent_finish(a, "delivery agent protocol error");
			return 1;
		}
	}
}

static int
agent_io_cb(sd_event_source *src, int fd, uint32_t revents, void *arg)
{
	(void)src;
	(void)fd;
	(void)revents;
	(void)agent_drain(arg);
	return 0;
}

static int
agent_timer_cb(sd_event_source *src, uint64_t usec, void *arg)
{
	struct agent *a = arg;

	(void)src;
	(void)usec;
	log_msg(LOG_WARNING, "agent", "qid", a->job->round->ent->qid,
	    "agent", a->name, "reason", "time limit exceeded", NULL);
	if (a->pid > 0)
		kill(a->pid, SIGKILL);
	agent_finish(a, "delivery agent timed out");
	return 0;
}

static int
agent_child_cb(sd_event_source *src, const siginfo_t *si, void *arg)
{
	struct agent *a = arg;
	struct logline l;

	(void)src;
	a->exited = 1;
	if (si->si_code != CLD_EXITED || si->si_status != 0) {
		log_begin(&l, LOG_WARNING, "agent_exit");
		log_add(&l, "agent", a->name);
		log_addf(&l, "pid", "%ld", (long)a->pid);
		log_add(&l, "how", si->si_code == CLD_EXITED ? "exit" :
		    "signal");
		log_addf(&l, "code", "%d", si->si_status);
		log_end(&l);
	}
	if (a->job != NULL) {
		/* results may still be in the socket: take them first */
		if (agent_drain(a) == 0)
			agent_finish(a, "delivery agent crashed");
		return 0;
	}
	agent_free(a);
	return 0;
}

static const char *
agent_prog(const struct job *j)
{
	return j->cls == CLASS_LOCAL ? "posthorn-local" :
	    j->cls == CLASS_REMOTE ? "posthorn-remote" : "posthorn-bounce";
}

static uint64_t
agent_limit(const struct sched *s, const struct job *j)
{
	if (j->cls == CLASS_LOCAL)
		return s->cfg.local_program_timeout + 600;
	if (j->cls == CLASS_REMOTE)
		return 3600 + s->cfg.smtp_timeout * 4;
	return 600;
}

static void
child_exec(const char *path, const char *name, int ctl)
{
	sigset_t all;
	int null;

	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (ctl == AGENT_FD)
		io_set_cloexec(ctl, 0);
	else if (dup2(ctl, AGENT_FD) == -1)
		_exit(111);
	null = open("/dev/null", O_RDWR);
	if (null == -1 || dup2(null, 0) == -1 || dup2(null, 1) == -1)
		_exit(111);
	if (null > AGENT_FD)
		close(null);
	execl(path, name, (char *)NULL);
	_exit(111);
}

static int
launch(struct agent *a, struct job *j, const char *path)
{
	struct envelope e;
	int sv[2], r;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return -1;
	if (job_envelope(j, &e) == -1) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (j->cls == CLASS_LOCAL && a->s->spawnfd >= 0) {
		r = agent_job_send(sv[0], j->kind, &e, j->idx, j->domain,
		    j->round->msgfd);
		if (r == 0)
			r = spawn_request_send(a->s->spawnfd, e.rcpts[0].addr,
			    sv[1]);
		free(e.rcpts);
		close(sv[1]);
		a->fd = sv[0];
		a->pid = -1;
		return r;
	}
	pid = fork();
	if (pid == 0)
		child_exec(path, a->name, sv[1]);
	close(sv[1]);
	a->fd = sv[0];
	if (pid == -1) {
		free(e.rcpts);
		return -1;
	}
	a->pid = pid;
	r = agent_job_send(sv[0], j->kind, &e, j->idx, j->domain,
	    j->round->msgfd);
	free(e.rcpts);
	return r;
}

void
agent_start(struct job *j)
{
	struct sched *s = j->round->s;
	struct agent *a;
	char path[4096];
	uint64_t now;

	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		job_finished(j, "out of memory");
		return;
	}
	a->s = s;
	a->fd = -1;
	a->pid = -1;
	a->job = j;
	j->agent = a;
	snprintf(a->name, sizeof(a->name), "%s", agent_prog(j));
	a->next = all_agents;
	if (all_agents != NULL)
		all_agents->prev = a;
	all_agents = a;
	nagents++;
	if (libexec_path(a->name, path, sizeof(path)) == -1 ||
	    launch(a, j, path) == -1) {
		log_msg(LOG_ERR, "agent", "qid", j->round->ent->qid, "agent",
		    a->name, "reason", strerror(errno), NULL);
		if (a->pid > 0)
			kill(a->pid, SIGKILL);
		if (a->pid > 0 && sd_event_add_child(s->ev, &a->child, a->pid,
		    WEXITED, agent_child_cb, a) < 0)
			a->exited = 1;	/* cannot watch it: reap elsewhere */
		agent_finish(a, "cannot start delivery agent");
		return;
	}
	sd_event_now(s->ev, CLOCK_MONOTONIC, &now);
	if ((a->pid > 0 && sd_event_add_child(s->ev, &a->child, a->pid,
	    WEXITED, agent_child_cb, a) < 0) ||
	    sd_event_add_io(s->ev, &a->io, a->fd, EPOLLIN, agent_io_cb, a) < 0
	    || sd_event_add_time(s->ev, &a->timer, CLOCK_MONOTONIC,
	    now + agent_limit(s, j) * 1000000ULL, 1000000, agent_timer_cb,
	    a) < 0) {
		if (a->pid > 0)
			kill(a->pid, SIGKILL);
		if (a->child == NULL)
			a->exited = 1;
		agent_finish(a, "cannot watch delivery agent");
	}
}
