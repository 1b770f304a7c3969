/*
 * fuzz_bounce_scan.c — the original-message scanner (bounce/scan.c) on
 * arbitrary octets.  The first octet chooses a chunk size; the rest is fed
 * once whole and once in those chunks, and both results must agree.
 * Checks the scanner's invariants: offsets inside the input, the header
 * section ending where the flags say, a Message-ID that is a well-formed,
 * bounded, printable msg-id.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bounce/scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct msgscan *s, const char *p, size_t n)
{
	size_t i, len = strlen(s->msgid);

	if (!s->hdr_done || s->hdr_len > n || s->body_off > n ||
	    s->body_off < s->hdr_len || s->body_off - s->hdr_len > 1)
		abort();
	if (s->has_blank != (s->body_off == s->hdr_len + 1))
		abort();
	if (s->has_blank && p[s->hdr_len] != '\n')
		abort();
	if (s->hdr_len > 0 && s->hdr_len < n && p[s->hdr_len - 1] != '\n')
		abort();
	if (len > SCAN_MSGID_MAX)
		abort();
	if (len > 0 && (s->msgid[0] != '<' || s->msgid[len - 1] != '>' ||
	    strchr(s->msgid, '@') == NULL))
		abort();
	for (i = 0; i < len; i++)
		if (s->msgid[i] < 33 || s->msgid[i] > 126)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msgscan whole, parts;
	const char *p;
	size_t n, chunk, off;

	if (size < 1)
		return 0;
	chunk = (size_t)data[0] % 17 + 1;
	p = (const char *)data + 1;
	n = size - 1;
	msgscan_init(&whole);
	msgscan_feed(&whole, p, n);
	msgscan_end(&whole);
	check(&whole, p, n);
	msgscan_init(&parts);
	for (off = 0; off < n; off += chunk)
		msgscan_feed(&parts, p + off, n - off < chunk ? n - off : chunk);
	msgscan_end(&parts);
	if (parts.hdr_len != whole.hdr_len ||
	    parts.body_off != whole.body_off ||
	    strcmp(parts.msgid, whole.msgid) != 0 ||
	    parts.hdr_8bit != whole.hdr_8bit ||
	    parts.body_8bit != whole.body_8bit ||
	    parts.hdr_nul != whole.hdr_nul || parts.body_nul != whole.body_nul ||
	    parts.hdr_long != whole.hdr_long ||
	    parts.body_long != whole.body_long)
		abort();
	return 0;
}
