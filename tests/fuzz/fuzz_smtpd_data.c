/*
 * fuzz_smtpd_data.c — properties of the DATA/BDAT content scanner
 * (smtpd/data.c) on arbitrary octets:
 *
 *   - chunking never matters: one call and octet-sized pieces (and a
 *     chunking picked by the input) give the same message, flags, end and
 *     consumed count;
 *   - the produced message never holds a CR (LF line ends only);
 *   - DATA ends only at CRLF "." CRLF where the line before also ended in
 *     CRLF (or at the very start), so no bare-LF/CR variant ends it;
 *   - BDAT (no dot handling) consumes everything and never ends.
 *
 * The first input octet picks the mode (bit 0 BDAT, bit 1 normalize)
 * and a chunk size; the rest is the content.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd/smtpd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
collect(void *arg, const void *p, size_t n)
{
	return buf_append(arg, p, n);
}

struct result {
	struct buf out;
	unsigned flags;
	bool done;
	size_t used;
};

static void
run(const char *in, size_t len, size_t step, bool bdat, bool norm,
    struct result *r)
{
	struct data_scan *d = malloc(sizeof(*d));
	size_t used = 0;

	if (d == NULL)
		abort();
	buf_init(&r->out);
	data_scan_init(d, !bdat, norm, 0, collect, &r->out);
	while (used < len && !d->done) {
		size_t n = len - used < step ? len - used : step;
		used += data_scan_feed(d, in + used, n);
	}
	if (bdat)
		data_scan_end(d);
	else
		data_scan_flush(d);
	r->flags = d->flags;
	r->done = d->done;
	r->used = used;
	free(d);
}

static void
same(const struct result *a, const struct result *b)
{
	if (a->flags != b->flags || a->done != b->done || a->used != b->used ||
	    a->out.len != b->out.len ||
	    (a->out.len > 0 && memcmp(a->out.data, b->out.data,
	    a->out.len) != 0))
		abort();
}

/* Where may DATA end?  At the first CRLF.CRLF whose "." line starts the
 * input or follows a CRLF-terminated line. */
static size_t
expected_end(const char *p, size_t n)
{
	if (n >= 3 && memcmp(p, ".\r\n", 3) == 0)
		return 3;
	for (size_t i = 0; i + 5 <= n; i++)
		if (memcmp(p + i, "\r\n.\r\n", 5) == 0)
			return i + 5;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct result whole, bytes, chunked;
	const char *in = (const char *)data + 1;
	size_t len, end;
	bool bdat, norm;

	if (size < 1)
		return 0;
	bdat = data[0] & 1;
	norm = (data[0] & 2) != 0;
	len = size - 1;
	run(in, len, len > 0 ? len : 1, bdat, norm, &whole);
	run(in, len, 1, bdat, norm, &bytes);
	run(in, len, (size_t)(data[0] >> 2) + 1, bdat, norm, &chunked);
	same(&whole, &bytes);
	same(&whole, &chunked);
	if (whole.out.len > 0 && memchr(whole.out.data, '\r',
	    whole.out.len) != NULL)
		abort();
	if (bdat && (whole.done || whole.used != len))
		abort();
	if (!bdat) {
		/* the first CRLF.CRLF is the end, and nothing earlier */
		end = expected_end(in, len);
		if (whole.done != (end != 0) || (end != 0 && whole.used != end))
			abort();
	}
	buf_free(&whole.out);
	buf_free(&bytes.out);
	buf_free(&chunked.out);
	return 0;
}
