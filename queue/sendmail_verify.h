/*
 * sendmail_verify.h — sendmail -bv (sendmail_verify.c).
 */
#ifndef POSTHORN_QUEUE_SENDMAIL_VERIFY_H
#define POSTHORN_QUEUE_SENDMAIL_VERIFY_H

#include <stdio.h>

#include "common/config.h"

/* Print one line per address in args[0..n) (each a sendmail recipient
 * argument: an address list, bare names qualified with the hostname):
 * "ADDR: deliverable: ...", "ADDR: undeliverable: ... (X.Y.Z)" or
 * "ADDR: lookup failed ...".  Returns 0 when every address is
 * deliverable, else the first failure's sysexits code: EX_NOUSER (67)
 * unknown, moved or refused, EX_DATAERR (65) not an address, EX_TEMPFAIL
 * (75) a lookup failed; EX_IOERR when out cannot be written. */
int sendmail_verify(const struct config *cfg, char *const *args, int n,
    FILE *out);

#endif
