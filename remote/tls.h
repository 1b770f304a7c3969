/*
 * tls.h — the TLS client side of posthorn-remote (OpenSSL).
 *
 * Opportunistic by default (RFC 7435): any certificate is accepted and the
 * verification result is only logged, because the alternative on the
 * public Internet is plaintext; for the same reason any protocol version
 * from TLS 1.0 on is accepted there.  Where TLS is mandatory (route
 * option tls=encrypt, tls=verify, DANE, an enforced MTA-STS policy) the
 * protocol must be TLS 1.2 or later (RFC 8996, RFC 8461 7.2), and with
 * tls=verify the peer's certificate must chain to tls_ca_file (or
 * OpenSSL's default paths) and match the host name.  Trusts nothing the
 * peer sends beyond what OpenSSL validates.
 */
#ifndef POSTHORN_REMOTE_TLS_H
#define POSTHORN_REMOTE_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

#include "common/buf.h"
#include "remote/dns.h"

/* The client context; ca_file NULL: OpenSSL's default paths, read by
 * tls_ctx_ready() when the context is first used. */
SSL_CTX *tls_client_ctx(const char *ca_file, struct buf *err);
/* Before the first SSL_new() on ctx (the handshake calls it itself). */
void tls_ctx_ready(SSL_CTX *ctx);

/* The lowest protocol version accepted: TLS1_2_VERSION where TLS is
 * mandatory, TLS1_VERSION where it is opportunistic. */
int tls_min_version(int mandatory);

/* What one handshake must achieve. */
struct tls_want {
	const char *name;	/* SNI and the first reference identifier:
				   the host we meant to reach, under DANE
				   the TLSA base domain (NULL: none) */
	const char *alt_name;	/* DANE only: one more reference identifier
				   (RFC 7672 2.2.2: the MX host and its
				   CNAME-expanded name), NULL: none */
	int verify;		/* fail unless the chain and a name verify */
	const struct tlsalist *tlsa;	/* DANE (RFC 7672); NULL or empty:
					   none.  Fail unless the
					   certificate matches a record */
	int min_version;	/* tls_min_version() */
	int timeout_ms;
};

/* What it achieved. */
struct tls_result {
	char desc[96];		/* "TLSv1.3/TLS_AES_256_GCM_SHA384", "/dane"
				   appended when DANE authenticated the peer;
				   "none" before a handshake */
	int version;		/* SSL_version(): TLS1_2_VERSION ... */
	int trusted;		/* peer authenticated (PKIX or DANE) */
	int dane_unusable;	/* tlsa had records, none OpenSSL could use
				   (RFC 7672 2.2: then TLS is still
				   required, a verified certificate is not) */
	int dane;		/* a TLSA record authenticated the peer ... */
	struct tlsa match;	/* ... this one */
	int version_refused;	/* failed: the peer has no protocol version
				   at or above min_version */
};

/* Handshake on fd.  Returns the SSL object (for stream_start_tls) with
 * *res filled in, or NULL with err (and res->version_refused). */
SSL *tls_client_handshake(SSL_CTX *ctx, int fd, const struct tls_want *w,
    struct tls_result *res, struct buf *err);

#endif
