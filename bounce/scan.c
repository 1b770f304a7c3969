/*
 * scan.c — the streaming scanner over an original message (see scan.h).
 *
 * Input: message octets in chunks of any size, hostile.  Output: offsets
 * and flags in struct msgscan.  One byte at a time through a small state
 * machine; nothing is allocated, every copy is bounded by a fixed array.
 */
#include <string.h>
#include <strings.h>

#include "bounce/scan.h"

void
msgscan_init(struct msgscan *s)
{
	memset(s, 0, sizeof(*s));
	s->state = SCAN_LINE_START;
	s->last_lf = true;
}

static bool
is_name_char(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

int
msgid_extract(const char *p, size_t n, char out[SCAN_MSGID_MAX + 1])
{
	const char *lt, *gt, *at = NULL;
	size_t len, i;

	out[0] = '\0';
	lt = memchr(p, '<', n);
	if (lt == NULL)
		return 0;
	gt = memchr(lt, '>', n - (size_t)(lt - p));
	if (gt == NULL)
		return 0;
	len = (size_t)(gt - lt) + 1;
	if (len > SCAN_MSGID_MAX || len < 5)	/* "<a@b>" at least */
		return 0;
	for (i = 1; i + 1 < len; i++) {
		unsigned char c = (unsigned char)lt[i];

		if (c < 33 || c > 126 || c == '<' || c == '>' || c == '"' ||
		    c == '\\')
			return 0;
		if (c == '@')
			at = lt + i;
	}
	if (at == NULL || at == lt + 1 || at == gt - 1)
		return 0;
	memcpy(out, lt, len);
	out[len] = '\0';
	return 1;
}

static void
field_add(struct msgscan *s, char c)
{
	if (s->flen < SCAN_FIELD_MAX)
		s->field[s->flen++] = c;
	else
		s->foverflow = true;
}

/* A complete (unfolded) field is in s->field: look for Message-ID. */
static void
field_finish(struct msgscan *s)
{
	static const char name[] = "message-id:";
	size_t nl = sizeof(name) - 1;

	if (s->flen > nl && !s->foverflow && s->msgid[0] == '\0' &&
	    strncasecmp(s->field, name, nl) == 0)
		msgid_extract(s->field + nl, s->flen - nl, s->msgid);
	s->flen = 0;
	s->foverflow = false;
}

/* The header section ends at offset at (the start of the line that is
 * not a field, or of the empty line). */
static void
header_end(struct msgscan *s, uint64_t at, bool blank)
{
	s->hdr_len = at;
	s->body_off = blank ? at + 1 : at;
	s->has_blank = blank;
	s->hdr_done = true;
	s->state = SCAN_BODY;
}

static void
note_octet(struct msgscan *s, unsigned char c)
{
	bool *b8 = s->hdr_done ? &s->body_8bit : &s->hdr_8bit;
	bool *nul = s->hdr_done ? &s->body_nul : &s->hdr_nul;
	bool *lng = s->hdr_done ? &s->body_long : &s->hdr_long;

	if (c == '\n') {
		s->linelen = 0;
		return;
	}
	if (c & 0x80)
		*b8 = true;
	if (c == 0)
		*nul = true;
	s->linelen++;
	if (s->linelen > SCAN_LINE_MAX)
		*lng = true;
}

static void
scan_header_octet(struct msgscan *s, unsigned char c)
{
	uint64_t line_start = s->off - s->linelen;

	switch (s->state) {
	case SCAN_LINE_START:
		if (c == '\n') {
			field_finish(s);
			header_end(s, s->off, true);
			return;
		}
		if ((c == ' ' || c == '\t') && s->off > 0) {
			field_add(s, (char)c);
			s->state = SCAN_VALUE;
			return;
		}
		if (is_name_char(c)) {
			field_finish(s);
			field_add(s, (char)c);
			s->state = SCAN_NAME;
			return;
		}
		field_finish(s);
		header_end(s, line_start, false);
		return;
	case SCAN_NAME:
	case SCAN_NAME_WSP:
		/* obs-optional: white space may come before the colon
		 * ("Subject : x"); it is not part of the name */
		if (c == ':') {
			field_add(s, (char)c);
			s->state = SCAN_VALUE;
		} else if (c == ' ' || c == '\t') {
			s->state = SCAN_NAME_WSP;
		} else if (is_name_char(c) && s->state == SCAN_NAME) {
			field_add(s, (char)c);
		} else {
			/* not a field after all: it starts the body */
			s->flen = 0;
			s->foverflow = false;
			header_end(s, line_start, false);
		}
		return;
	case SCAN_VALUE:
		if (c == '\n')
			s->state = SCAN_LINE_START;
		else
			field_add(s, (char)c);
		return;
	case SCAN_BODY:
		return;
	}
}

void
msgscan_feed(struct msgscan *s, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (!s->hdr_done)
			scan_header_octet(s, c);
		note_octet(s, c);
		s->last_lf = (c == '\n');
		s->off++;
	}
}

void
msgscan_end(struct msgscan *s)
{
	if (s->hdr_done)
		return;
	if (s->state == SCAN_NAME || s->state == SCAN_NAME_WSP) {
		s->flen = 0;
		header_end(s, s->off - s->linelen, false);
		return;
	}
	field_finish(s);
	header_end(s, s->off, false);
}
