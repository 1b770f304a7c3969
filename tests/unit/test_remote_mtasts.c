/*
 * test_remote_mtasts.c — MTA-STS (RFC 8461) parsers of posthorn-remote
 * (remote/mtasts.c): the TXT record, the policy, the HTTP response, the
 * MX patterns, the cache file format, and the cache's life cycle through
 * mtasts_lookup() with a resolver that has no servers (every TXT lookup
 * fails, so only the cache can answer), including a cache directory
 * others may write, which is refused.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "common/io.h"
#include "remote/mtasts.h"
#include "tests/unit/testutil.h"

#define S(x) x, sizeof(x) - 1

START_TEST(txt_records)
{
	char id[MTASTS_ID_MAX + 1];
	const char *why;

	ck_assert_int_eq(mtasts_txt_parse(S("v=STSv1; id=20160831085700Z;"),
	    id, &why), 0);
	ck_assert_str_eq(id, "20160831085700Z");
	ck_assert_int_eq(mtasts_txt_parse(S("v=STSv1;id=abc"), id, &why), 0);
	ck_assert_str_eq(id, "abc");
	ck_assert_int_eq(mtasts_txt_parse(S("v=STSv1; ext=1; id=X9 ; "), id,
	    &why), 0);
	ck_assert_str_eq(id, "X9");
	/* refused */
	ck_assert_int_eq(mtasts_txt_parse(S("v=STSv2; id=a"), id, &why), -1);
	ck_assert_int_eq(mtasts_txt_parse(S("v=STSv1;"), id, &why), -1);
	ck_assert_str_eq(why, "no id field");
	ck_assert_int_eq(mtasts_txt_parse(S("v=STSv1; id=a-b"), id, &why),
	    -1);
	ck_assert_int_eq(mtasts_txt_parse(S("v=STSv1; id="), id, &why), -1);
	ck_assert_int_eq(mtasts_txt_parse(S("v=STSv1 id=a"), id, &why), -1);
	ck_assert_int_eq(mtasts_txt_parse(
	    S("v=STSv1; id=012345678901234567890123456789012"), id, &why), -1);
	ck_assert_int_eq(mtasts_txt_parse(
	    S("v=STSv1; id=01234567890123456789012345678901"), id, &why), 0);
	ck_assert_int_eq(mtasts_txt_parse(S("v=STSv1; =x; id=a"), id, &why),
	    -1);
}
END_TEST

/* Record i of l: the text, with its length, bounded by the buffer. */
static void
txt_set(struct txtlist *l, size_t i, const char *text)
{
	int n = snprintf(l->v[i], sizeof(l->v[i]), "%s", text);

	ck_assert(n >= 0 && (size_t)n < sizeof(l->v[i]));
	l->len[i] = (size_t)n;
}

START_TEST(txt_pick)
{
	static struct txtlist l;
	char id[MTASTS_ID_MAX + 1];
	const char *why;

	memset(&l, 0, sizeof(l));
	txt_set(&l, 0, "v=spf1 -all");
	txt_set(&l, 1, "v=STSv1; id=one");
	l.n = 2;
	ck_assert_int_eq(mtasts_txt_pick(&l, id, &why), 0);
	ck_assert_str_eq(id, "one");
	txt_set(&l, 2, "v=STSv1; id=two");
	l.n = 3;
	ck_assert_int_eq(mtasts_txt_pick(&l, id, &why), -1);
	ck_assert_str_eq(why, "more than one v=STSv1 record");
	l.n = 1;
	ck_assert_int_eq(mtasts_txt_pick(&l, id, &why), -1);
}
END_TEST

