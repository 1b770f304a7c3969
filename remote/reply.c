/*
 * reply.c — SMTP/LMTP reply parsing (see reply.h).
 *
 * Input: single reply lines exactly as a hostile peer sent them, of any
 * length and content.  Output: code, enhanced status and a sanitised,
 * bounded text.  Nothing here reads outside [line, line + len).
 */
#include <stdbool.h>
#include <string.h>

#include "remote/reply.h"

void
reply_init(struct reply *r)
{
	memset(r, 0, sizeof(*r));
}

static bool
isdig(char c)
{
	return c >= '0' && c <= '9';
}

/* Append n octets to the kept text, sanitised, silently truncating. */
static void
text_add(struct reply *r, const char *p, size_t n)
{
	size_t i;
	unsigned char c;

	for (i = 0; i < n && r->textlen < REPLY_TEXT_MAX; i++) {
		c = (unsigned char)p[i];
		if (c < 0x20 || c > 0x7e)
			c = '?';
		r->text[r->textlen++] = (char)c;
	}
	r->text[r->textlen] = '\0';
}

size_t
reply_parse_dsn(const char *s, size_t len)
{
	size_t i = 0, part, digits;

	if (len < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.')
		return 0;
	i = 2;
	for (part = 0; part < 2; part++) {
		digits = 0;
		while (i < len && isdig(s[i]) && digits < 4) {
			i++;
			digits++;
		}
		if (digits == 0 || digits > 3)
			return 0;
		if (part == 0) {
			if (i >= len || s[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < len && s[i] != ' ')
		return 0;
	return i;
}

static int
line_code(const char *line, size_t len)
{
	if (len < 3 || !isdig(line[0]) || !isdig(line[1]) ||
	    !isdig(line[2]))
		return -1;
	if (line[0] < '2' || line[0] > '5')
		return -1;
	return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

int
reply_feed(struct reply *r, const char *line, size_t len, const char **why)
{
	int code;
	bool last;
	size_t n;

	if (r->done) {
		*why = "reply already complete";
		return REPLY_BAD;
	}
	if (len > REPLY_LINE_MAX) {
		*why = "reply line too long";
		return REPLY_BAD;
	}
	if ((code = line_code(line, len)) < 0) {
		*why = "malformed reply code";
		return REPLY_BAD;
	}
	if (len > 3 && line[3] != ' ' && line[3] != '-') {
		*why = "malformed reply separator";
		return REPLY_BAD;
	}
	if (r->nlines > 0 && code != r->code) {
		*why = "reply code changed inside a multi-line reply";
		return REPLY_BAD;
	}
	if (r->nlines >= REPLY_LINES_MAX) {
		*why = "too many reply lines";
		return REPLY_BAD;
	}
	last = len == 3 || line[3] == ' ';
	if (r->nlines == 0) {
		r->code = code;
		text_add(r, line, 3);
		if (len > 4) {
			n = reply_parse_dsn(line + 4, len - 4);
			if (n > 0 && n < sizeof(r->dsn) &&
			    line[4] == line[0]) {
				memcpy(r->dsn, line + 4, n);
				r->dsn[n] = '\0';
			}
			text_add(r, " ", 1);
			text_add(r, line + 4, len - 4);
		}
	} else if (len > 4) {
		text_add(r, " ", 1);
		text_add(r, line + 4, len - 4);
	}
	r->nlines++;
	if (last) {
		r->done = 1;
		return REPLY_DONE;
	}
	return REPLY_MORE;
}

const char *
reply_dsn(const struct reply *r)
{
	if (r->dsn[0] != '\0')
		return r->dsn;
	if (r->code >= 500)
		return "5.0.0";
	if (r->code >= 400)
		return "4.0.0";
	return "2.0.0";
}
