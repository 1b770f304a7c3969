/*
 * base64.c — base64 encoding (base64.h).
 *
 * Trust: any octets; the output size is computed with checked arithmetic.
 */
#include "common/base64.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int
base64_encode(const void *in, size_t n, struct buf *out)
{
	const unsigned char *p = in;
	size_t groups, len, start = out->len;
	char q[4];

	/* 4 characters per 3 octets or part of 3 */
	groups = n / 3 + (n % 3 != 0);
	if (size_mul(groups, 4, &len) == -1 || buf_reserve(out, len) == -1)
		return -1;
	for (size_t i = 0; i < n; i += 3) {
		size_t left = n - i;
		unsigned v = (unsigned)p[i] << 16;

		if (left > 1)
			v |= (unsigned)p[i + 1] << 8;
		if (left > 2)
			v |= p[i + 2];
		q[0] = alphabet[(v >> 18) & 63];
		q[1] = alphabet[(v >> 12) & 63];
		q[2] = left > 1 ? alphabet[(v >> 6) & 63] : '=';
		q[3] = left > 2 ? alphabet[v & 63] : '=';
		if (buf_append(out, q, 4) == -1) {
			buf_truncate(out, start);
			return -1;
		}
	}
	return 0;
}
