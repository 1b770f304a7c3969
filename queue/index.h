/*
 * index.h — posthorn-send's in-memory index of the queue: queue id →
 * entry (hash table), and a binary min-heap of the entries waiting for
 * their next attempt, ordered by due time then queue id (arrival).  Every
 * operation is O(1) or O(log n), so work per event does not grow with the
 * size of the queue.  Trusts its callers (the scheduler); queue ids are
 * validated before they get here.
 */
#ifndef POSTHORN_QUEUE_INDEX_H
#define POSTHORN_QUEUE_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/qid.h"

#define QENT_NOT_IN_HEAP ((size_t)-1)

struct qent {
	char qid[QID_LEN + 1];
	int64_t due;		/* seconds since the epoch */
	size_t hpos;		/* heap position or QENT_NOT_IN_HEAP */
	struct qent *hnext;	/* hash chain */
	void *round;		/* the scheduler's active attempt, or NULL */
	char *unsaved;		/* the current record, encoded, while it
				   could not be stored (sched.c); freed with
				   the entry */
	size_t unsaved_len;
	bool remove_retry;	/* its removal failed (sched.c): the next
				   round only tries that again */
	int parked;		/* due, but waiting for agents of class
				   parked - 1 (sched.c); 0: not */
	struct qent *park_next, *park_prev;
};

struct qindex {
	struct qent **tab;
	size_t tabsz;		/* power of two */
	size_t n;		/* entries */
	struct qent **heap;
	size_t hn, hcap;
};

void qindex_init(struct qindex *ix);
void qindex_free(struct qindex *ix);	/* frees every entry */
struct qent *qindex_get(const struct qindex *ix, const char *qid);
/* Add a new entry (not scheduled); NULL on allocation failure or if the
 * qid is already present. */
struct qent *qindex_add(struct qindex *ix, const char *qid);
/* Remove and free. */
void qindex_del(struct qindex *ix, struct qent *e);
/* Insert into the heap or move within it.  -1 on allocation failure. */
int qindex_schedule(struct qindex *ix, struct qent *e, int64_t due);
void qindex_unschedule(struct qindex *ix, struct qent *e);
/* Earliest scheduled entry, or NULL. */
struct qent *qindex_peek(const struct qindex *ix);
/* Call fn for every entry (fn must not add or delete). */
void qindex_each(struct qindex *ix, void (*fn)(struct qent *, void *),
    void *arg);

#endif
