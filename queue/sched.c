/*
 * sched.c — posthorn-send's scheduling: which messages are due, one
 * "round" per attempt of a message (deliveries, then owed notices), jobs
 * grouped by destination, concurrency limits, and recording every result
 * in the spool (queue/SPOOL.md invariant 5) before the message is
 * rescheduled or removed.
 *
 * Trusts: records it reads are decoded strictly (spool.c); results come
 * validated from agents.c.  A record that cannot be read is quarantined
 * and never stops other mail.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/log.h"
#include "queue/closer.h"
#include "queue/policy.h"
#include "queue/notify.h"
#include "queue/sched.h"

static void round_advance(struct round *rd);

/* Wall-clock seconds from the precise clock: time() reads the coarse
 * clock, which can still show the previous second when the timer for the
 * next one fires. */
static int64_t
now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}
static void dispatch(struct sched *s);

static uint64_t
rnd_next(struct sched *s)
{
	/* xorshift64*: jitter only, not security */
	s->rnd ^= s->rnd >> 12;
	s->rnd ^= s->rnd << 25;
	s->rnd ^= s->rnd >> 27;
	return s->rnd * 2685821657736338717ULL;
}

static size_t
class_limit(const struct sched *s, enum job_class c)
{
	uint64_t v = c == CLASS_REMOTE ? s->cfg.remote_concurrency :
	    s->cfg.local_concurrency;

	return v == 0 ? 1 : (size_t)v;
}

/* Jobs that may wait for a class's agents before it counts as full:
 * enough that an agent finishing a job finds the next one for its
 * domain or recipient among them (reuse), few enough to bound rounds. */
static size_t
wait_high(const struct sched *s, enum job_class c)
{
	size_t n = 4 * class_limit(s, c);

	return n > 16 ? n : 16;
}

/* Messages in rounds at once: each holds its record and descriptor.  A
 * class's rounds are about its agents' jobs plus wait_high() waiting
 * (see park()), so one slow class cannot take every round. */
static size_t
round_cap(const struct sched *s)
{
	size_t n = 16;
	int c;

	for (c = 0; c < NCLASS; c++)
		n += class_limit(s, (enum job_class)c) +
		    wait_high(s, (enum job_class)c);
	return n;
}

/* ---- parking ------------------------------------------------------------
 *
 * A class is full when all its agents are busy and wait_high() jobs wait
 * for them.  Once half the rounds are taken, a due message whose every
 * delivery is for full classes (a slow or unreachable destination holding
 * the remote agents, say) gets no round: its entry leaves the heap and
 * waits, in order, on its class's parked list until that class has room
 * again.  Otherwise such messages would fill every round and starve the
 * other classes: a remote tarpit would stop local delivery.
 */
static bool
class_full(const struct sched *s, enum job_class c)
{
	return s->running[c] >= class_limit(s, c) &&
	    s->wait[c].n >= wait_high(s, c);
}

static void
park(struct sched *s, struct qent *e, enum job_class c)
{
	e->parked = (int)c + 1;
	e->park_next = NULL;
	e->park_prev = s->parked[c].tail;
	if (s->parked[c].tail != NULL)
		s->parked[c].tail->park_next = e;
	else
		s->parked[c].head = e;
	s->parked[c].tail = e;
	s->parked[c].n++;
}

/* Take e off its parked list (it is removed, or its turn came). */
static void
unpark(struct sched *s, struct qent *e)
{
	enum job_class c;

	if (e->parked == 0)
		return;
	c = (enum job_class)(e->parked - 1);
	if (e->park_prev != NULL)
		e->park_prev->park_next = e->park_next;
	else
		s->parked[c].head = e->park_next;
	if (e->park_next != NULL)
		e->park_next->park_prev = e->park_prev;
	else
		s->parked[c].tail = e->park_prev;
	s->parked[c].n--;
	e->parked = 0;
	e->park_next = e->park_prev = NULL;
}

/* Make parked messages due again, oldest first, as many per class as it
 * has room for jobs (sched_kick starts them). */
static void
unpark_due(struct sched *s, int64_t now)
{
	struct qent *e;
	size_t room;
	int c;

	for (c = 0; c < NCLASS; c++) {
		if (s->parked[c].head == NULL ||
		    class_full(s, (enum job_class)c))
			continue;
		room = wait_high(s, (enum job_class)c);
		room = s->wait[c].n < room ? room - s->wait[c].n : 1;
		while (room-- > 0 && (e = s->parked[c].head) != NULL) {
			unpark(s, e);
			if (qindex_schedule(&s->ix, e, now) == -1) {
				log_msg(LOG_ERR, "schedule", "qid", e->qid,
				    "reason", "out of memory", NULL);
				park(s, e, (enum job_class)c);
				break;
			}
		}
	}
}

static size_t
parked_total(const struct sched *s)
{
	return s->parked[CLASS_LOCAL].n + s->parked[CLASS_REMOTE].n +
	    s->parked[CLASS_BOUNCE].n;
}

static int
rec_path(const struct sched *s, const char *sub, const char *qid,
    const char *suffix, char *out, size_t outsz)
{
	char name[QID_LEN + 8];

	snprintf(name, sizeof(name), "%s%s", qid, suffix);
	return spool_path(out, outsz, s->spool, sub, name);
}

