/*
 * test_localuser.c — unit tests for common/localuser.c: resolution order
 * (mailboxes, aliases, system users), "+ext" fallback, case handling,
 * mailbox owners, the postmaster default, hostile local parts, relocated.
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/testutil.h"
#include "common/localuser.h"

static char tmpdir[PATH_MAX];
static struct config cfg;
static struct local_tables tabs;

static void
write_file(const char *name, const char *text)
{
	char p[PATH_MAX + 64];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static char *
tpath(const char *name)
{
	char p[PATH_MAX + 64];

	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	return strdup(p);
}

static void
make_dir(const char *name)
{
	char *p = tpath(name);

	ck_assert_int_eq(mkdir(p, 0700), 0);
	free(p);
}

static void
setup(void)
{
	struct buf err = BUF_INIT;
	char mb[4 * PATH_MAX + 256];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_localuser.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	make_dir("boxes");
	snprintf(mb, sizeof(mb),
	    "# virtual mailboxes\n"
	    "alice@example.org %s/boxes/alice/\n"
	    "carol %s/boxes/sub/dir/carol.mbox\n"
	    "both %s/boxes/both/\n"
	    "secret@internal.example %s/boxes/secret/\n"
	    "bad relative/path/\n",
	    tmpdir, tmpdir, tmpdir, tmpdir);
	write_file("mailboxes", mb);
	write_file("aliases",
	    "both: root\n"
	    "list: a, b,\n"
	    "  c\n"
	    "bob+special: /tmp/x\n"
	    "team: /dev/null\n");
	write_file("relocated",
	    "old@example.org new@example.net\n"
	    "@gone.example everyone@example.net\n"
	    "moved   moved@example.com\n");
	memset(&cfg, 0, sizeof(cfg));
	cfg.mailboxes = tpath("mailboxes");
	cfg.aliases = tpath("aliases");
	cfg.relocated = tpath("relocated");
	cfg.local_case_insensitive = true;
	cfg.recipient_delimiter = '+';
	if (local_tables_load(&cfg, &tabs, &err) != 0)
		ck_abort_msg("tables: %s", buf_str(&err));
	buf_free(&err);
}

static void
teardown(void)
{

	local_tables_free(&tabs);
	free(cfg.mailboxes);
	free(cfg.aliases);
	free(cfg.relocated);
	ck_assert_int_eq(rm_rf(tmpdir), 0);
}

static int
resolve(const char *rcpt, struct local_target *t)
{
	struct buf err = BUF_INIT;
	int rc;

	rc = local_resolve(&cfg, &tabs, rcpt, t, &err);
	buf_free(&err);
	return rc;
}

START_TEST(test_mailbox_full_address)
{
	struct local_target t;
	char want[PATH_MAX + 64];

	ck_assert_int_eq(resolve("alice@example.org", &t), 1);
	ck_assert_int_eq(t.kind, LOCAL_MAILBOX);
	snprintf(want, sizeof(want), "%s/boxes/alice/", tmpdir);
	ck_assert_str_eq(t.path, want);
	ck_assert_str_eq(t.user, "alice");
	ck_assert_str_eq(t.ext, "");
	/* Maildir not created yet: owner of the nearest parent (boxes) */
	ck_assert_uint_eq(t.uid, getuid());
	ck_assert_uint_eq(t.gid, getgid());
	/* the full-address key does not match another domain */
	ck_assert_int_eq(resolve("alice@example.com", &t), 0);
	ck_assert_int_eq(t.kind, LOCAL_NONE);
}
END_TEST

START_TEST(test_mailbox_localpart_ext_case)
{
	struct local_target t;

	ck_assert_int_eq(resolve("carol@any.example", &t), 1);
	ck_assert_int_eq(t.kind, LOCAL_MAILBOX);
	ck_assert_str_eq(t.ext, "");
	ck_assert_int_eq(resolve("Carol+Lists@any.example", &t), 1);
	ck_assert_int_eq(t.kind, LOCAL_MAILBOX);
	ck_assert_str_eq(t.user, "Carol");
	ck_assert_str_eq(t.ext, "Lists");
	ck_assert_int_eq(resolve("ALICE+x@example.org", &t), 1);
	ck_assert_int_eq(t.kind, LOCAL_MAILBOX);
	ck_assert_str_eq(t.ext, "x");
}
END_TEST

START_TEST(test_mailbox_bad_path_is_temporary)
{
	struct local_target t;
	struct buf err = BUF_INIT;

	ck_assert_int_eq(local_resolve(&cfg, &tabs, "bad@h", &t, &err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "not an absolute path"));
	buf_free(&err);
}
END_TEST

