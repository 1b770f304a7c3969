/*
 * test_table.c — unit tests for common/table.c: the three syntaxes,
 * comments, continuations, case-insensitive lookup, errors with FILE:LINE
 * (duplicates, missing values, NUL, bare CR, overlong lines), missing
 * files, alias_split quoting, route_parse and route_lookup precedence.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/io.h"
#include "common/table.h"

static const char *
parse_err(const char *text, size_t len, enum table_syntax syn)
{
	static char msg[256];
	struct table t;
	struct buf err = BUF_INIT;

	if (table_parse("T", text, len, syn, &t, &err) == 0) {
		table_free(&t);
		buf_free(&err);
		return "ok";
	}
	ck_assert_ptr_null(t.v);
	snprintf(msg, sizeof(msg), "%s", buf_str(&err));
	buf_free(&err);
	return msg;
}

#define PE(s, syn) parse_err((s), sizeof(s) - 1, (syn))

static const char *
val(const struct table *t, const char *key)
{
	const struct table_entry *e = table_lookup(t, key);

	return e != NULL ? e->value : "(none)";
}

START_TEST(test_space)
{
	struct table t;
	struct buf err = BUF_INIT;
	const char *text = "# mailboxes\n"
	    "alice   /home/alice/Maildir/  \n"
	    "\n"
	    "   # indented comment\n"
	    "Bob@Example.org\t/var/mail/bob\r\n"
	    "carol /x/y z";

	ck_assert_int_eq(table_parse("mb", text, strlen(text), TABLE_SPACE,
	    &t, &err), 0);
	ck_assert_uint_eq(t.n, 3);
	ck_assert_str_eq(val(&t, "alice"), "/home/alice/Maildir/");
	ck_assert_str_eq(val(&t, "ALICE"), "/home/alice/Maildir/");
	ck_assert_str_eq(val(&t, "bob@example.ORG"), "/var/mail/bob");
	ck_assert_str_eq(val(&t, "carol"), "/x/y z");
	ck_assert_str_eq(val(&t, "dave"), "(none)");
	ck_assert_str_eq(val(&t, ""), "(none)");
	ck_assert_uint_eq(table_lookup(&t, "carol")->line, 6);
	ck_assert_str_eq(t.path, "mb");
	table_free(&t);
	buf_free(&err);
}
END_TEST

START_TEST(test_colon)
{
	struct table t;
	struct buf err = BUF_INIT;
	const char *text = "alice:$6$salt$hash:with:colons\nbob: spaced\n";

	ck_assert_int_eq(table_parse("pw", text, strlen(text), TABLE_COLON,
	    &t, &err), 0);
	ck_assert_str_eq(val(&t, "alice"), "$6$salt$hash:with:colons");
	ck_assert_str_eq(val(&t, "bob"), " spaced");
	table_free(&t);
	ck_assert_str_eq(PE("alice\n", TABLE_COLON),
	    "T:1: missing ':' after the key");
	ck_assert_str_eq(PE("alice:\n", TABLE_COLON), "T:1: missing value");
	ck_assert_str_eq(PE(":x\n", TABLE_COLON), "T:1: empty key");
	buf_free(&err);
}
END_TEST

START_TEST(test_aliases)
{
	struct table t;
	struct buf err = BUF_INIT;
	const char *text = "postmaster: root\n"
	    "staff : alice,\n"
	    "    bob,\n"
	    "\tcarol\n"
	    "prog: \"|/usr/bin/prog a, b\"\n";

	ck_assert_int_eq(table_parse("al", text, strlen(text), TABLE_ALIASES,
	    &t, &err), 0);
	ck_assert_uint_eq(t.n, 3);
	ck_assert_str_eq(val(&t, "postmaster"), "root");
	ck_assert_str_eq(val(&t, "Staff"), "alice, bob, carol");
	ck_assert_str_eq(val(&t, "prog"), "\"|/usr/bin/prog a, b\"");
	table_free(&t);
	ck_assert_str_eq(PE("  bob\n", TABLE_ALIASES),
	    "T:1: continuation line without an entry");
	ck_assert_str_eq(PE("\n# x\n  bob\n", TABLE_ALIASES),
	    "T:3: continuation line without an entry");
	ck_assert_str_eq(PE("a b: c\n", TABLE_ALIASES),
	    "T:1: white space in the key");
	ck_assert_str_eq(PE("a:\n", TABLE_ALIASES), "T:1: missing value");
	buf_free(&err);
}
END_TEST

/* A member commented out, a blank line or an indented comment inside a
 * list neither ends the entry nor makes the file fail to load. */
