/*
 * agents.c — posthorn-send's delivery agent processes: start one per job
 * (fork+exec of libexec_path(name), or through the root spawner for local
 * and remote deliveries), hand it the job over a socketpair
 * (queue/PROTOCOL.md §3), read its results without blocking, enforce a
 * time limit, and reap it.  An agent that said "done" may get the next
 * job: posthorn-remote for the same domain (connection reuse), and
 * posthorn-local for the same recipient (the spawner bound it to that
 * recipient).  Both wait idle for the next such job (LOCAL_IDLE_USEC,
 * REMOTE_IDLE_USEC, posthorn-remote with its SMTP connection open) before
 * they are sent away, so that a burst of mail for one mailbox or one
 * domain costs one process (and one connection).
 *
 * Agents started by the spawner are not our children: we name them with
 * an id, the spawner tells us when one is over (an X frame on the spawn
 * socket, read here), and kills one on request (K) when its time is up.
 *
 * Trusts: nothing an agent says.  Frames are size-limited and results are
 * validated (agent_result_decode, job_result); a misbehaving agent is
 * killed and its unreported recipients get a temporary failure.  The
 * spawner's answers are checked too (spawn_exit_decode); an answer for an
 * agent we do not know is logged and ignored.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/frame.h"
#include "common/log.h"
#include "queue/sched.h"

#define AGENT_IN_MAX	(64 * 1024)	/* unconsumed result bytes */
#define AGENT_FRAME_MAX	8192
#define AGENT_REUSE_MAX	100	/* jobs per agent while another domain
				   (recipient) waits for a slot: it gets its
				   turn */
#define AGENT_REUSE_HARD 1000	/* jobs per agent at most (a local agent's
				   uid is chosen afresh after a minute, see
				   LOCAL_MAX_AGE_USEC) */
#define LOCAL_MAX_AGE_USEC (60 * 1000000ULL)	/* no new job for a local
				   agent older than this (see PROTOCOL.md) */
#define REMOTE_IDLE_USEC	(5 * 1000000ULL)	/* an idle posthorn-remote
						   (and its connection) */
#define LOCAL_IDLE_USEC	(60 * 1000000ULL)	/* an idle posthorn-local
				   waits this long for its next job (and never
				   past LOCAL_MAX_AGE_USEC): a quiet server's
				   next message for the same mailbox costs no
				   process start (bench/RESULTS.md, 2026-11-23);
				   idle agents are bounded by local_concurrency
				   and the oldest makes room for a new one */
#define SPAWN_IN_MAX	(64 * 1024)

static uint64_t agent_limit(const struct sched *s, const struct job *j);

struct agent {
	struct sched *s;
	struct job *job;	/* NULL when idle or finished */
	enum job_class cls;
	char name[32];
	pid_t pid;		/* our child, or -1 */
	uint64_t spawn_id;	/* started by the spawner, or 0 */
	int fd;			/* our end of the control socket (non-blocking) */
	struct buf in;
	struct buf out;		/* job frames not yet sent (EPOLLOUT) */
	int out_fd;		/* the message descriptor to go with out's
				   first byte, or -1 once sent */
	sd_event_source *io, *timer, *child;
	int exited;		/* the process is gone (reaped / X frame) */
	int idle;		/* alive, between jobs, fd open */
	unsigned jobs;		/* jobs given to this process */
	uint64_t started;	/* CLOCK_MONOTONIC usec */
	char key[ADDR_MAX + 1];	/* posthorn-local: its recipient */
	bool own_mailbox;	/* ... and whether for its own mailbox only */
	struct agent *next, *prev;
};

static struct agent *all_agents;
static size_t nagents, nidle;
static uint64_t next_spawn_id;
static struct buf spawn_in = BUF_INIT;
static uint64_t limit_override;	/* POSTHORN_AGENT_TIMEOUT (tests) */
static uint64_t local_idle_usec = LOCAL_IDLE_USEC;	/* or
				   POSTHORN_LOCAL_IDLE (tests) */

size_t
agents_running(void)
{
	return nagents;
}

size_t
agents_idle(void)
{
	return nidle;
}

