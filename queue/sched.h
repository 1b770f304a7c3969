/*
 * sched.h — posthorn-send's state: the index of queued messages, the
 * messages being attempted ("rounds"), the jobs waiting for or running in
 * delivery agents, and the concurrency counters.  One process, one
 * sd-event loop; nothing here blocks for long except the short writes of
 * a job into an agent's socket.
 */
#ifndef POSTHORN_QUEUE_SCHED_H
#define POSTHORN_QUEUE_SCHED_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "common/agent.h"
#include "common/config.h"
#include "queue/index.h"
#include "queue/spool.h"

enum job_class { CLASS_LOCAL = 0, CLASS_REMOTE, CLASS_BOUNCE, NCLASS };

struct sched;
struct agent;

struct round {
	struct sched *s;
	struct qent *ent;
	struct spool_rec rec;
	int msgfd;
	bool fresh;		/* its queue file is still in incoming/ */
	size_t jobs;		/* jobs not finished */
	int phase;		/* 0 deliveries, 1 notices */
	bool removing;		/* sendmail -Mrm: remove when it ends */
	int64_t started;
};

struct job {
	struct round *round;
	enum agent_kind_of_job kind;
	enum job_class cls;
	char domain[256];
	uint32_t *idx;
	char *got;		/* per idx: result received */
	size_t n;
	struct agent *agent;
	int counted;		/* holds a concurrency slot */
	struct job *next;	/* wait queue */
};

struct jobq {
	struct job *head, *tail;
	size_t n;
};

#define PICKED_MAX 16

struct sched {
	struct config cfg;
	char *spool;
	sd_event *ev;
	sd_event_source *timer;
	struct qindex ix;
	size_t rounds;		/* active rounds */
	struct jobq wait[NCLASS];
	struct {		/* due messages whose every delivery is for a
				   class with all agents busy and as many
				   jobs waiting: no round until it has room */
		struct qent *head, *tail;
		size_t n;
	} parked[NCLASS];
	size_t running[NCLASS];
	int spawnfd;		/* POSTHORN_SPAWN_FD, or -1 */
	int lockfd;		/* the spool directory, flock'd (recover.c) */
	int stopping;
	int woken;		/* wake-ups since the last pickup scan */
	uint64_t rnd;
	int kicking, kick_again;
	int dispatching, dispatch_again;
	char status_last[200];	/* STATUS= last sent */
	uint64_t status_sent;	/* when (monotonic usec) */
	int status_pending;
	sd_event_source *status_timer;
	/* files picked up and not yet in a round: their descriptor and
	 * first record, so the round need not open and read them again */
	struct picked {
		char qid[QID_LEN + 1];	/* "" free */
		int fd;
		struct spool_rec rec;
	} picked[PICKED_MAX];
	unsigned picked_next;		/* the slot to reuse next */
};

/* sched.c */
int sched_init(struct sched *s, const char *confdir, struct buf *err);
/* Keep a picked-up file's descriptor and first record for its first
 * round (both taken over); the oldest kept one makes room. */
void picked_put(struct sched *s, const char *qid, int fd,
    struct spool_rec *rec);
/* Take them back (0), or -1 when qid is not kept; picked_drop forgets
 * qid (its file is moved or removed).  picked_clear forgets all. */
int picked_take(struct sched *s, const char *qid, int *fd,
    struct spool_rec *rec);
void picked_drop(struct sched *s, const char *qid);
void picked_clear(struct sched *s);
/* Re-arm the timer for the earliest due message (or start due ones). */
void sched_kick(struct sched *s);
/* Make every deferred message (or those with a pending recipient in
 * domain) due now. */
void sched_flush(struct sched *s, const char *domain);
void sched_status(struct sched *s);
/* Remove qid at the administrator's request (sendmail -Mrm), without
 * any notice: at once, or, while a round of it is under way, when the
 * jobs already running in agents end (the waiting ones are dropped). */
void sched_remove(struct sched *s, const char *qid);
/* Called by agents.c when a job's agent is finished: recipients without
 * a result get a temporary failure "4.3.0 <reason>".  Frees j. */
void job_finished(struct job *j, const char *reason);
/* Apply one result of a job.  -1 if the index is not one of the job's or
 * was already reported (a protocol error). */
int job_result(struct job *j, const struct agent_result *r);
/* Take a waiting job of class c for domain (NULL: any) and, for local
 * jobs, recipient rcpt (NULL: any) with the same own-mailbox mark out of
 * its queue, counted as running (agent reuse); NULL if none. */
struct job *sched_take_waiting(struct sched *s, enum job_class c,
    const char *domain, const char *rcpt, bool own_mailbox);
/* The envelope of a job's recipients (shallow: shares the round's
 * strings; free with free(e->rcpts) only). */
int job_envelope(const struct job *j, struct envelope *e);

/* agents.c */
/* Watch the spawner's answers (when there is a spawner). */
int agents_init(struct sched *s);
void agent_start(struct job *j);
/* An idle posthorn-local or posthorn-remote that may take job j, or
 * NULL; give it j (already counted as running). */
struct agent *agent_idle_for(const struct job *j);
void agent_give(struct agent *a, struct job *j);
/* Agent processes we have not seen end; of them idle (between jobs). */
size_t agents_running(void);
size_t agents_idle(void);
size_t agents_idle_class(enum job_class c);
/* Stop the longest-idle agent of class c: 1 if there was one. */
int agents_evict_idle(enum job_class c);
/* Stop every idle agent (stop, reload). */
void agents_close_idle(void);
void agents_kill_all(void);

/* recover.c */
int recover(struct sched *s);
/* Remove what dead injectors left (temporary files, unfinished files in
 * incoming/) and pick up what a lost wake-up did not; every hour. */
void sweep(struct sched *s);
/* Pick up every complete file in incoming/ (removing abandoned ones);
 * the number picked up, -1 if incoming/ cannot be read. */
int scan_incoming(struct sched *s);
/* Pick up incoming/QID, named by its injector's wake-up: 1 if done. */
int pickup_one(struct sched *s, const char *qid);
void quarantine(struct sched *s, const char *sub, const char *name,
    const char *why);
/* A record and its message file (if any), so both can be repaired. */
void quarantine_message(struct sched *s, const char *sub, const char *qid,
    const char *why);

#endif
