/*
 * fuzz_remote_reply.c — the SMTP reply parser (remote/reply.c) on
 * arbitrary peer output: the input is split into lines at LF (a CR before
 * it removed, as the line reader does) and fed until the reply completes
 * or is refused; then the next reply starts.  Checks the parser's own
 * invariants: bounded, printable text, consistent codes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remote/reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct reply *r)
{
	size_t i;

	if (r->textlen > REPLY_TEXT_MAX || strlen(r->text) != r->textlen)
		abort();
	for (i = 0; i < r->textlen; i++)
		if (r->text[i] < 0x20 || r->text[i] > 0x7e)
			abort();
	if (r->done && (r->code < 200 || r->code > 599))
		abort();
	if (r->done && r->code / 100 != 3 &&
	    reply_dsn(r)[0] != '0' + r->code / 100)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *nl, *why;
	size_t len, left = size;
	struct reply r;
	int rc;

	reply_init(&r);
	while (left > 0) {
		nl = memchr(p, '\n', left);
		len = nl != NULL ? (size_t)(nl - p) : left;
		/* an exact-size copy so ASan sees any over-read */
		char *line = malloc(len ? len : 1);
		if (line == NULL)
			return 0;
		memcpy(line, p, len);
		rc = reply_feed(&r, line, len > 0 && line[len - 1] == '\r' ?
		    len - 1 : len, &why);
		free(line);
		check(&r);
		if (rc != REPLY_MORE)
			reply_init(&r);
		if (nl == NULL)
			break;
		left -= len + 1;
		p = nl + 1;
	}
	return 0;
}