START_TEST(test_aliases_comments_in_list)
{
	struct table t;
	struct buf err = BUF_INIT;
	const char *text = "staff: alice,\n"
	    "    # bob,\n"
	    "    carol,\n"
	    "\n"
	    "\tdave,\n"
	    "# flush-left comment\n"
	    "  \t\n"
	    "    erin\r\n"
	    "root: staff\n";

	ck_assert_int_eq(table_parse("aliases", text, strlen(text),
	    TABLE_ALIASES, &t, &err), 0);
	ck_assert_uint_eq(t.n, 2);
	ck_assert_str_eq(val(&t, "staff"), "alice, carol, dave, erin");
	ck_assert_uint_eq(table_lookup(&t, "staff")->line, 1);
	ck_assert_str_eq(val(&t, "root"), "staff");
	table_free(&t);
	ck_assert_str_eq(PE("a: b\n\n  c\n", TABLE_ALIASES), "ok");
	ck_assert_str_eq(PE("a: b\n# x\n  c\n", TABLE_ALIASES), "ok");
	/* the other tables have no continuation lines */
	ck_assert_str_eq(PE("a b\n# x\n  c d\n", TABLE_SPACE), "ok");
	buf_free(&err);
}
END_TEST

/* A long list of continuation lines (which took quadratic time) loads
 * whole, every member in order. */
START_TEST(test_aliases_long_list)
{
	struct buf text = BUF_INIT, want = BUF_INIT;
	struct table t;
	struct buf err = BUF_INIT;
	size_t i;

	buf_append_str(&text, "big: m0");
	buf_append_str(&want, "m0");
	for (i = 1; i < 50000; i++) {
		buf_printf(&text, ",\n  m%zu", i);
		buf_printf(&want, ", m%zu", i);
	}
	buf_append_str(&text, "\nafter: x\n");
	ck_assert_int_eq(table_parse("aliases", text.data, text.len,
	    TABLE_ALIASES, &t, &err), 0);
	ck_assert_uint_eq(t.n, 2);
	ck_assert_str_eq(val(&t, "big"), want.data);
	ck_assert_str_eq(val(&t, "after"), "x");
	table_free(&t);
	buf_free(&text);
	buf_free(&want);
	buf_free(&err);
}
END_TEST

/* Run table_parse with stderr going to a file; the log lines it wrote. */
static const char *
parse_logged(const char *text, enum table_syntax syn, struct table *t,
    int *rc)
{
	static char logged[1024];
	char path[] = "/tmp/test_table_log.XXXXXX";
	struct buf err = BUF_INIT;
	int fd, saved;
	ssize_t n;

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	fflush(stderr);
	saved = dup(2);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(dup2(fd, 2), 2);
	*rc = table_parse("aliases", text, strlen(text), syn, t, &err);
	fflush(stderr);
	ck_assert_int_eq(dup2(saved, 2), 2);
	close(saved);
	n = pread(fd, logged, sizeof(logged) - 1, 0);
	ck_assert_int_ge(n, 0);
	logged[n] = '\0';
	close(fd);
	buf_free(&err);
	return logged;
}

/* A key given twice in aliases (Root: and root: included) is a warning
 * naming file:line, and the first entry is used, as with postalias; in
 * the other tables it stays an error. */
