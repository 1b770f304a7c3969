/*
 * test_remote_idna.c — U-labels to A-labels in posthorn-remote
 * (common/idna.c, over libidn2): domains, addresses with an ASCII local
 * part, and what must be refused (disallowed characters, bad hyphens,
 * invalid punycode, a UTF-8 local part, results too long).
 */
#include <check.h>
#include <string.h>

#include "common/idna.h"

START_TEST(domains)
{
	char out[256];
	const char *why = NULL;

	ck_assert_int_eq(idna_domain_ascii("b\xc3\xbc" "cher.example.test",
	    out, sizeof(out), &why), 0);
	ck_assert_str_eq(out, "xn--bcher-kva.example.test");
	/* case folding and NFC: "BU" + combining diaeresis */
	ck_assert_int_eq(idna_domain_ascii("BU\xcc\x88" "CHER.example", out,
	    sizeof(out), &why), 0);
	ck_assert_str_eq(out, "xn--bcher-kva.example");
	/* non-transitional: sharp s stays */
	ck_assert_int_eq(idna_domain_ascii("stra\xc3\x9f" "e.de", out,
	    sizeof(out), &why), 0);
	ck_assert_str_eq(out, "xn--strae-oqa.de");
	/* ASCII is copied as it is */
	ck_assert_int_eq(idna_domain_ascii("Example.ORG", out, sizeof(out),
	    &why), 0);
	ck_assert_str_eq(out, "Example.ORG");
	/* refused */
	ck_assert_int_eq(idna_domain_ascii("a\xe2\x98\x83" "b.test", out,
	    sizeof(out), &why), -1);	/* U+2603 snowman */
	ck_assert_ptr_nonnull(why);
	ck_assert_int_eq(idna_domain_ascii("-\xc3\xbc.test", out, sizeof(out),
	    &why), -1);
	ck_assert_int_eq(idna_domain_ascii("ab--\xc3\xbc.test", out,
	    sizeof(out), &why), -1);
	ck_assert_int_eq(idna_domain_ascii("\xc3\xbc_x.test", out,
	    sizeof(out), &why), -1);	/* STD3: no underscore */
	ck_assert_int_eq(idna_domain_ascii("\xff\xfe.test", out, sizeof(out),
	    &why), -1);			/* not UTF-8 */
	/* the A-label form must fit */
	ck_assert_int_eq(idna_domain_ascii("b\xc3\xbc" "cher.example.test",
	    out, 20, &why), -1);
	ck_assert_int_eq(idna_domain_ascii("example.test", out, 5, &why), -1);
}
END_TEST

START_TEST(addresses)
{
	char out[300];

	ck_assert_int_eq(idna_addr_ascii("a.b+c@b\xc3\xbc" "cher.example",
	    out, sizeof(out)), 0);
	ck_assert_str_eq(out, "a.b+c@xn--bcher-kva.example");
	ck_assert_int_eq(idna_addr_ascii("\"x@y\"@b\xc3\xbc" "cher.example",
	    out, sizeof(out)), 0);
	ck_assert_str_eq(out, "\"x@y\"@xn--bcher-kva.example");
	/* a UTF-8 local part has no ASCII form */
	ck_assert_int_eq(idna_addr_ascii("j\xc3\xbcrgen@b\xc3\xbc" "cher.example",
	    out, sizeof(out)), -1);
	ck_assert_int_eq(idna_addr_ascii("no-at-sign", out, sizeof(out)), -1);
	ck_assert_int_eq(idna_addr_ascii("a@b\xc3\xbc" "cher.example", out,
	    10), -1);
	ck_assert_int_eq(idna_addr_ascii("a@a\xe2\x98\x83" "b.test", out,
	    sizeof(out)), -1);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("remote_idna");
	TCase *t = tcase_create("idna");

	tcase_add_test(t, domains);
	tcase_add_test(t, addresses);
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
