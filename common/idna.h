/*
 * idna.h — internationalised domain names: a UTF-8 domain (U-labels)
 * becomes its A-label form ("xn--...") through GNU libidn2 (UTS #46
 * non-transitional processing, NFC): in posthorn-remote for DNS lookups
 * and for envelope addresses sent to a server without SMTPUTF8 when only
 * the domain is non-ASCII (RFC 6531 3.2 leaves a UTF-8 local part no such
 * way out); in the configuration, so that local_domains and relay_domains
 * match a domain in either form.
 *
 * Input: domains and addresses already validated by common/addr.c;
 * libidn2 checks the labels itself (RFC 5891/5892 rules), and the result
 * is checked again: ASCII only, at most 253 octets.
 */
#ifndef POSTHORN_COMMON_IDNA_H
#define POSTHORN_COMMON_IDNA_H

#include <stddef.h>

/* domain -> A-labels in out (an ASCII domain is copied as it is).  0 ok,
 * -1 with *why (not a valid IDN, or too long). */
int idna_domain_ascii(const char *domain, char *out, size_t outsz,
    const char **why);
/* "local@domain" with an ASCII local part -> "local@A-labels".  0 ok, -1
 * when the local part is not ASCII or the domain cannot be converted. */
int idna_addr_ascii(const char *addr, char *out, size_t outsz);

#endif
