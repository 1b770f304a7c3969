/*
 * test_addr.c — unit tests for common/addr.c: the RFC 5321 §4.1.2 grammar
 * (dot-strings, quoted strings with quoted-pairs, domains, IPv4 and IPv6
 * literals, source routes, <>), length limits, NUL/control octets,
 * UTF-8 only with ADDR_UTF8 and only when valid, and the helpers.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"

/* Parse a path; return the formatted address or "ERR:<reason>". */
static const char *
path(const char *s, unsigned flags)
{
	static char out[ADDR_MAX + 64];
	struct addr a;
	const char *why = NULL;
	size_t used = 0;

	if (addr_parse_path(s, strlen(s), flags, &a, &used, &why) == -1) {
		ck_assert_ptr_nonnull(why);
		snprintf(out, sizeof(out), "ERR:%s", why);
		return out;
	}
	ck_assert_int_ge(addr_format(&a, out, sizeof(out)), 0);
	ck_assert_uint_le(used, strlen(s));
	ck_assert_int_eq(s[used - 1], '>');
	return out;
}

static int
ok(const char *s, unsigned flags)
{
	return strncmp(path(s, flags), "ERR:", 4) != 0;
}

static int
mbox(const char *s, size_t len, unsigned flags)
{
	struct addr a;
	const char *why = NULL;
	int r = addr_parse_mailbox(s, len, flags, &a, &why);

	if (r == -1)
		ck_assert_ptr_nonnull(why);
	return r;
}

START_TEST(test_basic)
{
	ck_assert_str_eq(path("<user@example.org>", 0), "user@example.org");
	ck_assert_str_eq(path("<a.b.c@x-y.example>", 0), "a.b.c@x-y.example");
	ck_assert_str_eq(path("<!#$%&'*+-/=?^_`{|}~@x>", 0),
	    "!#$%&'*+-/=?^_`{|}~@x");
	ck_assert_str_eq(path("<\"john doe\"@x.org>", 0),
	    "\"john doe\"@x.org");
	ck_assert_str_eq(path("<\"a\\\"b\\\\c\"@x>", 0), "\"a\\\"b\\\\c\"@x");
	ck_assert_str_eq(path("<\"a>b\"@x>", 0), "\"a>b\"@x");
	ck_assert_str_eq(path("<\"\"@x>", 0), "\"\"@x");
	ck_assert_str_eq(path("<1@2.3>", 0), "1@2.3");
}
END_TEST

START_TEST(test_consumed)
{
	struct addr a;
	const char *why;
	const char *s = "<a@b.c> SIZE=100";
	size_t used;

	ck_assert_int_eq(addr_parse_path(s, strlen(s), 0, &a, &used, &why),
	    0);
	ck_assert_uint_eq(used, 7);
	ck_assert_str_eq(a.local, "a");
	ck_assert_str_eq(a.domain, "b.c");
	ck_assert(!a.null && !a.utf8 && !a.literal);
	ck_assert_int_eq(addr_parse_path("<>x", 3, ADDR_ALLOW_NULL, &a, &used,
	    &why), 0);
	ck_assert(a.null);
	ck_assert_uint_eq(used, 2);
	ck_assert_str_eq(a.local, "");
}
END_TEST

START_TEST(test_null)
{
	ck_assert_str_eq(path("<>", ADDR_ALLOW_NULL), "");
	ck_assert_str_eq(path("<>", 0), "ERR:null address not allowed here");
	ck_assert(!ok("< >", ADDR_ALLOW_NULL));
	ck_assert(!ok("<", ADDR_ALLOW_NULL));
	ck_assert(!ok("", ADDR_ALLOW_NULL));
}
END_TEST

