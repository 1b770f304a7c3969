/*
 * test_units.c — unit tests for common/units.c: strict numbers, durations,
 * sizes (overflow, signs, blanks, suffixes), booleans and host[:port].
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/units.h"

START_TEST(test_uint)
{
	uint64_t v = 99;

	ck_assert_int_eq(parse_uint("0", 10, &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(parse_uint("18446744073709551615", UINT64_MAX, &v),
	    0);
	ck_assert_uint_eq(v, UINT64_MAX);
	v = 7;
	ck_assert_int_eq(parse_uint("18446744073709551616", UINT64_MAX, &v),
	    -1);
	ck_assert_uint_eq(v, 7);
	ck_assert_int_eq(parse_uint("11", 10, &v), -1);
	ck_assert_int_eq(parse_uint("10", 10, &v), 0);
	ck_assert_int_eq(parse_uint("", 10, &v), -1);
	ck_assert_int_eq(parse_uint("-1", 10, &v), -1);
	ck_assert_int_eq(parse_uint("+1", 10, &v), -1);
	ck_assert_int_eq(parse_uint(" 1", 10, &v), -1);
	ck_assert_int_eq(parse_uint("1 ", 10, &v), -1);
	ck_assert_int_eq(parse_uint("0x1", 10, &v), -1);
	ck_assert_int_eq(parse_uint(NULL, 10, &v), -1);
}
END_TEST

START_TEST(test_duration)
{
	uint64_t v = 0;

	ck_assert_int_eq(parse_duration("30", &v), 0);
	ck_assert_uint_eq(v, 30);
	ck_assert_int_eq(parse_duration("30s", &v), 0);
	ck_assert_uint_eq(v, 30);
	ck_assert_int_eq(parse_duration("5m", &v), 0);
	ck_assert_uint_eq(v, 300);
	ck_assert_int_eq(parse_duration("4h", &v), 0);
	ck_assert_uint_eq(v, 14400);
	ck_assert_int_eq(parse_duration("5d", &v), 0);
	ck_assert_uint_eq(v, 432000);
	ck_assert_int_eq(parse_duration("2w", &v), 0);
	ck_assert_uint_eq(v, 1209600);
	ck_assert_int_eq(parse_duration("0", &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(parse_duration("5x", &v), -1);
	ck_assert_int_eq(parse_duration("5mm", &v), -1);
	ck_assert_int_eq(parse_duration("5M", &v), -1);
	ck_assert_int_eq(parse_duration("m", &v), -1);
	ck_assert_int_eq(parse_duration("", &v), -1);
	ck_assert_int_eq(parse_duration("-5m", &v), -1);
	ck_assert_int_eq(parse_duration("5 m", &v), -1);
	ck_assert_int_eq(parse_duration("30500000000000000d", &v), -1);
}
END_TEST

START_TEST(test_size)
{
	uint64_t v = 0;

	ck_assert_int_eq(parse_size("512", &v), 0);
	ck_assert_uint_eq(v, 512);
	ck_assert_int_eq(parse_size("100k", &v), 0);
	ck_assert_uint_eq(v, 102400);
	ck_assert_int_eq(parse_size("100K", &v), 0);
	ck_assert_uint_eq(v, 102400);
	ck_assert_int_eq(parse_size("35M", &v), 0);
	ck_assert_uint_eq(v, 36700160);
	ck_assert_int_eq(parse_size("1G", &v), 0);
	ck_assert_uint_eq(v, 1073741824);
	ck_assert_int_eq(parse_size("16777215G", &v), 0);
	ck_assert_int_eq(parse_size("17179869184G", &v), -1);
	ck_assert_int_eq(parse_size("35MB", &v), -1);
	ck_assert_int_eq(parse_size("35m", &v), -1);
	ck_assert_int_eq(parse_size("1.5M", &v), -1);
	ck_assert_int_eq(parse_size("M", &v), -1);
}
END_TEST

START_TEST(test_bool)
{
	bool b = false;

	ck_assert_int_eq(parse_bool("yes", &b), 0);
	ck_assert(b);
	ck_assert_int_eq(parse_bool("Off", &b), 0);
	ck_assert(!b);
	ck_assert_int_eq(parse_bool("1", &b), 0);
	ck_assert(b);
	ck_assert_int_eq(parse_bool("false", &b), 0);
	ck_assert(!b);
	ck_assert_int_eq(parse_bool("yess", &b), -1);
	ck_assert_int_eq(parse_bool("", &b), -1);
	ck_assert_int_eq(parse_bool("2", &b), -1);
}
END_TEST

START_TEST(test_hostport)
{
	char h[16];
	unsigned p = 9;

	ck_assert_int_eq(parse_hostport("127.0.0.1:2525", h, sizeof(h), &p),
	    0);
	ck_assert_str_eq(h, "127.0.0.1");
	ck_assert_uint_eq(p, 2525);
	ck_assert_int_eq(parse_hostport("mx.example", h, sizeof(h), &p), 0);
	ck_assert_str_eq(h, "mx.example");
	ck_assert_uint_eq(p, 0);
	ck_assert_int_eq(parse_hostport("[::1]:25", h, sizeof(h), &p), 0);
	ck_assert_str_eq(h, "::1");
	ck_assert_uint_eq(p, 25);
	ck_assert_int_eq(parse_hostport("[::1]", h, sizeof(h), &p), 0);
	ck_assert_str_eq(h, "::1");
	ck_assert_uint_eq(p, 0);
	ck_assert_int_eq(parse_hostport("fe80::1", h, sizeof(h), &p), 0);
	ck_assert_str_eq(h, "fe80::1");
	ck_assert_uint_eq(p, 0);
	ck_assert_int_eq(parse_hostport("h:65535", h, sizeof(h), &p), 0);
	ck_assert_uint_eq(p, 65535);
	ck_assert_int_eq(parse_hostport("h:65536", h, sizeof(h), &p), -1);
	ck_assert_int_eq(parse_hostport("h:0", h, sizeof(h), &p), -1);
	ck_assert_int_eq(parse_hostport("h:", h, sizeof(h), &p), -1);
	ck_assert_int_eq(parse_hostport(":25", h, sizeof(h), &p), -1);
	ck_assert_int_eq(parse_hostport("", h, sizeof(h), &p), -1);
	ck_assert_int_eq(parse_hostport("[::1", h, sizeof(h), &p), -1);
	ck_assert_int_eq(parse_hostport("[::1]x", h, sizeof(h), &p), -1);
	ck_assert_int_eq(parse_hostport("[]:25", h, sizeof(h), &p), -1);
	ck_assert_int_eq(parse_hostport("a b:25", h, sizeof(h), &p), -1);
	ck_assert_int_eq(parse_hostport("h:2x", h, sizeof(h), &p), -1);
	ck_assert_int_eq(parse_hostport("0123456789abcdef", h, sizeof(h),
	    &p), -1);
	ck_assert_int_eq(parse_hostport("0123456789abcde", h, sizeof(h), &p),
	    0);
}
END_TEST

static Suite *
units_suite(void)
{
	Suite *s = suite_create("units");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_uint);
	tcase_add_test(tc, test_duration);
	tcase_add_test(tc, test_size);
	tcase_add_test(tc, test_bool);
	tcase_add_test(tc, test_hostport);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(units_suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
