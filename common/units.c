/*
 * units.c — strict parsing of numbers, durations, sizes, booleans and
 * host[:port] (units.h).
 *
 * Input comes from posthorn.conf, command lines and SMTP parameters, so it
 * is parsed exactly: only ASCII digits (no sign, no blanks, no base
 * prefixes — strtoul() accepts all of those, so it is not used), checked
 * multiplication for suffixes, and nothing may follow the number but one
 * known suffix.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "common/units.h"

/* Parse the leading digits of s; *end points after them. */
static int
digits(const char *s, uint64_t *out, const char **end)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v))
			return -1;
	}
	if (i == 0)
		return -1;
	*out = v;
	*end = s + i;
	return 0;
}

int
parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	const char *end;
	uint64_t v;

	if (s == NULL || digits(s, &v, &end) == -1 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Number with an optional one-octet suffix from units[] (multipliers in
 * mult[]); no suffix means a multiplier of 1. */
static int
parse_scaled(const char *s, const char *units, const uint64_t *mult,
    uint64_t *out)
{
	const char *end, *u;
	uint64_t v;

	if (s == NULL || digits(s, &v, &end) == -1)
		return -1;
	if (*end != '\0') {
		if (end[1] != '\0' || (u = strchr(units, *end)) == NULL)
			return -1;
		if (__builtin_mul_overflow(v, mult[u - units], &v))
			return -1;
	}
	*out = v;
	return 0;
}

int
parse_duration(const char *s, uint64_t *seconds)
{
	static const uint64_t mult[] = { 1, 60, 3600, 86400, 604800 };

	return parse_scaled(s, "smhdw", mult, seconds);
}

int
parse_size(const char *s, uint64_t *bytes)
{
	static const uint64_t mult[] = { 1, 1024, 1024, 1048576,
	    1073741824 };

	return parse_scaled(s, "bkKMG", mult, bytes);
}

int
parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	if (s == NULL)
		return -1;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static bool
host_char_ok(char c, bool v6)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_')
		return true;
	return v6 && c == ':';
}

static int
copy_host(const char *h, size_t n, bool v6, char *host, size_t hostsz)
{
	size_t i;

	if (n == 0 || n >= hostsz)
		return -1;
	for (i = 0; i < n; i++)
		if (!host_char_ok(h[i], v6))
			return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	return 0;
}

int
parse_hostport(const char *s, char *host, size_t hostsz, unsigned *port)
{
	const char *h, *p = NULL, *close, *colon;
	size_t hn;
	uint64_t v;
	bool v6 = false;

	if (s == NULL)
		return -1;
	if (s[0] == '[') {
		close = strchr(s, ']');
		if (close == NULL)
			return -1;
		h = s + 1;
		hn = (size_t)(close - h);
		v6 = true;
		if (close[1] == ':')
			p = close + 2;
		else if (close[1] != '\0')
			return -1;
	} else {
		h = s;
		colon = strchr(s, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			hn = strlen(s);	/* bare IPv6 address, no port */
			v6 = true;
		} else if (colon != NULL) {
			hn = (size_t)(colon - s);
			p = colon + 1;
		} else
			hn = strlen(s);
	}
	if (copy_host(h, hn, v6, host, hostsz) == -1)
		return -1;
	*port = 0;
	if (p != NULL) {
		if (parse_uint(p, 65535, &v) == -1 || v == 0)
			return -1;
		*port = (unsigned)v;
	}
	return 0;
}