START_TEST(test_bad_syntax)
{
	ck_assert_str_eq(path("user@example.org", 0),
	    "ERR:address must be enclosed in <>");
	ck_assert_str_eq(path("<user@example.org", 0), "ERR:missing closing >");
	ck_assert_str_eq(path("<user>", 0), "ERR:missing @domain");
	ck_assert_str_eq(path("<user@>", 0), "ERR:missing domain after @");
	ck_assert_str_eq(path("<@x>", 0), "ERR:invalid source route");
	ck_assert_str_eq(path("<.a@x>", 0),
	    "ERR:empty atom in local part (leading or double dot)");
	ck_assert_str_eq(path("<a..b@x>", 0),
	    "ERR:empty atom in local part (leading or double dot)");
	ck_assert_str_eq(path("<a.@x>", 0), "ERR:local part ends with a dot");
	ck_assert_str_eq(path("<a b@x>", 0),
	    "ERR:invalid character in local part");
	ck_assert_str_eq(path("<a(b)@x>", 0),
	    "ERR:invalid character in local part");
	ck_assert_str_eq(path("<a@b@c>", 0),
	    "ERR:invalid character in address");
	ck_assert_str_eq(path("<\"abc@x>", 0),
	    "ERR:unterminated quoted local part");
	ck_assert_str_eq(path("<\"a\\\"@x>", 0),
	    "ERR:unterminated quoted local part");
	ck_assert_str_eq(path("<\"a\tb\"@x>", 0),
	    "ERR:invalid character in quoted local part");
	ck_assert_str_eq(path("<a@-x.org>", 0),
	    "ERR:domain label starts or ends with a hyphen");
	ck_assert_str_eq(path("<a@x-.org>", 0),
	    "ERR:domain label starts or ends with a hyphen");
	ck_assert_str_eq(path("<a@x..org>", 0), "ERR:empty label in domain");
	ck_assert_str_eq(path("<a@.x.org>", 0), "ERR:empty label in domain");
	ck_assert_str_eq(path("<a@x.org.>", 0), "ERR:empty label in domain");
	ck_assert_str_eq(path("<a@x_y.org>", 0),
	    "ERR:invalid character in address");
	ck_assert_str_eq(path("<a@x.org >", 0),
	    "ERR:invalid character in address");
	ck_assert_str_eq(path("< a@x.org>", 0),
	    "ERR:empty local part");
	ck_assert_str_eq(path("<a\r\n@x>", 0),
	    "ERR:invalid character in local part");
}
END_TEST

START_TEST(test_nul_control)
{
	struct addr a;
	const char *why;
	size_t used;

	ck_assert_int_eq(addr_parse_path("<a\0b@x>", 7, 0, &a, &used, &why),
	    -1);
	ck_assert_int_eq(addr_parse_path("<a@x\0y>", 7, 0, &a, &used, &why),
	    -1);
	ck_assert_int_eq(addr_parse_path("<\"a\0\"@x>", 8, 0, &a, &used,
	    &why), -1);
	ck_assert_str_eq(why, "invalid character in quoted local part");
	ck_assert_int_eq(addr_parse_path("<\"a\\\0\"@x>", 9, 0, &a, &used,
	    &why), -1);
	ck_assert_str_eq(why, "invalid quoted-pair in local part");
	ck_assert_int_eq(addr_parse_path("<a@[1.2.3.4\0]>", 14, 0, &a, &used,
	    &why), -1);
	ck_assert_int_eq(addr_parse_path("<a@[IPv6:::1\0]>", 15, 0, &a, &used,
	    &why), -1);
	ck_assert_int_eq(mbox("a@b\0", 4, 0), -1);
	ck_assert_int_eq(mbox("a\x7f@b", 4, 0), -1);
	/* the length given is the limit: no reading past it */
	ck_assert_int_eq(addr_parse_path("<a@b>", 4, 0, &a, &used, &why), -1);
	ck_assert_int_eq(addr_parse_path("<\"a", 2, 0, &a, &used, &why), -1);
	ck_assert_int_eq(addr_parse_path("<a@[1.2.3.4]>", 12, 0, &a, &used,
	    &why), -1);
}
END_TEST