START_TEST(test_mailbox_owner_existing)
{
	struct local_target t;

	make_dir("boxes/alice");
	ck_assert_int_eq(resolve("alice@example.org", &t), 1);
	ck_assert_uint_eq(t.uid, getuid());
}
END_TEST

/*
 * A user who owns a symbolic link on the way to a mailbox decides where it
 * leads: the mailbox is then that user's, never the owner of the target
 * (else the spawner would run posthorn-local as the victim).  As root the
 * links get a made-up owner and point at directories of another made-up
 * uid; otherwise our own links point at root's directories.
 */
START_TEST(test_mailbox_owner_symlink)
{
	struct local_target t;
	char *victim = tpath("victim"), *deep = tpath("victim/dir");
	char *link1 = tpath("boxes/alice"), *link2 = tpath("boxes/sub");
	uid_t want = getuid(), target = 0;

	make_dir("victim");
	make_dir("victim/dir");
	if (getuid() == 0) {
		want = 4343;
		target = 4242;
		ck_assert_int_eq(chown(victim, target, target), 0);
		ck_assert_int_eq(chown(deep, target, target), 0);
		ck_assert_int_eq(symlink(victim, link1), 0);
		ck_assert_int_eq(symlink(victim, link2), 0);
		ck_assert_int_eq(lchown(link1, want, want), 0);
		ck_assert_int_eq(lchown(link2, want, want), 0);
	} else {
		ck_assert_int_eq(symlink("/", link1), 0);
		ck_assert_int_eq(symlink("/", link2), 0);
	}
	/* the mailbox itself is a link (Maildir) */
	ck_assert_int_eq(resolve("alice@example.org", &t), 1);
	ck_assert_int_eq(t.kind, LOCAL_MAILBOX);
	ck_assert_uint_eq(t.uid, want);
	/* a directory above the mailbox is a link (carol: sub/dir/...) */
	ck_assert_int_eq(resolve("carol@h", &t), 1);
	ck_assert_uint_eq(t.uid, want);
	free(victim);
	free(deep);
	free(link1);
	free(link2);
}
END_TEST

START_TEST(test_order_mailbox_before_alias)
{
	struct local_target t;

	ck_assert_int_eq(resolve("both@h", &t), 1);
	ck_assert_int_eq(t.kind, LOCAL_MAILBOX);
}
END_TEST

START_TEST(test_alias)
{
	struct local_target t;

	ck_assert_int_eq(resolve("list@h", &t), 1);
	ck_assert_int_eq(t.kind, LOCAL_ALIAS);
	ck_assert_str_eq(t.user, "list");
	ck_assert_ptr_nonnull(strstr(t.value, "a"));
	ck_assert_int_eq(resolve("List+x@h", &t), 1);
	ck_assert_int_eq(t.kind, LOCAL_ALIAS);
	ck_assert_str_eq(t.ext, "x");
	/* the full local part wins over the stripped one */
	ck_assert_int_eq(resolve("bob+special@h", &t), 1);
	ck_assert_int_eq(t.kind, LOCAL_ALIAS);
	ck_assert_str_eq(t.value, "/tmp/x");
	ck_assert_str_eq(t.ext, "");
}
END_TEST

START_TEST(test_system_user)
{
	struct local_target t;

	ck_assert_int_eq(resolve("root@h", &t), 1);
	ck_assert_int_eq(t.kind, LOCAL_USER);
	ck_assert_uint_eq(t.uid, 0);
	ck_assert_uint_eq(t.gid, 0);
	ck_assert_str_eq(t.home, "/root");
	ck_assert_str_eq(t.user, "root");
	ck_assert_int_eq(resolve("ROOT+tag@h", &t), 1);
	ck_assert_int_eq(t.kind, LOCAL_USER);
	ck_assert_str_eq(t.user, "root");
	ck_assert_str_eq(t.ext, "tag");
	cfg.local_case_insensitive = false;
	ck_assert_int_eq(resolve("ROOT@h", &t), 0);
	/* no domain at all (RCPT TO:<root>) */
	cfg.local_case_insensitive = true;
	ck_assert_int_eq(resolve("root", &t), 1);
	ck_assert_int_eq(t.kind, LOCAL_USER);
}
END_TEST

