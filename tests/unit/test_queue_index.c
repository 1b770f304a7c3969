/*
 * test_queue_index.c — posthorn-send's due-time index (queue/index.c):
 * entries come out in (due, qid) order, rescheduling and unscheduling
 * keep the heap consistent, the hash finds every entry, and 100,000
 * entries work.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/index.h"

static void
mkqid(char *out, unsigned long n)
{
	snprintf(out, QID_LEN + 1, "%014lX%06lX", n, 0x1234UL);
}

/* Pop everything in order, checking the order; returns count. */
static size_t
drain(struct qindex *ix)
{
	struct qent *e, prev;
	size_t n = 0;

	memset(&prev, 0, sizeof(prev));
	while ((e = qindex_peek(ix)) != NULL) {
		if (n > 0) {
			ck_assert(prev.due < e->due || (prev.due == e->due &&
			    strcmp(prev.qid, e->qid) < 0));
		}
		prev = *e;
		qindex_unschedule(ix, e);
		ck_assert_uint_eq(e->hpos, QENT_NOT_IN_HEAP);
		n++;
	}
	return n;
}

START_TEST(order_and_ties)
{
	struct qindex ix;
	char q[QID_LEN + 1];
	struct qent *e;
	unsigned long i;

	qindex_init(&ix);
	for (i = 0; i < 50; i++) {
		mkqid(q, 1000 - i);
		e = qindex_add(&ix, q);
		ck_assert_ptr_nonnull(e);
		ck_assert_int_eq(qindex_schedule(&ix, e, (int64_t)(i % 5)), 0);
	}
	ck_assert_ptr_null(qindex_add(&ix, q));	/* duplicate */
	e = qindex_peek(&ix);
	ck_assert_int_eq(e->due, 0);
	mkqid(q, 1000 - 45);	/* smallest qid with due 0 */
	ck_assert_str_eq(e->qid, q);
	ck_assert_uint_eq(drain(&ix), 50);
	ck_assert_uint_eq(ix.n, 50);
	qindex_free(&ix);
}
END_TEST

START_TEST(reschedule_and_delete)
{
	struct qindex ix;
	char q[QID_LEN + 1];
	struct qent *e[100];
	unsigned long i;

	qindex_init(&ix);
	for (i = 0; i < 100; i++) {
		mkqid(q, i + 1);
		e[i] = qindex_add(&ix, q);
		ck_assert_int_eq(qindex_schedule(&ix, e[i],
		    (int64_t)(1000 + i)), 0);
	}
	ck_assert_int_eq(qindex_schedule(&ix, e[77], 5), 0);
	ck_assert_ptr_eq(qindex_peek(&ix), e[77]);
	ck_assert_int_eq(qindex_schedule(&ix, e[77], 5000), 0);
	ck_assert_ptr_eq(qindex_peek(&ix), e[0]);
	qindex_unschedule(&ix, e[50]);
	qindex_unschedule(&ix, e[50]);	/* twice is harmless */
	ck_assert_uint_eq(ix.hn, 99);
	mkqid(q, 31);
	ck_assert_ptr_eq(qindex_get(&ix, q), e[30]);
	qindex_del(&ix, e[30]);
	ck_assert_ptr_null(qindex_get(&ix, q));
	ck_assert_uint_eq(ix.n, 99);
	ck_assert_uint_eq(drain(&ix), 98);
	qindex_free(&ix);
}
END_TEST

START_TEST(hundred_thousand)
{
	struct qindex ix;
	char q[QID_LEN + 1];
	struct qent *e;
	unsigned long i, x = 12345;

	qindex_init(&ix);
	for (i = 0; i < 100000; i++) {
		mkqid(q, i + 1);
		e = qindex_add(&ix, q);
		ck_assert_ptr_nonnull(e);
		x = x * 6364136223846793005UL + 1442695040888963407UL;
		ck_assert_int_eq(qindex_schedule(&ix, e,
		    (int64_t)(x >> 40)), 0);
	}
	for (i = 0; i < 100000; i += 997) {
		mkqid(q, i + 1);
		ck_assert_ptr_nonnull(qindex_get(&ix, q));
	}
	mkqid(q, 100001);
	ck_assert_ptr_null(qindex_get(&ix, q));
	ck_assert_uint_eq(drain(&ix), 100000);
	qindex_free(&ix);
}
END_TEST

static int
count_cb_n;

static void
count_cb(struct qent *e, void *arg)
{
	(void)e;
	(void)arg;
	count_cb_n++;
}

START_TEST(each_visits_all)
{
	struct qindex ix;
	char q[QID_LEN + 1];
	unsigned long i;

	qindex_init(&ix);
	for (i = 0; i < 3000; i++) {
		mkqid(q, i + 7);
		ck_assert_ptr_nonnull(qindex_add(&ix, q));
	}
	count_cb_n = 0;
	qindex_each(&ix, count_cb, NULL);
	ck_assert_int_eq(count_cb_n, 3000);
	ck_assert_ptr_null(qindex_peek(&ix));
	qindex_free(&ix);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("queue_index");
	TCase *t = tcase_create("index");
	SRunner *r;
	int failed;

	tcase_add_test(t, order_and_ties);
	tcase_add_test(t, reschedule_and_delete);
	tcase_add_test(t, hundred_thousand);
	tcase_add_test(t, each_visits_all);
	tcase_set_timeout(t, 60);
	suite_add_tcase(s, t);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed == 0 ? 0 : 1;
}