START_TEST(test_lengths)
{
	char s[600], l64[65], l65[66], lab63[64], lab64[65];
	struct addr a;

	memset(l64, 'l', 64);
	l64[64] = '\0';
	memset(l65, 'l', 65);
	l65[65] = '\0';
	memset(lab63, 'd', 63);
	lab63[63] = '\0';
	memset(lab64, 'd', 64);
	lab64[64] = '\0';
	snprintf(s, sizeof(s), "<%s@x>", l64);
	ck_assert(ok(s, 0));
	snprintf(s, sizeof(s), "<%s@x>", l65);
	ck_assert_str_eq(path(s, 0), "ERR:local part longer than 64 octets");
	/* quotes count: 62 + 2 = 64 ok, 63 + 2 = 65 not */
	snprintf(s, sizeof(s), "<\"%.62s\"@x>", l64);
	ck_assert(ok(s, 0));
	snprintf(s, sizeof(s), "<\"%.63s\"@x>", l64);
	ck_assert(!ok(s, 0));
	snprintf(s, sizeof(s), "<a@%s.org>", lab63);
	ck_assert(ok(s, 0));
	snprintf(s, sizeof(s), "<a@%s.org>", lab64);
	ck_assert_str_eq(path(s, 0),
	    "ERR:domain label longer than 63 octets");
	/* a@ + 252-octet domain = 254 ok; 253 -> 255 too long */
	snprintf(s, sizeof(s), "<a@%s.%s.%s.%.60s>", lab63, lab63, lab63,
	    lab63);
	ck_assert_uint_eq(strlen(s), 256);
	ck_assert(ok(s, 0));
	snprintf(s, sizeof(s), "<a@%s.%s.%s.%.61s>", lab63, lab63, lab63,
	    lab63);
	ck_assert_str_eq(path(s, 0), "ERR:address longer than 254 octets");
	snprintf(s, sizeof(s), "<a@%s.%s.%s.%s.%s>", lab63, lab63, lab63,
	    lab63, lab63);
	ck_assert_str_eq(path(s, 0), "ERR:domain longer than 255 octets");
	/* a full-size address fits ADDR_MAX */
	snprintf(s, sizeof(s), "%s@%s.%s.%.60s", l64, lab63, lab63, lab63);
	ck_assert_int_eq(mbox(s, strlen(s), 0), 0);
	ck_assert_int_eq(addr_parse_mailbox(s, strlen(s), 0, &a,
	    &(const char *){ NULL }), 0);
	{
		char out[ADDR_MAX];

		ck_assert_int_eq(addr_format(&a, out, sizeof(out)),
		    (int)strlen(s));
		ck_assert_str_eq(out, s);
		ck_assert_int_eq(addr_format(&a, out, 10), -1);
	}
}
END_TEST

START_TEST(test_literals)
{
	struct addr a;
	const char *why;
	size_t used;

	ck_assert_str_eq(path("<a@[192.0.2.1]>", 0), "a@[192.0.2.1]");
	ck_assert_int_eq(addr_parse_path("<a@[192.0.2.1]>", 15, 0, &a, &used,
	    &why), 0);
	ck_assert(a.literal);
	ck_assert(ok("<a@[0.0.0.0]>", 0));
	ck_assert(ok("<a@[255.255.255.255]>", 0));
	ck_assert_str_eq(path("<a@[256.1.1.1]>", 0),
	    "ERR:invalid IPv4 address literal");
	ck_assert(!ok("<a@[1.2.3]>", 0));
	ck_assert(!ok("<a@[1.2.3.4.5]>", 0));
	ck_assert(!ok("<a@[1.2.3.0004]>", 0));
	ck_assert(!ok("<a@[1..3.4]>", 0));
	ck_assert(!ok("<a@[]>", 0));
	ck_assert_str_eq(path("<a@[1.2.3.4>", 0),
	    "ERR:unterminated address literal");
	ck_assert(ok("<a@[IPv6:::1]>", 0));
	ck_assert(ok("<a@[ipv6:2001:db8::1]>", 0));
	ck_assert(ok("<a@[IPv6:2001:db8:0:0:0:0:0:1]>", 0));
	ck_assert(ok("<a@[IPv6:::ffff:192.0.2.1]>", 0));
	ck_assert(ok("<a@[IPv6:fe80::]>", 0));
	ck_assert_str_eq(path("<a@[IPv6:2001:db8:::1]>", 0),
	    "ERR:invalid IPv6 address literal");
	ck_assert(!ok("<a@[IPv6:1:2:3:4:5:6:7:8:9]>", 0));
	ck_assert(!ok("<a@[IPv6:12345::]>", 0));
	ck_assert(!ok("<a@[IPv6:]>", 0));
	ck_assert(!ok("<a@[IPv6:::1%eth0]>", 0));
	ck_assert(!ok("<a@[IPv6:1.2.3.4]>", 0));
	ck_assert_str_eq(path("<a@[x-tag:foo]>", 0),
	    "ERR:general address literals are not supported");
	ck_assert(!ok("<a@[1.2.3.4]x>", 0));
	ck_assert(!ok("<a@[1.2.3.4].org>", 0));
}
END_TEST

