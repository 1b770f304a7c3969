/*
 * testutil.h — small helpers shared by the unit tests (every .c file in
 * tests/unit that is not a test_ suite is linked into every suite, so keep
 * this tiny).
 */
#ifndef POSTHORN_TESTUTIL_H
#define POSTHORN_TESTUTIL_H

/* Remove a directory tree the test made (no shell, symlinks not followed).
 * 0 ok, -1 on the first error. */
int rm_rf(const char *path);

#endif
