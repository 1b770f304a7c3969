/*
 * units.h — strict parsing of numbers, durations ("30s", "5m", "4h", "5d",
 * "1w", a bare number is seconds) and sizes ("512", "512b", "100k" or
 * "100K", "35M", "1G"; k = 1024).  Overflow, signs, empty strings,
 * trailing garbage and unknown suffixes are errors (-1); 0 on success.
 */
#ifndef POSTHORN_UNITS_H
#define POSTHORN_UNITS_H

#include <stdbool.h>
#include <stdint.h>

int parse_uint(const char *s, uint64_t max, uint64_t *out);
int parse_duration(const char *s, uint64_t *seconds);
int parse_size(const char *s, uint64_t *bytes);
int parse_bool(const char *s, bool *out);	/* yes/no/true/false/on/off/1/0 */
/* host:port, [v6]:port or host (port 0 then); host copied into host[hostsz].
 * A bare IPv6 address (two or more colons, no brackets) is a host without
 * port.  Ports are 1..65535; hosts are letters, digits, '.', '-', '_' (and
 * ':' for IPv6). */
int parse_hostport(const char *s, char *host, size_t hostsz, unsigned *port);

#endif