/* Kill an agent's process, ours or the spawner's. */
static void
agent_kill(struct agent *a)
{
	if (a->exited)
		return;
	if (a->pid > 0)
		kill(a->pid, SIGKILL);
	else if (a->spawn_id != 0 && spawn_request_send(a->s->spawnfd,
	    SPAWN_KILL, a->spawn_id, NULL, false, -1) == -1)
		log_msg(LOG_ERR, "agent", "agent", a->name, "reason",
		    "cannot ask the spawner to kill it", NULL);
}

void
agents_kill_all(void)
{
	struct agent *a;

	for (a = all_agents; a != NULL; a = a->next)
		if (a->pid > 0 && !a->exited)
			kill(a->pid, SIGTERM);
		else
			agent_kill(a);
}

/* Forget what was not sent (the agent is closed, or its socket broke). */
static void
discard_out(struct agent *a)
{
	buf_reset(&a->out);
	if (a->out_fd != -1) {
		close(a->out_fd);
		a->out_fd = -1;
	}
	if (a->io != NULL)
		sd_event_source_set_io_events(a->io, EPOLLIN);
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
	if (a->out_fd != -1)
		close(a->out_fd);
	if (a->idle)
		nidle--;
	buf_free(&a->in);
	buf_free(&a->out);
	if (a->prev != NULL)
		a->prev->next = a->next;
	else
		all_agents = a->next;
	if (a->next != NULL)
		a->next->prev = a->prev;
	nagents--;
	free(a);
}

/* Close our end of the control socket: the agent sees EOF and exits.
 * Frees the agent if its process is gone already (or we cannot know). */
static void
agent_close(struct agent *a)
{
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
	discard_out(a);
	if (a->idle) {
		a->idle = 0;
		nidle--;
	}
	a->job = NULL;
	if (a->exited || (a->pid <= 0 && a->spawn_id == 0))
		agent_free(a);
}

/* The job is over (results applied or not): close the agent, then
 * account for the job (which may dispatch the next one). */
static void
agent_finish(struct agent *a, const char *reason)
{
	struct job *j = a->job;

	agent_close(a);
	if (j != NULL) {
		j->agent = NULL;
		job_finished(j, reason);
	}
}

/* Stop every idle agent (SIGTERM: we are stopping; SIGHUP: they run
 * with the old configuration). */
void
agents_close_idle(void)
{
	struct agent *a, *n;

	for (a = all_agents; a != NULL; a = n) {
		n = a->next;
		if (a->idle)
			agent_close(a);
	}
}

/* Idle agents of class c. */
size_t
agents_idle_class(enum job_class c)
{
	struct agent *a;
	size_t n = 0;

	for (a = all_agents; a != NULL; a = a->next)
		if (a->idle && a->cls == c)
			n++;
	return n;
}

/* Make room for a new agent of class c: stop the oldest idle one.  1 if
 * there was one. */