START_TEST(policy_ok)
{
	static struct mtasts_policy p;
	const char *why = "";

	ck_assert_int_eq(mtasts_policy_parse(S("version: STSv1\r\n"
	    "mode: enforce\r\nmx: mail.example.com\r\nmx: *.Example.NET\r\n"
	    "mx: backupmx.example.com\r\nmax_age: 604800\r\n"), &p, &why), 0);
	ck_assert_int_eq(p.mode, MTASTS_ENFORCE);
	ck_assert_uint_eq(p.max_age, 604800);
	ck_assert_uint_eq(p.nmx, 3);
	ck_assert_str_eq(p.mx[1], "*.example.net");
	/* LF only, trailing blanks, unknown fields, order, no final LF */
	ck_assert_int_eq(mtasts_policy_parse(S("mode:testing  \nfoo_bar: "
	    "whatever\nmax_age:   86400\nmx: mx.example.org.\n"
	    "version: STSv1"), &p, &why), 0);
	ck_assert_int_eq(p.mode, MTASTS_TESTING);
	ck_assert_str_eq(p.mx[0], "mx.example.org");
	/* mode none needs no mx; max_age is capped at a year */
	ck_assert_int_eq(mtasts_policy_parse(S("version: STSv1\nmode: none\n"
	    "max_age: 9999999999\n"), &p, &why), 0);
	ck_assert_int_eq(p.mode, MTASTS_NONE);
	ck_assert_uint_eq(p.max_age, MTASTS_MAXAGE_MAX);
	/* the first of repeated fields counts */
	ck_assert_int_eq(mtasts_policy_parse(S("version: STSv1\nmode: "
	    "testing\nmode: enforce\nmax_age: 5\nmx: a.example\n"), &p, &why),
	    0);
	ck_assert_int_eq(p.mode, MTASTS_TESTING);
}
END_TEST

START_TEST(policy_bad)
{
	static struct mtasts_policy p;
	static char big[MTASTS_BODY_MAX + 2];
	const char *why = "";

	ck_assert_int_eq(mtasts_policy_parse(S("mode: enforce\nmax_age: 1\n"
	    "mx: a.example\n"), &p, &why), -1);
	ck_assert_str_eq(why, "no version field");
	ck_assert_int_eq(mtasts_policy_parse(S("version: STSv2\nmode: "
	    "enforce\nmax_age: 1\nmx: a.example\n"), &p, &why), -1);
	ck_assert_int_eq(mtasts_policy_parse(S("version: STSv1\nmode: "
	    "Enforce\nmax_age: 1\nmx: a.example\n"), &p, &why), -1);
	ck_assert_int_eq(mtasts_policy_parse(S("version: STSv1\nmode: "
	    "enforce\nmax_age: 1\n"), &p, &why), -1);
	ck_assert_str_eq(why, "no mx field");
	ck_assert_int_eq(mtasts_policy_parse(S("version: STSv1\nmode: "
	    "enforce\nmx: a.example\n"), &p, &why), -1);
	ck_assert_int_eq(mtasts_policy_parse(S("version: STSv1\nmode: "
	    "enforce\nmax_age: -1\nmx: a.example\n"), &p, &why), -1);
	ck_assert_int_eq(mtasts_policy_parse(S("version: STSv1\nmode: "
	    "enforce\nmax_age: 12345678901\nmx: a.example\n"), &p, &why), -1);
	ck_assert_int_eq(mtasts_policy_parse(S("version: STSv1\nmode: "
	    "enforce\nmax_age: 1\nmx: a..example\n"), &p, &why), -1);
	ck_assert_int_eq(mtasts_policy_parse(S("version: STSv1\nmode: "
	    "enforce\nmax_age: 1\nmx: *.\n"), &p, &why), -1);
	ck_assert_int_eq(mtasts_policy_parse(S("version: STSv1\nmode: "
	    "enforce\nmax_age: 1\nmx: a.example\nno colon here\n"), &p, &why),
	    -1);
	ck_assert_int_eq(mtasts_policy_parse(S("version: STSv1\nmode: "
	    "enforce\nmax_age: 1\nmx: a.ex\001ample\n"), &p, &why), -1);
	memset(big, 'a', sizeof(big));
	ck_assert_int_eq(mtasts_policy_parse(big, sizeof(big), &p, &why), -1);
	ck_assert_str_eq(why, "policy larger than 64 KiB");
}
END_TEST

