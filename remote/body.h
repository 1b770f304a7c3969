/*
 * body.h — the message as it goes on the wire.
 *
 * The spool holds RFC 5322 bytes with LF line ends.  On the wire every
 * line ends in CRLF and a line starting with '.' gets another '.'
 * (RFC 5321 4.5.2).  A CRLF already in the file counts as one line end;
 * a bare CR is turned into a line end too, so no octet sequence in the
 * file can look like the end of data to any peer.  A last line without
 * a terminator gets one.  The converter is incremental (the message is
 * streamed, never held whole) and keeps its state between chunks.
 */
#ifndef POSTHORN_REMOTE_BODY_H
#define POSTHORN_REMOTE_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/io.h"

/* The longest line sent, CRLF not counted (RFC 5321 4.5.3.1.6: 1000
 * with it).  Longer ones are broken with CRLF and a space, as Postfix
 * does (smtp_line_length_limit): in a header that is a folding. */
#define BODY_LINE_MAX	998

struct body_conv {
	int bol;		/* at the beginning of a line */
	int cr;			/* previous octet was a CR (not yet emitted) */
	size_t col;		/* octets of the current wire line */
};

struct body_info {
	uint64_t msg_size;	/* the message: the file's first msg_size
				   octets (body_scan's size argument) */
	uint64_t wire_size;	/* octets on the wire, without ".CRLF" */
	bool eightbit;		/* an octet >= 0x80 occurs */
	bool header8bit;	/* ... in the header section */
};

void body_conv_init(struct body_conv *c);
/* Convert in[0..n) and append the wire form to out. */
int body_conv_chunk(struct body_conv *c, const char *in, size_t n,
    struct buf *out);
/* Finish: terminate an unterminated last line and append ".\r\n". */
int body_conv_end(struct body_conv *c, struct buf *out);

/* Read the message, fd's octets [0, size) (the envelope's size: what
 * follows in the file is never read), and compute body_info (msg_size =
 * size).  0 / -1 (a read error, or the file ends before size). */
int body_scan(int fd, uint64_t size, struct body_info *info);
/* Send the message, fd's octets [0, size), to s in wire form, ending
 * with ".\r\n", and flush.  0 ok; BODY_ERR_READ when the message file
 * cannot be read (or memory runs out), BODY_ERR_WRITE when writing to s
 * failed (errno: ETIMEDOUT or the connection's error); *why says which. */
#define BODY_ERR_READ	(-1)
#define BODY_ERR_WRITE	(-2)
int body_send(int fd, uint64_t size, struct stream *s, const char **why);

#endif
