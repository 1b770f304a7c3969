/*
 * test_queue_policy.c — the scheduler's arithmetic and decisions
 * (queue/spool.c sched_backoff, queue/policy.c): exponential backoff with
 * its cap and jitter bounds, results moving recipient state forward, owed
 * notices, expiry to 4.4.7, the one delay notice, when a message is done
 * and when it is tried next.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/agent.h"
#include "queue/policy.h"

START_TEST(backoff_exact)
{
	/* rnd 0: no jitter */
	ck_assert_uint_eq(sched_backoff(300, 14400, 1, 0), 300);
	ck_assert_uint_eq(sched_backoff(300, 14400, 2, 0), 600);
	ck_assert_uint_eq(sched_backoff(300, 14400, 3, 0), 1200);
	ck_assert_uint_eq(sched_backoff(300, 14400, 6, 0), 9600);
	ck_assert_uint_eq(sched_backoff(300, 14400, 7, 0), 14400);
	ck_assert_uint_eq(sched_backoff(300, 14400, 1000000, 0), 14400);
	ck_assert_uint_eq(sched_backoff(300, 14400, 0, 0), 300);
	ck_assert_uint_eq(sched_backoff(0, 0, 5, 0), 1);
	ck_assert_uint_eq(sched_backoff(600, 60, 3, 0), 600); /* max < min */
	ck_assert_uint_eq(sched_backoff(UINT64_MAX / 2 + 1, UINT64_MAX, 80, 0),
	    UINT64_MAX);
}
END_TEST

START_TEST(backoff_jitter_bounds)
{
	uint64_t r, d;

	for (r = 0; r < 5000; r += 7) {
		d = sched_backoff(300, 14400, 3, r * 2654435761u);
		ck_assert_uint_le(d, 1200);
		ck_assert_uint_ge(d, 1080);
		d = sched_backoff(300, 14400, 99, r * 40503u);
		ck_assert_uint_le(d, 14400);
		ck_assert_uint_ge(d, 12960);
	}
	ck_assert_uint_eq(sched_backoff(5, 100, 1, 12345), 5); /* < 10 */
}
END_TEST

static void
mkrec(struct spool_rec *r, int64_t arrival)
{
	spool_rec_init(r);
	ck_assert_int_eq(envelope_set_sender(&r->env, "a@example.org"), 0);
	ck_assert_int_eq(envelope_add_rcpt(&r->env, "b@example.net", 0,
	    NULL), 0);
	ck_assert_int_eq(envelope_add_rcpt(&r->env, "c@example.com",
	    NOTIFY_SUCCESS | NOTIFY_FAILURE, NULL), 1);
	ck_assert_int_eq(envelope_add_rcpt(&r->env, "d@Example.COM", 0,
	    NULL), 2);
	r->env.arrival = arrival;
	ck_assert_int_eq(spool_rec_reset_owed(r), 0);
}

START_TEST(apply_results)
{
	struct spool_rec r;

	mkrec(&r, 1000);
	ck_assert_str_eq(r.owed, "---");
	ck_assert(!policy_done(&r));
	ck_assert_int_eq(policy_apply_delivery(&r, 0, 'T', "4.4.1",
	    "connection refused", "mx.example.net[192.0.2.1]:25", 1100), 0);
	ck_assert_int_eq(r.env.rcpts[0].state, RCPT_DEFERRED);
	ck_assert_str_eq(r.env.rcpts[0].dsn, "4.4.1");
	ck_assert_str_eq(r.env.rcpts[0].diag, "connection refused");
	ck_assert_str_eq(r.env.rcpts[0].remote_mta,
	    "mx.example.net[192.0.2.1]:25");
	ck_assert_uint_eq(r.env.rcpts[0].attempts, 1);
	ck_assert_int_eq(r.env.rcpts[0].last_attempt, 1100);
	ck_assert_int_eq(policy_apply_delivery(&r, 1, 'D', "2.0.0", "ok",
	    "", 1100), 0);
	ck_assert_int_eq(r.env.rcpts[1].state, RCPT_DELIVERED);
	ck_assert_ptr_null(r.env.rcpts[1].remote_mta);
	ck_assert_int_eq(policy_apply_delivery(&r, 2, 'P', "5.1.1",
	    "no such user", NULL, 1100), 0);
	ck_assert_str_eq(r.owed, "-SF");
	/* final states do not move */
	ck_assert_int_eq(policy_apply_delivery(&r, 1, 'T', "4.0.0", "x", "",
	    1200), -1);
	ck_assert_int_eq(r.env.rcpts[1].state, RCPT_DELIVERED);
	/* a deferred recipient can still succeed */
	ck_assert_int_eq(policy_apply_delivery(&r, 0, 'D', "2.0.0", "", "",
	    1300), 0);
	ck_assert_ptr_null(r.env.rcpts[0].diag);
	ck_assert_uint_eq(r.env.rcpts[0].attempts, 2);
	ck_assert(!policy_done(&r));	/* notices owed */
	policy_apply_notice(&r, JOB_BOUNCE_FAILED, 2, 'T');
	ck_assert_str_eq(r.owed, "-SF");
	policy_apply_notice(&r, JOB_BOUNCE_FAILED, 2, 'D');
	policy_apply_notice(&r, JOB_BOUNCE_FAILED, 1, 'D'); /* wrong kind */
	ck_assert_str_eq(r.owed, "-S-");
	policy_apply_notice(&r, JOB_BOUNCE_SUCCESS, 1, 'P');
	ck_assert_str_eq(r.owed, "---");
	ck_assert(policy_done(&r));
	spool_rec_free(&r);
}
END_TEST

