/*
 * test_remote_smtp.c — helpers of the SMTP client (remote/smtp.c): EHLO
 * keyword parsing (SIZE values, case, prefixes that are not keywords),
 * enhanced status class rewriting, 8-bit detection.
 */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "remote/smtp.h"

static void
ehlo(const char *line, unsigned *ext, uint64_t *size)
{
	smtp_parse_ehlo_line(line, strlen(line), ext, size);
}

START_TEST(ehlo_keywords)
{
	unsigned ext = 0;
	uint64_t size = 0;

	ehlo("PIPELINING", &ext, &size);
	ehlo("size 1000", &ext, &size);
	ehlo("8BITMIME", &ext, &size);
	ehlo("StartTLS", &ext, &size);
	ehlo("DSN", &ext, &size);
	ehlo("SMTPUTF8", &ext, &size);
	ehlo("ENHANCEDSTATUSCODES", &ext, &size);
	ck_assert_uint_eq(ext, EXT_PIPELINING | EXT_SIZE | EXT_8BITMIME |
	    EXT_STARTTLS | EXT_DSN | EXT_SMTPUTF8 | EXT_ENHANCED);
	ck_assert_uint_eq(size, 1000);
}
END_TEST

START_TEST(ehlo_not_keywords)
{
	unsigned ext = 0;
	uint64_t size = 7;

	ehlo("PIPELININGX", &ext, &size);
	ehlo("DSNX", &ext, &size);
	ehlo("SIZEX 5", &ext, &size);
	ehlo("8BITMIM", &ext, &size);
	ehlo("", &ext, &size);
	ck_assert_uint_eq(ext, 0);
	ck_assert_uint_eq(size, 7);
	/* SIZE without a number: no limit; absurd numbers: no limit */
	ehlo("SIZE", &ext, &size);
	ck_assert_uint_eq(ext, EXT_SIZE);
	ck_assert_uint_eq(size, 7);
	ehlo("SIZE 99999999999999999999999999", &ext, &size);
	ck_assert_uint_eq(size, 0);
	ehlo("SIZE 0", &ext, &size);
	ck_assert_uint_eq(size, 0);
}
END_TEST

START_TEST(dsn_class)
{
	char out[16];

	dsn_with_class("5.7.1", '4', out);
	ck_assert_str_eq(out, "4.7.1");
	dsn_with_class("2.1.10", '5', out);
	ck_assert_str_eq(out, "5.1.10");
	dsn_with_class("", '4', out);
	ck_assert_str_eq(out, "4.0.0");
	dsn_with_class("garbage", '5', out);
	ck_assert_str_eq(out, "5.0.0");
	/* in place */
	memcpy(out, "5.3.4", 6);
	dsn_with_class(out, '4', out);
	ck_assert_str_eq(out, "4.3.4");
}
END_TEST

START_TEST(eightbit)
{
	ck_assert(!str_has_8bit("plain@example.org"));
	ck_assert(str_has_8bit("\xc3\xbc@example.org"));
	ck_assert(!str_has_8bit(""));
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("remote_smtp");
	TCase *t = tcase_create("helpers");

	tcase_add_test(t, ehlo_keywords);
	tcase_add_test(t, ehlo_not_keywords);
	tcase_add_test(t, dsn_class);
	tcase_add_test(t, eightbit);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