START_TEST(test_aliases_duplicate_warns)
{
	struct table t;
	const char *log;
	int rc;

	log = parse_logged("root: alice\n"
	    "staff: a, b\n"
	    "Root: bob,\n"
	    "  carol\n"
	    "root: dave\n", TABLE_ALIASES, &t, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(t.n, 2);
	ck_assert_str_eq(val(&t, "ROOT"), "alice");
	ck_assert_uint_eq(table_lookup(&t, "root")->line, 1);
	ck_assert_str_eq(val(&t, "staff"), "a, b");
	ck_assert_ptr_nonnull(strstr(log, "event=table_duplicate "
	    "file=aliases:3 key=Root"));
	ck_assert_ptr_nonnull(strstr(log, "file=aliases:5 key=root"));
	ck_assert_ptr_nonnull(strstr(log, "the entry on line 1 is used"));
	table_free(&t);
	log = parse_logged("a x\nA y\n", TABLE_SPACE, &t, &rc);
	ck_assert_int_eq(rc, -1);
	ck_assert_str_eq(log, "");
}
END_TEST

START_TEST(test_errors)
{
	struct buf big = BUF_INIT;
	size_t i;

	ck_assert_str_eq(PE("a x\nb y\nA z\n", TABLE_SPACE),
	    "T:3: duplicate key (first on line 1)");
	ck_assert_str_eq(PE("a x\nb\n", TABLE_SPACE), "T:2: missing value");
	ck_assert_str_eq(PE("a x\nb \t \n", TABLE_SPACE),
	    "T:2: missing value");
	ck_assert_str_eq(PE("a x\0y\n", TABLE_SPACE), "T:1: NUL octet");
	ck_assert_str_eq(PE("a x\ry\n", TABLE_SPACE), "T:1: bare CR");
	ck_assert_str_eq(PE("", TABLE_SPACE), "ok");
	ck_assert_str_eq(PE("\n\n# only\n", TABLE_SPACE), "ok");
	/* a comment after a value is refused, not taken as part of it */
	ck_assert_str_eq(PE("a /var/vmail/a/Maildir/  # alice\n", TABLE_SPACE),
	    "T:1: '#' after the value (a comment must be on a line of its own)");
	ck_assert_str_eq(PE("a x\nb #y\n", TABLE_SPACE),
	    "T:2: '#' after the value (a comment must be on a line of its own)");
	ck_assert_str_eq(PE("u:$6$s$h\t# old\n", TABLE_COLON),
	    "T:1: '#' after the value (a comment must be on a line of its own)");
	ck_assert_str_eq(PE("a /srv/mail#1/\n", TABLE_SPACE), "ok");
	ck_assert_str_eq(PE("a: \"|/bin/prog # arg\"\n", TABLE_ALIASES), "ok");
	buf_append_str(&big, "k ");
	for (i = 0; i < 4095; i++)
		buf_append_char(&big, 'v');
	ck_assert_str_eq(parse_err(big.data, big.len, TABLE_SPACE),
	    "T:1: line too long");
	buf_truncate(&big, 4096);
	ck_assert_str_eq(parse_err(big.data, big.len, TABLE_SPACE), "ok");
	buf_free(&big);
}
END_TEST

START_TEST(test_load)
{
	char dir[] = "/tmp/test_table.XXXXXX", path[64];
	struct table t;
	struct buf err = BUF_INIT;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/relocated", dir);
	ck_assert_int_eq(table_load(path, TABLE_SPACE, &t, &err), 0);
	ck_assert_uint_eq(t.n, 0);
	ck_assert_ptr_null(table_lookup(&t, "x"));
	table_free(&t);
	ck_assert_int_eq(io_write_file_atomic(path, "old@x new@y\nold@X z\n",
	    20, 0644), 0);
	ck_assert_int_eq(table_load(path, TABLE_SPACE, &t, &err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err),
	    "/relocated:2: duplicate key (first on line 1)"));
	ck_assert_int_eq(io_write_file_atomic(path, "old@x new@y\n", 12,
	    0644), 0);
	ck_assert_int_eq(table_load(path, TABLE_SPACE, &t, &err), 0);
	ck_assert_str_eq(val(&t, "OLD@x"), "new@y");
	ck_assert_str_eq(t.path, path);
	table_free(&t);
	unlink(path);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(table_load(path, TABLE_SPACE, &t, &err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err),
	    "/relocated: not a regular file"));
	unlink(path);
	rmdir(dir);
	buf_free(&err);
}
END_TEST

static const char *
split(const char *v)
{
	static char out[512];
	struct buf b = BUF_INIT;
	char **items;
	size_t n, i;
	const char *why = NULL;

	if (alias_split(v, &items, &n, &why) == -1) {
		ck_assert_ptr_null(items);
		ck_assert_uint_eq(n, 0);
		snprintf(out, sizeof(out), "ERR:%s", why);
		return out;
	}
	for (i = 0; i < n; i++)
		buf_printf(&b, "[%s]", items[i]);
	snprintf(out, sizeof(out), "%s", buf_str(&b));
	buf_free(&b);
	alias_items_free(items, n);
	return out;
}