int
agents_evict_idle(enum job_class c)
{
	struct agent *a, *old = NULL;

	for (a = all_agents; a != NULL; a = a->next)
		if (a->idle && a->cls == c)
			old = a;	/* the list is newest first */
	if (old == NULL)
		return 0;
	agent_close(old);
	return 1;
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
		if (a->job == NULL) {
			*why = "output while idle";
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

/*
 * The message descriptor for one agent: a new open file description of
 * the round's message file, so that agents working on the same message
 * at once do not share a file offset (posthorn-remote seeks and reads).
 * Falls back to a duplicate of the round's descriptor.  The caller owns
 * it; -1 (errno) if even that fails.
 */
static int
job_msgfd(const struct job *j)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", j->round->msgfd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd >= 0 ? fd : fcntl(j->round->msgfd, F_DUPFD_CLOEXEC, 0);
}

/*
 * Write what is pending in a->out without waiting; the rest goes when
 * the socket has room (EPOLLOUT, agent_io_cb).  A job can be far larger
 * than the socket's buffer (a remote job carries every recipient of its
 * domain), and an agent started by the spawner reads nothing until the
 * spawner has started it: a blocking write here would stop the whole
 * scheduler.  0 (sent, or waiting for room), -1 (errno) on a broken
 * socket.
 */
static int
agent_flush(struct agent *a)
{
	ssize_t n;

	while (a->out.len > 0) {
		if (a->out_fd != -1) {
			n = io_send_fd_nowait(a->fd, a->out.data, a->out.len,
			    a->out_fd);
			if (n > 0) {	/* the descriptor went with it */
				close(a->out_fd);
				a->out_fd = -1;
			}
		} else
			n = send(a->fd, a->out.data, a->out.len,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			buf_consume(&a->out, (size_t)n);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		return -1;
	}
	if (a->io != NULL)
		sd_event_source_set_io_events(a->io, a->out.len > 0 ?
		    EPOLLIN | EPOLLOUT : EPOLLIN);
	return 0;
}

/* Queue job j's frames for agent a, with a descriptor of the message of
 * its own, and send what fits now.  0, or -1 (errno). */
static int
agent_queue_job(struct agent *a, struct job *j, const struct envelope *e)
{
	int mfd;

	if (a->out_fd != -1) {	/* the last job's first byte is not even
				   sent: it cannot have said it was done */
		errno = EPROTO;
		return -1;
	}
	mfd = job_msgfd(j);
	if (mfd < 0)
		return -1;
	if (agent_job_encode(j->kind, e, j->idx, j->domain, &a->out) == -1) {
		close(mfd);
		return -1;
	}
	a->out_fd = mfd;
	return agent_flush(a);
}

/* Send job j to agent a (idle or just done) and arm its time limit. */
static int
agent_send_job(struct agent *a, struct job *j)
{
	struct envelope e;
	uint64_t now;
	int r;

	r = job_envelope(j, &e);
	if (r == 0) {
		r = agent_queue_job(a, j, &e);
		free(e.rcpts);
	}
	if (r == -1)
		return -1;
	a->jobs++;
	sd_event_now(a->s->ev, CLOCK_MONOTONIC, &now);
	sd_event_source_set_time(a->timer, now + agent_limit(a->s, j) *
	    1000000ULL);
	sd_event_source_set_enabled(a->timer, SD_EVENT_ONESHOT);
	return 0;
}

/* The recipient a local job delivers to (one per job: make_delivery_jobs
 * gives every local recipient a job of its own). */
static const struct rcpt *
job_rcpt(const struct job *j)
{
	return &j->round->rec.env.rcpts[j->idx[0]];
}

static int agent_fits(const struct agent *a, const struct job *j);

/* May agent a (alive, between jobs) take another job?  Past
 * AGENT_REUSE_MAX jobs only while the job that has waited longest in its
 * class is one it could take itself: a process that is not needed
 * elsewhere is not replaced by a new one for the same work. */
static int
agent_reusable(const struct agent *a)
{
	const struct job *oldest = a->s->wait[a->cls].head;
	uint64_t now;

	if (a->exited || a->fd == -1 || a->s->stopping ||
	    a->jobs >= AGENT_REUSE_HARD || (a->jobs >= AGENT_REUSE_MAX &&
	    oldest != NULL && !agent_fits(a, oldest)))
		return 0;
	if (a->cls == CLASS_REMOTE)
		return 1;
	if (a->cls != CLASS_LOCAL)
		return 0;
	sd_event_now(a->s->ev, CLOCK_MONOTONIC, &now);
	return now - a->started < LOCAL_MAX_AGE_USEC;
}

/* May local agent a deliver job j?  Under the spawner only to the
 * recipient it was started for; without it, posthorn-local runs as we do
 * and may take any local job. */
static int
agent_fits(const struct agent *a, const struct job *j)
{
	if (a->cls == CLASS_REMOTE) {
		/* its domain: the current job's while busy (the key is set
		 * when it goes idle) */
		const char *dom = a->job != NULL ? a->job->domain : a->key;

		return j->cls == CLASS_REMOTE && j->kind == JOB_DELIVER &&
		    strcasecmp(dom, j->domain) == 0;
	}
	return a->cls == CLASS_LOCAL && j->cls == CLASS_LOCAL &&
	    j->kind == JOB_DELIVER &&
	    (a->spawn_id == 0 || (strcmp(a->key, job_rcpt(j)->addr) == 0 &&
	    a->own_mailbox == job_rcpt(j)->own_mailbox));
}

/* An idle agent for job j (local: its recipient; remote: its domain,
 * with the SMTP connection it keeps open), or NULL. */
struct agent *
agent_idle_for(const struct job *j)
{
	struct agent *a;

	for (a = all_agents; a != NULL; a = a->next)
		if (a->idle && agent_reusable(a) && agent_fits(a, j))
			return a;
	return NULL;
}

/* Hand job j (counted as running) to idle agent a.  If that fails (the
 * agent has just died), start a fresh agent for j instead. */
void
agent_give(struct agent *a, struct job *j)
{
	a->idle = 0;
	nidle--;
	a->job = j;
	j->agent = a;
	if (agent_send_job(a, j) == 0)
		return;
	a->job = NULL;
	j->agent = NULL;
	agent_kill(a);
	agent_close(a);
	agent_start(j);
}

/* When idle agent a is sent away: REMOTE_IDLE_USEC from now (its SMTP
 * connection is held open), local_idle_usec for posthorn-local, but not
 * after LOCAL_MAX_AGE_USEC, when it could take no job anyway. */
static uint64_t
idle_until(const struct agent *a, uint64_t now)
{
	uint64_t end;

	if (a->cls == CLASS_REMOTE)
		return now + REMOTE_IDLE_USEC;
	end = now + local_idle_usec;
	if (a->started + LOCAL_MAX_AGE_USEC < end)
		end = a->started + LOCAL_MAX_AGE_USEC;
	return end > now ? end : now;
}

/* After an agent's done frame: give it the next waiting job it may take
 * (PROTOCOL.md §3), or let a local agent wait idle.  Returns 1 if it got
 * a job (keep reading), 0 if the job is over (the agent may be freed: do
 * not touch it). */
static int
agent_next(struct agent *a)
{
	struct job *old = a->job, *next = NULL;
	uint64_t now;
	int ok;

	if (agent_reusable(a))
		next = sched_take_waiting(a->s, a->cls, a->cls == CLASS_LOCAL ?
		    NULL : old->domain, a->spawn_id != 0 ? a->key : NULL,
		    a->own_mailbox);
	if (next != NULL) {
		a->job = next;
		next->agent = a;
		old->agent = NULL;
		ok = agent_send_job(a, next) == 0;
		if (!ok) {	/* frees a and finishes next */
			agent_kill(a);
			agent_finish(a, "cannot send job to delivery agent");
		}
		job_finished(old, "delivery agent ended early");
		return ok;
	}
	if ((a->cls == CLASS_LOCAL || (a->cls == CLASS_REMOTE &&
	    old->kind == JOB_DELIVER)) && agent_reusable(a)) {
		if (a->cls == CLASS_REMOTE)
			snprintf(a->key, sizeof(a->key), "%s", old->domain);
		a->job = NULL;
		old->agent = NULL;
		a->idle = 1;
		nidle++;
		sd_event_now(a->s->ev, CLOCK_MONOTONIC, &now);
		sd_event_source_set_time(a->timer, idle_until(a, now));
		sd_event_source_set_enabled(a->timer, SD_EVENT_ONESHOT);
		job_finished(old, "delivery agent ended early");
		return 0;
	}
	agent_finish(a, "delivery agent ended early");
	return 0;
}

/* Read what is available.  Returns 1 when the job ended (done, EOF,
 * error) and the agent may have been freed; 0 otherwise. */
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
			/* an idle agent may end (killed, or its own
			 * timeout): nothing is lost */
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
			if (agent_next(a) == 1)
				continue;
			return 1;
		}
		if (r == -1) {
			log_msg(LOG_ERR, "agent", "qid", a->job != NULL ?
			    a->job->round->ent->qid : "-", "agent", a->name,
			    "reason", why, NULL);
			agent_kill(a);
			agent_finish(a, "delivery agent protocol error");
			return 1;
		}
	}
}

