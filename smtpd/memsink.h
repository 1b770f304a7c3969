/*
 * memsink.h — an in-memory sink and a memory-file session runner for
 * tests and fuzzing (memsink.c).
 */
#ifndef POSTHORN_SMTPD_MEMSINK_H
#define POSTHORN_SMTPD_MEMSINK_H

#include "common/cidr.h"
#include "smtpd/smtpd.h"

#define MEMSINK_MAX	(1024 * 1024)

struct memsink {
	int fail_open, fail_write, fail_finish;
	int fail_envelope;	/* the envelope cannot be sent */
	int fail_qid;		/* the queue goes away before naming an id */
	int refuse;		/* the queue refuses the envelope: no id,
				   452 4.5.3 after the data */
	unsigned open, finished, aborted, flushed;
	struct buf trace;	/* the message calls in order: "open env
				   qid write finish" (abort likewise) */
	struct buf cur, cur_env;	/* message being received */
	struct buf last, last_env;	/* last one accepted */
};

void memsink_init(struct memsink *m, struct smtpd_sink *k);
void memsink_free(struct memsink *m);

/* session_memory mode bit: pretend the session is already inside TLS
 * (no real TLS; lets tests and the fuzzer reach AUTH). */
#define MEMSINK_FAKE_TLS	0x100

/* Run one whole session with input in[0..inlen) and the replies into
 * out.  peer_ip NULL: unknown peer.  0 ok, -1 setup failure. */
int session_memory(const struct config *cfg, const struct local_tables *t,
    const struct smtpd_sink *k, unsigned mode, const char *peer_ip,
    const void *in, size_t inlen, struct buf *out);

#endif
