/*
 * fuzz_frame.c — common/frame.c on arbitrary octets: frame_decode() over
 * the whole input (exact-size copy), re-encoding every frame it accepts
 * (must give back exactly the octets consumed), splitting payloads into
 * fields, and frame_read() over the same octets from a memfd (must agree
 * with frame_decode() on every frame).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/frame.h"
#include "common/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXF 1000

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf enc = BUF_INIT, store = BUF_INIT, pl = BUF_INIT;
	const char *fields[16], *payload;
	struct stream s;
	size_t off = 0, plen, used;
	char *p, tag, rtag;
	int r, rr, fd;

	if (size > 65536)
		return 0;
	if ((p = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(p, data, size);
	fd = memfd_create("fuzz_frame", MFD_CLOEXEC);
	if (fd == -1 || io_write_all(fd, p, size, 0) == -1 ||
	    lseek(fd, 0, SEEK_SET) != 0 || stream_init(&s, fd, -1, 1000) == -1)
		abort();
	for (;;) {
		r = frame_decode(p + off, size - off, MAXF, &tag, &payload,
		    &plen, &used);
		rr = frame_read(&s, MAXF, &rtag, &pl);
		if (r != rr && !(r == FRAME_BAD && rr == FRAME_BAD))
			abort();
		if (r != FRAME_OK)
			break;
		if (rtag != tag || pl.len != plen ||
		    memcmp(buf_str(&pl), payload, plen) != 0)
			abort();
		buf_reset(&enc);
		if (frame_put(&enc, tag, payload, plen) == -1 ||
		    enc.len != used || memcmp(enc.data, p + off, used) != 0)
			abort();
		if (frame_fields(payload, plen, &store, fields, 16) == -1 &&
		    plen < 15)
			abort();
		off += used;
	}
	stream_free(&s);
	close(fd);
	buf_free(&enc);
	buf_free(&store);
	buf_free(&pl);
	free(p);
	return 0;
}
