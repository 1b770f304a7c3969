/*
 * tls.c — TLS client handshakes for posthorn-remote (see tls.h).
 *
 * Input: a connected socket after the peer's "220" to STARTTLS (the caller
 * has already discarded any plaintext the peer sent after it).  The
 * handshake is bounded by the caller's timeout (io_tls_handshake).
 */
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "common/io.h"
#include "remote/tls.h"

static void
ssl_err(struct buf *err, const char *what)
{
	unsigned long e = ERR_get_error();
	char tmp[256];

	if (e != 0) {
		ERR_error_string_n(e, tmp, sizeof(tmp));
		buf_printf(err, "%s: %s", what, tmp);
	} else
		buf_printf(err, "%s", what);
	ERR_clear_error();
}

/* OpenSSL's default trust store is read when a context is first used for
 * a handshake, not when it is made: deliveries to peers without STARTTLS
 * never need it, and reading the system bundle costs about 15 ms of CPU
 * in every posthorn-remote process (a 200 KB PEM file).  An explicit
 * tls_ca_file is still read at once, so that a bad one is reported when
 * the agent starts. */
static SSL_CTX *default_paths_pending;

void
tls_ctx_ready(SSL_CTX *ctx)
{
	if (ctx != NULL && ctx == default_paths_pending) {
		(void)SSL_CTX_set_default_verify_paths(ctx);
		ERR_clear_error();
		default_paths_pending = NULL;
	}
}

SSL_CTX *
tls_client_ctx(const char *ca_file, struct buf *err)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		ssl_err(err, "SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
			ssl_err(err, "tls_ca_file");
			SSL_CTX_free(ctx);
			return NULL;
		}
	}
	if (SSL_CTX_dane_enable(ctx) <= 0) {
		ssl_err(err, "SSL_CTX_dane_enable");
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (ca_file == NULL)
		default_paths_pending = ctx;
	ERR_clear_error();
	return ctx;
}

/* Is s an IP address (no SNI for those, RFC 6066 3)? */
static int
is_ip(const char *s)
{
	unsigned char tmp[16];

	return inet_pton(AF_INET, s, tmp) == 1 ||
	    inet_pton(AF_INET6, s, tmp) == 1;
}

/* Add the usable TLSA records; the number added, -1 on error. */
static int
dane_setup(SSL *ssl, const char *sni, const struct tlsalist *tlsa)
{
	size_t i;
	int added = 0, r;

	if (SSL_dane_enable(ssl, sni) <= 0)
		return -1;
	/* RFC 7672 3.1.1: no name checks for DANE-EE(3) */
	(void)SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	for (i = 0; i < tlsa->n; i++) {
		r = SSL_dane_tlsa_add(ssl, tlsa->v[i].usage,
		    tlsa->v[i].selector, tlsa->v[i].mtype, tlsa->v[i].data,
		    tlsa->v[i].len);
		if (r > 0)
			added++;
	}
	ERR_clear_error();
	return added;
}

SSL *
tls_client_handshake(SSL_CTX *ctx, int fd, const char *sni, int verify,
    const struct tlsalist *tlsa, int timeout_ms, char *desc, size_t descsz,
    int *trusted, int *dane_unusable, struct buf *err)
{
	SSL *ssl;
	long vr;
	int dane = 0;

	*trusted = 0;
	*dane_unusable = 0;
	snprintf(desc, descsz, "none");
	tls_ctx_ready(ctx);
	if ((ssl = SSL_new(ctx)) == NULL) {
		ssl_err(err, "SSL_new");
		return NULL;
	}
	if (SSL_set_fd(ssl, fd) != 1)
		goto fail;
	/* a "*" is a whole left-most label, never part of one (RFC 7672
	 * 3.2.3, RFC 8461 3.4 through RFC 6125 6.4.3) */
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (sni != NULL && sni[0] != '\0' && !is_ip(sni)) {
		if (SSL_set_tlsext_host_name(ssl, sni) != 1)
			goto fail;
		if (SSL_set1_host(ssl, sni) != 1)
			goto fail;
	} else if (sni != NULL && sni[0] != '\0') {
		X509_VERIFY_PARAM *p = SSL_get0_param(ssl);
		if (X509_VERIFY_PARAM_set1_ip_asc(p, sni) != 1)
			goto fail;
	}
	if (tlsa != NULL && tlsa->n > 0 && sni != NULL) {
		if ((dane = dane_setup(ssl, sni, tlsa)) < 0)
			goto fail;
		if (dane > 0)
			verify = 1;
		else	/* RFC 7672 2.2: no usable record, TLS unauthenticated */
			*dane_unusable = 1;
	}
	SSL_set_verify(ssl, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	SSL_set_connect_state(ssl);
	if (io_tls_handshake(ssl, fd, fd, timeout_ms) != 0) {
		/* "certificate verify failed" alone does not tell the
		 * administrator whether the name, the chain, the dates or
		 * the TLSA records were wrong */
		vr = SSL_get_verify_result(ssl);
		if (verify && vr != X509_V_OK) {
			ERR_clear_error();
			buf_printf(err, "TLS handshake failed: certificate "
			    "not verified: %s%s",
			    X509_verify_cert_error_string(vr),
			    dane > 0 ? " (DANE)" : "");
			SSL_free(ssl);
			return NULL;
		}
		goto fail;
	}
	*trusted = SSL_get_verify_result(ssl) == X509_V_OK &&
	    SSL_get0_peer_certificate(ssl) != NULL;
	snprintf(desc, descsz, "%s/%s%s", SSL_get_version(ssl),
	    SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)),
	    dane > 0 && SSL_get0_dane_authority(ssl, NULL, NULL) >= 0 ?
	    "/dane" : "");
	return ssl;
fail:
	ssl_err(err, "TLS handshake failed");
	SSL_free(ssl);
	return NULL;
}