START_TEST(test_alias_split)
{
	ck_assert_str_eq(split("root"), "[root]");
	ck_assert_str_eq(split(" a ,b,  c d "), "[a][b][c d]");
	ck_assert_str_eq(split("\"|/bin/prog a, b\", /var/log/x, :include:/l"),
	    "[|/bin/prog a, b][/var/log/x][:include:/l]");
	ck_assert_str_eq(split("\"/var/log/a b\", \":include:/x,y\""),
	    "[/var/log/a b][:include:/x,y]");
	/* a quoted item that is no address stays quoted: a local part */
	ck_assert_str_eq(split("\"a \\\"q\\\" \\\\ b\""), "[\"a \\\"q\\\" \\\\ b\"]");
	ck_assert_str_eq(split("\"\""), "[\"\"]");
	/* empty items (a trailing comma before a commented-out member)
	 * are skipped, as sendmail and Postfix do */
	ck_assert_str_eq(split("a,,b"), "[a][b]");
	ck_assert_str_eq(split("a,"), "[a]");
	ck_assert_str_eq(split(" , "), "");
	ck_assert_str_eq(split(""), "");
	ck_assert_str_eq(split("\"abc"), "ERR:unterminated quote");
	ck_assert_str_eq(split("a, \"b"), "ERR:unterminated quote");
	ck_assert_str_eq(split("a (b"), "ERR:unterminated comment");
	ck_assert_str_eq(split("|/bin/x \"y\""),
	    "ERR:quote inside an unquoted item");
	/* what is no address is handed on whole, for the caller to refuse
	 * that item alone */
	ck_assert_str_eq(split("\"a\"b, c"), "[\"a\"b][c]");
	ck_assert_str_eq(split("a\"b\""), "[a\"b\"]");
}
END_TEST

/* RFC 5321 quoted local parts, wholly quoted addresses, "Name <addr>"
 * and comments, as sendmail and Postfix read aliases and .forward. */
START_TEST(test_alias_split_addresses)
{
	ck_assert_str_eq(split("\"john doe\"@example.org, bob"),
	    "[\"john doe\"@example.org][bob]");
	ck_assert_str_eq(split("bob, \"john doe\"@example.org"),
	    "[bob][\"john doe\"@example.org]");
	ck_assert_str_eq(split("\"a,b\"@example.org,c"),
	    "[\"a,b\"@example.org][c]");
	ck_assert_str_eq(split("\"john doe\""), "[\"john doe\"]");
	/* wholly quoted: unquoted when it is an address; else split at the
	 * last '@' as Postfix does */
	ck_assert_str_eq(split("\"bob@example.org\""), "[bob@example.org]");
	ck_assert_str_eq(split("\"john doe@example.org\""),
	    "[\"john doe\"@example.org]");
	ck_assert_str_eq(split("\"a\\\"b c@example.org\""),
	    "[\"a\\\"b c\"@example.org]");
	ck_assert_str_eq(split("\"john doe@-bad-\""),
	    "[\"john doe@-bad-\"]");
	/* a quoted local part is never a program or a file */
	ck_assert_str_eq(split("\"|/bin/sh\"@example.org"),
	    "[\"|/bin/sh\"@example.org]");
	ck_assert_str_eq(split("\"/etc/passwd\"@example.org"),
	    "[\"/etc/passwd\"@example.org]");
	/* phrase <addr>, comments */
	ck_assert_str_eq(split("Alice Example <alice@example.org>, bob"),
	    "[alice@example.org][bob]");
	ck_assert_str_eq(split("\"Doe, John\" <john@example.org>"),
	    "[john@example.org]");
	ck_assert_str_eq(split("<\"john doe\"@example.org>"),
	    "[\"john doe\"@example.org]");
	ck_assert_str_eq(split("alice@example.org (Alice, the boss), bob"),
	    "[alice@example.org][bob]");
	ck_assert_str_eq(split("(old) bob (x (nested)), carol"),
	    "[bob][carol]");
	ck_assert_str_eq(split("alice, (retired: bob)"), "[alice]");
	/* brackets that do not make an address are kept as written */
	ck_assert_str_eq(split("<>"), "[<>]");
	ck_assert_str_eq(split("x <a@b> y"), "[x <a@b> y]");
	ck_assert_str_eq(split("x <a@b"), "[x <a@b]");
	ck_assert_str_eq(split("Root </etc/passwd>"), "[Root </etc/passwd>]");
	ck_assert_str_eq(split("Sh <|/bin/sh>"), "[Sh <|/bin/sh>]");
}
END_TEST

static const char *
route(const char *v)
{
	static char out[512];
	struct route r;
	const char *why = NULL;

	if (route_parse(v, &r, &why) == -1) {
		snprintf(out, sizeof(out), "ERR:%s", why);
		return out;
	}
	snprintf(out, sizeof(out), "k%d h=%s p=%u nomx=%d tls=%d path=%s",
	    (int)r.kind, r.host, r.port, r.nomx, (int)r.tls, r.path);
	return out;
}