START_TEST(test_delimiter_off)
{
	struct local_target t;

	cfg.recipient_delimiter = '\0';
	ck_assert_int_eq(resolve("root+x@h", &t), 0);
	ck_assert_int_eq(resolve("list+x@h", &t), 0);
	ck_assert_int_eq(t.kind, LOCAL_NONE);
}
END_TEST

START_TEST(test_unknown_and_hostile)
{
	struct local_target t;

	ck_assert_int_eq(resolve("nosuchuser-xyz@h", &t), 0);
	ck_assert_int_eq(t.kind, LOCAL_NONE);
	ck_assert_int_eq(resolve("\"../root\"@h", &t), 0);
	ck_assert_int_eq(resolve("\"ro ot\"@h", &t), 0);
	ck_assert_int_eq(resolve("-root@h", &t), 0);
	ck_assert_int_eq(resolve("+x@h", &t), 0);
	ck_assert_int_eq(resolve("root+@h", &t), 0);
	ck_assert_int_eq(resolve("", &t), 0);
	ck_assert_int_eq(resolve("@h", &t), 0);
	ck_assert_int_eq(resolve("a@@h", &t), 0);
	ck_assert_int_eq(resolve("a\n@h", &t), 0);
}
END_TEST

START_TEST(test_postmaster_default)
{
	struct local_target t;

	ck_assert_int_eq(resolve("PostMaster@h", &t), 1);
	ck_assert_int_eq(t.kind, LOCAL_ALIAS);
	ck_assert_str_eq(t.value, "root");
	ck_assert_str_eq(t.user, "postmaster");
}
END_TEST

START_TEST(test_relocated)
{
	ck_assert_str_eq(local_relocated(&tabs, "old@example.org"),
	    "new@example.net");
	ck_assert_str_eq(local_relocated(&tabs, "OLD@example.org"),
	    "new@example.net");
	ck_assert_str_eq(local_relocated(&tabs, "anyone@gone.example"),
	    "everyone@example.net");
	ck_assert_str_eq(local_relocated(&tabs, "moved@h"),
	    "moved@example.com");
	ck_assert_ptr_null(local_relocated(&tabs, "old@example.com"));
	ck_assert_ptr_null(local_relocated(&tabs, "stay@example.org"));
	ck_assert_ptr_null(local_relocated(&tabs, "@"));
}
END_TEST

/* A quoted local part holding '@' never matches a table key: it would
 * reach full-address entries of other domains ("x@y") or relocated
 * "@domain" entries.  Quoting alone changes nothing: "bob"@ is bob@. */
START_TEST(test_quoted_at_local_part)
{
	struct local_target t;

	ck_assert_int_eq(resolve("\"secret@internal.example\"@h", &t), 0);
	ck_assert_int_eq(t.kind, LOCAL_NONE);
	ck_assert_int_eq(resolve("\"alice@example.org\"@example.com", &t), 0);
	ck_assert_int_eq(resolve("\"alice@example.org+x\"@h", &t), 0);
	ck_assert_int_eq(resolve("\"list@h\"@h", &t), 0);
	ck_assert_int_eq(resolve("\"postmaster@h\"@h", &t), 0);
	/* the same names unquoted or plainly quoted still resolve */
	ck_assert_int_eq(resolve("secret@internal.example", &t), 1);
	ck_assert_int_eq(t.kind, LOCAL_MAILBOX);
	ck_assert_int_eq(resolve("\"alice\"@example.org", &t), 1);
	ck_assert_int_eq(t.kind, LOCAL_MAILBOX);
	ck_assert_int_eq(resolve("\"list\"@h", &t), 1);
	ck_assert_int_eq(t.kind, LOCAL_ALIAS);
}
END_TEST

START_TEST(test_relocated_quoted)
{
	/* "moved"@h is moved@h: the key forms of local_resolve */
	ck_assert_str_eq(local_relocated(&tabs, "\"moved\"@h"),
	    "moved@example.com");
	ck_assert_str_eq(local_relocated(&tabs, "\"old\"@example.org"),
	    "new@example.net");
	/* a local part holding '@' is no key of its own ... */
	ck_assert_ptr_null(local_relocated(&tabs, "\"@gone.example\"@h"));
	ck_assert_ptr_null(local_relocated(&tabs,
	    "\"moved@example.com\"@h"));
	/* ... but its domain's entry still applies */
	ck_assert_str_eq(local_relocated(&tabs, "\"x@y\"@gone.example"),
	    "everyone@example.net");
	ck_assert_ptr_null(local_relocated(&tabs, "not an address"));
}
END_TEST