START_TEST(patterns)
{
	ck_assert(mtasts_pattern_match("mail.example.com", "mail.example.com"));
	ck_assert(mtasts_pattern_match("mail.example.com",
	    "MAIL.Example.com."));
	ck_assert(!mtasts_pattern_match("mail.example.com",
	    "mail.example.com.evil"));
	ck_assert(!mtasts_pattern_match("mail.example.com", "example.com"));
	ck_assert(mtasts_pattern_match("*.example.com", "mx1.example.com"));
	/* "*." stands for exactly one label (RFC 8461 4.1) */
	ck_assert(!mtasts_pattern_match("*.example.com", "example.com"));
	ck_assert(!mtasts_pattern_match("*.example.com",
	    "a.b.example.com"));
	ck_assert(!mtasts_pattern_match("*.example.com", ".example.com"));
	ck_assert(!mtasts_pattern_match("*.example.com", "mx1example.com"));
	ck_assert(!mtasts_pattern_match("", "a"));
	ck_assert(!mtasts_pattern_match("a", ""));
}
END_TEST

START_TEST(http)
{
	const char *b, *why = "";
	size_t bl;

	ck_assert_int_eq(mtasts_http_parse(S("HTTP/1.0 200 OK\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 4\r\n"
	    "\r\nbody"), true, &b, &bl, &why), 0);
	ck_assert_uint_eq(bl, 4);
	ck_assert_int_eq(memcmp(b, "body", 4), 0);
	ck_assert_int_eq(mtasts_http_parse(S("HTTP/1.1 200\ncontent-type:"
	    "TEXT/PLAIN\n\nx"), true, &b, &bl, &why), 0);
	ck_assert_uint_eq(bl, 1);
	ck_assert_int_eq(mtasts_http_parse(S("HTTP/1.1 301 Moved\r\n"
	    "Location: https://evil/\r\nContent-Type: text/plain\r\n\r\n"), true,
	    &b, &bl, &why), -1);
	ck_assert_str_eq(why, "HTTP redirect (not followed)");
	ck_assert_int_eq(mtasts_http_parse(S("HTTP/1.1 404 Not Found\r\n"
	    "Content-Type: text/plain\r\n\r\n"), true, &b, &bl, &why), -1);
	ck_assert_int_eq(mtasts_http_parse(S("HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/html\r\n\r\nx"), true, &b, &bl, &why), -1);
	ck_assert_int_eq(mtasts_http_parse(S("HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/plainx\r\n\r\nx"), true, &b, &bl, &why), -1);
	ck_assert_int_eq(mtasts_http_parse(S("HTTP/1.1 200 OK\r\n\r\nx"), true, &b,
	    &bl, &why), -1);
	ck_assert_int_eq(mtasts_http_parse(S("HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "1\r\nx\r\n0\r\n\r\n"), true, &b, &bl, &why), -1);
	ck_assert_int_eq(mtasts_http_parse(S("HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nabc"), true, &b,
	    &bl, &why), -1);
	ck_assert_int_eq(mtasts_http_parse(S("HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 9999999\r\n\r\nabc"), true,
	    &b, &bl, &why), -1);
	ck_assert_int_eq(mtasts_http_parse(S("HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/plain\r\n"), true, &b, &bl, &why), -1);
	ck_assert_int_eq(mtasts_http_parse(S("HTTP/2 200\r\n"
	    "Content-Type: text/plain\r\n\r\n"), true, &b, &bl, &why), -1);
	ck_assert_int_eq(mtasts_http_parse(S(""), true, &b, &bl, &why), -1);
	/* no Content-Length: whole only after close_notify; with one, the
	 * length says */
	ck_assert_int_eq(mtasts_http_parse(S("HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/plain\r\n\r\nversion: STSv1\r\n"), false, &b,
	    &bl, &why), -1);
	ck_assert_str_eq(why, "no Content-Length and no TLS close_notify: "
	    "the policy may be cut short");
	ck_assert_int_eq(mtasts_http_parse(S("HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nab"),
	    false, &b, &bl, &why), 0);
}
END_TEST

static const char POLICY[] = "version: STSv1\nmode: enforce\n"
    "mx: mx.example.org\nmax_age: 3600\n";

START_TEST(cache_format)
{
	static struct mtasts_policy p;
	struct buf b = BUF_INIT;
	char id[MTASTS_ID_MAX + 1];
	int64_t t = 0;
	const char *why = "";

	ck_assert_int_eq(mtasts_cache_format(&b, "example.org", "abc1", 1700,
	    POLICY, strlen(POLICY)), 0);
	ck_assert_int_eq(mtasts_cache_parse(b.data, b.len, "example.org", id,
	    &t, &p, &why), 0);
	ck_assert_str_eq(id, "abc1");
	ck_assert_int_eq(t, 1700);
	ck_assert_uint_eq(p.max_age, 3600);
	ck_assert_int_eq(mtasts_cache_parse(b.data, b.len, "example.com", id,
	    &t, &p, &why), -1);
	ck_assert_str_eq(why, "cache file for another domain");
	/* any change to the header makes the file unusable */
	b.data[3] = 'X';
	ck_assert_int_eq(mtasts_cache_parse(b.data, b.len, "example.org", id,
	    &t, &p, &why), -1);
	ck_assert_int_eq(mtasts_cache_parse("", 0, "example.org", id, &t, &p,
	    &why), -1);
	buf_free(&b);
}
END_TEST

/* The cache's life cycle: with no name server reachable the TXT lookup
 * fails, and RFC 8461 5.1 says an unexpired cached policy still applies;
 * an expired or corrupt one does not. */
START_TEST(lookup_cache)
{
	static struct mtasts m;
	static struct dns d;
	static struct mtasts_policy p;
	struct strlist servers = { NULL, 0 };
	struct buf b = BUF_INIT, err = BUF_INIT;
	char dir[] = "/tmp/posthorn-mtasts-XXXXXX", path[256];
	char id[MTASTS_ID_MAX + 1], why[300];
	const char *src = NULL;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* a closed port on loopback: every lookup fails at once */
	ck_assert_int_eq(strlist_add(&servers, "127.0.0.1:9"), 0);
	ck_assert_int_eq(dns_open(&d, &servers, 1, &err), 0);
	d.res.retry = 1;
	memset(&m, 0, sizeof(m));
	m.cache_dir = dir;
	m.dns = &d;
	m.port = MTASTS_HTTPS_PORT;
	snprintf(path, sizeof(path), "%s/example.org", dir);

	/* nothing cached */
	ck_assert_int_eq(mtasts_lookup(&m, "example.org", 10000, &p, &src, id,
	    why, sizeof(why)), 0);
	/* cached and fresh */
	ck_assert_int_eq(mtasts_cache_format(&b, "example.org", "v1", 9000,
	    POLICY, strlen(POLICY)), 0);
	ck_assert_int_eq(io_write_file_atomic(path, b.data, b.len, 0600), 0);
	ck_assert_int_eq(mtasts_lookup(&m, "example.org", 10000, &p, &src, id,
	    why, sizeof(why)), 1);
	ck_assert_str_eq(src, MTASTS_SRC_CACHE);
	ck_assert_str_eq(id, "v1");
	ck_assert_int_eq(p.mode, MTASTS_ENFORCE);
	ck_assert_ptr_null(strstr(why, "refresh"));
	/* half its max_age old (1800 s): fetched again before it expires
	 * (RFC 8461 10.2); that fails here, and the cached policy stays */
	m.mem_domain[0] = '\0';
	ck_assert_int_eq(mtasts_lookup(&m, "example.org", 10801, &p, &src,
	    id, why, sizeof(why)), 1);
	ck_assert_str_eq(src, MTASTS_SRC_CACHE);
	ck_assert_int_eq(p.mode, MTASTS_ENFORCE);
	ck_assert_ptr_nonnull(strstr(why, "refresh failed"));
	{
		struct stat st;

		ck_assert_int_eq(stat(path, &st), 0);
		ck_assert_int_eq((long long)st.st_mtime, 10801);
	}
	/* the failure is remembered, in memory and in the file: no new
	 * attempt for a quarter of the interval (450 s) */
	ck_assert_int_eq(mtasts_lookup(&m, "example.org", 10900, &p, &src,
	    id, why, sizeof(why)), 1);
	ck_assert_ptr_null(strstr(why, "refresh"));
	m.mem_domain[0] = '\0';
	ck_assert_int_eq(mtasts_lookup(&m, "example.org", 10900, &p, &src,
	    id, why, sizeof(why)), 1);
	ck_assert_ptr_null(strstr(why, "refresh"));
	m.mem_domain[0] = '\0';
	ck_assert_int_eq(mtasts_lookup(&m, "example.org", 10801 + 450, &p,
	    &src, id, why, sizeof(why)), 1);
	ck_assert_ptr_nonnull(strstr(why, "refresh failed"));
	/* a directory others may write is not trusted */
	ck_assert_int_eq(chmod(dir, 0777), 0);
	m.mem_domain[0] = '\0';
	m.cache_ok = 0;
	ck_assert_int_eq(mtasts_lookup(&m, "example.org", 10000, &p, &src, id,
	    why, sizeof(why)), 0);
	ck_assert_int_eq(m.cache_ok, -1);
	ck_assert_int_eq(chmod(dir, 0700), 0);
	m.cache_ok = 0;
	/* expired (fetched + max_age <= now): no policy */
	m.mem_domain[0] = '\0';
	ck_assert_int_eq(mtasts_lookup(&m, "example.org", 9000 + 3600, &p,
	    &src, id, why, sizeof(why)), 0);
	/* corrupt: ignored */
	ck_assert_int_eq(io_write_file_atomic(path, "junk", 4, 0600), 0);
	m.mem_domain[0] = '\0';
	ck_assert_int_eq(mtasts_lookup(&m, "example.org", 10000, &p, &src, id,
	    why, sizeof(why)), 0);
	/* another domain's file under this name: ignored */
	ck_assert_int_eq(mtasts_cache_format(&b, "example.com", "v1", 9000,
	    POLICY, strlen(POLICY)), 0);
	ck_assert_int_eq(io_write_file_atomic(path, b.data, b.len, 0600), 0);
	ck_assert_int_eq(mtasts_lookup(&m, "example.org", 10000, &p, &src, id,
	    why, sizeof(why)), 0);
	unlink(path);
	rmdir(dir);
	dns_close(&d);
	strlist_free(&servers);
	buf_free(&b);
	buf_free(&err);
}
END_TEST

/* The configuration keys: on by default; the cache under the state
 * directory for /etc/posthorn, inside any other configuration directory,
 * none when set empty. */
START_TEST(config_keys)
{
	static struct config cfg;
	struct buf err = BUF_INIT;
	static const char off[] = "mta_sts = no\nmta_sts_cache =\n";

	ck_assert_int_eq(config_parse("/etc/posthorn", "posthorn.conf", "", 0,
	    &cfg, &err), 0);
	ck_assert(cfg.mta_sts);
	ck_assert_str_eq(cfg.mta_sts_cache, "/var/lib/posthorn/mta-sts");
	config_free(&cfg);
	ck_assert_int_eq(config_parse("/srv/dev", "posthorn.conf", "", 0,
	    &cfg, &err), 0);
	ck_assert_str_eq(cfg.mta_sts_cache, "/srv/dev/mta-sts");
	config_free(&cfg);
	ck_assert_int_eq(config_parse("/srv/dev", "posthorn.conf", off,
	    strlen(off), &cfg, &err), 0);
	ck_assert(!cfg.mta_sts);
	ck_assert_ptr_null(cfg.mta_sts_cache);
	config_free(&cfg);
	buf_free(&err);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("remote_mtasts");
	TCase *t = tcase_create("mtasts");

	tcase_set_timeout(t, 30);
	tcase_add_test(t, txt_records);
	tcase_add_test(t, txt_pick);
	tcase_add_test(t, policy_ok);
	tcase_add_test(t, policy_bad);
	tcase_add_test(t, patterns);
	tcase_add_test(t, http);
	tcase_add_test(t, cache_format);
	tcase_add_test(t, lookup_cache);
	tcase_add_test(t, config_keys);
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
