/*
 * text.h — plain-English words for enhanced status codes (RFC 3463 and the
 * IANA registry) in posthorn-bounce's human-readable part: what a code
 * means, and what the sender can do about it.  Input: a status code as
 * dsn_status() makes it ("c.s.d", already validated).  Output: static
 * strings, never NULL.
 */
#ifndef POSTHORN_BOUNCE_TEXT_H
#define POSTHORN_BOUNCE_TEXT_H

const char *dsn_status_text(const char *status);
const char *dsn_advice(const char *status);

#endif
