/*
 * test_pdeath.c — unit tests for common/pdeath.c: the parent-death signal
 * is set again after a change of user (which clears it), and raised at
 * once when the parent died while it was off.  The uid changes need root;
 * each case runs in a child process of its own (check's fork mode), so
 * the test runner keeps its ids.
 */
#include <check.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/pdeath.h"

static int
current(void)
{
	int sig = -1;

	ck_assert_int_eq(prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0), 0);
	return sig;
}

/* Become nobody as the programs do; true if it was possible (root). */
static int
become_nobody(void)
{
	struct passwd *pw = getpwnam("nobody");

	if (geteuid() != 0 || pw == NULL || pw->pw_uid == 0)
		return 0;
	ck_assert_int_eq(setgid(pw->pw_gid), 0);
	ck_assert_int_eq(setuid(pw->pw_uid), 0);
	return 1;
}

START_TEST(test_kept_across_setuid)
{
	struct pdeath pd;

	ck_assert_int_eq(prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0), 0);
	pdeath_save(&pd);
	ck_assert_int_eq(pd.sig, SIGTERM);
	ck_assert_int_eq(pd.parent, getppid());
	if (become_nobody())	/* the kernel clears it: the reason for all this */
		ck_assert_int_eq(current(), 0);
	ck_assert_int_eq(pdeath_restore(&pd), 0);
	ck_assert_int_eq(current(), SIGTERM);
}
END_TEST

START_TEST(test_none_stays_none)
{
	struct pdeath pd;

	ck_assert_int_eq(prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0), 0);
	pdeath_save(&pd);
	ck_assert_int_eq(pd.sig, 0);
	(void)become_nobody();
	ck_assert_int_eq(pdeath_restore(&pd), 0);
	ck_assert_int_eq(current(), 0);
}
END_TEST

/* The parent went away while the setting was off: the signal that the
 * kernel would have sent comes now (here, with the saved parent made
 * wrong on purpose, SIGUSR1 ends the process). */
START_TEST(test_parent_gone_meanwhile)
{
	struct pdeath pd;
	pid_t pid;
	int status;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0) != 0)
			_exit(2);
		pdeath_save(&pd);
		pd.parent = getppid() + 1;	/* "reparented" */
		(void)pdeath_restore(&pd);
		_exit(0);		/* not reached */
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status));
	ck_assert_int_eq(WTERMSIG(status), SIGUSR1);
}
END_TEST

static Suite *
pdeath_suite(void)
{
	Suite *s = suite_create("pdeath");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_kept_across_setuid);
	tcase_add_test(tc, test_none_stays_none);
	tcase_add_test(tc, test_parent_gone_meanwhile);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(pdeath_suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
