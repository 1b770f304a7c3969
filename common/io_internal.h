/*
 * io_internal.h — what common/io.c shares with common/io_tls.c: deadlines,
 * waiting for a descriptor, the SIGPIPE guard, and the table of TLS
 * functions a stream calls once stream_start_tls() switched it to TLS.
 * Not for use outside those two files.
 */
#ifndef POSTHORN_IO_INTERNAL_H
#define POSTHORN_IO_INTERNAL_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/io.h"

struct stream_tls_ops {
	ssize_t (*read)(struct stream *s, void *p, size_t n, int64_t deadline);
	int (*write)(struct stream *s, const void *p, size_t n,
	    int64_t deadline);
	size_t (*pending)(struct stream *s);
	void (*free)(struct stream *s);
};

struct pipe_guard {
	sigset_t old;
	int was_pending;
};

/* Absolute deadline (CLOCK_MONOTONIC ms) for a timeout; -1 means none. */
int64_t deadline_of(int timeout_ms);
/* Wait until fd has ev (POLLIN/POLLOUT).  0 ready, -1 (ETIMEDOUT, ...). */
int wait_fd(int fd, short ev, int64_t deadline);
/* Block SIGPIPE around a write; a SIGPIPE it raised becomes EPIPE. */
void guard_on(struct pipe_guard *g);
void guard_off(struct pipe_guard *g);

#endif
