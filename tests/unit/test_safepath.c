/*
 * test_safepath.c — unit tests for common/safepath.c: a mailbox path is
 * resolved through real directories only when every directory on the way
 * belongs to root or the mailbox's owner and is not writable by everyone
 * (unless sticky); symbolic links are followed only when root or the
 * owner made them.  Runs in a private directory under /tmp; the ownership
 * cases need root (lchown to other uids) and are skipped otherwise.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/safepath.h"
#include "testutil.h"

#define OWNER 4242	/* the mailbox's owner in these tests */
#define OTHER 4343	/* anyone else */

static char base[64];

static void
setup(void)
{
	snprintf(base, sizeof(base), "/tmp/test_safepath.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(base));
	ck_assert_int_eq(chmod(base, 0755), 0);
}

static void
teardown(void)
{
	rm_rf(base);
}

static const char *
at(const char *rel)
{
	static char p[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", base, rel);
	return p[i];
}

static void
mkdir_owned(const char *rel, mode_t mode, uid_t uid)
{
	ck_assert_int_eq(mkdir(at(rel), mode), 0);
	ck_assert_int_eq(chmod(at(rel), mode), 0);	/* past the umask */
	if (geteuid() == 0)
		ck_assert_int_eq(lchown(at(rel), uid, uid), 0);
}

static void
symlink_owned(const char *target, const char *rel, uid_t uid)
{
	ck_assert_int_eq(symlink(target, at(rel)), 0);
	if (geteuid() == 0)
		ck_assert_int_eq(lchown(at(rel), uid, uid), 0);
}

/* resolve for OWNER; returns the code, the result in out, why in w */
static int
resolve(const char *path, int flags, char *out, size_t outsz,
    struct buf *w)
{
	buf_reset(w);
	return safepath_resolve(path, OWNER, flags, out, outsz, w);
}

START_TEST(test_plain_and_missing_last)
{
	char out[4096];
	struct buf w = BUF_INIT;

	mkdir_owned("mail", 0755, 0);
	ck_assert_int_eq(resolve(at("mail/box"), 0, out, sizeof(out), &w), 0);
	ck_assert_str_eq(out, at("mail/box"));
	/* ".", "..", doubled and trailing slashes are resolved away */
	ck_assert_int_eq(resolve(at("mail/./../mail//box"), 0, out,
	    sizeof(out), &w), 0);
	ck_assert_str_eq(out, at("mail/box"));
	/* a Maildir not yet made is fine: the agent creates it */
	ck_assert_int_eq(resolve(at("mail/Maildir/"), SAFEPATH_LAST_DIR,
	    out, sizeof(out), &w), 0);
	ck_assert_str_eq(out, at("mail/Maildir"));
	/* a missing directory on the way is not */
	ck_assert_int_eq(resolve(at("nodir/box"), 0, out, sizeof(out), &w),
	    -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(resolve("relative/box", 0, out, sizeof(out), &w),
	    -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(resolve("/", 0, out, sizeof(out), &w), 0);
	ck_assert_str_eq(out, "/");
	buf_free(&w);
}
END_TEST

START_TEST(test_links_followed)
{
	char out[4096];
	struct buf w = BUF_INIT;

	mkdir_owned("real", 0755, 0);
	mkdir_owned("real/md", 0700, OWNER);
	symlink_owned("real", "rel", 0);	/* relative target */
	symlink_owned(at("real"), "abs", 0);	/* absolute target */
	symlink_owned("../real/md", "real/up", OWNER);	/* the owner's */
	ck_assert_int_eq(resolve(at("rel/box"), 0, out, sizeof(out), &w), 0);
	ck_assert_str_eq(out, at("real/box"));
	ck_assert_int_eq(resolve(at("abs/box"), 0, out, sizeof(out), &w), 0);
	ck_assert_str_eq(out, at("real/box"));
	/* the last component is followed only for a Maildir */
	ck_assert_int_eq(resolve(at("real/up"), 0, out, sizeof(out), &w), 0);
	ck_assert_str_eq(out, at("real/up"));
	ck_assert_int_eq(resolve(at("abs/up/"), SAFEPATH_LAST_DIR, out,
	    sizeof(out), &w), 0);
	ck_assert_str_eq(out, at("real/md"));
	/* a loop ends */
	symlink_owned("loop2", "loop1", 0);
	symlink_owned("loop1", "loop2", 0);
	ck_assert_int_eq(resolve(at("loop1/box"), 0, out, sizeof(out), &w),
	    -1);
	ck_assert_int_eq(errno, ELOOP);
	/* a file on the way */
	ck_assert_int_eq(close(creat(at("real/file"), 0600)), 0);
	ck_assert_int_eq(resolve(at("real/file/box"), 0, out, sizeof(out),
	    &w), -1);
	ck_assert_int_eq(errno, ENOTDIR);
	/* too small a result buffer */
	ck_assert_int_eq(resolve(at("real/box"), 0, out, 8, &w), -1);
	ck_assert_int_eq(errno, ENAMETOOLONG);
	buf_free(&w);
}
END_TEST

START_TEST(test_others_cannot_change_the_way)
{
	char out[4096];
	struct buf w = BUF_INIT;

	if (geteuid() != 0)
		return;	/* lchown to other uids needs root */
	/* another user's directory on the way: they could swap what is
	 * inside between the owner check and the open */
	mkdir_owned("theirs", 0755, OTHER);
	mkdir_owned("theirs/sub", 0755, OWNER);
	ck_assert_int_eq(resolve(at("theirs/sub/box"), 0, out, sizeof(out),
	    &w), -2);
	ck_assert_ptr_nonnull(strstr(buf_str(&w), "owned by uid 4343"));
	/* even as the mbox's own directory */
	ck_assert_int_eq(resolve(at("theirs/box"), 0, out, sizeof(out), &w),
	    -2);
	/* the owner's own directory and root's are fine */
	mkdir_owned("mine", 0700, OWNER);
	ck_assert_int_eq(resolve(at("mine/box"), 0, out, sizeof(out), &w), 0);
	/* world-writable without the sticky bit: refused */
	mkdir_owned("open", 0777, 0);
	ck_assert_int_eq(resolve(at("open/box"), 0, out, sizeof(out), &w),
	    -2);
	ck_assert_ptr_nonnull(strstr(buf_str(&w), "writable by everyone"));
	/* with it (a 1777 mail spool) others cannot rename our entries */
	mkdir_owned("spool", 01777, 0);
	ck_assert_int_eq(resolve(at("spool/box"), 0, out, sizeof(out), &w),
	    0);
	/* group-writable (Debian's /var/mail is 2775 root:mail): fine */
	mkdir_owned("group", 02775, 0);
	ck_assert_int_eq(resolve(at("group/box"), 0, out, sizeof(out), &w),
	    0);
	/* but in the sticky directory another user's entry is theirs */
	mkdir_owned("spool/planted", 0755, OTHER);
	ck_assert_int_eq(resolve(at("spool/planted/Maildir/"),
	    SAFEPATH_LAST_DIR, out, sizeof(out), &w), -2);
	symlink_owned(at("mine"), "spool/link", OTHER);
	ck_assert_int_eq(resolve(at("spool/link/box"), 0, out, sizeof(out),
	    &w), -2);
	ck_assert_ptr_nonnull(strstr(buf_str(&w), "symbolic link"));
	/* a Maildir that is another user's directory */
	mkdir_owned("mine/Maildir", 0700, OTHER);
	ck_assert_int_eq(resolve(at("mine/Maildir/"), SAFEPATH_LAST_DIR, out,
	    sizeof(out), &w), -2);
	/* the same link made by the owner is followed */
	symlink_owned(at("mine"), "spool/ownlink", OWNER);
	ck_assert_int_eq(resolve(at("spool/ownlink/box"), 0, out,
	    sizeof(out), &w), 0);
	ck_assert_str_eq(out, at("mine/box"));
	buf_free(&w);
}
END_TEST

START_TEST(test_long_names)
{
	char path[9000], out[4096];
	struct buf w = BUF_INIT;

	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	ck_assert_int_eq(resolve(path, 0, out, sizeof(out), &w), -1);
	ck_assert_int_eq(errno, ENAMETOOLONG);
	/* one component longer than a name can be */
	memset(path, 'b', 300);
	path[0] = '/';
	path[300] = '\0';
	ck_assert_int_eq(resolve(path, 0, out, sizeof(out), &w), -1);
	ck_assert_int_eq(errno, ENAMETOOLONG);
	buf_free(&w);
}
END_TEST

static Suite *
safepath_suite(void)
{
	Suite *s = suite_create("safepath");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_plain_and_missing_last);
	tcase_add_test(tc, test_links_followed);
	tcase_add_test(tc, test_others_cannot_change_the_way);
	tcase_add_test(tc, test_long_names);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(safepath_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
