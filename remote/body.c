/*
 * body.c — LF message -> CRLF dot-stuffed wire form (see body.h).
 *
 * Input: the message file's first size octets (the envelope's size; the
 * queue's records may follow and are never read), whatever they contain
 * (NULs included).  The conversion is a two-state machine per octet;
 * nothing is buffered beyond one pending CR.
 */
#include <errno.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/agent.h"
#include "remote/body.h"

#define CHUNK 65536

void
body_conv_init(struct body_conv *c)
{
	c->bol = 1;
	c->cr = 0;
	c->col = 0;
}

static int
line_end(struct body_conv *c, struct buf *out)
{
	c->bol = 1;
	c->cr = 0;
	c->col = 0;
	return buf_append(out, "\r\n", 2);
}

int
body_conv_chunk(struct body_conv *c, const char *in, size_t n,
    struct buf *out)
{
	size_t i, start;

	for (i = 0; i < n; i++) {
		if (c->cr) {
			/* CRLF or bare CR: either way one line end */
			if (line_end(c, out) < 0)
				return -1;
			if (in[i] == '\n')
				continue;
		}
		if (in[i] == '\r') {
			c->cr = 1;
			continue;
		}
		if (in[i] == '\n') {
			if (line_end(c, out) < 0)
				return -1;
			continue;
		}
		if (c->bol && in[i] == '.') {
			if (buf_append_char(out, '.') < 0)
				return -1;
			c->col++;
		}
		c->bol = 0;
		/* copy the run of ordinary octets at once, breaking it where
		 * the line would grow past BODY_LINE_MAX */
		start = i;
		while (i + 1 < n && in[i + 1] != '\r' && in[i + 1] != '\n' &&
		    c->col + (i + 1 - start) < BODY_LINE_MAX)
			i++;
		if (c->col >= BODY_LINE_MAX) {
			if (buf_append(out, "\r\n ", 3) < 0)
				return -1;
			c->col = 1;
			i = start;	/* one octet after the break, at least */
		}
		if (buf_append(out, in + start, i - start + 1) < 0)
			return -1;
		c->col += i - start + 1;
	}
	return 0;
}

int
body_conv_end(struct body_conv *c, struct buf *out)
{
	if ((c->cr || !c->bol) && line_end(c, out) < 0)
		return -1;
	return buf_append(out, ".\r\n", 3);
}

int
body_scan(int fd, uint64_t size, struct body_info *info)
{
	static char in[CHUNK];
	struct body_conv c;
	struct buf out = BUF_INIT;
	uint64_t off = 0;
	ssize_t n, i;
	size_t linelen = 0;
	int rc = 0, in_header = 1;

	info->msg_size = size;
	info->wire_size = 0;
	info->eightbit = false;
	info->header8bit = false;
	body_conv_init(&c);
	while (off < size) {
		n = agent_msg_read(fd, size, in, sizeof(in), off);
		if (n <= 0) {
			rc = -1;
			break;
		}
		off += (uint64_t)n;
		for (i = 0; i < n; i++) {
			if (in_header && in[i] == '\n') {
				in_header = linelen > 0;
				linelen = 0;
			} else if (in_header && in[i] != '\r')
				linelen++;
			if ((unsigned char)in[i] < 0x80)
				continue;
			info->eightbit = true;
			if (in_header)
				info->header8bit = true;
		}
		buf_reset(&out);
		if (body_conv_chunk(&c, in, (size_t)n, &out) < 0) {
			rc = -1;
			break;
		}
		info->wire_size += out.len;
	}
	buf_reset(&out);
	if (rc == 0 && body_conv_end(&c, &out) < 0)
		rc = -1;
	if (rc == 0)
		info->wire_size += out.len - 3;	/* without ".\r\n" */
	buf_free(&out);
	return rc;
}

int
body_send(int fd, uint64_t size, struct stream *s, const char **why)
{
	static char in[CHUNK];
	struct body_conv c;
	struct buf out = BUF_INIT;
	uint64_t off = 0;
	ssize_t n;
	int rc = BODY_ERR_READ;

	body_conv_init(&c);
	while (off < size) {
		*why = "message file read error";
		n = agent_msg_read(fd, size, in, sizeof(in), off);
		if (n <= 0)
			goto out;
		off += (uint64_t)n;
		buf_reset(&out);
		*why = "out of memory";
		if (body_conv_chunk(&c, in, (size_t)n, &out) < 0)
			goto out;
		/* stream_write sends whenever its buffer fills; the rest
		 * goes out with the final ".\r\n", in one segment */
		if (stream_write(s, out.data, out.len) < 0) {
			*why = "connection lost while sending the message";
			rc = BODY_ERR_WRITE;
			goto out;
		}
	}
	buf_reset(&out);
	*why = "out of memory";
	if (body_conv_end(&c, &out) < 0)
		goto out;
	*why = "connection lost while sending the message";
	rc = BODY_ERR_WRITE;
	if (stream_write(s, out.data, out.len) < 0 || stream_flush(s) < 0)
		goto out;
	rc = 0;
out:
	buf_free(&out);
	return rc;
}
