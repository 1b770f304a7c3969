/*
 * log.h — one line per event, key=value fields, on stderr; when
 * JOURNAL_STREAM is set (started by systemd with journal output) the same
 * fields go to the journal as structured fields (KEY=value, upper-cased,
 * plus MESSAGE= with the whole line and PRIORITY=).
 *
 * Values are sanitised: control characters and non-ASCII octets become
 * \xNN, values with spaces, quotes, '=' or nothing are double-quoted.  A
 * peer can never forge a second log line or a field.  Addresses are given
 * with their angle brackets by the caller (to=<user@example.org>).
 *
 *   log_msg(LOG_INFO, "sent", "qid", qid, "to", "<a@b>", NULL);
 *   => posthorn-send[42]: event=sent qid=... to=<a@b>
 */
#ifndef POSTHORN_LOG_H
#define POSTHORN_LOG_H

#include <stddef.h>
#include <syslog.h>	/* LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG */

#include "common/buf.h"

void log_init(const char *progname);
/* Set by -v; LOG_DEBUG lines are dropped unless verbose. */
void log_set_verbose(int on);
/* key, value pairs (const char *), terminated by NULL.  A NULL value
 * cannot be given; pass "" instead. */
void log_msg(int prio, const char *event, ...) __attribute__((sentinel));

/* Builder for lines with computed values. */
struct logline {
	int prio;
	struct buf text;	/* the stderr line being built */
	struct buf fields;	/* NUL-separated KEY=value journal fields */
	size_t nfields;
};
void log_begin(struct logline *l, int prio, const char *event);
void log_add(struct logline *l, const char *key, const char *value);
/* value as bytes (may contain anything; sanitised) */
void log_addn(struct logline *l, const char *key, const char *value, size_t n);
void log_addf(struct logline *l, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_end(struct logline *l);	/* emits and frees */

/* Sanitise arbitrary bytes into printable ASCII (for logs, replies,
 * diagnostics): control and non-ASCII octets become '?' , at most max
 * output octets.  Appends to out. */
int sanitize_text(struct buf *out, const char *p, size_t n, size_t max);

/* The journal sender (journal_sendv, common/journal.h); tests replace
 * it to see the structured fields. */
struct iovec;
extern int (*log_journal_send)(const struct iovec *iov, int n);

/* Fatal startup error: logs event=fatal with the reason and exits with
 * code. */
void die(int code, const char *reason, const char *detail)
	__attribute__((noreturn));

#endif
