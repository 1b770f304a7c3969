/*
 * sendmail_msg.h — message handling of the sendmail front end, kept apart
 * from sendmail.c so the unit tests can reach it: the input filter
 * (CRLF to LF, the lone "." that ends input without -i), the header
 * section (split into fields, Bcc removed, From/Date/Message-ID added when
 * missing) and RFC 5322 address lists (display names, comments, groups)
 * turned into validated envelope addresses.  Everything here treats its
 * input as hostile and bounds what it keeps.
 */
#ifndef POSTHORN_SENDMAIL_MSG_H
#define POSTHORN_SENDMAIL_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/config.h"

/* Largest header section kept in memory (the body is streamed). */
#define SM_HEADER_MAX	(1024 * 1024)
/* Most fields in a header section. */
#define SM_FIELDS_MAX	10000

/* ---- input filter ---------------------------------------------------- */

struct sm_filter {
	bool ignore_dots;	/* -i / -oi: a lone "." is data */
	bool bol;		/* at the beginning of a line */
	bool held_cr;		/* a '\r' is held back */
	bool held_dot;		/* a '.' at the start of a line is held */
	bool done;		/* the "." line was seen: input ends */
	bool last_lf;		/* last byte emitted was '\n' */
	bool any;		/* something was emitted */
};

void sm_filter_init(struct sm_filter *f, bool ignore_dots);
/* Filter p[0..n) onto out: CRLF becomes LF, bare CR is kept, and without
 * ignore_dots a line holding only "." ends the input.  Returns 1 once the
 * input has ended (the rest of p and later input are ignored), 0 to go on,
 * -1 when out cannot grow. */
int sm_filter_feed(struct sm_filter *f, const char *p, size_t n,
    struct buf *out);
/* End of input: emit what is held and make the output end in '\n'. */
int sm_filter_finish(struct sm_filter *f, struct buf *out);

/* ---- address lists --------------------------------------------------- */

/* Addresses without duplicates, in the order they were first added (the
 * first spelling is kept), with a hash index so that adding n addresses
 * takes about n steps, not n * n.  Duplicates: the same local part octet
 * for octet and the same domain but for the case of ASCII letters
 * (RFC 5321 2.4: a domain is case-insensitive, a local part need not be). */
struct sm_rcpts {
	struct strlist l;	/* the addresses; l.v has room for cap */
	size_t cap;
	size_t *slot;		/* open addressing: 0 free, else index + 1 */
	size_t nslots;		/* a power of two, at least 2 * l.n */
	uint64_t seed;
};

void sm_rcpts_init(struct sm_rcpts *r);
void sm_rcpts_free(struct sm_rcpts *r);
/* 1 added, 0 already there, -1 out of memory. */
int sm_rcpts_add(struct sm_rcpts *r, const char *addr);

/* Parse an RFC 5322 address-list (a header field body, folding allowed;
 * also what a sendmail argument may hold) and add each address, as
 * "local@domain" (bare local parts qualified with domain), to out unless
 * already there.  Groups contribute their members; an empty group none.
 * 0 ok, -1 with *why (the first bad address). */
int sm_addrlist_parse(const char *s, size_t len, const char *domain,
    struct sm_rcpts *out, const char **why);

/* ---- header section -------------------------------------------------- */

struct sm_field {
	size_t off, len;	/* the whole field in raw, final '\n' incl. */
	size_t namelen;		/* the name before ':' (trailing WSP cut) */
};

struct sm_headers {
	struct buf raw;		/* header section as read (LF line ends) */
	struct sm_field *f;
	size_t n, cap;
	size_t body_off;	/* where the body starts in the input */
	bool separator;		/* a blank line ended the section */
};

void sm_headers_init(struct sm_headers *h);
void sm_headers_free(struct sm_headers *h);
/* Look for the end of the header section in p[0..n) (LF line ends).
 * Returns 1 and fills h when the section is complete (h->body_off is the
 * offset of the body in p: after the blank line, or at the first line
 * that is not a header field: one with a byte other than printable ASCII
 * before its colon, decided as soon as that byte is there, or one longer
 * than SM_HEADER_MAX); 0 when more input is needed (and eof is false);
 * -1 when the section is larger than SM_HEADER_MAX or has too many
 * fields (*why), or memory ran out (errno ENOMEM).  With eof, whatever
 * is there is the section.  A leading mbox "From " line is dropped. */
int sm_headers_parse(struct sm_headers *h, const char *p, size_t n,
    bool eof, const char **why);
/* Is field i named name (ASCII case-insensitive)? */
bool sm_field_is(const struct sm_headers *h, size_t i, const char *name);
/* The body of field i (after the colon), still folded. */
void sm_field_value(const struct sm_headers *h, size_t i, const char **v,
    size_t *vlen);
/* Is there a field of that name? */
bool sm_has_field(const struct sm_headers *h, const char *name);

/* What the header section gets when fields are missing. */
struct sm_addfields {
	const char *from_addr;	/* "user@host" for a missing From */
	const char *full_name;	/* display name, or NULL */
	const char *hostname;	/* right side of a new Message-ID */
	long long now;		/* time() for Date */
	const char *unique;	/* left side of a new Message-ID */
};

/* Write the header section to out: every field except Bcc (which is
 * always removed), then From, Date and Message-ID if missing, then the
 * blank line. */
int sm_headers_write(const struct sm_headers *h, const struct sm_addfields *a,
    struct buf *out);
/* A display name as a phrase: atoms as they are, else a quoted string;
 * non-ASCII as an RFC 2047 encoded word; control characters dropped. */
int sm_phrase(const char *name, struct buf *out);
/* RFC 5322 date-time of t in local time. */
int sm_date(long long t, struct buf *out);

#endif
