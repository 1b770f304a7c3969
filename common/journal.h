/*
 * journal.h — structured log entries to systemd-journald over its native
 * protocol (https://systemd.io/JOURNAL_NATIVE_PROTOCOL/): one datagram on
 * the unix socket /run/systemd/journal/socket.
 *
 * This is what sd_journal_sendv() does for the entries posthorn writes
 * (small ones), without linking libsystemd: the programs started for
 * every message or delivery (sendmail, posthorn-local, posthorn-remote,
 * posthorn-bounce, posthorn-checkpassword) link nothing else from it, and
 * loading libsystemd with the six libraries it pulls in cost about
 * 1.6 ms of every start on the bench machine (bench/RESULTS.md,
 * 2026-11-23).  The daemons still use libsystemd for sd-event and
 * sd-daemon.
 */
#ifndef POSTHORN_JOURNAL_H
#define POSTHORN_JOURNAL_H

#include <sys/uio.h>

#include "common/buf.h"

/* Where entries go; tests point it at a socket of their own. */
extern const char *journal_socket_path;

/*
 * Encode the fields iov[0..n) ("KEY=value" each, no NUL needed) as one
 * native-protocol entry, appended to out: "KEY=value\n", or, for a value
 * that holds a newline, "KEY\n", its length as 64-bit little-endian,
 * the value and "\n".  -1 (out unchanged in length) when a field has no
 * '=', an empty or invalid name (journald's rule: A-Z, 0-9 and '_', not
 * starting with '_' or a digit, at most 64 characters), or on overflow or
 * lack of memory.
 */
int journal_encode(const struct iovec *iov, int n, struct buf *out);

/*
 * Send one entry: 0, or -1 with errno (the entry is too big for one
 * datagram, journald is not running, a field is invalid).  The caller
 * then writes the line to stderr instead.  Never blocks: a journal that
 * is not reading loses the entry rather than stalling a delivery.
 */
int journal_sendv(const struct iovec *iov, int n);

#endif
