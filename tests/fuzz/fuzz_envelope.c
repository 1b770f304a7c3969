/*
 * fuzz_envelope.c — envelope_decode() (common/envelope.c) on arbitrary
 * octets, the hostile input the queue reads from clients and from the
 * spool.  Oracles: a rejection has a reason; an accepted envelope encodes,
 * the encoding decodes again, and encoding that gives the same octets.
 * xtext_decode/encode and notify_parse are exercised on the same input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
helpers(const char *p, size_t n)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	unsigned bits;
	char s[64], out[64];

	if (xtext_decode(p, n, &a) == 0) {
		if (xtext_encode(a.data, a.len, &b) == -1)
			abort();
		buf_reset(&a);
		if (xtext_decode(b.data, b.len, &a) == -1)
			abort();
	}
	if (n < sizeof(s)) {
		memcpy(s, p, n);
		s[n] = '\0';
		if (notify_parse(s, &bits) == 0 &&
		    notify_format(bits, out, sizeof(out)) < 0)
			abort();
	}
	buf_free(&a);
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope e, d;
	struct buf one = BUF_INIT, two = BUF_INIT;
	const char *why;
	char *p;

	if (size > 262144)
		return 0;
	if ((p = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(p, data, size);
	envelope_init(&e);
	why = NULL;
	if (envelope_decode(p, size, &e, &why) == 0) {
		if (envelope_encode(&e, &one) == -1)
			abort();
		envelope_init(&d);
		why = NULL;
		if (envelope_decode(one.data, one.len, &d, &why) == -1)
			abort();
		if (envelope_encode(&d, &two) == -1 || one.len != two.len ||
		    memcmp(one.data, two.data, one.len) != 0)
			abort();
		envelope_free(&d);
	} else if (why == NULL)
		abort();
	envelope_free(&e);
	helpers(p, size);
	buf_free(&one);
	buf_free(&two);
	free(p);
	return 0;
}
