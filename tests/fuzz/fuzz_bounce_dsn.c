/*
 * fuzz_bounce_dsn.c — the whole notification builder (bounce/dsn.c) on an
 * arbitrary original message and diagnostic.  Input: one octet of flags
 * (kind, RET, SMTPUTF8, a small size limit), the diagnostic up to the first
 * NUL, then the message.  Checks what every notification must satisfy: no
 * line over 998 octets, no CR, exactly three body parts and a closing
 * delimiter, no NUL outside the returned original, nothing of the
 * diagnostic that could start a header line, and nothing of what the
 * message file holds after the envelope's size (a trailer is appended).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bounce/dsn.h"

#define TRAILER "TRAILER-MUST-NOT-APPEAR\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
sink(void *ctx, const void *p, size_t n)
{
	return buf_append(ctx, p, n);
}

static size_t
count(const char *p, size_t n, const char *needle)
{
	size_t k = 0, nl = strlen(needle);
	const char *q = p;

	while ((q = memmem(q, n - (size_t)(q - p), needle, nl)) != NULL) {
		k++;
		q += nl;
	}
	return k;
}

static void
check(const struct buf *b, const struct dsn_plan *plan)
{
	size_t i, col = 0, start;
	const char *orig;

	if (b->len == 0 || b->data[b->len - 1] != '\n')
		abort();
	for (i = 0; i < b->len; i++) {
		if (b->data[i] == '\n') {
			col = 0;
			continue;
		}
		if (++col > 998)
			abort();
	}
	if (count(b->data, b->len, "\n--FUZZBOUNDARY\n") != 3 ||
	    count(b->data, b->len, "\n--FUZZBOUNDARY--\n") != 1)
		abort();
	/* before the third part nothing comes from the message: no CR, NUL
	 * or other control octet */
	orig = b->data;
	for (i = 0; i < 3; i++) {
		orig = memmem(orig, b->len - (size_t)(orig - b->data),
		    "\n--FUZZBOUNDARY\n", 16);
		if (orig == NULL)
			abort();
		orig += 16;
	}
	start = (size_t)(orig - b->data);
	/* the returned original is the message, never the file's trailer */
	if (memmem(orig, b->len - start, "TRAILER-MUST", 12) != NULL)
		abort();
	for (i = 0; i < start; i++) {
		unsigned char c = (unsigned char)b->data[i];

		if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
			abort();
		if ((c & 0x80) && !plan->human_8bit && !plan->status_8bit)
			abort();
	}
	if (plan->orig == DSN_ORIG_HEADERS && memchr(b->data, 0, b->len))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope e;
	struct rcpt r;
	struct dsn_input in;
	struct dsn_plan plan;
	struct buf out = BUF_INIT;
	const char *p, *nul, *why;
	char diag[2048];
	size_t n, dl;
	int fd;

	if (size < 1)
		return 0;
	p = (const char *)data + 1;
	n = size - 1;
	nul = memchr(p, '\0', n);
	dl = nul != NULL ? (size_t)(nul - p) : 0;
	if (dl >= sizeof(diag))
		dl = sizeof(diag) - 1;
	memcpy(diag, p, dl);
	diag[dl] = '\0';
	if (nul != NULL) {
		n -= (size_t)(nul - p) + 1;
		p = nul + 1;
	}
	if (memmem(p, n, "FUZZBOUNDARY", 12) != NULL ||
	    memmem(p, n, "TRAILER-MUST", 12) != NULL)
		return 0;	/* the real boundary is random */
	fd = memfd_create("original", MFD_CLOEXEC);
	if (fd == -1 || write(fd, p, n) != (ssize_t)n ||
	    write(fd, TRAILER, sizeof(TRAILER) - 1) !=
	    (ssize_t)sizeof(TRAILER) - 1) {
		if (fd != -1)
			close(fd);
		return 0;
	}
	memset(&e, 0, sizeof(e));
	memset(&r, 0, sizeof(r));
	r.addr = (char *)(data[0] & 0x20 ? "\xc3\xa9t\xc3\xa9@example.org" :
	    "bob@example.org");
	r.orcpt = diag;
	r.diag = diag;
	r.remote_mta = diag;
	r.last_attempt = 1700000000;
	memcpy(r.dsn, "5.1.1", 6);
	e.sender = (char *)"alice@example.org";
	e.rcpts = &r;
	e.nrcpts = 1;
	e.ret = data[0] & 0x04 ? RET_HDRS : RET_DEFAULT;
	e.smtputf8 = (data[0] & 0x08) != 0;
	e.envid = diag;
	e.qid = diag;
	e.arrival = 1699990000;
	if (dsn_input_init(&in, (enum dsn_kind)(data[0] % 3), &e, fd, n,
	    "mx.test", e.sender) == 0) {
		memcpy(in.boundary, "FUZZBOUNDARY", 13);
		in.max_original = data[0] & 0x10 ? 64 : 100 * 1024;
		if (dsn_plan(&in, &plan, &why) == 0) {
			if (dsn_write(&in, &plan, sink, &out, &why) == -1)
				abort();
			check(&out, &plan);
		}
	}
	buf_free(&out);
	close(fd);
	return 0;
}