/* RFC 5321 numbers are decimal: leading zeros are accepted and dropped
 * where the literal is parsed, so that inet_pton() (remote delivery) and
 * local_domains see [192.0.2.1]; "010" is ten, not octal eight. */
START_TEST(test_ipv4_literal_leading_zeros)
{
	struct addr a;
	const char *why;
	char d[32];

	ck_assert_str_eq(path("<a@[192.000.002.001]>", 0), "a@[192.0.2.1]");
	ck_assert_str_eq(path("<a@[010.0.0.010]>", 0), "a@[10.0.0.10]");
	ck_assert_str_eq(path("<a@[0.00.000.100]>", 0), "a@[0.0.0.100]");
	ck_assert_str_eq(path("<a@[255.255.255.255]>", 0),
	    "a@[255.255.255.255]");
	ck_assert_int_eq(addr_parse_mailbox("a@[192.0.2.01]", 14, 0, &a,
	    &why), 0);
	ck_assert_str_eq(a.domain, "[192.0.2.1]");
	ck_assert(a.literal);
	ck_assert_str_eq(path("<@[010.0.0.1]:a@[001.2.3.4]>", 0),
	    "a@[1.2.3.4]");
	snprintf(d, sizeof(d), "[001.002.003.004]");
	addr_domain_canon(d);
	ck_assert_str_eq(d, "[1.2.3.4]");
	/* anything else is left alone */
	snprintf(d, sizeof(d), "[IPv6:0::01]");
	addr_domain_canon(d);
	ck_assert_str_eq(d, "[IPv6:0::01]");
	snprintf(d, sizeof(d), "001.example");
	addr_domain_canon(d);
	ck_assert_str_eq(d, "001.example");
	snprintf(d, sizeof(d), "[1.2.3.0004]");
	addr_domain_canon(d);
	ck_assert_str_eq(d, "[1.2.3.0004]");
}
END_TEST

START_TEST(test_source_route)
{
	ck_assert_str_eq(path("<@a.org:u@d.org>", 0), "u@d.org");
	ck_assert_str_eq(path("<@a.org,@b.org:u@d.org>", 0), "u@d.org");
	ck_assert_str_eq(path("<@[1.2.3.4],@b:u@d>", 0), "u@d");
	ck_assert_str_eq(path("<@a.org u@d.org>", 0),
	    "ERR:invalid source route");
	ck_assert(!ok("<@a.org,u@d.org>", 0));
	ck_assert(!ok("<@a.org,:u@d.org>", 0));
	ck_assert(!ok("<@-a.org:u@d.org>", 0));
	ck_assert(!ok("<@:u@d.org>", 0));
	ck_assert(!ok("<@a:>", ADDR_ALLOW_NULL));
	ck_assert(!ok("<@a:@b:u@d>", 0));
}
END_TEST

