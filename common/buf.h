/*
 * buf.h — growable byte buffers with checked size arithmetic.
 *
 * Every size computation on outside data goes through these helpers or
 * size_add()/size_mul(), which refuse to wrap (qmail CVE-2005-1513 was an
 * unchecked growth).  A buffer holds arbitrary bytes (NULs allowed); data is
 * always followed by a NUL byte that is not counted in len, so a buffer that
 * holds text can be used as a C string.  Trusts nothing but its own fields.
 */
#ifndef POSTHORN_BUF_H
#define POSTHORN_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;	/* NULL until the first append; then len+1 bytes valid */
	size_t len;	/* bytes in use, not counting the trailing NUL */
	size_t cap;	/* bytes allocated */
};

#define BUF_INIT { NULL, 0, 0 }

/* Checked arithmetic: return 0 and store the result, or -1 on overflow. */
int size_add(size_t a, size_t b, size_t *out);
int size_mul(size_t a, size_t b, size_t *out);

void buf_init(struct buf *b);
void buf_free(struct buf *b);
/* Forget the contents, keep the allocation. */
void buf_reset(struct buf *b);
/* Make room for extra more bytes (plus the NUL).  -1 with errno ENOMEM or
 * EOVERFLOW; the buffer is unchanged on failure. */
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_append_str(struct buf *b, const char *s);
int buf_append_char(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Set b to exactly these bytes. */
int buf_set(struct buf *b, const void *data, size_t len);
/* Remove the first n bytes (n > len removes all). */
void buf_consume(struct buf *b, size_t n);
/* Shorten to n bytes (no-op when n >= len). */
void buf_truncate(struct buf *b, size_t n);
/* A NUL-terminated string for b ("" when empty and unallocated). */
const char *buf_str(const struct buf *b);
/* Steal the data as a malloc'd NUL-terminated string; b becomes empty.
 * Returns NULL only on allocation failure. */
char *buf_detach(struct buf *b);

/* Allocation helpers that never return NULL silently: they return NULL with
 * errno set, and callers handle it where it happens. */
void *xcalloc_array(size_t n, size_t size);	/* checked n*size */
void *xrealloc_array(void *p, size_t n, size_t size);
char *xstrndup(const char *s, size_t n);

#endif
