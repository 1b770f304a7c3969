/*
 * test_cidr.c — unit tests for common/cidr.c: strict network parsing
 * (prefix range, host bits, garbage), matching IPv4, IPv6 and IPv4-mapped
 * addresses, lists, ip_parse/ip_format.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/cidr.h"

static bool
m(const char *net, const char *ip)
{
	struct sockaddr_storage ss;
	struct cidr c;
	const char *why = NULL;

	ck_assert_int_eq(cidr_parse(net, &c, &why), 0);
	ck_assert_int_eq(ip_parse(ip, &ss), 0);
	return cidr_match(&c, (struct sockaddr *)&ss);
}

static int
bad(const char *net)
{
	struct cidr c;
	const char *why = NULL;
	int r = cidr_parse(net, &c, &why);

	if (r == -1)
		ck_assert_ptr_nonnull(why);
	return r;
}

START_TEST(test_parse)
{
	struct cidr c;
	const char *why;

	ck_assert_int_eq(cidr_parse("127.0.0.0/8", &c, &why), 0);
	ck_assert_int_eq(c.family, AF_INET);
	ck_assert_uint_eq(c.prefix, 8);
	ck_assert_int_eq(c.addr[0], 127);
	ck_assert_int_eq(cidr_parse("10.1.2.3", &c, &why), 0);
	ck_assert_uint_eq(c.prefix, 32);
	ck_assert_int_eq(cidr_parse("::1/128", &c, &why), 0);
	ck_assert_int_eq(c.family, AF_INET6);
	ck_assert_int_eq(c.addr[15], 1);
	ck_assert_int_eq(cidr_parse("0.0.0.0/0", &c, &why), 0);
	ck_assert_int_eq(cidr_parse("::/0", &c, &why), 0);
	ck_assert_int_eq(bad("127.0.0.1/8"), -1);
	ck_assert_str_eq(why = (cidr_parse("127.0.0.1/8", &c, &why), why),
	    "host bits set beyond the prefix length");
	ck_assert_int_eq(bad("10.0.0.0/33"), -1);
	ck_assert_int_eq(bad("::/129"), -1);
	ck_assert_int_eq(bad("10.0.0.0/"), -1);
	ck_assert_int_eq(bad("10.0.0.0/8x"), -1);
	ck_assert_int_eq(bad("10.0.0.0/+8"), -1);
	ck_assert_int_eq(bad("10.0.0.0/0008"), -1);
	ck_assert_int_eq(bad("10.0.0.0/8/8"), -1);
	ck_assert_int_eq(bad("10.0.0/8"), -1);
	ck_assert_int_eq(bad("010.0.0.0/8"), -1);
	ck_assert_int_eq(bad("/8"), -1);
	ck_assert_int_eq(bad(""), -1);
	ck_assert_int_eq(bad("localhost"), -1);
	ck_assert_int_eq(bad("10.0.0.0 /8"), -1);
	ck_assert_int_eq(bad("1:2:3:4:5:6:7:8:9/128"), -1);
	ck_assert_int_eq(bad("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaa/8"), -1);
}
END_TEST

START_TEST(test_match)
{
	ck_assert(m("127.0.0.0/8", "127.1.2.3"));
	ck_assert(!m("127.0.0.0/8", "128.0.0.1"));
	ck_assert(m("192.168.0.0/23", "192.168.1.255"));
	ck_assert(!m("192.168.0.0/23", "192.168.2.0"));
	ck_assert(m("0.0.0.0/0", "8.8.8.8"));
	ck_assert(!m("0.0.0.0/0", "::1"));
	ck_assert(m("::1/128", "::1"));
	ck_assert(!m("::1/128", "::2"));
	ck_assert(m("2001:db8::/32", "2001:db8:ffff::1"));
	ck_assert(!m("2001:db8::/33", "2001:db8:8000::1"));
	/* IPv4-mapped IPv6 matches IPv4 networks, not the other way */
	ck_assert(m("127.0.0.0/8", "::ffff:127.0.0.1"));
	ck_assert(!m("127.0.0.0/8", "::127.0.0.1"));
	ck_assert(!m("::ffff:0:0/96", "127.0.0.1"));
	ck_assert(m("10.0.0.1", "10.0.0.1"));
	ck_assert(!m("10.0.0.1", "10.0.0.2"));
}
END_TEST

START_TEST(test_list)
{
	struct cidrlist l = { NULL, 0 };
	struct sockaddr_storage ss;
	struct sockaddr_un_like { sa_family_t f; char p[20]; } un;
	struct cidr c;
	const char *why;

	ck_assert_int_eq(ip_parse("::1", &ss), 0);
	ck_assert(!cidrlist_match(&l, (struct sockaddr *)&ss));
	ck_assert_int_eq(cidr_parse("127.0.0.0/8", &c, &why), 0);
	ck_assert_int_eq(cidrlist_add(&l, &c), 0);
	ck_assert(!cidrlist_match(&l, (struct sockaddr *)&ss));
	ck_assert_int_eq(cidr_parse("::1/128", &c, &why), 0);
	ck_assert_int_eq(cidrlist_add(&l, &c), 0);
	ck_assert_uint_eq(l.n, 2);
	ck_assert(cidrlist_match(&l, (struct sockaddr *)&ss));
	memset(&un, 0, sizeof(un));
	un.f = AF_UNIX;
	ck_assert(!cidrlist_match(&l, (struct sockaddr *)&un));
	ck_assert(!cidrlist_match(&l, NULL));
	cidrlist_free(&l);
	ck_assert_uint_eq(l.n, 0);
}
END_TEST

START_TEST(test_ip)
{
	struct sockaddr_storage ss;
	char out[64];

	ck_assert_int_eq(ip_parse("192.0.2.1", &ss), 0);
	ip_format((struct sockaddr *)&ss, out, sizeof(out));
	ck_assert_str_eq(out, "192.0.2.1");
	ck_assert_int_eq(ip_parse("2001:DB8::1", &ss), 0);
	ip_format((struct sockaddr *)&ss, out, sizeof(out));
	ck_assert_str_eq(out, "2001:db8::1");
	ip_format((struct sockaddr *)&ss, out, 5);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(ip_parse("192.0.2.1:25", &ss), -1);
	ck_assert_int_eq(ip_parse("[::1]", &ss), -1);
	ck_assert_int_eq(ip_parse("", &ss), -1);
	ck_assert_int_eq(ip_parse("1.2.3.4.5", &ss), -1);
	ck_assert_int_eq(ip_parse("256.1.1.1", &ss), -1);
}
END_TEST

static Suite *
cidr_suite(void)
{
	Suite *s = suite_create("cidr");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_parse);
	tcase_add_test(tc, test_match);
	tcase_add_test(tc, test_list);
	tcase_add_test(tc, test_ip);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(cidr_suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