/* Store the encoded record p (n octets) as env/QID.  0 or -1 (errno). */
static int
store_encoded(const struct sched *s, const char *qid, const char *p,
    size_t n)
{
	char tmp[4096], path[4096];

	if (rec_path(s, "tmp", qid, ".s", tmp, sizeof(tmp)) == -1 ||
	    rec_path(s, "env", qid, "", path, sizeof(path)) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return spool_rec_store_encoded(tmp, path, p, n);
}

/*
 * Record the round's state as env/QID.  When that fails (the spool full,
 * an I/O error) the state is kept in memory (ent->unsaved) and the
 * message is not moved to msg/: its next round first stores it and
 * delivers nothing until that works (start_round), so recipients already
 * delivered are not delivered again from an older record.  0 stored,
 * -1 kept in memory only.
 */
static int
round_store(struct round *rd)
{
	struct qent *ent = rd->ent;
	struct buf b = BUF_INIT;
	int rc = -1;

	if (spool_rec_encode(&rd->rec, &b) == 0) {
		rc = store_encoded(rd->s, ent->qid, b.data, b.len);
		if (rc == -1)
			log_msg(LOG_ERR, "spool_write", "qid", ent->qid,
			    "reason", strerror(errno), NULL);
	} else
		log_msg(LOG_ERR, "spool_write", "qid", ent->qid, "reason",
		    "out of memory", NULL);
	free(ent->unsaved);
	ent->unsaved = NULL;
	ent->unsaved_len = 0;
	if (rc == -1 && b.len > 0) {
		ent->unsaved = b.data;	/* keeps the encoding */
		ent->unsaved_len = b.len;
		b = (struct buf)BUF_INIT;
	}
	buf_free(&b);
	return rc;
}

/* ---- jobs --------------------------------------------------------------- */

/* A job for at most cap recipients: a message for thousands of local
 * recipients has as many jobs, and arrays as long as the envelope in each
 * would take memory in the square of its recipients. */
static struct job *
job_new(struct round *rd, enum agent_kind_of_job kind, enum job_class cls,
    const char *domain, size_t cap)
{
	struct job *j;

	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return NULL;
	if (cap == 0)
		cap = 1;
	j->idx = xcalloc_array(cap, sizeof(uint32_t));
	j->got = calloc(cap, 1);
	if (j->idx == NULL || j->got == NULL) {
		free(j->idx);
		free(j->got);
		free(j);
		return NULL;
	}
	j->round = rd;
	j->kind = kind;
	j->cls = cls;
	snprintf(j->domain, sizeof(j->domain), "%s", domain);
	return j;
}

static void
job_free(struct job *j)
{
	free(j->idx);
	free(j->got);
	free(j);
}

static void
job_enqueue(struct job *j)
{
	struct jobq *q = &j->round->s->wait[j->cls];

	if (j->n == 0) {
		job_free(j);
		return;
	}
	j->next = NULL;
	if (q->tail != NULL)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	q->n++;
	j->round->jobs++;
}

int
job_envelope(const struct job *j, struct envelope *e)
{
	const struct envelope *src = &j->round->rec.env;
	size_t k;

	*e = *src;
	e->rcpts = xcalloc_array(j->n, sizeof(struct rcpt));
	if (e->rcpts == NULL)
		return -1;
	for (k = 0; k < j->n; k++)
		e->rcpts[k] = src->rcpts[j->idx[k]];
	e->nrcpts = j->n;
	e->rcap = j->n;
	return 0;
}

static const char *
status_word(char st)
{
	return st == 'D' ? "sent" : st == 'T' ? "deferred" : "bounced";
}

static const char *
kind_word(enum agent_kind_of_job k)
{
	return k == JOB_BOUNCE_FAILED ? "failure" :
	    k == JOB_BOUNCE_DELAYED ? "delay" : "success";
}

static void
log_result(const struct job *j, size_t i, const struct agent_result *r)
{
	const struct round *rd = j->round;
	const struct rcpt *rc = &rd->rec.env.rcpts[i];
	struct logline l;

	if (j->kind == JOB_DELIVER) {
		log_begin(&l, r->status == 'D' ? LOG_INFO : LOG_WARNING,
		    "delivery");
		log_add(&l, "qid", rd->ent->qid);
		log_addf(&l, "to", "<%s>", rc->addr);
		log_add(&l, "relay", r->relay[0] != '\0' ? r->relay :
		    (j->cls == CLASS_LOCAL ? "local" : "none"));
		log_addf(&l, "delay", "%llds", (long long)(now_sec() -
		    rd->rec.env.arrival));
		log_add(&l, "dsn", r->dsn);
		log_add(&l, "status", status_word(r->status));
		log_add(&l, "text", r->text);
	} else {
		log_begin(&l, LOG_INFO, "notice");
		log_add(&l, "qid", rd->ent->qid);
		log_add(&l, "kind", kind_word(j->kind));
		log_addf(&l, "to", "<%s>", rc->addr);
		log_add(&l, "status", r->status == 'T' ? "deferred" :
		    "done");
		log_add(&l, "text", r->text);
	}
	log_end(&l);
}

int
job_result(struct job *j, const struct agent_result *r)
{
	struct round *rd = j->round;
	size_t k;

	for (k = 0; k < j->n; k++)
		if (j->idx[k] == r->rcpt_index)
			break;
	if (k == j->n || j->got[k])
		return -1;
	j->got[k] = 1;
	if (j->kind == JOB_DELIVER) {
		if (policy_apply_delivery(&rd->rec, r->rcpt_index, r->status,
		    r->dsn, r->text, r->relay, now_sec()) == -1)
			return -1;
	} else
		policy_apply_notice(&rd->rec, j->kind, r->rcpt_index,
		    r->status);
	log_result(j, r->rcpt_index, r);
	return 0;
}

void
job_finished(struct job *j, const char *reason)
{
	struct round *rd = j->round;
	struct sched *s = rd->s;
	struct agent_result r;
	size_t k;

	for (k = 0; k < j->n; k++) {
		if (j->got[k])
			continue;
		memset(&r, 0, sizeof(r));
		r.rcpt_index = j->idx[k];
		r.status = 'T';
		snprintf(r.dsn, sizeof(r.dsn), "4.3.0");
		snprintf(r.text, sizeof(r.text), "%s", reason);
		(void)job_result(j, &r);
	}
	/* The last job of a message that is now finished: it is removed
	 * next (round_advance -> round_end), so writing its final state
	 * would cost an fsync for nothing.  A crash before the removal
	 * repeats the delivery, the same window as between a delivery and
	 * its recording (SPOOL.md). */
	if (!rd->removing && !(rd->jobs == 1 && policy_done(&rd->rec)))
		round_store(rd);
	if (j->counted && s->running[j->cls] > 0)
		s->running[j->cls]--;
	job_free(j);
	if (--rd->jobs == 0)
		round_advance(rd);
	dispatch(s);
	if (parked_total(s) > 0)
		sched_kick(s);	/* a class may have room for them now */
}

struct job *
sched_take_waiting(struct sched *s, enum job_class c, const char *domain,
    const char *rcpt, bool own_mailbox)
{
	struct jobq *q = &s->wait[c];
	struct job *j, *prev = NULL;
	const struct rcpt *r;

	if (s->stopping)
		return NULL;
	for (j = q->head; j != NULL; prev = j, j = j->next) {
		if (domain != NULL && strcmp(j->domain, domain) != 0)
			continue;
		r = &j->round->rec.env.rcpts[j->idx[0]];
		/* a local agent the spawner started for "bob" must not get
		 * "\bob" (own mailbox only), nor the reverse: it refuses */
		if (rcpt != NULL && (j->kind != JOB_DELIVER ||
		    strcmp(r->addr, rcpt) != 0 || r->own_mailbox != own_mailbox))
			continue;
		if (prev != NULL)
			prev->next = j->next;
		else
			q->head = j->next;
		if (q->tail == j)
			q->tail = prev;
		q->n--;
		j->next = NULL;
		j->counted = 1;
		s->running[c]++;
		return j;
	}
	return NULL;
}

/* Start (or hand to an idle agent) the jobs of class c that fit.  Idle
 * agents count against local_concurrency / remote_concurrency: when the
 * limit is reached with some of them idle, the one idle longest makes
 * room. */
static void
dispatch_class(struct sched *s, enum job_class c)
{
	struct jobq *q = &s->wait[c];
	struct agent *a;
	struct job *j;

	while (q->head != NULL && s->running[c] < class_limit(s, c)) {
		j = q->head;
		a = c == CLASS_LOCAL || c == CLASS_REMOTE ?
		    agent_idle_for(j) : NULL;
		if (a == NULL && (c == CLASS_LOCAL || c == CLASS_REMOTE) &&
		    s->running[c] + agents_idle_class(c) >= class_limit(s, c)
		    && !agents_evict_idle(c))
			break;
		q->head = j->next;
		if (q->head == NULL)
			q->tail = NULL;
		q->n--;
		s->running[c]++;
		j->counted = 1;
		if (a != NULL)
			agent_give(a, j);
		else
			agent_start(j);
	}
}

static void
dispatch(struct sched *s)
{
	int c;

	if (s->dispatching) {
		s->dispatch_again = 1;
		return;
	}
	s->dispatching = 1;
	do {
		s->dispatch_again = 0;
		for (c = 0; c < NCLASS && !s->stopping; c++)
			dispatch_class(s, (enum job_class)c);
	} while (s->dispatch_again);
	s->dispatching = 0;
	sched_status(s);
}

/* ---- rounds ------------------------------------------------------------- */

/* Recipient k is still to be delivered, in domain dom, and in no job. */
static bool
same_domain(const struct round *rd, const char *taken, size_t k,
    const char *dom)
{
	return !taken[k] && policy_deliverable(&rd->rec, k) &&
	    addr_domain_eq(dom, policy_domain(rd->rec.env.rcpts[k].addr));
}

static size_t
make_delivery_jobs(struct round *rd)
{
	const struct envelope *e = &rd->rec.env;
	struct job *j;
	char *taken;
	size_t i, k, n = 0;
	const char *dom;

	taken = calloc(e->nrcpts ? e->nrcpts : 1, 1);
	if (taken == NULL)
		return 0;
	for (i = 0; i < e->nrcpts; i++) {
		if (taken[i] || !policy_deliverable(&rd->rec, i))
			continue;
		dom = policy_domain(e->rcpts[i].addr);
		if (config_is_local_domain(&rd->s->cfg, dom)) {
			j = job_new(rd, JOB_DELIVER, CLASS_LOCAL, "", 1);
			if (j == NULL)
				break;
			j->idx[j->n++] = (uint32_t)i;
			taken[i] = 1;
		} else {
			size_t cap = 0;

			for (k = i; k < e->nrcpts; k++)
				if (same_domain(rd, taken, k, dom))
					cap++;
			j = job_new(rd, JOB_DELIVER, CLASS_REMOTE, dom, cap);
			if (j == NULL)
				break;
			addr_lower(j->domain);
			for (k = i; k < e->nrcpts && j->n < cap; k++)
				if (same_domain(rd, taken, k, dom)) {
					j->idx[j->n++] = (uint32_t)k;
					taken[k] = 1;
				}
		}
		job_enqueue(j);
		n++;
	}
	free(taken);
	return n;
}

/* Notice jobs of at most NOTICE_JOB_MAX recipients: a recipient's
 * record (address, ORCPT, diagnostic, remote host) can take some 2.4 KB,
 * and a job must stay under the agents' limit for one envelope (4 MiB,
 * common/agent.c) however many recipients failed; more than this many
 * get one notice per NOTICE_JOB_MAX. */
#define NOTICE_JOB_MAX	1000

static size_t
make_notice_job(struct round *rd, enum agent_kind_of_job kind)
{
	struct spool_rec *r = &rd->rec;
	struct job *j = NULL;
	size_t i, n = 0;

	for (i = 0; i < r->env.nrcpts; i++) {
		if (!((kind == JOB_BOUNCE_FAILED &&
		    r->owed[i] == OWED_FAILURE) ||
		    (kind == JOB_BOUNCE_SUCCESS &&
		    r->owed[i] == OWED_SUCCESS) ||
		    (kind == JOB_BOUNCE_DELAYED &&
		    r->env.rcpts[i].state == RCPT_DEFERRED)))
			continue;
		if (j != NULL && j->n == NOTICE_JOB_MAX) {
			job_enqueue(j);
			n++;
			j = NULL;
		}
		if (j == NULL && (j = job_new(rd, kind, CLASS_BOUNCE, "",
		    r->env.nrcpts - i < NOTICE_JOB_MAX ? r->env.nrcpts - i :
		    NOTICE_JOB_MAX)) == NULL)
			return n;
		j->idx[j->n++] = (uint32_t)i;
	}
	if (j != NULL) {
		job_enqueue(j);
		n++;
	}
	return n;
}

static void
round_free(struct round *rd)
{
	struct sched *s = rd->s;

	/* after remove_message() this may be the file's last reference:
	 * its close frees the blocks, which may wait for the device */
	closer_close(rd->msgfd);
	spool_rec_free(&rd->rec);
	if (rd->ent != NULL)
		rd->ent->round = NULL;
	free(rd);
	s->rounds--;
}

/* 0 removed, -1 the queue file is still there (logged). */
static int
remove_message(struct sched *s, struct qent *ent, bool fresh)
{
	char path[4096];

	/* the queue file first (in msg/, or still in incoming/): without
	 * it, a left-over env/QID is known to be a finished message's
	 * (SPOOL.md "Removal") */
	if (rec_path(s, fresh ? "incoming" : "msg", ent->qid, "", path,
	    sizeof(path)) == -1 || (unlink(path) == -1 && errno != ENOENT)) {
		log_msg(LOG_ERR, "remove", "qid", ent->qid, "reason",
		    strerror(errno), "action", "retried later", NULL);
		return -1;
	}
	if (rec_path(s, "env", ent->qid, "", path, sizeof(path)) == 0)
		(void)unlink(path);
	log_msg(LOG_INFO, "removed", "qid", ent->qid, NULL);
	return 0;
}

/* A message that stays queued after its first round leaves incoming/
 * (after its record was written: SPOOL.md "Delivery"). */
static void
move_to_msg(struct sched *s, const char *qid)
{
	char from[4096], to[4096];

	if (rec_path(s, "incoming", qid, "", from, sizeof(from)) == -1 ||
	    rec_path(s, "msg", qid, "", to, sizeof(to)) == -1 ||
	    renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == -1)
		log_msg(LOG_ERR, "spool_move", "qid", qid, "reason",
		    strerror(errno), NULL);
}

static void
round_end(struct round *rd)
{
	struct sched *s = rd->s;
	struct qent *ent = rd->ent;
	int64_t now = now_sec();

	if ((policy_done(&rd->rec) || rd->removing) &&
	    remove_message(s, ent, rd->fresh) == 0) {
		rd->ent = NULL;
		round_free(rd);
		qindex_del(&s->ix, ent);
	} else if (policy_done(&rd->rec) || rd->removing) {
		/* the file could not be removed (EIO, EROFS): forgetting it
		 * would have the next scan of incoming/, or a restart,
		 * deliver it again.  It stays known, with what was
		 * delivered stored, and its next round only removes it. */
		ent->remove_retry = true;
		if (round_store(rd) == 0 && rd->fresh)
			move_to_msg(s, ent->qid);
		if (qindex_schedule(&s->ix, ent, now + (int64_t)(
		    s->cfg.retry_min > 0 ? s->cfg.retry_min : 60)) == -1)
			log_msg(LOG_ERR, "schedule", "qid", ent->qid, "reason",
			    "out of memory", NULL);
		round_free(rd);
	} else {
		rd->rec.next_try = policy_next_try(&rd->rec, now,
		    s->cfg.retry_min, s->cfg.retry_max, rnd_next(s));
		/* a record that could not be stored stays with its file in
		 * incoming/ (where the first record is not the current one
		 * either): a crash then repeats deliveries, as any crash
		 * before a record is written does */
		if (round_store(rd) == 0 && rd->fresh)
			move_to_msg(s, ent->qid);
		if (qindex_schedule(&s->ix, ent, rd->rec.next_try) == -1)
			log_msg(LOG_ERR, "schedule", "qid", ent->qid, "reason",
			    "out of memory", NULL);
		round_free(rd);
	}
	sched_kick(s);
}

static void
round_advance(struct round *rd)
{
	struct sched *s = rd->s;
	int64_t now = now_sec();
	size_t n = 0;

	if (rd->phase == 0 && !rd->removing) {
		rd->phase = 1;
		if (policy_expire(&rd->rec, now, s->cfg.queue_lifetime) > 0) {
			log_msg(LOG_WARNING, "expired", "qid", rd->ent->qid,
			    NULL);
			round_store(rd);
		}
		n += make_notice_job(rd, JOB_BOUNCE_FAILED);
		n += make_notice_job(rd, JOB_BOUNCE_SUCCESS);
		if (policy_delay_due(&rd->rec, now, s->cfg.delay_warning))
			n += make_notice_job(rd, JOB_BOUNCE_DELAYED);
		if (n > 0) {
			dispatch(s);
			return;
		}
	}
	round_end(rd);
}

/* ---- files picked up, waiting for their first round ----------------- */

static void
picked_free(struct picked *p)
{
	if (p->qid[0] == '\0')
		return;
	if (p->fd != -1)
		close(p->fd);
	spool_rec_free(&p->rec);
	p->qid[0] = '\0';
	p->fd = -1;
}

void
picked_put(struct sched *s, const char *qid, int fd, struct spool_rec *rec)
{
	struct picked *p = &s->picked[s->picked_next];

	s->picked_next = (s->picked_next + 1) % PICKED_MAX;
	picked_free(p);
	snprintf(p->qid, sizeof(p->qid), "%s", qid);
	p->fd = fd;
	p->rec = *rec;		/* taken over */
	spool_rec_init(rec);
}

int
picked_take(struct sched *s, const char *qid, int *fd, struct spool_rec *rec)
{
	for (size_t i = 0; i < PICKED_MAX; i++) {
		struct picked *p = &s->picked[i];

		if (p->qid[0] == '\0' || strcmp(p->qid, qid) != 0)
			continue;
		*fd = p->fd;
		*rec = p->rec;
		spool_rec_init(&p->rec);
		p->qid[0] = '\0';
		p->fd = -1;
		return 0;
	}
	return -1;
}

void
picked_drop(struct sched *s, const char *qid)
{
	for (size_t i = 0; i < PICKED_MAX; i++)
		if (strcmp(s->picked[i].qid, qid) == 0)
			picked_free(&s->picked[i]);
}

void
picked_clear(struct sched *s)
{
	for (size_t i = 0; i < PICKED_MAX; i++)
		picked_free(&s->picked[i]);
}

/* The queue file (msg/QID, or incoming/QID in its first round) and its
 * current record: env/QID if there is one, else the first record in the
 * queue file (SPOOL.md).  0 ok, -1
 * corrupt (*why), -2 I/O error (errno; ENOENT: the message is gone). */
static int
open_message(struct sched *s, const char *qid, struct round *rd,
    const char **why)
{
	char path[4096];
	int r;

	/* just picked up from incoming/ (a first round): descriptor and
	 * first record at hand, unless the file was unlinked meanwhile (its
	 * injection failed) or a record in env/ supersedes the first one
	 * (a removal that failed) */
	if (picked_take(s, qid, &rd->msgfd, &rd->rec) == 0) {
		struct spool_rec env;
		struct stat st;

		if (fstat(rd->msgfd, &st) == -1 || st.st_nlink == 0) {
			close(rd->msgfd);
			rd->msgfd = -1;
			errno = ENOENT;
			return -2;
		}
		rd->fresh = true;
		if (rec_path(s, "env", qid, "", path, sizeof(path)) == -1)
			return -2;
		spool_rec_init(&env);
		r = spool_rec_load(path, qid, &env, why);
		if (r == -2 && errno == ENOENT) {
			spool_rec_free(&env);
			return 0;		/* the usual case */
		}
		spool_rec_free(&rd->rec);
		rd->rec = env;
		return r;
	}
	if (rec_path(s, "msg", qid, "", path, sizeof(path)) == -1)
		return -2;
	rd->msgfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (rd->msgfd == -1 && errno == ENOENT) {
		/* a new message stays in incoming/ for its first round */
		if (rec_path(s, "incoming", qid, "", path, sizeof(path)) == -1)
			return -2;
		rd->msgfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		rd->fresh = rd->msgfd != -1;
	}
	if (rd->msgfd == -1)
		return -2;
	if (rec_path(s, "env", qid, "", path, sizeof(path)) == -1)
		return -2;
	r = spool_rec_load(path, qid, &rd->rec, why);
	if (r != -2 || errno != ENOENT)
		return r;
	spool_rec_free(&rd->rec);
	spool_rec_init(&rd->rec);
	r = spool_qfile_read(rd->msgfd, qid, &rd->rec, why);
	if (r == SPOOL_INCOMPLETE) {
		*why = "message file without a record";
		return -1;
	}
	return r;
}

/*
 * Park the round's message instead of running it when every recipient
 * still to be delivered is for a full class (see park()); its notices
 * wait with it.  True if parked (the round is freed).
 */
static bool
round_parks(struct round *rd)
{
	struct sched *s = rd->s;
	const struct envelope *e = &rd->rec.env;
	unsigned mask = 0;
	size_t i;
	int c;

	/* parking costs a second read of the record later: only worth it
	 * once rounds run short (with room, a full class just gets more
	 * waiting jobs, as when all the mail is for it) */
	if (s->rounds < round_cap(s) / 2)
		return false;
	for (i = 0; i < e->nrcpts; i++)
		if (policy_deliverable(&rd->rec, i))
			mask |= 1u << (config_is_local_domain(&s->cfg,
			    policy_domain(e->rcpts[i].addr)) ? CLASS_LOCAL :
			    CLASS_REMOTE);
	if (mask == 0)
		return false;
	for (c = 0; c < NCLASS; c++)
		if ((mask & (1u << c)) != 0 && !class_full(s,
		    (enum job_class)c))
			return false;
	c = (mask & (1u << CLASS_REMOTE)) != 0 ? CLASS_REMOTE : CLASS_LOCAL;
	park(s, rd->ent, (enum job_class)c);
	round_free(rd);		/* clears the entry's round */
	return true;
}

static void
start_round(struct sched *s, struct qent *ent)
{
	struct round *rd;
	const char *why = "";
	int r, err = 0;

	qindex_unschedule(&s->ix, ent);
	if (ent->unsaved != NULL) {
		/* the last round's state is only in memory: until it is on
		 * disk, deliver nothing (round_store) */
		if (store_encoded(s, ent->qid, ent->unsaved,
		    ent->unsaved_len) == -1) {
			log_msg(LOG_ERR, "spool_write", "qid", ent->qid,
			    "reason", strerror(errno), "action", "postponed",
			    NULL);
			(void)qindex_schedule(&s->ix, ent, now_sec() +
			    (int64_t)(s->cfg.retry_min > 0 ? s->cfg.retry_min :
			    60));
			return;
		}
		free(ent->unsaved);
		ent->unsaved = NULL;
		ent->unsaved_len = 0;
	}
	rd = calloc(1, sizeof(*rd));
	if (rd == NULL) {
		(void)qindex_schedule(&s->ix, ent, now_sec() + 60);
		return;
	}
	rd->s = s;
	rd->ent = ent;
	rd->msgfd = -1;
	rd->started = now_sec();
	spool_rec_init(&rd->rec);
	ent->round = rd;
	s->rounds++;
	r = open_message(s, ent->qid, rd, &why);
	if (r == -2)
		err = errno;
	if (r != 0) {
		if (r == -1)
			quarantine_message(s, "env", ent->qid, why);
		else if (err != ENOENT)
			log_msg(LOG_ERR, "spool_read", "qid", ent->qid,
			    "reason", strerror(err), NULL);
		round_free(rd);		/* clears ent->round: the entry may
					   stay, and must not point to it */
		if (r == -2 && err == ENOENT) {
			/* the queue file is gone (an injector whose fsync
			 * failed removed it after a first round wrote a
			 * record): what is left is a remnant (invariant 3) */
			char path[4096];

			if (rec_path(s, "env", ent->qid, "", path,
			    sizeof(path)) == 0 && unlink(path) == 0)
				log_msg(LOG_INFO, "remnant_removed", "qid",
				    ent->qid, NULL);
		}
		if (r == -1 || err == ENOENT)
			qindex_del(&s->ix, ent);
		else
			(void)qindex_schedule(&s->ix, ent,
			    now_sec() + 60);
		return;
	}
	if (ent->remove_retry) {	/* done or removed on request */
		rd->removing = true;
		round_end(rd);
	} else if (round_parks(rd))
		return;
	else if (make_delivery_jobs(rd) > 0)
		dispatch(s);
	else
		round_advance(rd);
}

/* ---- removal on request ------------------------------------------------ */

/* Unlink qid's queue file when it is complete (in msg/, or group-readable
 * in incoming/: an unfinished one belongs to its injector), then env/QID.
 * 1 removed, 0 none. */
static int
remove_files(struct sched *s, const char *qid)
{
	char path[4096];
	struct stat st;
	bool gone = false;

	if (rec_path(s, "msg", qid, "", path, sizeof(path)) == 0 &&
	    unlink(path) == 0)
		gone = true;
	else if (rec_path(s, "incoming", qid, "", path, sizeof(path)) == 0 &&
	    lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    (st.st_mode & 0040) != 0 && unlink(path) == 0)
		gone = true;
	if (gone && rec_path(s, "env", qid, "", path, sizeof(path)) == 0)
		(void)unlink(path);
	return gone ? 1 : 0;
}

/* Drop the jobs of rd that wait for an agent. */
static void
drop_waiting(struct sched *s, struct round *rd)
{
	struct job *j, *prev, *next;
	int c;

	for (c = 0; c < NCLASS; c++) {
		prev = NULL;
		for (j = s->wait[c].head; j != NULL; j = next) {
			next = j->next;
			if (j->round != rd) {
				prev = j;
				continue;
			}
			if (prev != NULL)
				prev->next = next;
			else
				s->wait[c].head = next;
			if (s->wait[c].tail == j)
				s->wait[c].tail = prev;
			s->wait[c].n--;
			job_free(j);
			rd->jobs--;
		}
	}
}

void
sched_remove(struct sched *s, const char *qid)
{
	struct qent *e = qindex_get(&s->ix, qid);
	struct round *rd = e != NULL ? e->round : NULL;

	log_msg(LOG_NOTICE, "remove_request", "qid", qid, NULL);
	if (rd != NULL) {
		/* the agents that have it keep it until they are done: what
		 * they deliver is delivered; then round_end removes it */
		rd->removing = true;
		drop_waiting(s, rd);
		if (rd->jobs == 0)
			round_end(rd);
		return;
	}
	if (e != NULL)
		unpark(s, e);
	picked_drop(s, qid);
	if (remove_files(s, qid) == 1)
		log_msg(LOG_INFO, "removed", "qid", qid, "reason",
		    "removal requested", NULL);
	else
		log_msg(LOG_WARNING, "remove_request", "qid", qid, "reason",
		    "no such message", NULL);
	if (e != NULL)
		qindex_del(&s->ix, e);
}

/* ---- timer, flush, status ----------------------------------------------- */

static int
timer_cb(sd_event_source *src, uint64_t usec, void *arg)
{
	(void)src;
	(void)usec;
	sched_kick(arg);
	return 0;
}

void
sched_kick(struct sched *s)
{
	struct qent *e;
	int64_t now;

	if (s->kicking) {
		s->kick_again = 1;
		return;
	}
	s->kicking = 1;
	do {
		s->kick_again = 0;
		now = now_sec();
		unpark_due(s, now);
		while (!s->stopping && s->rounds < round_cap(s) &&
		    (e = qindex_peek(&s->ix)) != NULL && e->due <= now)
			start_round(s, e);
	} while (s->kick_again);
	s->kicking = 0;
	sched_status(s);
	e = qindex_peek(&s->ix);
	if (e == NULL || s->stopping || s->rounds >= round_cap(s)) {
		sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
		return;
	}
	/* due comes from records (bounded by SPOOL_TIME_MAX when decoded)
	 * and from arithmetic on them: saturate rather than wrap into the
	 * past, which would make the timer fire without end */
	sd_event_source_set_time(s->timer, e->due <= 0 ? 1 :
	    e->due > SPOOL_TIME_MAX ? (uint64_t)SPOOL_TIME_MAX * 1000000ULL :
	    (uint64_t)e->due * 1000000ULL);
	sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
}

struct flush_arg {
	struct sched *s;
	const char *domain;
	int64_t now;
};

static void
flush_one(struct qent *e, void *arg)
{
	struct flush_arg *fa = arg;
	struct spool_rec rec;
	const char *why;
	size_t i;
	bool hit = fa->domain == NULL;

	if (e->round != NULL || e->hpos == QENT_NOT_IN_HEAP)
		return;
	if (!hit) {
		spool_rec_init(&rec);
		if (spool_state_load(fa->s->spool, e->qid, true, &rec, &why)
		    == 0)
			for (i = 0; i < rec.env.nrcpts && !hit; i++)
				hit = policy_deliverable(&rec, i) &&
				    addr_domain_eq(fa->domain, policy_domain(
				    rec.env.rcpts[i].addr));
		spool_rec_free(&rec);
	}
	if (hit && e->due > fa->now)
		(void)qindex_schedule(&fa->s->ix, e, fa->now);
}

/*
 * Flushes cost a pass over the whole index, and a domain's a read of
 * every queued record; ETRN asks for one without authentication.  So a
 * flush of the same target (a domain, or the whole queue) within
 * FLUSH_AGAIN_SEC of the last one, and any flush past FLUSH_PER_MIN in a
 * minute, is ignored (logged): the first one has already made the mail
 * due, and the retry schedule is not anybody's to shorten at will.
 */
#define FLUSH_AGAIN_SEC	5
#define FLUSH_PER_MIN	30
#define FLUSH_RECENT	16	/* targets remembered */

static bool
flush_allowed(const char *domain, int64_t now, const char **why)
{
	static struct {
		char target[ADDR_DOMAIN_MAX + 1];	/* "" for all */
		int64_t at;
	} recent[FLUSH_RECENT];
	static int64_t minute_start;
	static unsigned in_minute;
	const char *t = domain != NULL ? domain : "";
	size_t i, oldest = 0;

	for (i = 0; i < FLUSH_RECENT; i++) {
		if (recent[i].at != 0 && now - recent[i].at < FLUSH_AGAIN_SEC &&
		    strcasecmp(recent[i].target, t) == 0) {
			*why = "flushed seconds ago";
			return false;
		}
		if (recent[i].at < recent[oldest].at)
			oldest = i;
	}
	if (now - minute_start >= 60) {
		minute_start = now;
		in_minute = 0;
	}
	if (in_minute >= FLUSH_PER_MIN) {
		*why = "too many flushes this minute";
		return false;
	}
	in_minute++;
	snprintf(recent[oldest].target, sizeof(recent[oldest].target), "%s",
	    t);
	recent[oldest].at = now;
	return true;
}

void
sched_flush(struct sched *s, const char *domain)
{
	struct flush_arg fa = { s, domain, now_sec() };
	const char *why = "";

	if (!flush_allowed(domain, fa.now, &why)) {
		log_msg(LOG_NOTICE, "flush_ignored", "domain", domain != NULL ?
		    domain : "", "reason", why, NULL);
		return;
	}
	log_msg(LOG_INFO, "flush", "domain", domain != NULL ? domain : "",
	    NULL);
	qindex_each(&s->ix, flush_one, &fa);
	sched_kick(s);
}

static int
status_timer_cb(sd_event_source *src, uint64_t usec, void *arg)
{
	struct sched *s = arg;

	(void)src;
	(void)usec;
	s->status_pending = 0;
	sched_status(s);
	return 0;
}

/* STATUS= for systemctl status: sent when it changed, at most once a
 * second (a timer sends the latest text after a burst). */
void
sched_status(struct sched *s)
{
	char text[sizeof(s->status_last)];
	uint64_t now;

	snprintf(text, sizeof(text), "STATUS=%zu queued, %zu in delivery, "
	    "agents: %zu local, %zu remote, %zu bounce; waiting jobs: %zu",
	    s->ix.n, s->rounds, s->running[CLASS_LOCAL],
	    s->running[CLASS_REMOTE], s->running[CLASS_BOUNCE],
	    s->wait[0].n + s->wait[1].n + s->wait[2].n);
	if (strcmp(text, s->status_last) == 0 || s->status_pending)
		return;
	sd_event_now(s->ev, CLOCK_MONOTONIC, &now);
	if (s->status_sent != 0 && now < s->status_sent + 1000000) {
		s->status_pending = 1;
		if (s->status_timer == NULL)
			sd_event_add_time(s->ev, &s->status_timer,
			    CLOCK_MONOTONIC, s->status_sent + 1000000, 100000,
			    status_timer_cb, s);
		else {
			sd_event_source_set_time(s->status_timer,
			    s->status_sent + 1000000);
			sd_event_source_set_enabled(s->status_timer,
			    SD_EVENT_ONESHOT);
		}
		return;
	}
	s->status_sent = now;
	memcpy(s->status_last, text, sizeof(text));
	/* not worth stalling deliveries for: dropped when the queue is full */
	notify_send(text, false);
}

int
sched_init(struct sched *s, const char *confdir, struct buf *err)
{
	const char *sfd;
	char *end;
	long v;

	memset(s, 0, sizeof(*s));
	s->spawnfd = -1;
	s->lockfd = -1;
	for (size_t i = 0; i < PICKED_MAX; i++)
		s->picked[i].fd = -1;
	if (config_load(confdir, &s->cfg, err) == -1)
		return -1;
	s->spool = strdup(s->cfg.spool);
	if (s->spool == NULL)
		return -1;
	qindex_init(&s->ix);
	if (getrandom(&s->rnd, sizeof(s->rnd), 0) != sizeof(s->rnd))
		s->rnd = (uint64_t)time(NULL) ^ (uint64_t)getpid();
	if (s->rnd == 0)
		s->rnd = 88172645463325252ULL;
	sfd = getenv(SPAWN_FD_ENV);
	if (sfd != NULL && sfd[0] != '\0') {
		errno = 0;
		v = strtol(sfd, &end, 10);
		if (errno != 0 || *end != '\0' || v < 3 || v > 65535 ||
		    fcntl((int)v, F_GETFD) == -1) {
			buf_set(err, "bad " SPAWN_FD_ENV, strlen("bad "
			    SPAWN_FD_ENV));
			return -1;
		}
		s->spawnfd = (int)v;
		io_set_cloexec(s->spawnfd, 1);
	}
	if (sd_event_default(&s->ev) < 0 ||
	    sd_event_add_time(s->ev, &s->timer, CLOCK_REALTIME, 1, 1000,
	    timer_cb, s) < 0) {
		buf_set(err, "cannot create the event loop", 28);
		return -1;
	}
	sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
	return 0;
}
