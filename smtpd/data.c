/*
 * data.c — the message content scanner for DATA and BDAT.
 *
 * Takes raw octets from the peer and produces the message as the queue
 * stores it: LF line ends, dots unstuffed.  For DATA it finds the end of
 * the message, and only the sequence CRLF "." CRLF (the "." line preceded
 * by a line that itself ended in CRLF) ends it, so that no bare-LF or
 * bare-CR variant (\n.\n, \r.\r\n, \n.\r\n, \r\n.\r, \r\n.\n) can
 * smuggle a second message (CVE-2023-51764/51765/51766).  Bare CR or LF
 * is flagged (the session rejects the message with 550 5.5.2) or, when
 * normalising, taken as a line end.  It also counts Received headers
 * (loop guard), notes NUL octets and stops passing octets on once the
 * size limit is passed; memory use is the fixed output block.
 *
 * Input: hostile octets in any chunking.  The scanner keeps all of its
 * state in struct data_scan, so chunk boundaries never matter.
 */
#include <string.h>
#include <strings.h>

#include "smtpd/smtpd.h"

enum {
	S_BOL,		/* at the beginning of a line */
	S_TEXT,		/* inside a line */
	S_CR,		/* inside a line, after CR */
	S_DOT,		/* a "." at the beginning of a line */
	S_DOTCR		/* ".\r" at the beginning of a line */
};

void
data_scan_init(struct data_scan *d, bool dots, bool normalize,
    uint64_t max_size, int (*emit)(void *, const void *, size_t), void *arg)
{
	memset(d, 0, sizeof(*d));
	d->st = S_BOL;
	d->dots = dots;
	d->normalize = normalize;
	d->prev_crlf = true;	/* the DATA command line ended in CRLF */
	d->in_headers = true;
	d->max_size = max_size;
	d->emit = emit;
	d->arg = arg;
}

void
data_scan_flush(struct data_scan *d)
{
	if (d->outlen == 0)
		return;
	if ((d->flags & (DATA_TOOBIG | DATA_SINKERR | DATA_LONGLINE)) == 0 &&
	    d->emit(d->arg, d->out, d->outlen) != 0)
		d->flags |= DATA_SINKERR;
	d->outlen = 0;
}

/* Header-section bookkeeping on the produced (LF) text. */
static void
header_octet(struct data_scan *d, char c)
{
	if (!d->in_headers)
		return;
	if (c == '\n') {
		if (d->hpos == 0)
			d->in_headers = false;	/* empty line: body starts */
		else if (d->hpos >= 9 &&
		    strncasecmp(d->hpre, "Received:", 9) == 0) {
			if (++d->received >= DATA_MAX_RECEIVED)
				d->flags |= DATA_LOOP;
		}
		d->hpos = 0;
		return;
	}
	if (d->hpos < sizeof(d->hpre))
		d->hpre[d->hpos] = c;
	d->hpos++;
}

static void
put(struct data_scan *d, char c)
{
	if (c == '\0')
		d->flags |= DATA_NUL;
	header_octet(d, c);
	/* DATA's reader refuses long lines before they get here; BDAT
	 * chunks come unsplit, so the limit is kept here for both */
	if (c == '\n')
		d->linelen = 0;
	else if (++d->linelen > DATA_LINE_MAX - 2)
		d->flags |= DATA_LONGLINE;
	d->size++;
	if (d->max_size > 0 && d->size > d->max_size)
		d->flags |= DATA_TOOBIG;
	if (d->flags & (DATA_TOOBIG | DATA_SINKERR | DATA_LONGLINE))
		return;		/* keep scanning, pass nothing on */
	d->out[d->outlen++] = c;
	if (d->outlen == sizeof(d->out))
		data_scan_flush(d);
}

/* A line ended; how it ended decides what the next "." means. */
static void
line_end(struct data_scan *d, bool crlf)
{
	if (!crlf && !d->normalize)
		d->flags |= DATA_BARE;
	put(d, '\n');
	d->prev_crlf = crlf;
	d->st = S_BOL;
}

static void octet(struct data_scan *, char);

/* First octet of a line. */
static void
bol_octet(struct data_scan *d, char c)
{
	if (d->dots && c == '.') {
		d->st = S_DOT;
		return;
	}
	d->st = S_TEXT;
	octet(d, c);
}

/* An octet inside a line (state S_TEXT). */
static void
octet(struct data_scan *d, char c)
{
	if (c == '\r') {
		d->st = S_CR;
		return;
	}
	if (c == '\n') {
		line_end(d, false);	/* bare LF */
		return;
	}
	put(d, c);
}

static void
step(struct data_scan *d, char c)
{
	switch (d->st) {
	case S_BOL:
		bol_octet(d, c);
		break;
	case S_TEXT:
		octet(d, c);
		break;
	case S_CR:
		if (c == '\n') {
			line_end(d, true);
			break;
		}
		line_end(d, false);	/* bare CR */
		bol_octet(d, c);
		break;
	case S_DOT:
		if (c == '\r') {
			d->st = S_DOTCR;
			break;
		}
		if (c == '\n') {
			/* ".\n": a lone dot ended by a bare LF, not an end */
			put(d, '.');
			line_end(d, false);
			break;
		}
		/* a stuffed dot: drop it, c is the line's first octet */
		d->st = S_TEXT;
		if (c == '.')
			put(d, '.');
		else
			octet(d, c);
		break;
	case S_DOTCR:
		if (c == '\n') {
			if (d->prev_crlf) {
				d->done = true;
				break;
			}
			put(d, '.');
			line_end(d, true);
			break;
		}
		/* ".\r" then something else: a bare CR */
		put(d, '.');
		line_end(d, false);
		bol_octet(d, c);
		break;
	}
}

size_t
data_scan_feed(struct data_scan *d, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && !d->done; i++)
		step(d, p[i]);
	if (d->done)
		data_scan_flush(d);
	return i;
}

void
data_scan_end(struct data_scan *d)
{
	if (d->st == S_CR)
		line_end(d, false);	/* a bare CR at the very end */
	else if (d->st == S_TEXT || d->st == S_DOT)
		put(d, '\n');		/* unterminated last line */
	d->st = S_BOL;
	data_scan_flush(d);
}
