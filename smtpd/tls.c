/*
 * tls.c — the TLS server side: STARTTLS (RFC 3207) and implicit TLS
 * (port 465, RFC 8314) with OpenSSL, TLS 1.2 or newer only.
 *
 * The certificate chain and key are read from tls_cert/tls_key for every
 * connection (each session is its own process), so a renewed certificate
 * is used by the next connection without a restart: before dropping
 * privileges when started as root (the key may be root's), else only
 * when the client asks for TLS, so plain sessions pay nothing for it.
 * Renegotiation is off.  Input: the handshake from the peer, bounded by
 * smtp_timeout.  Trust: the configured files.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/log.h"
#include "smtpd/smtpd.h"

static void
log_ssl_error(const char *event, const char *what)
{
	char msg[256];
	unsigned long e = ERR_get_error();

	if (e != 0)
		ERR_error_string_n(e, msg, sizeof(msg));
	else
		snprintf(msg, sizeof(msg), "%s", "unknown error");
	ERR_clear_error();
	log_msg(LOG_ERR, event, "file", what, "reason", msg, (char *)NULL);
}

static int
no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return 0;
}

SSL_CTX *
tls_server_ctx(const struct config *cfg)
{
	SSL_CTX *ctx;

	if (cfg->tls_cert == NULL || cfg->tls_key == NULL)
		return NULL;
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		log_ssl_error("tls_init_failed", "");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	/* no resumption: each session is its own process, and a ticket
	 * key shared by a long-running server's children would live (and
	 * could decrypt TLS 1.2 sessions) until it stops */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	(void)SSL_CTX_set_num_tickets(ctx, 0);
	/* an encrypted key must fail, not prompt on a terminal */
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
		log_ssl_error("tls_cert_failed", cfg->tls_cert);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key,
	    SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		log_ssl_error("tls_key_failed", cfg->tls_key);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

bool
tls_configured(const struct config *cfg)
{
	return cfg->tls_cert != NULL && cfg->tls_key != NULL &&
	    access(cfg->tls_cert, R_OK) == 0 && access(cfg->tls_key, R_OK) == 0;
}

/* A private key others can read (or anyone but its owner can change) is
 * a mistake worth saying once, when a server starts; OpenSMTPD refuses
 * such a key, but refusing here would turn STARTTLS off on port 25.
 * Group read stays quiet: Debian's ssl-cert group is made for it.  The
 * path is followed (certbot's live/ names are symbolic links). */
static void
warn_key_mode(const char *key)
{
	struct stat st;
	char mode[8];

	if (stat(key, &st) == -1 ||
	    (st.st_mode & (S_IROTH | S_IWOTH | S_IWGRP)) == 0)
		return;
	snprintf(mode, sizeof(mode), "%04o", (unsigned)(st.st_mode & 07777));
	log_msg(LOG_WARNING, "tls_key_permissions", "file", key, "mode", mode,
	    "reason", st.st_mode & S_IROTH ? "the private key is readable "
	    "by every user" : "the private key is writable by users other "
	    "than its owner", (char *)NULL);
}

static SSL_CTX *preloaded;

bool
tls_preload(const struct config *cfg)
{
	if (preloaded == NULL && tls_configured(cfg)) {
		warn_key_mode(cfg->tls_key);
		preloaded = tls_server_ctx(cfg);
	}
	return preloaded != NULL;
}

bool
tls_usable(const struct config *cfg)
{
	return preloaded != NULL || tls_configured(cfg);
}

SSL_CTX *
tls_session_ctx(struct session *s)
{
	if (s->tls_ctx == NULL && s->tls_available && preloaded != NULL &&
	    SSL_CTX_up_ref(preloaded) == 1)
		s->tls_ctx = preloaded;
	if (s->tls_ctx == NULL && s->tls_available) {
		s->tls_ctx = tls_server_ctx(s->cfg);
		if (s->tls_ctx == NULL)
			s->tls_available = false;
	}
	return s->tls_ctx;
}

int
tls_start(struct session *s)
{
	SSL *ssl;

	if (tls_session_ctx(s) == NULL)
		return -1;
	ssl = SSL_new(s->tls_ctx);
	if (ssl == NULL || SSL_set_rfd(ssl, s->io.rfd) != 1 ||
	    SSL_set_wfd(ssl, s->io.wfd) != 1) {
		log_ssl_error("tls_failed", "");
		SSL_free(ssl);
		return -1;
	}
	SSL_set_accept_state(ssl);
	if (io_tls_handshake(ssl, s->io.rfd, s->io.wfd,
	    s->io.timeout_ms) != 0) {
		/* OpenSSL's reason ("no shared cipher", "unsupported
		 * protocol", ...) is what the administrator needs */
		unsigned long e = ERR_peek_error();
		char why[256];

		if (errno == ETIMEDOUT)
			snprintf(why, sizeof(why), "timeout");
		else if (e != 0)
			ERR_error_string_n(e, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "connection closed");
		log_msg(LOG_NOTICE, "tls_handshake_failed", "client",
		    s->peer_ip, "reason", why, (char *)NULL);
		ERR_clear_error();
		SSL_free(ssl);
		return -1;
	}
	if (stream_start_tls(&s->io, ssl) != 0) {
		SSL_free(ssl);
		return -1;
	}
	s->tls = true;
	snprintf(s->tls_info, sizeof(s->tls_info), "%s:%s",
	    SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	log_msg(LOG_INFO, "tls", "client", s->peer_ip, "version",
	    SSL_get_version(ssl), "cipher", SSL_get_cipher_name(ssl),
	    (char *)NULL);
	return 0;
}
