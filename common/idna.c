/*
 * idna.c — U-labels to A-labels (idna.h), through
 * GNU libidn2: one well-kept implementation of UTS #46 and IDNA2008
 * rather than our own.  Its output is not trusted blindly: it must be a
 * host name (letters, digits, hyphens, dots) and fit the caller's buffer
 * and DNS's 253 octets.
 */
#include <idn2.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/idna.h"

int
idna_domain_ascii(const char *domain, char *out, size_t outsz,
    const char **why)
{
	char *a = NULL;
	size_t n = strlen(domain), i;
	int rc;

	if (!mem_has_8bit(domain, n)) {
		if (n >= outsz) {
			*why = "domain too long";
			return -1;
		}
		memcpy(out, domain, n + 1);
		return 0;
	}
	/* not IDN2_USE_STD3_ASCII_RULES: libidn2 2.3 then drops a "_"
	 * silently, turning the name into another; the check below
	 * refuses it instead */
	rc = idn2_to_ascii_8z(domain, &a, IDN2_NFC_INPUT |
	    IDN2_NONTRANSITIONAL);
	if (rc != IDN2_OK) {
		*why = idn2_strerror(rc);
		return -1;
	}
	n = strlen(a);
	/* a host name: letters, digits, hyphens and dots only */
	for (i = 0; i < n; i++)
		if (!((a[i] >= 'a' && a[i] <= 'z') ||
		    (a[i] >= 'A' && a[i] <= 'Z') ||
		    (a[i] >= '0' && a[i] <= '9') || a[i] == '-' || a[i] == '.'))
			break;
	if (i < n || n == 0 || n > 253 || n >= outsz) {
		idn2_free(a);
		*why = "unusable A-label form";
		return -1;
	}
	memcpy(out, a, n + 1);
	idn2_free(a);
	return 0;
}

int
idna_addr_ascii(const char *addr, char *out, size_t outsz)
{
	const char *at = strrchr(addr, '@'), *why;
	size_t ll;

	if (at == NULL || mem_has_8bit(addr, (size_t)(at - addr)))
		return -1;
	ll = (size_t)(at - addr) + 1;	/* "local@" */
	if (ll >= outsz)
		return -1;
	memcpy(out, addr, ll);
	return idna_domain_ascii(at + 1, out + ll, outsz - ll, &why);
}
