/*
 * testutil.c — helpers shared by the unit tests.  Trusts its caller: the
 * paths are the tests' own temporary directories.
 */
#include <ftw.h>
#include <stdio.h>

#include "tests/unit/testutil.h"

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

int
rm_rf(const char *path)
{
	return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}
