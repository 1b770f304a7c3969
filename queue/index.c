/*
 * index.c — hash table and due-time heap of posthorn-send (index.h).
 */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "queue/index.h"

#define TAB_MIN 1024

void
qindex_init(struct qindex *ix)
{
	memset(ix, 0, sizeof(*ix));
}

static size_t
hash(const char *s)
{
	size_t h = 1469598103934665603ULL & (size_t)-1;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * (size_t)1099511628211ULL;
	return h;
}

void
qindex_free(struct qindex *ix)
{
	struct qent *e, *next;
	size_t i;

	for (i = 0; i < ix->tabsz; i++)
		for (e = ix->tab[i]; e != NULL; e = next) {
			next = e->hnext;
			free(e->unsaved);
			free(e);
		}
	free(ix->tab);
	free(ix->heap);
	memset(ix, 0, sizeof(*ix));
}

struct qent *
qindex_get(const struct qindex *ix, const char *qid)
{
	struct qent *e;

	if (ix->tabsz == 0)
		return NULL;
	for (e = ix->tab[hash(qid) & (ix->tabsz - 1)]; e != NULL; e = e->hnext)
		if (strcmp(e->qid, qid) == 0)
			return e;
	return NULL;
}

static int
grow_table(struct qindex *ix)
{
	struct qent **nt, *e, *next;
	size_t nsz, i, h;

	nsz = ix->tabsz == 0 ? TAB_MIN : ix->tabsz * 2;
	if (nsz < ix->tabsz)
		return -1;
	nt = xcalloc_array(nsz, sizeof(*nt));
	if (nt == NULL)
		return -1;
	for (i = 0; i < ix->tabsz; i++)
		for (e = ix->tab[i]; e != NULL; e = next) {
			next = e->hnext;
			h = hash(e->qid) & (nsz - 1);
			e->hnext = nt[h];
			nt[h] = e;
		}
	free(ix->tab);
	ix->tab = nt;
	ix->tabsz = nsz;
	return 0;
}

struct qent *
qindex_add(struct qindex *ix, const char *qid)
{
	struct qent *e;
	size_t h;

	if (strlen(qid) != QID_LEN || qindex_get(ix, qid) != NULL)
		return NULL;
	if (ix->n + 1 > ix->tabsz - ix->tabsz / 4 && grow_table(ix) == -1)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	memcpy(e->qid, qid, QID_LEN + 1);
	e->hpos = QENT_NOT_IN_HEAP;
	h = hash(qid) & (ix->tabsz - 1);
	e->hnext = ix->tab[h];
	ix->tab[h] = e;
	ix->n++;
	return e;
}

static int
before(const struct qent *a, const struct qent *b)
{
	if (a->due != b->due)
		return a->due < b->due;
	return strcmp(a->qid, b->qid) < 0;
}

static void
heap_set(struct qindex *ix, size_t i, struct qent *e)
{
	ix->heap[i] = e;
	e->hpos = i;
}

static void
sift_up(struct qindex *ix, size_t i)
{
	struct qent *e = ix->heap[i];

	while (i > 0 && before(e, ix->heap[(i - 1) / 2])) {
		heap_set(ix, i, ix->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(ix, i, e);
}

static void
sift_down(struct qindex *ix, size_t i)
{
	struct qent *e = ix->heap[i];
	size_t c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= ix->hn)
			break;
		if (c + 1 < ix->hn && before(ix->heap[c + 1], ix->heap[c]))
			c++;
		if (!before(ix->heap[c], e))
			break;
		heap_set(ix, i, ix->heap[c]);
		i = c;
	}
	heap_set(ix, i, e);
}

void
qindex_unschedule(struct qindex *ix, struct qent *e)
{
	struct qent *moved;
	size_t i = e->hpos;

	if (i == QENT_NOT_IN_HEAP || i >= ix->hn || ix->heap[i] != e)
		return;
	e->hpos = QENT_NOT_IN_HEAP;
	ix->hn--;
	if (i == ix->hn)
		return;
	moved = ix->heap[ix->hn];
	heap_set(ix, i, moved);
	sift_up(ix, i);
	sift_down(ix, moved->hpos);
}

int
qindex_schedule(struct qindex *ix, struct qent *e, int64_t due)
{
	struct qent **nh;
	size_t ncap;

	if (e->hpos != QENT_NOT_IN_HEAP) {
		e->due = due;
		sift_up(ix, e->hpos);
		sift_down(ix, e->hpos);
		return 0;
	}
	if (ix->hn == ix->hcap) {
		ncap = ix->hcap == 0 ? 1024 : ix->hcap * 2;
		nh = xrealloc_array(ix->heap, ncap, sizeof(*nh));
		if (nh == NULL)
			return -1;
		ix->heap = nh;
		ix->hcap = ncap;
	}
	e->due = due;
	heap_set(ix, ix->hn, e);
	ix->hn++;
	sift_up(ix, ix->hn - 1);
	return 0;
}

struct qent *
qindex_peek(const struct qindex *ix)
{
	return ix->hn > 0 ? ix->heap[0] : NULL;
}

void
qindex_del(struct qindex *ix, struct qent *e)
{
	struct qent **pp;

	qindex_unschedule(ix, e);
	for (pp = &ix->tab[hash(e->qid) & (ix->tabsz - 1)]; *pp != NULL;
	    pp = &(*pp)->hnext)
		if (*pp == e) {
			*pp = e->hnext;
			ix->n--;
			break;
		}
	free(e->unsaved);
	free(e);
}

void
qindex_each(struct qindex *ix, void (*fn)(struct qent *, void *), void *arg)
{
	struct qent *e, *next;
	size_t i;

	for (i = 0; i < ix->tabsz; i++)
		for (e = ix->tab[i]; e != NULL; e = next) {
			next = e->hnext;
			fn(e, arg);
		}
}
