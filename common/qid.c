/*
 * qid.c — queue identifiers (qid.h): 14 upper-case hex digits of
 * microseconds since the epoch, then 6 of the process id.
 *
 * Within one process the time part is forced to increase (the last value
 * is remembered and bumped if the clock did not advance or went back), so
 * two ids from one process never collide; the pid part separates
 * processes.  qid_valid() is strict because ids come back from the spool
 * and from peers (file names, protocol frames).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/qid.h"

#define QID_TIME_DIGITS	14
#define QID_TIME_MAX	((UINT64_C(1) << 56) - 1)

static uint64_t qid_last;

void
qid_new(char out[QID_LEN + 1])
{
	struct timeval tv;
	uint64_t now;

	gettimeofday(&tv, NULL);
	now = (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
	if (now <= qid_last)
		now = qid_last + 1;
	qid_last = now;
	snprintf(out, QID_LEN + 1, "%014llX%06lX",
	    (unsigned long long)(now & QID_TIME_MAX),
	    (unsigned long)getpid() & 0xFFFFFFUL);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool
qid_valid(const char *s)
{
	size_t i;

	if (s == NULL)
		return false;
	for (i = 0; i < QID_LEN; i++)
		if (hexval(s[i]) < 0)
			return false;	/* also stops at the NUL */
	return s[QID_LEN] == '\0';
}

uint64_t
qid_time_us(const char *qid)
{
	uint64_t v = 0;
	size_t i;

	if (!qid_valid(qid))
		return 0;
	for (i = 0; i < QID_TIME_DIGITS; i++)
		v = v * 16 + (uint64_t)hexval(qid[i]);
	return v;
}