START_TEST(test_nodomain)
{
	struct addr a;
	const char *why;

	ck_assert_str_eq(path("<postmaster>", ADDR_ALLOW_NODOMAIN),
	    "postmaster");
	ck_assert_int_eq(addr_parse_mailbox("root", 4, ADDR_ALLOW_NODOMAIN,
	    &a, &why), 0);
	ck_assert_str_eq(a.domain, "");
	ck_assert_int_eq(addr_parse_mailbox("root", 4, 0, &a, &why), -1);
	ck_assert_str_eq(why, "missing @domain");
	ck_assert_int_eq(addr_parse_mailbox("root>", 5, ADDR_ALLOW_NODOMAIN,
	    &a, &why), -1);
	ck_assert_int_eq(addr_parse_mailbox("a@b.c", 5, 0, &a, &why), 0);
	ck_assert_int_eq(addr_parse_mailbox("a@b.c ", 6, 0, &a, &why), -1);
	ck_assert_int_eq(addr_parse_mailbox("", 0, ADDR_ALLOW_NODOMAIN |
	    ADDR_ALLOW_NULL, &a, &why), -1);
	ck_assert_int_eq(addr_parse_mailbox("<a@b>", 5, 0, &a, &why), -1);
}
END_TEST

START_TEST(test_utf8)
{
	struct addr a;
	const char *why;
	size_t used;

	ck_assert_str_eq(path("<j\xc3\xbcrgen@b\xc3\xbc" "cher.de>", 0),
	    "ERR:non-ASCII address without SMTPUTF8");
	ck_assert_str_eq(path("<a@b\xc3\xbc" "cher.de>", 0),
	    "ERR:non-ASCII address without SMTPUTF8");
	ck_assert_str_eq(path("<\"\xc3\xbc\"@x>", 0),
	    "ERR:non-ASCII address without SMTPUTF8");
	ck_assert_int_eq(addr_parse_path("<j\xc3\xbcrgen@b\xc3\xbc" "cher.de>",
	    20, ADDR_UTF8, &a, &used, &why), 0);
	ck_assert(a.utf8);
	ck_assert_str_eq(a.local, "j\xc3\xbcrgen");
	ck_assert(ok("<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b.\xe4\xb8\xad"
	    "\xe5\x9b\xbd>", ADDR_UTF8));
	ck_assert_str_eq(path("<\xc3@x>", ADDR_UTF8),
	    "ERR:invalid UTF-8 in local part");
	ck_assert_str_eq(path("<a@x\xc3>", ADDR_UTF8),
	    "ERR:invalid UTF-8 in domain");
	ck_assert(!ok("<\xc0\xafx@x>", ADDR_UTF8));	/* overlong '/' */
	ck_assert(!ok("<\xed\xa0\x80@x>", ADDR_UTF8));	/* surrogate */
	ck_assert(!ok("<\xf4\x90\x80\x80@x>", ADDR_UTF8));	/* > 10FFFF */
	ck_assert(!ok("<\x80@x>", ADDR_UTF8));
	ck_assert(!ok("<\xff@x>", ADDR_UTF8));
	ck_assert(ok("<\"\xc3\xbc x\"@x>", ADDR_UTF8));
	ck_assert(!ok("<a@[IPv6:\xc3\xbc]>", ADDR_UTF8));
}
END_TEST

/* Under SMTPUTF8, C1 controls, the line/paragraph separators and the
 * bidirectional formatting characters are refused in local parts and
 * domains (they would reach logs and Delivered-To); letters still pass. */
