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
#include "common/envelope.h"

struct inject_opts {
	const char *spool;
	uint64_t max_message_size;
	uint64_t max_recipients;
	int timeout_ms;		/* per frame read/write */
	int64_t peer_uid;	/* SO_PEERCRED, -1 unknown */
	int64_t alias_uid;	/* alias_user's uid, -1 unknown: may mark
				   recipients "own mailbox" */
	int64_t smtpd_uid;	/* the uid posthorn-smtpd sessions run as,
				   -1 unknown (qmain.c) */
	int64_t bounce_uid;	/* the uid posthorn-bounce injects as when
				   it is not ours (nobody), -1 none */
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

/*
 * The client-identity fields of an envelope (client address, HELO, AUTH
 * identity, protocol) are believed only from a trusted submitter: root,
 * the spool's owner (our euid), alias_user, posthorn-smtpd's uid and
 * posthorn-bounce's (o->*_uid).  From anyone else they are what a local
 * submission is, exactly as sendmail sets them: client "local", no
 * HELO, no AUTH, protocol "local" (queue/PROTOCOL.md 1a).
 */
#define CLIENT_FIELD_ADDR	0x01
#define CLIENT_FIELD_HELO	0x02
#define CLIENT_FIELD_AUTH	0x04
#define CLIENT_FIELD_PROTOCOL	0x08
bool identity_trusted(const struct inject_opts *o);
/* Put the local label into e unless o->peer_uid is trusted.  0 with
 * *replaced the CLIENT_FIELD_ bits of the values that were given and
 * differed from the label (0 when trusted or nothing differed), and
 * *local_session true when what was claimed is no more than a local SMTP
 * session (posthorn-smtpd --local: client "local", a HELO, an SMTP
 * protocol name without AUTH); -1 out of memory (e may be part done). */
int identity_relabel(const struct inject_opts *o, struct envelope *e,
    unsigned *replaced, bool *local_session);

#endif
