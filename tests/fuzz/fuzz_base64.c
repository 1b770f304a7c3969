/*
 * fuzz_base64.c — common/base64.c on arbitrary octets: base64_decode() of
 * the input as a peer's AUTH line (anything it accepts must encode back to
 * the same length, and decode again to the same octets; on refusal the
 * buffer keeps its length), and the input encoded then decoded (must give
 * back exactly the input).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf dec = BUF_INIT, enc = BUF_INIT, again = BUF_INIT;
	char *p;

	if (size > 65536)
		return 0;
	/* an exact-size copy, so that reading past the end is caught */
	if ((p = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(p, data, size);

	buf_append_str(&dec, "x");
	if (base64_decode(p, size, &dec) == 0) {
		if (size % 4 != 0 || dec.len - 1 > size / 4 * 3 ||
		    base64_encode(dec.data + 1, dec.len - 1, &enc) != 0 ||
		    enc.len != size ||
		    base64_decode(enc.data, enc.len, &again) != 0 ||
		    again.len != dec.len - 1 ||
		    memcmp(again.data, dec.data + 1, again.len) != 0)
			abort();
	} else if (dec.len != 1 || dec.data[0] != 'x')
		abort();

	buf_reset(&enc);
	buf_reset(&again);
	if (base64_encode(p, size, &enc) != 0 ||
	    enc.len != (size + 2) / 3 * 4 ||
	    base64_decode(enc.data, enc.len, &again) != 0 ||
	    again.len != size || (size > 0 && memcmp(again.data, p, size) != 0))
		abort();

	buf_free(&dec);
	buf_free(&enc);
	buf_free(&again);
	free(p);
	return 0;
}