static int
agent_io_cb(sd_event_source *src, int fd, uint32_t revents, void *arg)
{
	struct agent *a = arg;

	(void)src;
	(void)fd;
	if ((revents & EPOLLOUT) != 0 && agent_flush(a) == -1) {
		/* it went away (or broke the socket): what it said before
		 * is read below, then its end; the time limit covers the
		 * rest */
		log_msg(LOG_ERR, "agent", "qid", a->job != NULL ?
		    a->job->round->ent->qid : "-", "agent", a->name, "reason",
		    "cannot send the job", "detail", strerror(errno), NULL);
		discard_out(a);
	}
	(void)agent_drain(a);
	return 0;
}

static int
agent_timer_cb(sd_event_source *src, uint64_t usec, void *arg)
{
	struct agent *a = arg;

	(void)src;
	(void)usec;
	if (a->idle) {		/* waited long enough for another job */
		agent_close(a);
		return 0;
	}
	log_msg(LOG_WARNING, "agent", "qid", a->job->round->ent->qid,
	    "agent", a->name, "reason", "time limit exceeded", NULL);
	agent_kill(a);
	agent_finish(a, "delivery agent timed out");
	return 0;
}

static void
log_exit(const struct agent *a, const char *how, unsigned code)
{
	struct logline l;

	log_begin(&l, LOG_WARNING, "agent_exit");
	log_add(&l, "agent", a->name);
	if (a->pid > 0)
		log_addf(&l, "pid", "%ld", (long)a->pid);
	else
		log_addf(&l, "id", "%llu", (unsigned long long)a->spawn_id);
	log_add(&l, "how", how);
	log_addf(&l, "code", "%u", code);
	log_end(&l);
}

