/*
 * test_local_durability.c — posthorn-local reports a delivery only when
 * every name leading to the message is on stable storage: a new mbox's
 * directory, a new Maildir's parent, the Maildir itself (for tmp/new/cur)
 * and new/ (for the message).  fsync() is interposed here: the test's
 * definition records which inodes were fsync'd and then does the real
 * system call, so the code under test runs unchanged.
 */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tests/unit/testutil.h"
#include "local/local.h"

#define SEEN_MAX 256

static struct { dev_t dev; ino_t ino; } seen[SEEN_MAX];
static size_t nseen;

int
fsync(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && nseen < SEEN_MAX) {
		seen[nseen].dev = st.st_dev;
		seen[nseen].ino = st.st_ino;
		nseen++;
	}
	return (int)syscall(SYS_fsync, fd);
}

static int
was_synced(const char *path)
{
	struct stat st;
	size_t i;

	ck_assert_int_eq(stat(path, &st), 0);
	for (i = 0; i < nseen; i++)
		if (seen[i].dev == st.st_dev && seen[i].ino == st.st_ino)
			return 1;
	return 0;
}

static char tmpdir[PATH_MAX];
static struct config cfg;
static struct local_tables tabs;
static struct lctx ctx;

static const char *
tp(const char *name)
{
	static char p[4][PATH_MAX + 64];
	static int k;

	k = (k + 1) % 4;
	snprintf(p[k], sizeof(p[k]), "%s/%s", tmpdir, name);
	return p[k];
}

static void
setup(void)
{
	static const char msg[] = "Subject: x\n\nbody\n";
	char path[PATH_MAX + 64];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_local_dur.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	memset(&cfg, 0, sizeof(cfg));
	memset(&tabs, 0, sizeof(tabs));
	cfg.lock_timeout = 2;
	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = &cfg;
	ctx.tabs = &tabs;
	ctx.qid = "";
	ctx.sender = "s@example.net";
	ctx.rcpt = "r@example.org";
	snprintf(path, sizeof(path), "%s/msg.XXXXXX", tmpdir);
	ctx.msgfd = mkstemp(path);
	ck_assert_int_ge(ctx.msgfd, 0);
	unlink(path);
	ck_assert_int_eq(write(ctx.msgfd, msg, sizeof(msg) - 1),
	    (ssize_t)sizeof(msg) - 1);
	ck_assert_int_eq(mkdir(tp("d"), 0700), 0);
	nseen = 0;
}

static void
teardown(void)
{

	close(ctx.msgfd);
	ck_assert_int_eq(rm_rf(tmpdir), 0);
}

START_TEST(test_new_mbox_directory_synced)
{
	struct lresult r;

	mbox_deliver(&ctx, tp("d/mbox"), &r);
	ck_assert_int_eq(r.status, 'D');
	ck_assert(was_synced(tp("d/mbox")));
	ck_assert_msg(was_synced(tp("d")), "the new mbox's directory was "
	    "not fsync'd");
}
END_TEST

START_TEST(test_existing_mbox)
{
	struct lresult r;

	close(open(tp("d/mbox"), O_WRONLY | O_CREAT, 0600));
	mbox_deliver(&ctx, tp("d/mbox"), &r);
	ck_assert_int_eq(r.status, 'D');
	ck_assert(was_synced(tp("d/mbox")));
}
END_TEST

START_TEST(test_new_maildir_parents_synced)
{
	struct lresult r;

	maildir_deliver(&ctx, tp("d/Maildir/"), &r);
	ck_assert_int_eq(r.status, 'D');
	ck_assert_msg(was_synced(tp("d")), "the new Maildir's parent was "
	    "not fsync'd");
	ck_assert_msg(was_synced(tp("d/Maildir")), "the Maildir (holding "
	    "the new tmp/new/cur) was not fsync'd");
	ck_assert(was_synced(tp("d/Maildir/new")));
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("local_durability");
	TCase *tc = tcase_create("fsync");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_new_mbox_directory_synced);
	tcase_add_test(tc, test_existing_mbox);
	tcase_add_test(tc, test_new_maildir_parents_synced);
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
