/*
 * fuzz_queue_record.c — libFuzzer target for the spool's envelope record
 * parser (queue/spool.c spool_rec_decode): any input either fails with a
 * reason or decodes into a record that re-encodes and decodes to the same
 * bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue/spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spool_rec r, r2;
	struct buf b = BUF_INIT, b2 = BUF_INIT;
	const char *why = NULL;

	spool_rec_init(&r);
	if (spool_rec_decode((const char *)data, size, &r, &why) == -1) {
		if (why == NULL)
			abort();
		spool_rec_free(&r);
		return 0;
	}
	if (spool_rec_encode(&r, &b) == -1)
		abort();
	spool_rec_init(&r2);
	if (spool_rec_decode(b.data, b.len, &r2, &why) == -1)
		abort();
	if (spool_rec_encode(&r2, &b2) == -1 || b.len != b2.len ||
	    memcmp(b.data, b2.data, b.len) != 0)
		abort();
	spool_rec_free(&r);
	spool_rec_free(&r2);
	buf_free(&b);
	buf_free(&b2);
	return 0;
}
