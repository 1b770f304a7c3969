/*
 * test_qid.c — unit tests for common/qid.c: format, strict increase within
 * a process, distinct ids across processes, validation, time decoding.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/qid.h"

START_TEST(test_format)
{
	char q[QID_LEN + 1], pid[8];
	struct timeval tv;
	uint64_t t, now;

	qid_new(q);
	ck_assert_uint_eq(strlen(q), QID_LEN);
	ck_assert(qid_valid(q));
	snprintf(pid, sizeof(pid), "%06lX", (unsigned long)getpid());
	ck_assert_str_eq(q + 14, pid);
	gettimeofday(&tv, NULL);
	now = (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
	t = qid_time_us(q);
	ck_assert_uint_le(t, now + 1000);
	ck_assert_uint_gt(t + 5000000, now);
}
END_TEST

START_TEST(test_increasing)
{
	char a[QID_LEN + 1], b[QID_LEN + 1];
	int i;

	qid_new(a);
	for (i = 0; i < 10000; i++) {
		qid_new(b);
		ck_assert_int_lt(strcmp(a, b), 0);
		memcpy(a, b, sizeof(a));
	}
}
END_TEST

START_TEST(test_processes)
{
	char a[QID_LEN + 1], b[QID_LEN + 1];
	int p[2], st;
	pid_t pid;

	ck_assert_int_eq(pipe(p), 0);
	qid_new(a);
	pid = fork();
	if (pid == 0) {
		qid_new(b);
		_exit(write(p[1], b, QID_LEN) == QID_LEN ? 0 : 1);
	}
	qid_new(a);
	ck_assert_int_eq(read(p[0], b, QID_LEN), QID_LEN);
	b[QID_LEN] = '\0';
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(qid_valid(b));
	ck_assert_str_ne(a, b);
	ck_assert_str_ne(a + 14, b + 14);
}
END_TEST

START_TEST(test_valid)
{
	ck_assert(qid_valid("0005F1A2B3C4D5000123"));
	ck_assert(!qid_valid("0005f1A2B3C4D5000123"));
	ck_assert(!qid_valid("0005F1A2B3C4D500012"));
	ck_assert(!qid_valid("0005F1A2B3C4D50001234"));
	ck_assert(!qid_valid("0005F1A2B3C4D500012G"));
	ck_assert(!qid_valid("../../etc/passwd...."));
	ck_assert(!qid_valid(""));
	ck_assert(!qid_valid(NULL));
	ck_assert_uint_eq(qid_time_us("00000000000010000123"), 16);
	ck_assert_uint_eq(qid_time_us("FFFFFFFFFFFFFF000123"),
	    (UINT64_C(1) << 56) - 1);
	ck_assert_uint_eq(qid_time_us("bad"), 0);
}
END_TEST

static Suite *
qid_suite(void)
{
	Suite *s = suite_create("qid");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_format);
	tcase_add_test(tc, test_increasing);
	tcase_add_test(tc, test_processes);
	tcase_add_test(tc, test_valid);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(qid_suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
