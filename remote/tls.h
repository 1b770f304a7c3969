/*
 * tls.h — the TLS client side of posthorn-remote (OpenSSL).
 *
 * Opportunistic by default (RFC 7435): any certificate is accepted and the
 * verification result is only logged, because the alternative on the
 * public Internet is plaintext.  With route option tls=verify the peer's
 * certificate must chain to tls_ca_file (or OpenSSL's default paths) and
 * match the host name.  Trusts nothing the peer sends beyond what OpenSSL
 * validates.
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

/* Handshake on fd.  sni: the name we meant to reach (NULL: none);
 * verify: fail unless the certificate chains and matches sni; tlsa (NULL
 * or empty: none): DANE (RFC 7672), fail unless the certificate matches
 * one of the records.  Returns the SSL object (for stream_start_tls) or
 * NULL with err.  desc gets "TLSv1.3/TLS_AES_256_GCM_SHA384" ("/dane"
 * appended when DANE authenticated the peer) and *trusted whether the
 * peer was authenticated (PKIX or DANE); *dane_unusable is set when tlsa
 * had records but none OpenSSL could use (RFC 7672 2.2: then TLS is still
 * required, a verified certificate is not). */
SSL *tls_client_handshake(SSL_CTX *ctx, int fd, const char *sni,
    int verify, const struct tlsalist *tlsa, int timeout_ms, char *desc,
    size_t descsz, int *trusted, int *dane_unusable, struct buf *err);

#endif
