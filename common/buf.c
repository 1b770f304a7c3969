/*
 * buf.c — growable byte buffers with checked size arithmetic (buf.h).
 *
 * Growth doubles the allocation (at least 64 octets) and every addition or
 * multiplication of sizes is checked with __builtin_*_overflow, so no
 * length taken from hostile input can wrap an allocation size.  On any
 * failure the buffer is left exactly as it was.  Trusts only its own
 * fields; callers' lengths are believed only after the checks.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

#define BUF_MIN_CAP 64

int
size_add(size_t a, size_t b, size_t *out)
{
	size_t r;

	if (__builtin_add_overflow(a, b, &r))
		return -1;
	*out = r;
	return 0;
}

int
size_mul(size_t a, size_t b, size_t *out)
{
	size_t r;

	if (__builtin_mul_overflow(a, b, &r))
		return -1;
	*out = r;
	return 0;
}

void
buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

int
buf_reserve(struct buf *b, size_t extra)
{
	size_t need, ncap;
	char *p;

	/* need = len + extra + 1 (the NUL) */
	if (size_add(b->len, extra, &need) == -1 ||
	    size_add(need, 1, &need) == -1 || need > SIZE_MAX / 2) {
		errno = EOVERFLOW;
		return -1;
	}
	if (need <= b->cap)
		return 0;
	ncap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
	while (ncap < need)
		ncap *= 2;	/* cannot wrap: need <= SIZE_MAX / 2 */
	p = realloc(b->data, ncap);
	if (p == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if (b->data == NULL)
		p[0] = '\0';
	b->data = p;
	b->cap = ncap;
	return 0;
}

int
buf_append(struct buf *b, const void *data, size_t len)
{
	if (buf_reserve(b, len) == -1)
		return -1;
	if (len > 0)
		memmove(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_append_char(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return -1;
	if (buf_reserve(b, (size_t)n) == -1)
		return -1;
	n = vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	if (n < 0) {
		b->data[b->len] = '\0';
		return -1;
	}
	b->len += (size_t)n;
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

int
buf_set(struct buf *b, const void *data, size_t len)
{
	size_t old = b->len;

	/* data may point into b itself: reserve first, then move */
	if (len > old && buf_reserve(b, len - old) == -1)
		return -1;
	if (b->data == NULL && buf_reserve(b, 0) == -1)
		return -1;
	if (len > 0)
		memmove(b->data, data, len);
	b->len = len;
	b->data[len] = '\0';
	return 0;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

void
buf_truncate(struct buf *b, size_t n)
{
	if (n >= b->len)
		return;
	b->len = n;
	b->data[n] = '\0';
}

const char *
buf_str(const struct buf *b)
{
	return b->data != NULL ? b->data : "";
}

char *
buf_detach(struct buf *b)
{
	char *p;

	if (b->data == NULL && buf_reserve(b, 0) == -1)
		return NULL;
	p = b->data;
	buf_init(b);
	return p;
}

void *
xcalloc_array(size_t n, size_t size)
{
	size_t total;

	if (size_mul(n, size, &total) == -1) {
		errno = ENOMEM;
		return NULL;
	}
	return calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);
}

void *
xrealloc_array(void *p, size_t n, size_t size)
{
	size_t total;

	if (size_mul(n, size, &total) == -1) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, total == 0 ? 1 : total);
}

char *
xstrndup(const char *s, size_t n)
{
	char *p;

	p = strndup(s, n);
	if (p == NULL)
		errno = ENOMEM;
	return p;
}
