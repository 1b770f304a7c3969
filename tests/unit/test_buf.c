/*
 * test_buf.c — unit tests for common/buf.c: growth, NUL termination,
 * overflow refusal near SIZE_MAX, embedded NULs, consume/truncate/set with
 * aliasing, detach.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

START_TEST(test_size_add_mul)
{
	size_t r = 7;

	ck_assert_int_eq(size_add(1, 2, &r), 0);
	ck_assert_uint_eq(r, 3);
	ck_assert_int_eq(size_add(SIZE_MAX, 1, &r), -1);
	ck_assert_uint_eq(r, 3);
	ck_assert_int_eq(size_add(SIZE_MAX - 1, 1, &r), 0);
	ck_assert_uint_eq(r, SIZE_MAX);
	ck_assert_int_eq(size_mul(SIZE_MAX / 2 + 1, 2, &r), -1);
	ck_assert_int_eq(size_mul(SIZE_MAX / 3, 3, &r), 0);
	ck_assert_int_eq(size_mul(0, SIZE_MAX, &r), 0);
	ck_assert_uint_eq(r, 0);
}
END_TEST

START_TEST(test_append_nul)
{
	struct buf b = BUF_INIT;

	ck_assert_str_eq(buf_str(&b), "");
	ck_assert_int_eq(buf_append(&b, "a\0b", 3), 0);
	ck_assert_uint_eq(b.len, 3);
	ck_assert_int_eq(memcmp(b.data, "a\0b\0", 4), 0);
	ck_assert_int_eq(buf_append_str(&b, "cd"), 0);
	ck_assert_int_eq(buf_append_char(&b, '\0'), 0);
	ck_assert_uint_eq(b.len, 6);
	ck_assert_int_eq(memcmp(b.data, "a\0bcd\0\0", 7), 0);
	buf_free(&b);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
}
END_TEST

START_TEST(test_growth)
{
	struct buf b = BUF_INIT;
	size_t i;

	for (i = 0; i < 100000; i++)
		ck_assert_int_eq(buf_append_char(&b, (char)('a' + i % 26)), 0);
	ck_assert_uint_eq(b.len, 100000);
	ck_assert_uint_ge(b.cap, 100001);
	ck_assert_int_eq(b.data[b.len], '\0');
	ck_assert_int_eq(b.data[99999], 'a' + 99999 % 26);
	buf_free(&b);
}
END_TEST

START_TEST(test_overflow)
{
	struct buf b = BUF_INIT;

	ck_assert_int_eq(buf_append_str(&b, "xyz"), 0);
	errno = 0;
	ck_assert_int_eq(buf_reserve(&b, SIZE_MAX), -1);
	ck_assert_int_eq(errno, EOVERFLOW);
	ck_assert_int_eq(buf_reserve(&b, SIZE_MAX - 3), -1);
	ck_assert_int_eq(buf_reserve(&b, SIZE_MAX / 2), -1);
	/* unchanged */
	ck_assert_uint_eq(b.len, 3);
	ck_assert_str_eq(b.data, "xyz");
	ck_assert_int_eq(buf_append(&b, "q", SIZE_MAX - 1), -1);
	ck_assert_str_eq(buf_str(&b), "xyz");
	buf_free(&b);
}
END_TEST

START_TEST(test_printf)
{
	struct buf b = BUF_INIT;
	char big[5000];

	ck_assert_int_eq(buf_printf(&b, "%d-%s", 42, "x"), 0);
	ck_assert_str_eq(buf_str(&b), "42-x");
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(buf_printf(&b, "%s!", big), 0);
	ck_assert_uint_eq(b.len, 4 + 4999 + 1);
	ck_assert_int_eq(b.data[b.len - 1], '!');
	ck_assert_int_eq(b.data[b.len], '\0');
	buf_free(&b);
}
END_TEST

START_TEST(test_consume_truncate_set)
{
	struct buf b = BUF_INIT;

	buf_consume(&b, 5);
	buf_truncate(&b, 0);
	ck_assert_int_eq(buf_set(&b, "hello world", 11), 0);
	buf_consume(&b, 6);
	ck_assert_str_eq(b.data, "world");
	ck_assert_uint_eq(b.len, 5);
	buf_truncate(&b, 10);
	ck_assert_uint_eq(b.len, 5);
	buf_truncate(&b, 3);
	ck_assert_str_eq(b.data, "wor");
	/* aliasing: set from own contents */
	ck_assert_int_eq(buf_set(&b, b.data + 1, 2), 0);
	ck_assert_str_eq(b.data, "or");
	buf_consume(&b, 99);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(buf_str(&b), "");
	buf_reset(&b);
	ck_assert_int_eq(buf_set(&b, "", 0), 0);
	ck_assert_str_eq(b.data, "");
	buf_free(&b);
}
END_TEST

START_TEST(test_detach)
{
	struct buf b = BUF_INIT;
	char *s;

	s = buf_detach(&b);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "");
	free(s);
	ck_assert_int_eq(buf_append_str(&b, "abc"), 0);
	s = buf_detach(&b);
	ck_assert_str_eq(s, "abc");
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	free(s);
}
END_TEST

START_TEST(test_alloc_helpers)
{
	void *p;
	char *s;

	errno = 0;
	ck_assert_ptr_null(xcalloc_array(SIZE_MAX / 2, 3));
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_ptr_null(xrealloc_array(NULL, SIZE_MAX, 2));
	p = xcalloc_array(10, 4);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(((int *)p)[9], 0);
	p = xrealloc_array(p, 20, 4);
	ck_assert_ptr_nonnull(p);
	free(p);
	s = xstrndup("abcdef", 3);
	ck_assert_str_eq(s, "abc");
	free(s);
	s = xstrndup("ab", 10);
	ck_assert_str_eq(s, "ab");
	free(s);
}
END_TEST

static Suite *
buf_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_size_add_mul);
	tcase_add_test(tc, test_append_nul);
	tcase_add_test(tc, test_growth);
	tcase_add_test(tc, test_overflow);
	tcase_add_test(tc, test_printf);
	tcase_add_test(tc, test_consume_truncate_set);
	tcase_add_test(tc, test_detach);
	tcase_add_test(tc, test_alloc_helpers);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(buf_suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