/* A server that took the DSN request over owes the success notice, not us. */
START_TEST(success_passed_on)
{
	struct spool_rec r;

	mkrec(&r, 1000);
	ck_assert_int_eq(policy_apply_delivery(&r, 1, 'D', "2.0.0",
	    AGENT_TEXT_DSN_PASSED "250 2.0.0 Ok", "mx.example.com[192.0.2.2]:25",
	    1100), 0);
	ck_assert_int_eq(r.env.rcpts[1].state, RCPT_DELIVERED);
	ck_assert_str_eq(r.owed, "---");
	spool_rec_free(&r);
}
END_TEST

START_TEST(expiry_and_delay)
{
	struct spool_rec r;

	mkrec(&r, 1000);
	ck_assert_int_eq(policy_apply_delivery(&r, 0, 'T', "4.4.1", "refused",
	    "", 1100), 0);
	ck_assert_int_eq(policy_apply_delivery(&r, 1, 'D', "2.0.0", "", "",
	    1100), 0);
	/* delay_warning 0 = never */
	ck_assert(!policy_delay_due(&r, 999999, 0));
	ck_assert(!policy_delay_due(&r, 1000 + 3599, 3600));
	ck_assert(policy_delay_due(&r, 1000 + 3600, 3600));
	r.warned = 1;
	ck_assert(!policy_delay_due(&r, 1000 + 3600, 3600));
	ck_assert_uint_eq(policy_expire(&r, 1000 + 431999, 432000), 0);
	ck_assert_int_eq(r.env.rcpts[0].state, RCPT_DEFERRED);
	ck_assert_uint_eq(policy_expire(&r, 1000 + 432000, 432000), 1);
	ck_assert_int_eq(r.env.rcpts[0].state, RCPT_FAILED);
	ck_assert_str_eq(r.env.rcpts[0].dsn, "4.4.7");
	ck_assert_str_eq(r.env.rcpts[0].diag,
	    "delivery time expired: refused");
	ck_assert_int_eq(r.env.rcpts[2].state, RCPT_PENDING); /* untried */
	ck_assert_str_eq(r.owed, "FS-");
	spool_rec_free(&r);
}
END_TEST

START_TEST(next_try)
{
	struct spool_rec r;
	int64_t t;

	mkrec(&r, 1000);
	t = policy_next_try(&r, 5000, 300, 14400, 0);
	ck_assert_int_eq(t, 5300);	/* pending, never tried */
	r.env.rcpts[0].state = RCPT_DEFERRED;
	r.env.rcpts[0].attempts = 3;
	r.env.rcpts[1].state = RCPT_DEFERRED;
	r.env.rcpts[1].attempts = 1;
	ck_assert_int_eq(policy_next_try(&r, 5000, 300, 14400, 0), 6200);
	r.env.rcpts[0].state = RCPT_DELIVERED;
	r.env.rcpts[1].state = RCPT_DELIVERED;
	r.env.rcpts[2].state = RCPT_FAILED;
	r.owed[2] = OWED_FAILURE;	/* only a notice left */
	ck_assert_int_eq(policy_next_try(&r, 5000, 300, 14400, 0), 5300);
	spool_rec_free(&r);
}
END_TEST

START_TEST(domains)
{
	ck_assert_str_eq(policy_domain("a@b.example"), "b.example");
	ck_assert_str_eq(policy_domain("\"x@y\"@z.example"), "z.example");
	ck_assert_str_eq(policy_domain("postmaster"), "");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("queue_policy");
	TCase *t = tcase_create("policy");
	SRunner *r;
	int failed;

	tcase_add_test(t, backoff_exact);
	tcase_add_test(t, backoff_jitter_bounds);
	tcase_add_test(t, apply_results);
	tcase_add_test(t, success_passed_on);
	tcase_add_test(t, expiry_and_delay);
	tcase_add_test(t, next_try);
	tcase_add_test(t, domains);
	suite_add_tcase(s, t);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed == 0 ? 0 : 1;
}
