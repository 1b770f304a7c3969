/*
 * base64.c — base64 encoding and decoding (base64.h).
 *
 * Trust: any octets, to encode or to decode (decoding takes a peer's AUTH
 * lines); the output size is computed with checked arithmetic, and
 * anything but the canonical padded form is refused.
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

/* The value of a base64 character, or -1. */
static int
value_of(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
base64_decode(const char *s, size_t len, struct buf *out)
{
	size_t start = out->len, pad = 0;
	unsigned acc = 0;
	int bits = 0, v;

	if (len % 4 != 0 || buf_reserve(out, len / 4 * 3) == -1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '=') {
			/* only as the last one or two characters */
			if (len - i > 2 || (len - i == 2 && s[i + 1] != '='))
				goto bad;
			pad++;
			continue;
		}
		if (pad > 0 || (v = value_of((unsigned char)s[i])) < 0)
			goto bad;
		acc = ((acc << 6) | (unsigned)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (buf_append_char(out, (char)((acc >> bits) & 0xff))
			    == -1)
				goto bad;
		}
	}
	return 0;
bad:
	buf_truncate(out, start);
	return -1;
}