/* The process is gone: take what is left in the socket, then free. */
static void
agent_gone(struct agent *a)
{
	a->exited = 1;
	if (a->job != NULL) {
		/* results may still be in the socket: take them first */
		if (agent_drain(a) == 0)
			agent_finish(a, "delivery agent crashed");
		return;
	}
	if (a->fd != -1 && agent_drain(a) == 1)
		return;		/* EOF on an idle agent: closed and freed */
	agent_close(a);
}

static int
agent_child_cb(sd_event_source *src, const siginfo_t *si, void *arg)
{
	struct agent *a = arg;

	(void)src;
	if (si->si_code != CLD_EXITED || si->si_status != 0)
		log_exit(a, si->si_code == CLD_EXITED ? "exit" : "signal",
		    (unsigned)si->si_status);
	agent_gone(a);
	return 0;
}

/* The spawner's answers: one X frame per agent, when it is over. */
static void
spawn_answer(struct sched *s, const char *pl, size_t plen, char tag)
{
	struct spawn_exit x;
	struct agent *a;

	(void)s;
	if (spawn_exit_decode(tag, pl, plen, &x) == -1) {
		log_msg(LOG_ERR, "spawner", "reason", "malformed answer",
		    NULL);
		return;
	}
	for (a = all_agents; a != NULL; a = a->next)
		if (a->spawn_id == x.id && !a->exited)
			break;
	if (a == NULL) {
		log_msg(LOG_WARNING, "spawner", "reason",
		    "answer for an unknown agent", NULL);
		return;
	}
	if (strcmp(x.how, "exit") != 0 || x.code != 0)
		log_exit(a, x.how, x.code);
	agent_gone(a);
}

static int
spawn_io_cb(sd_event_source *src, int fd, uint32_t revents, void *arg)
{
	struct sched *s = arg;
	struct agent *a;
	const char *pl;
	size_t plen, used;
	char b[4096], tag;
	ssize_t n;
	int r, i;

	(void)revents;
	for (i = 0; i < 64; i++) {
		n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0 || buf_append(&spawn_in, b, (size_t)n) == -1 ||
		    spawn_in.len > SPAWN_IN_MAX) {
			/* the spawner is gone (or broken): the agents it
			 * started are out of reach; stop */
			log_msg(LOG_ERR, "spawner", "reason", n == 0 ?
			    "connection closed" : "read error", NULL);
			sd_event_source_disable_unref(src);
			for (a = all_agents; a != NULL; a = a->next)
				if (a->spawn_id != 0)
					a->exited = 1;
			raise(SIGTERM);
			return 0;
		}
		for (;;) {
			r = frame_decode(spawn_in.data, spawn_in.len,
			    SPAWN_FRAME_MAX, &tag, &pl, &plen, &used);
			if (r != FRAME_OK)
				break;
			spawn_answer(s, pl, plen, tag);
			buf_consume(&spawn_in, used);
		}
	}
	return 0;
}

