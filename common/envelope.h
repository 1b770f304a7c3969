/*
 * envelope.h — the envelope of one message: what SMTP's MAIL/RCPT (or
 * sendmail's arguments) said about it, what the queue knows about each
 * recipient, and its encoding as frames (frame.h).  The same encoding is
 * used by the injection protocol, the spool's envelope files and the jobs
 * the scheduler gives to delivery agents (queue/PROTOCOL.md lists the
 * tags).  envelope_decode() treats its input as hostile: every address is
 * re-validated with addr.h, every number range-checked, unknown tags
 * rejected.
 */
#ifndef POSTHORN_ENVELOPE_H
#define POSTHORN_ENVELOPE_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <time.h>

#include "common/buf.h"

/* DSN NOTIFY (RFC 3461) bits; 0 = not given (default behaviour). */
#define NOTIFY_NEVER	0x01
#define NOTIFY_SUCCESS	0x02
#define NOTIFY_FAILURE	0x04
#define NOTIFY_DELAY	0x08

/* Longest ENVID (RFC 3461 4.4), as decoded. */
#define ENVID_MAX	100

enum dsn_ret { RET_DEFAULT = 0, RET_FULL, RET_HDRS };
enum body_type { BODY_7BIT = 0, BODY_8BITMIME, BODY_BINARYMIME };

/* Per-recipient delivery state as the queue records it. */
enum rcpt_state {
	RCPT_PENDING = 0,	/* not yet delivered */
	RCPT_DELIVERED,		/* done */
	RCPT_FAILED,		/* permanent failure, bounce owed/sent */
	RCPT_DEFERRED		/* temporary failure, will retry */
};

struct rcpt {
	char *addr;		/* "local@domain" (validated) */
	unsigned notify;	/* NOTIFY_* bits */
	char *orcpt;		/* ORCPT as given ("rfc822;a@b"), or NULL */
	bool own_mailbox;	/* sendmail's "\user" in an alias: the local
				   user's own mailbox, no alias, no .forward
				   (set only by the queue's trusted peers) */
	/* status, filled in by the queue for agents and bounces */
	enum rcpt_state state;
	char dsn[16];		/* "4.2.2"; "" when none yet */
	char *diag;		/* last diagnostic text, sanitised; or NULL */
	char *remote_mta;	/* "mx.example.org[192.0.2.1]" or NULL */
	int64_t last_attempt;	/* time(), 0 = never */
	uint32_t attempts;
};

struct envelope {
	char *sender;		/* "" = null sender <> */
	struct rcpt *rcpts;
	size_t nrcpts, rcap;
	uint64_t size;		/* SIZE= declared or actual octets; 0 unknown */
	enum body_type body;
	bool smtputf8;
	enum dsn_ret ret;
	char *envid;		/* ENVID (xtext-decoded), or NULL */
	/* auth, client_addr, client_helo, protocol: the queue keeps them
	 * only from its trusted submitters and gives anyone else's
	 * message the local label (queue/inject.c identity_relabel()) */
	char *auth;		/* authenticated identity, or NULL */
	char *client_addr;	/* "192.0.2.1" / "local" for sendmail */
	char *client_helo;	/* HELO/EHLO argument, or NULL */
	char *protocol;		/* "ESMTP", "ESMTPSA", "local", ... */
	int64_t uid;		/* submitting uid (SO_PEERCRED), -1 unknown */
	int64_t arrival;	/* time() when queued; 0 unknown */
	char *qid;		/* set by the queue; NULL before */
	uint32_t seen;		/* envelope_decode*(): tags already seen
				   (private to envelope.c) */
};

void envelope_init(struct envelope *e);
void envelope_free(struct envelope *e);
int envelope_set_sender(struct envelope *e, const char *addr);
/* Append a recipient (copied); returns its index or -1. */
long envelope_add_rcpt(struct envelope *e, const char *addr,
    unsigned notify, const char *orcpt);
/* Set a malloc'd string field, replacing the old value (NULL clears). */
int envelope_set_str(char **field, const char *value);

/* Encode all fields as frames onto out (appending; out unchanged on
 * failure).  The queue's notes are made decodable: diag and remote_mta
 * get control octets replaced by '?' and are cut at 1024 / 512 octets, a
 * malformed dsn is left out; an out-of-range enum is an error (EINVAL). */
int envelope_encode(const struct envelope *e, struct buf *out);
/* The number of recipient (R) frames in an encoded envelope, counted
 * without decoding anything, stopping at the first malformed frame or
 * once past max: so that a huge list is refused before it is decoded
 * (each decoded recipient takes far more memory than its frame). */
size_t envelope_count_rcpts(const char *p, size_t len, size_t max);
/* Decode frames from p[0..len) (exactly the envelope's frames; no other
 * data) into e, which must be as envelope_init() left it; on error the
 * caller still envelope_free()s it.  0 ok, -1 with *why.  The tags are
 * listed in envelope.c's top comment. */
int envelope_decode(const char *p, size_t len, struct envelope *e,
    const char **why);
/* Decode one frame into e (used when the frames come from a stream).
 * 0 consumed, 1 not an envelope tag (caller handles it), -1 bad (*why). */
int envelope_decode_frame(struct envelope *e, char tag, const char *payload,
    size_t plen, const char **why);

/* Parsing of the SMTP parameters shared by smtpd and sendmail. */
int notify_parse(const char *s, unsigned *bits);	/* "SUCCESS,DELAY" */
int notify_format(unsigned bits, char *out, size_t outsz);
/* xtext (RFC 3461 §4): both append to out.  Decoding accepts only "+XX"
 * with two hex digits (upper case as the RFC says, lower case tolerated;
 * not +00) and xchars 33..126 other than '+' and '='; -1 if malformed
 * (out unchanged).  Encoding writes upper-case hex.  notify_format() writes
 * "NEVER" or e.g. "SUCCESS,DELAY" and returns its length, -1 for 0 or an
 * invalid combination or when it does not fit. */
int xtext_decode(const char *s, size_t len, struct buf *out);
int xtext_encode(const char *s, size_t len, struct buf *out);

#endif
