/*
 * qid.h — queue identifiers.  A queue id is QID_LEN upper-case hex digits:
 * 14 digits of microseconds since the epoch, then 6 of the process id.
 * Strictly increasing within a process (the clock value is bumped when it
 * did not advance), unique across processes (pid) and restarts (time), and
 * sortable by arrival time.  Safe as a file name.
 */
#ifndef POSTHORN_QID_H
#define POSTHORN_QID_H

#include <stdbool.h>
#include <stdint.h>

#define QID_LEN 20

void qid_new(char out[QID_LEN + 1]);
bool qid_valid(const char *s);
/* Arrival time encoded in a valid qid, in microseconds since the epoch. */
uint64_t qid_time_us(const char *qid);

#endif