/* A number of seconds from the environment (tests): 1 to max, else 0. */
static uint64_t
env_seconds(const char *name, unsigned long max)
{
	const char *t = getenv(name);
	char *end;
	unsigned long v;

	if (t == NULL || t[0] < '1' || t[0] > '9')
		return 0;
	errno = 0;
	v = strtoul(t, &end, 10);
	return errno == 0 && *end == '\0' && v <= max ? v : 0;
}

int
agents_init(struct sched *s)
{
	uint64_t idle = env_seconds("POSTHORN_LOCAL_IDLE", 60);

	limit_override = env_seconds("POSTHORN_AGENT_TIMEOUT", 86400);
	if (idle != 0)
		local_idle_usec = idle * 1000000ULL;
	if (s->spawnfd < 0)
		return 0;
	return sd_event_add_io(s->ev, NULL, s->spawnfd, EPOLLIN, spawn_io_cb,
	    s) < 0 ? -1 : 0;
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
	if (limit_override != 0)
		return limit_override;
	if (j->cls == CLASS_LOCAL)
		return s->cfg.local_program_timeout + 600;
	if (j->cls == CLASS_REMOTE)
		return 3600 + s->cfg.smtp_timeout * 4;
	/* posthorn-bounce: up to three notices per job (after a refusal,
	 * headers only, then postmaster), each up to 30 s to reach the
	 * queue and 600 s for its writes and 600 s for its verdict (an
	 * fsync on a slow disk; common/qclient.c).  Killing it sooner
	 * could come after the queue stored a notice: a duplicate. */
	return 3 * (30 + 600 + 600) + 60;
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
	a->jobs = 1;
	a->fd = sv[0];
	if (io_set_nonblock(sv[0], 1) == -1) {
		close(sv[1]);
		free(e.rcpts);
		return -1;
	}
	if (j->cls != CLASS_BOUNCE && a->s->spawnfd >= 0) {
		/* what fits in the socket now; the rest once the agent the
		 * spawner starts reads it */
		r = agent_queue_job(a, j, &e);
		if (++next_spawn_id > SPAWN_ID_MAX)
			next_spawn_id = 1;
		if (r == 0 && j->cls == CLASS_LOCAL) {
			snprintf(a->key, sizeof(a->key), "%s", e.rcpts[0].addr);
			a->own_mailbox = e.rcpts[0].own_mailbox;
		}
		if (r == 0)
			r = spawn_request_send(a->s->spawnfd, j->cls ==
			    CLASS_LOCAL ? SPAWN_LOCAL : SPAWN_REMOTE,
			    next_spawn_id, a->key, a->own_mailbox, sv[1]);
		free(e.rcpts);
		close(sv[1]);
		if (r == 0)
			a->spawn_id = next_spawn_id;
		return r;
	}
	pid = fork();
	if (pid == 0)
		child_exec(path, a->name, sv[1]);
	close(sv[1]);
	if (pid == -1) {
		free(e.rcpts);
		return -1;
	}
	a->pid = pid;
	r = agent_queue_job(a, j, &e);
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
	a->out_fd = -1;
	a->pid = -1;
	a->job = j;
	a->cls = j->cls;
	j->agent = a;
	snprintf(a->name, sizeof(a->name), "%s", agent_prog(j));
	a->next = all_agents;
	if (all_agents != NULL)
		all_agents->prev = a;
	all_agents = a;
	nagents++;
	sd_event_now(s->ev, CLOCK_MONOTONIC, &now);
	a->started = now;
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
	if ((a->pid > 0 && sd_event_add_child(s->ev, &a->child, a->pid,
	    WEXITED, agent_child_cb, a) < 0) ||
	    sd_event_add_io(s->ev, &a->io, a->fd, a->out.len > 0 ?
	    EPOLLIN | EPOLLOUT : EPOLLIN, agent_io_cb, a) < 0
	    || sd_event_add_time(s->ev, &a->timer, CLOCK_MONOTONIC,
	    now + agent_limit(s, j) * 1000000ULL, 1000000, agent_timer_cb,
	    a) < 0) {
		agent_kill(a);
		if (a->pid > 0 && a->child == NULL)
			a->exited = 1;
		agent_finish(a, "cannot watch delivery agent");
	}
}
