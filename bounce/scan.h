/*
 * scan.h — a streaming scanner over an original message (RFC 5322, LF line
 * ends) for posthorn-bounce: where the header section ends, the first
 * usable Message-ID, and whether the header section and the body carry
 * 8-bit octets, NUL octets or lines longer than 998 octets (so cannot be
 * returned as a MIME part unchanged).
 *
 * The input is hostile: it is fed in chunks of any size, never held whole,
 * and every field the scanner keeps has a fixed bound.  A header line that
 * is not a field (no name, no colon) ends the header section, as in most
 * MIME parsers.
 */
#ifndef POSTHORN_BOUNCE_SCAN_H
#define POSTHORN_BOUNCE_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCAN_LINE_MAX	998	/* RFC 5322 2.1.1, without the line end */
#define SCAN_FIELD_MAX	1000	/* longest Message-ID field we look at */
#define SCAN_MSGID_MAX	250	/* longest msg-id we repeat, with <> */

enum scan_state {
	SCAN_LINE_START,	/* at the start of a header line */
	SCAN_NAME,		/* inside a field name */
	SCAN_NAME_WSP,		/* white space after it (RFC 5322 4.5) */
	SCAN_VALUE,		/* inside a field value */
	SCAN_BODY		/* past the header section */
};

struct msgscan {
	enum scan_state state;
	uint64_t off;		/* octets fed so far */
	uint64_t hdr_len;	/* octets of header fields (no blank line) */
	uint64_t body_off;	/* where the body starts */
	bool hdr_done;		/* header section ended */
	bool has_blank;		/* it ended with an empty line */
	uint64_t linelen;	/* octets of the current line so far */
	bool last_lf;		/* the last octet fed was LF (or none fed) */

	bool hdr_8bit, hdr_nul, hdr_long;
	bool body_8bit, body_nul, body_long;

	/* the current field, kept only up to SCAN_FIELD_MAX octets */
	char field[SCAN_FIELD_MAX + 1];
	size_t flen;
	bool foverflow;

	char msgid[SCAN_MSGID_MAX + 1];	/* "<id@host>" or "" */
};

void msgscan_init(struct msgscan *s);
void msgscan_feed(struct msgscan *s, const char *p, size_t n);
/* Call at the end of input: a header section that was never ended is
 * ended here. */
void msgscan_end(struct msgscan *s);

/* Extract a msg-id ("<left@right>", printable ASCII, no white space or
 * angle brackets inside, at most SCAN_MSGID_MAX octets) from a field value
 * p[0..n).  1 found (copied to out), 0 none. */
int msgid_extract(const char *p, size_t n, char out[SCAN_MSGID_MAX + 1]);

#endif
