/*
 * test_local_forward_race.c — ~/.forward is read from the descriptor
 * whose owner and mode were checked.  fstat() is interposed: right after
 * posthorn-local has examined the good .forward, the test renames a
 * group-writable one over it, as another member of the group could if
 * the home directory let them.  The text delivered must be the checked
 * file's.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/testutil.h"
#include "local/local.h"

static char tmpdir[PATH_MAX];
static char fwd[PATH_MAX + 32], evil[PATH_MAX + 32];
static int armed;

int
fstat(int fd, struct stat *st)
{
	int r = fstatat(fd, "", st, AT_EMPTY_PATH);

	if (armed && r == 0 && S_ISREG(st->st_mode)) {
		armed = 0;
		if (rename(evil, fwd) != 0)
			abort();
	}
	return r;
}

static void
put(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
}

START_TEST(test_forward_swapped_after_check)
{
	struct config cfg;
	struct lctx c;
	struct buf out = BUF_INIT;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_local_fwd.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(fwd, sizeof(fwd), "%s/.forward", tmpdir);
	snprintf(evil, sizeof(evil), "%s/evil", tmpdir);
	put(fwd, "\\tester\n", 0644);
	put(evil, "\"|echo hijacked\"\n", 0666);
	memset(&cfg, 0, sizeof(cfg));
	memset(&c, 0, sizeof(c));
	c.cfg = &cfg;
	c.qid = "";
	snprintf(c.home, sizeof(c.home), "%s", tmpdir);
	armed = 1;
	ck_assert_int_eq(read_forward(&c, getuid(), &out), 1);
	ck_assert_int_eq(armed, 0);	/* the swap did happen */
	ck_assert_str_eq(buf_str(&out), "\\tester");
	buf_free(&out);
	ck_assert_int_eq(rm_rf(tmpdir), 0);
}
END_TEST

/* A .forward that cannot be opened for a passing reason (here: no
 * descriptor left) is "cannot tell", -1, so that the delivery is
 * deferred: taking it for a missing .forward would put the mail in the
 * mailbox the user forwards away from. */
START_TEST(test_forward_cannot_open)
{
	struct config cfg;
	struct lctx c;
	struct buf out = BUF_INIT;
	struct rlimit old, low;
	int fds[64], n = 0, rc, e;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_local_fwd.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(fwd, sizeof(fwd), "%s/.forward", tmpdir);
	put(fwd, "someone@example.net\n", 0644);
	memset(&cfg, 0, sizeof(cfg));
	memset(&c, 0, sizeof(c));
	c.cfg = &cfg;
	c.qid = "";
	snprintf(c.home, sizeof(c.home), "%s", tmpdir);
	ck_assert_int_eq(read_forward(&c, getuid(), &out), 1);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 32;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (n < 64 && (fds[n] = dup(0)) >= 0)
		n++;
	errno = 0;
	rc = read_forward(&c, getuid(), &out);
	e = errno;
	while (n > 0)
		close(fds[--n]);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(e, EMFILE);
	/* missing: none, and a symbolic link: ignored */
	ck_assert_int_eq(unlink(fwd), 0);
	ck_assert_int_eq(read_forward(&c, getuid(), &out), 0);
	ck_assert_int_eq(symlink("/etc/hostname", fwd), 0);
	ck_assert_int_eq(read_forward(&c, getuid(), &out), 0);
	buf_free(&out);
	ck_assert_int_eq(rm_rf(tmpdir), 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("local_forward_race");
	TCase *tc = tcase_create("forward");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_forward_swapped_after_check);
	tcase_add_test(tc, test_forward_cannot_open);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
