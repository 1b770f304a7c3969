/*
 * tls.c — TLS client handshakes for posthorn-remote (see tls.h).
 *
 * Input: a connected socket after the peer's "220" to STARTTLS (the caller
 * has already discarded any plaintext the peer sent after it).  The
 * handshake is bounded by the caller's timeout (io_tls_handshake), and
 * never settles for a protocol version below the caller's minimum: the
 * library is told so before the handshake, and the result is checked
 * again after it.
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

/* Add the usable TLSA records; the number added, -1 on error.  base is
 * the TLSA base domain, alt another name the certificate may match
 * (NULL: none). */
static int
dane_setup(SSL *ssl, const char *base, const char *alt,
    const struct tlsalist *tlsa)
{
	size_t i;
	int added = 0, r;

	if (SSL_dane_enable(ssl, base) <= 0)
		return -1;
	/* RFC 7672 2.2.2: for DANE-TA(2), an alias and the name it leads
	 * to are both reference identifiers */
	if (alt != NULL && alt[0] != '\0' && SSL_add1_host(ssl, alt) != 1)
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

int
tls_min_version(int mandatory)
{
	/* RFC 8996: TLS 1.0 and 1.1 MUST NOT be used; RFC 8461 7.2: TLS
	 * 1.2 or higher for MTA-STS.  Opportunistic TLS (RFC 7435) takes
	 * what the peer has: the alternative is plaintext, and RFC 8996
	 * does not update RFC 3207 or RFC 7435.  OpenSSL's security level
	 * still applies (OpenSSL 3 refuses the SHA-1 signatures of TLS
	 * 1.0/1.1 key exchanges at its default level 1). */
	return mandatory ? TLS1_2_VERSION : TLS1_VERSION;
}

/* Did the handshake fail because the peer has no protocol version we
 * accept?  (It answers with an older one, or alerts protocol_version
 * to our ClientHello.) */
static int
version_error(unsigned long e)
{
	int r;

	if (ERR_GET_LIB(e) != ERR_LIB_SSL)
		return 0;
	r = ERR_GET_REASON(e);
	return r == SSL_R_UNSUPPORTED_PROTOCOL || r == SSL_R_VERSION_TOO_LOW ||
	    r == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION ||
	    r == SSL_R_WRONG_SSL_VERSION;
}

/* Which TLSA record authenticated the peer (a connection kept for the
 * next job is reused under DANE only while that record is published). */
static void
dane_match(SSL *ssl, struct tls_result *res)
{
	uint8_t usage, selector, mtype;
	const unsigned char *data;
	size_t len;

	if (SSL_get0_dane_authority(ssl, NULL, NULL) < 0 ||
	    SSL_get0_dane_tlsa(ssl, &usage, &selector, &mtype, &data,
	    &len) < 0 || data == NULL || len > sizeof(res->match.data))
		return;
	res->match.usage = usage;
	res->match.selector = selector;
	res->match.mtype = mtype;
	memcpy(res->match.data, data, len);
	res->match.len = len;
	res->dane = 1;
}

static const char *
version_name(int v)
{
	return v == TLS1_3_VERSION ? "1.3" : v == TLS1_2_VERSION ? "1.2" :
	    v == TLS1_1_VERSION ? "1.1" : "1.0";
}

SSL *
tls_client_handshake(SSL_CTX *ctx, int fd, const struct tls_want *w,
    struct tls_result *res, struct buf *err)
{
	const char *sni = w->name, *why;
	unsigned long e;
	SSL *ssl;
	long vr;
	int dane = 0, verify = w->verify;

	memset(res, 0, sizeof(*res));
	snprintf(res->desc, sizeof(res->desc), "none");
	tls_ctx_ready(ctx);
	if ((ssl = SSL_new(ctx)) == NULL) {
		ssl_err(err, "SSL_new");
		return NULL;
	}
	if (SSL_set_fd(ssl, fd) != 1 ||
	    SSL_set_min_proto_version(ssl, w->min_version) != 1)
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
	if (w->tlsa != NULL && w->tlsa->n > 0 && sni != NULL) {
		if ((dane = dane_setup(ssl, sni, w->alt_name, w->tlsa)) < 0)
			goto fail;
		if (dane > 0)
			verify = 1;
		else	/* RFC 7672 2.2: no usable record, TLS unauthenticated */
			res->dane_unusable = 1;
	}
	SSL_set_verify(ssl, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	SSL_set_connect_state(ssl);
	if (io_tls_handshake(ssl, fd, fd, w->timeout_ms) != 0) {
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
		if (version_error(e = ERR_peek_error())) {
			why = ERR_reason_error_string(e);
			buf_printf(err, "the server offers no TLS version from "
			    "%s on (%s)", version_name(w->min_version),
			    why != NULL ? why : "protocol version");
			ERR_clear_error();
			res->version_refused = 1;
			SSL_free(ssl);
			return NULL;
		}
		goto fail;
	}
	/* never below the minimum, whatever the library did */
	res->version = SSL_version(ssl);
	if (res->version < w->min_version) {
		res->version_refused = 1;
		buf_printf(err, "%s negotiated, below TLS %s",
		    SSL_get_version(ssl), version_name(w->min_version));
		SSL_free(ssl);
		return NULL;
	}
	res->trusted = SSL_get_verify_result(ssl) == X509_V_OK &&
	    SSL_get0_peer_certificate(ssl) != NULL;
	if (dane > 0 && res->trusted)
		dane_match(ssl, res);
	snprintf(res->desc, sizeof(res->desc), "%s/%s%s", SSL_get_version(ssl),
	    SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)),
	    res->dane ? "/dane" : "");
	return ssl;
fail:
	ssl_err(err, "TLS handshake failed");
	SSL_free(ssl);
	return NULL;
}
