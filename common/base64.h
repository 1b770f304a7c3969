/*
 * base64.h — base64 (RFC 4648 §4, with padding): encoding for RFC 2047
 * encoded words, decoding for SMTP AUTH (RFC 4954).  Written here rather than taken from OpenSSL so that
 * sendmail, which needs nothing else from it, does not load libcrypto:
 * that cost about 2.6 ms of every start on the bench machine
 * (bench/RESULTS.md, 2026-11-23).
 */
#ifndef POSTHORN_BASE64_H
#define POSTHORN_BASE64_H

#include <stddef.h>

#include "common/buf.h"

/* Append the encoding of in[0..n) to out.  0, or -1 (out unchanged in
 * length) on overflow or lack of memory. */
int base64_encode(const void *in, size_t n, struct buf *out);

/* Append the decoding of s[0..len) to out: padded to a multiple of four
 * characters, '=' only as the last one or two, nothing outside the
 * alphabet (no line breaks or spaces).  0, or -1 (out unchanged in
 * length) if s is malformed or memory runs out. */
int base64_decode(const char *s, size_t len, struct buf *out);

#endif
