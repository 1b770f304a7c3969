/*
 * fuzz_line.c — the line reader of common/io.c.  The first octet sets the
 * line limit (1..256, or 4096); the rest is read with stream_getline()
 * from a memfd (a real descriptor, so the stream's buffering and refill
 * paths run) and split in memory with line_scan() in small chunks.
 * Oracles: when no line was too long, the lines and their reported
 * terminators rebuild the input exactly; line_scan over chunks agrees with
 * the stream; a line never exceeds the limit.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const ends[] = { "\r\n", "\n", "\r", "" };

/* Rebuild the input from the stream's lines. */
static int
via_stream(const char *p, size_t n, size_t max, struct buf *out)
{
	struct stream s;
	struct buf line = BUF_INIT;
	enum line_end e;
	int fd, r, toolong = 0;
	size_t guard;

	fd = memfd_create("fuzz_line", MFD_CLOEXEC);
	if (fd == -1)
		return -1;
	if (io_write_all(fd, p, n, 0) == -1 || lseek(fd, 0, SEEK_SET) != 0 ||
	    stream_init(&s, fd, -1, 1000) == -1) {
		close(fd);
		return -1;
	}
	for (guard = 0; guard <= n + 1; guard++) {
		r = stream_getline(&s, &line, max, &e);
		if (r == STREAM_EOF)
			break;
		if (r == STREAM_ERR)
			abort();
		if (r == STREAM_TOOLONG) {
			if (line.len != 0)
				abort();
			toolong = 1;
			continue;
		}
		if (line.len + strlen(ends[e]) > max)
			abort();
		buf_append(out, line.data, line.len);
		buf_append_str(out, ends[e]);
	}
	if (guard > n + 1)
		abort();	/* no progress: a hang */
	stream_free(&s);
	buf_free(&line);
	close(fd);
	return toolong;
}

/* Rebuild the input with line_scan() fed in chunks of k octets. */
static void
via_scan(const char *p, size_t n, size_t k, struct buf *out)
{
	struct buf pend = BUF_INIT;
	size_t off = 0, clen, used, take;
	enum line_end e;
	int eof;

	for (;;) {
		take = n - off < k ? n - off : k;
		buf_append(&pend, p + off, take);
		off += take;
		eof = off == n;
		while (line_scan(pend.data, pend.len, eof, &clen, &used,
		    &e) == 1) {
			if (used == 0 || used > pend.len || clen > used)
				abort();
			buf_append(out, pend.data, clen);
			buf_append_str(out, ends[e]);
			buf_consume(&pend, used);
		}
		if (eof)
			break;
	}
	if (pend.len != 0)
		abort();
	buf_free(&pend);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	size_t max;
	int toolong;

	if (size < 1 || size > 65536)
		return 0;
	max = data[0] == 0 ? 4096 : data[0];
	toolong = via_stream((const char *)data + 1, size - 1, max, &a);
	if (toolong == 0 && (a.len != size - 1 ||
	    memcmp(a.data != NULL ? a.data : "", data + 1, size - 1) != 0))
		abort();
	via_scan((const char *)data + 1, size - 1, 1 + data[0] % 7, &b);
	if (b.len != size - 1 ||
	    memcmp(b.data != NULL ? b.data : "", data + 1, size - 1) != 0)
		abort();
	buf_free(&a);
	buf_free(&b);
	return 0;
}
