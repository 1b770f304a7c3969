/*
 * test_queue_sendmail_run.c — posthorn-run's listen addresses
 * (queue/run_net.c listen_spec): "host:port", "[v6]:port", a bare host
 * for the kind's standard port, ":0" for a free port, and refusals.
 * (Named with the sendmail prefix: the front-end programs of queue/ share
 * one test owner.)
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "queue/run.h"

static void
ok(enum lkind kind, const char *spec, const char *host, unsigned port)
{
	char h[256];
	unsigned p = 12345;

	ck_assert_msg(listen_spec(kind, spec, h, sizeof(h), &p) == 0,
	    "refused: %s", spec);
	ck_assert_str_eq(h, host);
	ck_assert_uint_eq(p, port);
}

static void
bad(enum lkind kind, const char *spec)
{
	char h[256];
	unsigned p;

	ck_assert_msg(listen_spec(kind, spec, h, sizeof(h), &p) == -1,
	    "accepted: %s", spec);
}

START_TEST(listen_forms)
{
	ok(L_SMTP, "127.0.0.1:2525", "127.0.0.1", 2525);
	ok(L_SMTP, "127.0.0.1:0", "127.0.0.1", 0);
	ok(L_SMTP, "[::1]:0", "::1", 0);
	ok(L_SMTP, "[::1]:25", "::1", 25);
	ok(L_SMTP, "localhost:0", "localhost", 0);
	ok(L_SMTP, "127.0.0.1", "127.0.0.1", 25);
	ok(L_SUBMISSION, "127.0.0.1", "127.0.0.1", 587);
	ok(L_SMTPS, "[::1]", "::1", 465);
	ok(L_SMTPS, "::1", "::1", 465);
}
END_TEST

START_TEST(listen_refused)
{
	bad(L_SMTP, "127.0.0.1:65536");
	bad(L_SMTP, "127.0.0.1:-1");
	bad(L_SMTP, "127.0.0.1:x");
	bad(L_SMTP, "[::1:25");
	bad(L_SMTP, "[::1]x:0");
	bad(L_SMTP, "127.0.0.1:00");
	bad(L_SMTP, "");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("queue_sendmail_run");
	TCase *tc = tcase_create("listen");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, listen_forms);
	tcase_add_test(tc, listen_refused);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
