/*
 * dsn.h — building one delivery status notification (RFC 3464 inside an
 * RFC 6522 multipart/report; RFC 6533 types for internationalised mail)
 * for posthorn-bounce.
 *
 * dsn_plan() reads the original message once (only its header section when
 * the body cannot be returned anyway) and decides what the notification
 * will contain and how its envelope must be marked (8BITMIME, SMTPUTF8);
 * dsn_write() then produces the notification through a sink, streaming
 * the original from its descriptor.  Everything taken from the envelope
 * and the message is treated as hostile: diagnostics are sanitised to
 * printable ASCII, no output line is longer than 998 octets, header
 * values are folded.
 */
#ifndef POSTHORN_BOUNCE_DSN_H
#define POSTHORN_BOUNCE_DSN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bounce/scan.h"
#include "common/buf.h"
#include "common/envelope.h"

enum dsn_kind { DSN_FAILED, DSN_DELAYED, DSN_SUCCESS };

enum dsn_orig {
	DSN_ORIG_FULL,		/* message/rfc822 or message/global */
	DSN_ORIG_HEADERS	/* text/rfc822-headers, message/global-headers */
};

#define DSN_BOUNDARY_MAX 70	/* RFC 2046 5.1.1 */
#define DSN_MSGID_MAX	 300

struct dsn_input {
	enum dsn_kind kind;
	const struct envelope *env;	/* the original envelope */
	const bool *cover;	/* env->rcpts[i] is reported iff cover[i];
				   NULL: all of them */
	int msgfd;		/* the original message (LF), seekable */
	uint64_t msgsize;	/* ... its first msgsize octets (env.size);
				   what follows in the file is never read */
	const char *hostname;	/* ours: From, Reporting-MTA, Message-ID */
	const char *to;		/* who gets the notice: the sender, or
				   postmaster@hostname for a double bounce */
	bool double_bounce;	/* the original was itself a notification */
	int64_t now;		/* time of the notice */
	uint64_t queue_lifetime;	/* seconds: Will-Retry-Until */
	uint64_t max_original;	/* larger originals: headers only */
	char boundary[DSN_BOUNDARY_MAX + 1];	/* dsn_input_init() makes */
	char msgid[DSN_MSGID_MAX + 1];		/* random ones */
};

struct dsn_plan {
	struct msgscan scan;	/* what the original looks like */
	uint64_t size;		/* octets of the original */
	enum dsn_orig orig;
	const char *why_headers;	/* plain words, or NULL */
	bool headers_cut;	/* header section longer than the limit */
	bool global;		/* RFC 6533 types */
	bool human_8bit;	/* the human part carries UTF-8 addresses */
	bool status_8bit;	/* so does the delivery-status part */
	bool orig_8bit;		/* the returned part carries 8-bit octets */
	bool eightbit;		/* the notification is 8BITMIME */
	bool smtputf8;		/* the notification needs SMTPUTF8 */
	size_t ncover;		/* recipients reported */
};

/* Fill the fixed parts of in (zeroed first): kind, env, msgfd, msgsize,
 * hostname, to, limits, now = time(), and a fresh random boundary and
 * Message-ID.  0 ok, -1 if no randomness was available. */
int dsn_input_init(struct dsn_input *in, enum dsn_kind kind,
    const struct envelope *env, int msgfd, uint64_t msgsize,
    const char *hostname, const char *to);

/* 0 ok; -1 with *why when the original cannot be read (worth retrying);
 * -2 with *why when no notice can ever be built from this input (no
 * recipient to report, an address unfit for a header). */
int dsn_plan(const struct dsn_input *in, struct dsn_plan *plan,
    const char **why);

/* The sink receives the notification in order, LF line ends; it returns
 * 0, or -1 to stop (then dsn_write returns -1 with *why). */
typedef int (*dsn_sink)(void *ctx, const void *p, size_t n);
int dsn_write(const struct dsn_input *in, const struct dsn_plan *plan,
    dsn_sink sink, void *ctx, const char **why);

/* Helpers, exposed for the unit tests. */
/* RFC 5322 date-time of t in local time: "Sun, 22 Nov 2026 17:38:21 +0000" */
int dsn_date(int64_t t, char *out, size_t outsz);
/* The Status value for a recipient: its dsn code when it is a valid
 * "c.s.d" (class forced to 5, 4 or 2 by kind), else "5.0.0" / "4.0.0" /
 * "2.0.0". */
void dsn_status(enum dsn_kind kind, const char *dsn, char out[16]);
/* Append "Name: value" folded at white space to lines of at most 78
 * octets where possible and never more than 998; value must not contain
 * line ends. */
int dsn_fold(struct buf *out, const char *name, const char *value);
/* Append text word-wrapped at width columns, each line prefixed by
 * indent; long words are broken. */
int dsn_wrap(struct buf *out, const char *indent, const char *text,
    size_t width);
/* Is this sender "nobody to notify": <> or MAILER-DAEMON@...? */
bool dsn_sender_is_null(const char *sender);

#endif