START_TEST(test_utf8_controls_bidi)
{
	static const char *const bad[] = {
		"\xc2\x80", "\xc2\x85", "\xc2\x9f",	/* C1, NEL */
		"\xd8\x9c",			/* U+061C ALM */
		"\xe2\x80\x8e", "\xe2\x80\x8f",	/* LRM, RLM */
		"\xe2\x80\xa8", "\xe2\x80\xa9",	/* LS, PS */
		"\xe2\x80\xaa", "\xe2\x80\xae",	/* LRE .. RLO */
		"\xe2\x81\xa6", "\xe2\x81\xa9",	/* LRI .. PDI */
	};
	char buf[64];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "<a%sb@x.example>", bad[i]);
		ck_assert_str_eq(path(buf, ADDR_UTF8), "ERR:control or "
		    "bidirectional formatting character in local part");
		snprintf(buf, sizeof(buf), "<\"a%sb\"@x.example>", bad[i]);
		ck_assert_str_eq(path(buf, ADDR_UTF8), "ERR:control or "
		    "bidirectional formatting character in local part");
		snprintf(buf, sizeof(buf), "<ab@x%s.example>", bad[i]);
		ck_assert_str_eq(path(buf, ADDR_UTF8), "ERR:control or "
		    "bidirectional formatting character in domain");
		snprintf(buf, sizeof(buf), "x%s.example", bad[i]);
		ck_assert_int_eq(addr_domain_valid(buf, strlen(buf), ADDR_UTF8,
		    &(const char *){ NULL }), -1);
		snprintf(buf, sizeof(buf), "a%sb@x.example", bad[i]);
		ck_assert_int_eq(mbox(buf, strlen(buf), ADDR_UTF8), -1);
	}
	/* neighbours of the refused ranges and ordinary letters pass */
	ck_assert(ok("<\xc2\xa0x@x.example>", ADDR_UTF8));	/* U+00A0 */
	ck_assert(ok("<\xc3\xbc@b\xc3\xbc.example>", ADDR_UTF8));
	ck_assert(ok("<\xe2\x80\x93@x.example>", ADDR_UTF8));	/* U+2013 */
	ck_assert(ok("<\xe2\x81\xa5@x.example>", ADDR_UTF8));	/* U+2065 */
	ck_assert(ok("<\xe2\x81\xaa@x.example>", ADDR_UTF8));	/* U+206A */
	ck_assert(ok("<\xd7\xa9\xd7\x9c@\xd7\x93.example>", ADDR_UTF8));
	ck_assert(ok("<\xf0\x9f\x98\x80@x.example>", ADDR_UTF8));
}
END_TEST

START_TEST(test_utf8_valid)
{
	ck_assert(utf8_valid("", 0));
	ck_assert(utf8_valid("abc", 3));
	ck_assert(utf8_valid("\xc3\xbc", 2));
	ck_assert(utf8_valid("\xe2\x82\xac", 3));
	ck_assert(utf8_valid("\xf0\x9f\x98\x80", 4));
	ck_assert(utf8_valid("\xf4\x8f\xbf\xbf", 4));
	ck_assert(!utf8_valid("\xc3", 1));
	ck_assert(!utf8_valid("\xe2\x82", 2));
	ck_assert(!utf8_valid("\xc1\xbf", 2));
	ck_assert(!utf8_valid("\xe0\x80\xaf", 3));
	ck_assert(!utf8_valid("\xf0\x80\x80\xaf", 4));
	ck_assert(!utf8_valid("\xed\xbf\xbf", 3));
	ck_assert(!utf8_valid("\xf5\x80\x80\x80", 4));
	ck_assert(!utf8_valid("\xc3\x28", 2));
	ck_assert(utf8_valid("a\0b", 3));
}
END_TEST

START_TEST(test_domain_valid)
{
	const char *why;

	ck_assert_int_eq(addr_domain_valid("mx.example.org", 14, 0, &why), 0);
	ck_assert_int_eq(addr_domain_valid("[10.0.0.1]", 10, 0, &why), 0);
	ck_assert_int_eq(addr_domain_valid("", 0, 0, &why), -1);
	ck_assert_str_eq(why, "empty domain");
	ck_assert_int_eq(addr_domain_valid("a b", 3, 0, &why), -1);
	ck_assert_int_eq(addr_domain_valid("a\0b", 3, 0, &why), -1);
	ck_assert_int_eq(addr_domain_valid("a.b", 2, 0, &why), -1);
	ck_assert_int_eq(addr_domain_valid("a.b", 1, 0, &why), 0);
	ck_assert_int_eq(addr_domain_valid("b\xc3\xbc", 3, 0, &why), -1);
	ck_assert_int_eq(addr_domain_valid("b\xc3\xbc", 3, ADDR_UTF8, &why),
	    0);
}
END_TEST

