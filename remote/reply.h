/*
 * reply.h — SMTP/LMTP reply parsing for posthorn-remote (RFC 5321 4.2).
 *
 * A reply is one or more lines "NNN-text" ... "NNN text" (or a bare
 * "NNN" as the last line).  Lines are fed one at a time, without their
 * terminator, exactly as the peer sent them: the peer is hostile, so
 * every length is checked, every line must carry the same three-digit
 * code, NUL and other control octets are replaced before the text is
 * kept, and the kept text, the number of lines and each line's length
 * are bounded (CVE-2020-8794: a short last line must never make us read
 * before or after the line).  The kept text is printable ASCII and safe
 * for logs, the spool and bounces.
 */
#ifndef POSTHORN_REMOTE_REPLY_H
#define POSTHORN_REMOTE_REPLY_H

#include <stddef.h>

#define REPLY_LINE_MAX	2048	/* longest line we read (RFC: 512) */
#define REPLY_LINES_MAX	64	/* longest multi-line reply we accept */
#define REPLY_TEXT_MAX	480	/* octets of text kept */

struct reply {
	int code;		/* 200..599 once complete */
	char dsn[16];		/* enhanced status "X.Y.Z" from the first
				   line, or "" */
	char text[REPLY_TEXT_MAX + 1];	/* "250 2.0.0 ok more" sanitised */
	size_t textlen;
	size_t nlines;
	int done;
};

#define REPLY_MORE	0	/* need another line */
#define REPLY_DONE	1	/* the reply is complete */
#define REPLY_BAD	(-1)	/* malformed (*why); the reply is unusable */

void reply_init(struct reply *r);
/* Feed one line (terminator removed; may contain any octets). */
int reply_feed(struct reply *r, const char *line, size_t len,
    const char **why);
/* The enhanced status code to report: the peer's when its class matches
 * the reply code, else a generic one ("2.0.0", "4.0.0", "5.0.0"). */
const char *reply_dsn(const struct reply *r);
/* Parse "X.Y.Z" at the start of s[0..len) (class 2, 4 or 5, subject and
 * detail 1..3 digits) followed by a space or the end.  Returns its length,
 * or 0 when there is none. */
size_t reply_parse_dsn(const char *s, size_t len);

#endif