START_TEST(test_missing_tables)
{
	struct config c2;
	struct local_tables t2;
	struct local_target t;
	struct buf err = BUF_INIT;

	memset(&c2, 0, sizeof(c2));
	c2.aliases = tpath("nonexistent-aliases");
	c2.recipient_delimiter = '+';
	ck_assert_int_eq(local_tables_load(&c2, &t2, &err), 0);
	ck_assert_int_eq(local_resolve(&c2, &t2, "nested@h", &t, &err), 0);
	ck_assert_int_eq(local_resolve(&c2, &t2, "root@h", &t, &err), 1);
	local_tables_free(&t2);
	free(c2.aliases);
	buf_free(&err);
}
END_TEST

/* The spool's owner is a service account unless it is the caller (an
 * ordinary user's posthorn-run owns its spool and its mailboxes). */
START_TEST(test_service_account_spool_owner)
{
	struct config c2;
	uid_t other = geteuid() == 4242 ? 4243 : 4242;

	memset(&c2, 0, sizeof(c2));
	c2.spool = tpath("spool");
	ck_assert_ptr_null(local_service_account(&c2, other));	/* none */
	make_dir("spool");
	ck_assert_ptr_null(local_service_account(&c2, geteuid()));
	ck_assert_ptr_null(local_service_account(&c2, other));
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(c2.spool, other, 0), 0);
		ck_assert_str_eq(local_service_account(&c2, other),
		    "the owner of the spool");
		ck_assert_ptr_null(local_service_account(&c2, other + 2));
	}
	free(c2.spool);
}
END_TEST

/* The service accounts' uids are cached, and the cache follows
 * /etc/passwd: in a private mount namespace (root only), a copy of
 * /etc/passwd is bind-mounted over it, then an account is added and
 * later moved to another uid. */
static void
passwd_with(const char *path, const char *extra)
{
	FILE *in = fopen("/etc/passwd", "r"), *out = fopen(path, "w");
	char line[4096];

	ck_assert_ptr_nonnull(in);
	ck_assert_ptr_nonnull(out);
	while (fgets(line, sizeof(line), in) != NULL)
		if (strncmp(line, "posthorn-remote:", 16) != 0)
			fputs(line, out);
	fputs(extra, out);
	fclose(in);
	ck_assert_int_eq(fclose(out), 0);
}

START_TEST(test_service_account_follows_passwd)
{
	struct config c2;
	char *copy = tpath("passwd");

	if (geteuid() != 0 || unshare(CLONE_NEWNS) == -1 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
		return;		/* needs root and mount namespaces */
	memset(&c2, 0, sizeof(c2));
	passwd_with(copy, "");
	ck_assert_int_eq(mount(copy, "/etc/passwd", NULL, MS_BIND, NULL), 0);
	ck_assert_ptr_null(local_service_account(&c2, 54321));
	passwd_with(copy, "posthorn-remote:x:54321:54321::/:/bin/false\n");
	ck_assert_str_eq(local_service_account(&c2, 54321), "posthorn-remote");
	ck_assert_str_eq(local_service_account(&c2, 54321), "posthorn-remote");
	passwd_with(copy, "posthorn-remote:x:5432:54321::/:/bin/false\n");
	ck_assert_ptr_null(local_service_account(&c2, 54321));
	ck_assert_str_eq(local_service_account(&c2, 5432), "posthorn-remote");
	free(copy);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("localuser");
	TCase *tc = tcase_create("resolve");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_mailbox_full_address);
	tcase_add_test(tc, test_mailbox_localpart_ext_case);
	tcase_add_test(tc, test_mailbox_bad_path_is_temporary);
	tcase_add_test(tc, test_mailbox_owner_existing);
	tcase_add_test(tc, test_mailbox_owner_symlink);
	tcase_add_test(tc, test_order_mailbox_before_alias);
	tcase_add_test(tc, test_alias);
	tcase_add_test(tc, test_system_user);
	tcase_add_test(tc, test_delimiter_off);
	tcase_add_test(tc, test_unknown_and_hostile);
	tcase_add_test(tc, test_postmaster_default);
	tcase_add_test(tc, test_relocated);
	tcase_add_test(tc, test_quoted_at_local_part);
	tcase_add_test(tc, test_relocated_quoted);
	tcase_add_test(tc, test_missing_tables);
	tcase_add_test(tc, test_service_account_spool_owner);
	tcase_add_test(tc, test_service_account_follows_passwd);
	suite_add_tcase(s, tc);
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
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
