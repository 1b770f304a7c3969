/*
 * queue.h — internals of posthorn-queue (the injector), shared with its
 * tests: serving one connection of the injection protocol
 * (queue/PROTOCOL.md §1) against a spool (queue/SPOOL.md).
 */
#ifndef POSTHORN_QUEUE_QUEUE_H
#define POSTHORN_QUEUE_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"

struct inject_opts {
	const char *spool;
	uint64_t max_message_size;
	uint64_t max_recipients;
	int timeout_ms;		/* per frame read/write */
	int64_t peer_uid;	/* SO_PEERCRED, -1 unknown */
	int64_t alias_uid;	/* alias_user's uid, -1 unknown: may mark
				   recipients "own mailbox" */
	bool spare_file;	/* long-lived worker: keep a spare queue file
				   (inject.c) */
};

/* Serve requests on rfd/wfd until EOF.  0 after a clean end, -1 after a
 * protocol or I/O error (the connection should be closed). */
int inject_serve(const struct inject_opts *o, int rfd, int wfd);
/* Unlink the spare queue files a worker keeps (at its exit). */
void inject_drop_spares(void);
/* Send one datagram to SPOOL/wake without blocking.  0 sent. */
int wake_send(const char *spool, const char *msg);
/* uid of the peer of a unix socket, -1 if unknown. */
int64_t peer_uid(int fd);

#endif