START_TEST(test_route_parse)
{
	ck_assert_str_eq(route("relay.example"),
	    "k1 h=relay.example p=0 nomx=0 tls=0 path=");
	ck_assert_str_eq(route("[relay.example]:587 tls=encrypt"),
	    "k1 h=relay.example p=587 nomx=1 tls=2 path=");
	ck_assert_str_eq(route("[::1]:2525"), "k1 h=::1 p=2525 nomx=1 tls=0 "
	    "path=");
	ck_assert_str_eq(route("[127.0.0.1]"),
	    "k1 h=127.0.0.1 p=0 nomx=1 tls=0 path=");
	ck_assert_str_eq(route("lmtp:127.0.0.1:24 tls=none"),
	    "k2 h=127.0.0.1 p=24 nomx=1 tls=1 path=");
	ck_assert_str_eq(route("lmtp:/run/dovecot/lmtp"),
	    "k3 h=/run/dovecot/lmtp p=0 nomx=0 tls=0 path=/run/dovecot/lmtp");
	ck_assert_str_eq(route("direct tls=dane"),
	    "k0 h= p=0 nomx=0 tls=4 path=");
	ck_assert_str_eq(route("relay.example tls=verify"),
	    "k1 h=relay.example p=0 nomx=0 tls=3 path=");
	ck_assert_str_eq(route(""), "ERR:empty route");
	ck_assert_str_eq(route("relay.example tls=always"),
	    "ERR:unknown route option (expected "
	    "tls=may|encrypt|verify|dane|none)");
	ck_assert_str_eq(route("relay.example:0"), "ERR:malformed host[:port]");
	ck_assert_str_eq(route("relay.example:99999"),
	    "ERR:malformed host[:port]");
	ck_assert_str_eq(route("-bad-.example"), "ERR:malformed host[:port]");
	ck_assert_str_eq(route("[1::2::3]"), "ERR:malformed host[:port]");
	ck_assert_str_eq(route("lmtp:"), "ERR:malformed host[:port]");
	ck_assert_str_eq(route("relay;rm -rf /"), "ERR:malformed host[:port]");
	ck_assert_str_eq(route("lmtp:/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
	    "ERR:LMTP socket path too long");
}
END_TEST

START_TEST(test_route_lookup)
{
	struct table t;
	struct buf err = BUF_INIT;
	struct route r;
	const char *why;
	const char *text = "example.org [mx1.example.org]\n"
	    ".example.org [sub.example.org]\n"
	    ".org [org.example]\n"
	    "bad.example ::::\n"
	    "local.test direct\n"
	    "* [smarthost.example]:587\n";

	ck_assert_int_eq(table_parse("routes", text, strlen(text), TABLE_SPACE,
	    &t, &err), 0);
	ck_assert_int_eq(route_lookup(&t, "Example.ORG", &r, &why), 1);
	ck_assert_str_eq(r.host, "mx1.example.org");
	ck_assert_int_eq(route_lookup(&t, "a.b.example.org", &r, &why), 1);
	ck_assert_str_eq(r.host, "sub.example.org");
	ck_assert_int_eq(route_lookup(&t, "other.org", &r, &why), 1);
	ck_assert_str_eq(r.host, "org.example");
	ck_assert_int_eq(route_lookup(&t, "x.net", &r, &why), 1);
	ck_assert_str_eq(r.host, "smarthost.example");
	ck_assert_uint_eq(r.port, 587);
	ck_assert_int_eq(route_lookup(&t, "local.test", &r, &why), 1);
	ck_assert_int_eq(r.kind, ROUTE_MX);
	ck_assert_int_eq(route_lookup(&t, "bad.example", &r, &why), -1);
	ck_assert_str_eq(why, "malformed host[:port]");
	table_free(&t);
	ck_assert_int_eq(table_parse("routes", "a.b c.d\n", 8, TABLE_SPACE, &t,
	    &err), 0);
	ck_assert_int_eq(route_lookup(&t, "x.y", &r, &why), 0);
	table_free(&t);
	buf_free(&err);
}
END_TEST

static Suite *
table_suite(void)
{
	Suite *s = suite_create("table");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_space);
	tcase_add_test(tc, test_colon);
	tcase_add_test(tc, test_aliases);
	tcase_add_test(tc, test_aliases_comments_in_list);
	tcase_add_test(tc, test_aliases_duplicate_warns);
	tcase_add_test(tc, test_aliases_long_list);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_load);
	tcase_add_test(tc, test_alias_split);
	tcase_add_test(tc, test_alias_split_addresses);
	tcase_add_test(tc, test_route_parse);
	tcase_add_test(tc, test_route_lookup);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(table_suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