START_TEST(test_helpers)
{
	struct addr a;
	const char *why;
	char u[ADDR_LOCAL_MAX + 1], e[ADDR_LOCAL_MAX + 1], s[8];

	ck_assert_int_eq(addr_parse_mailbox("\"a\\\"b c\"@x", 10, 0, &a, &why),
	    0);
	ck_assert_int_eq(addr_local_unquoted(&a, u, sizeof(u)), 5);
	ck_assert_str_eq(u, "a\"b c");
	ck_assert_int_eq(addr_local_unquoted(&a, s, 5), -1);
	ck_assert_int_eq(addr_parse_mailbox("plain@x", 7, 0, &a, &why), 0);
	ck_assert_int_eq(addr_local_unquoted(&a, u, sizeof(u)), 5);
	ck_assert_str_eq(u, "plain");
	addr_split_ext("user+ext+more", '+', u, e);
	ck_assert_str_eq(u, "user");
	ck_assert_str_eq(e, "ext+more");
	addr_split_ext("user", '+', u, e);
	ck_assert_str_eq(u, "user");
	ck_assert_str_eq(e, "");
	addr_split_ext("+list", '+', u, e);
	ck_assert_str_eq(u, "+list");
	ck_assert_str_eq(e, "");
	addr_split_ext("user+", '+', u, e);
	ck_assert_str_eq(u, "user");
	ck_assert_str_eq(e, "");
	addr_split_ext("a+b", '\0', u, e);
	ck_assert_str_eq(u, "a+b");
	ck_assert(addr_domain_eq("Example.ORG", "example.org"));
	ck_assert(!addr_domain_eq("example.org", "example.or"));
	ck_assert(!addr_domain_eq("\xc3\xbc", "\xc3\x9c"));
	memcpy(s, "AbC", 4);
	addr_lower(s);
	ck_assert_str_eq(s, "abc");
}
END_TEST

/* The 8-bit check every component uses to decide on SMTPUTF8 / IDNA. */
START_TEST(test_has_8bit)
{
	ck_assert(!str_has_8bit("plain@example.org"));
	ck_assert(!str_has_8bit(""));
	ck_assert(!str_has_8bit(NULL));
	ck_assert(str_has_8bit("j\xc3\xb6rg@example.org"));
	ck_assert(str_has_8bit("a@\x80"));
	ck_assert(!mem_has_8bit("ab\xc3", 2));	/* only the first n */
	ck_assert(mem_has_8bit("ab\xc3", 3));
	ck_assert(!mem_has_8bit("", 0));
}
END_TEST

static Suite *
addr_suite(void)
{
	Suite *s = suite_create("addr");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_basic);
	tcase_add_test(tc, test_consumed);
	tcase_add_test(tc, test_null);
	tcase_add_test(tc, test_bad_syntax);
	tcase_add_test(tc, test_nul_control);
	tcase_add_test(tc, test_lengths);
	tcase_add_test(tc, test_literals);
	tcase_add_test(tc, test_source_route);
	tcase_add_test(tc, test_nodomain);
	tcase_add_test(tc, test_utf8);
	tcase_add_test(tc, test_ipv4_literal_leading_zeros);
	tcase_add_test(tc, test_utf8_controls_bidi);
	tcase_add_test(tc, test_utf8_valid);
	tcase_add_test(tc, test_domain_valid);
	tcase_add_test(tc, test_helpers);
	tcase_add_test(tc, test_has_8bit);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(addr_suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
