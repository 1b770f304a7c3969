/*
 * frame.h — the framing of every posthorn pipe and socket protocol and of
 * the spool's envelope records: netstrings (D. J. Bernstein) with a
 * one-octet tag as the first data octet:
 *
 *     <decimal length>:<tag><payload>,      length = 1 + payload length
 *
 * e.g. "6:Sa@b.c," is tag 'S' with payload "a@b.c".  Lengths have no
 * leading zeros (except "0"), at most 10 digits, and must not exceed the
 * reader's limit; a frame of length 0 has no tag and is malformed.  The
 * payload may contain any octet; where a frame holds several fields they
 * are separated by NUL octets (fields themselves never contain NUL).
 */
#ifndef POSTHORN_FRAME_H
#define POSTHORN_FRAME_H

#include <stddef.h>

#include "common/buf.h"
#include "common/io.h"

#define FRAME_OK	1
#define FRAME_EOF	0	/* clean EOF before a frame started */
#define FRAME_ERR	(-1)	/* I/O error / timeout (errno) */
#define FRAME_BAD	(-2)	/* malformed, too long, or EOF inside */

/* Append one frame. */
int frame_put(struct buf *out, char tag, const void *payload, size_t len);
int frame_put_str(struct buf *out, char tag, const char *s);
/* A frame whose payload is fields joined with NUL: nfields strings. */
int frame_put_fields(struct buf *out, char tag, const char *const *fields,
    size_t nfields);

/* Read one frame from a stream; payload replaced in *payload (whose data
 * is never NULL after FRAME_OK, even for an empty payload).  After
 * FRAME_BAD or FRAME_ERR the stream is out of step: drop the peer. */
int frame_read(struct stream *s, size_t max, char *tag, struct buf *payload);

/* Decode one frame from memory at p[0..len): on FRAME_OK stores tag,
 * payload pointer/length (into p) and octets consumed.  FRAME_EOF when
 * len == 0; FRAME_BAD when malformed or incomplete. */
int frame_decode(const char *p, size_t len, size_t max, char *tag,
    const char **payload, size_t *plen, size_t *consumed);

/* Split a payload into NUL-separated fields (pointers into a private copy
 * in *store).  Returns the number of fields, or -1 if more than maxf.
 * An empty payload is one empty field (as frame_put_fields() writes for
 * one "" or for no fields at all). */
int frame_fields(const char *payload, size_t plen, struct buf *store,
    const char **fields, size_t maxf);

#endif
