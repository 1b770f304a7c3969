/*
 * testutil.h — small helpers shared by the unit tests (every .c file in
 * tests/unit that is not a test_ suite is linked into every suite, so keep
 * this tiny).
 */
#ifndef POSTHORN_TESTUTIL_H
#define POSTHORN_TESTUTIL_H

#include <sys/types.h>

/* Remove a directory tree the test made (no shell, symlinks not followed).
 * 0 ok, -1 on the first error. */
int rm_rf(const char *path);

/* A fake posthorn-queue for one submission on the unix socket sock (a
 * child process, answering 250 after the end frame), which writes the M
 * octets it got to out and the envelope frame's payload (envelope_decode
 * reads it) to out.env.  Returns the child's pid. */
pid_t test_fake_queue(const char *sock, const char *out);
/* The same for n submissions, one connection each, answered with the
 * reply codes codes[0..n) ("250", "552", ...); with n > 1 submission k
 * (from 1) is written to out.k and out.k.env. */
pid_t test_fake_queue_replies(const char *sock, const char *out,
    const char *const *codes, int n);
/* A listening unix stream socket at path (the test fails if not). */
int test_listen_unix(const char *path);

#endif
