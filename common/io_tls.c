/*
 * io_tls.c — the TLS half of common/io.c: the handshake and the stream's
 * reads and writes through OpenSSL, with the same deadlines and SIGPIPE
 * handling as plain descriptors.  Kept apart so that programs that never
 * speak TLS (the queue, the scheduler, local delivery, bounces) do not
 * link OpenSSL at all and start faster; stream_start_tls() installs these
 * functions into a stream.  Trusts nothing the peer sends: OpenSSL parses
 * it, and every error ends in -1 with errno set.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/io.h"
#include "common/io_internal.h"

/* Wait as OpenSSL asks after a WANT_READ/WANT_WRITE; -1 on other errors. */
static int
tls_wait(SSL *ssl, int rfd, int wfd, int r, int64_t deadline)
{
	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return wait_fd(rfd, POLLIN, deadline);
	case SSL_ERROR_WANT_WRITE:
		return wait_fd(wfd, POLLOUT, deadline);
	case SSL_ERROR_SYSCALL:
		if (errno == EINTR)
			return 0;
		if (errno == 0)
			errno = ECONNRESET;
		return -1;
	default:
		errno = EPROTO;
		return -1;
	}
}

int
io_tls_handshake(SSL *ssl, int rfd, int wfd, int timeout_ms)
{
	int64_t deadline = deadline_of(timeout_ms);
	struct pipe_guard g;
	int r;

	if (io_set_nonblock(rfd, 1) == -1 || io_set_nonblock(wfd, 1) == -1)
		return -1;
	for (;;) {
		ERR_clear_error();
		errno = 0;
		guard_on(&g);
		r = SSL_do_handshake(ssl);
		guard_off(&g);
		if (r == 1)
			return 0;
		if (tls_wait(ssl, rfd, wfd, r, deadline) == -1)
			return -1;
	}
}

/* Did SSL_read's result r mean end of input?  A peer that closes without
 * close_notify is EOF too: SMTP ends its data with its own marker, so a
 * truncation is seen by the protocol, not by TLS. */
static int
tls_eof(SSL *ssl, int r)
{
	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_ZERO_RETURN:
		return 1;
	case SSL_ERROR_SYSCALL:
		return r == 0 && errno == 0;
	case SSL_ERROR_SSL:
		return ERR_GET_REASON(ERR_peek_error()) ==
		    SSL_R_UNEXPECTED_EOF_WHILE_READING;
	default:
		return 0;
	}
}

static ssize_t
tls_read_dl(struct stream *s, void *p, size_t n, int64_t deadline)
{
	struct pipe_guard g;
	int r, want;

	want = n > INT_MAX ? INT_MAX : (int)n;
	for (;;) {
		ERR_clear_error();
		errno = 0;
		guard_on(&g);
		r = SSL_read(s->ssl, p, want);
		guard_off(&g);
		if (r > 0)
			return r;
		if (tls_eof(s->ssl, r))
			return 0;
		if (tls_wait(s->ssl, s->rfd, s->wfd, r, deadline) == -1)
			return -1;
	}
}

static int
tls_write_dl(struct stream *s, const void *p, size_t n, int64_t deadline)
{
	const char *c = p;
	struct pipe_guard g;
	int r, want;

	while (n > 0) {
		want = n > INT_MAX ? INT_MAX : (int)n;
		ERR_clear_error();
		errno = 0;
		guard_on(&g);
		r = SSL_write(s->ssl, c, want);
		guard_off(&g);
		if (r > 0) {
			c += r;
			n -= (size_t)r;
			continue;
		}
		if (tls_wait(s->ssl, s->rfd, s->wfd, r, deadline) == -1)
			return -1;
	}
	return 0;
}

static size_t
tls_pending(struct stream *s)
{
	int n = SSL_pending(s->ssl);

	return n > 0 ? (size_t)n : 0;
}

/* An orderly end sends close_notify (RFC 8446 6.1), so that the peer can
 * tell it from a truncation; once, without waiting: the descriptors are
 * non-blocking, and nothing is sent after a failed read or write (OpenSSL
 * forbids it after a fatal error). */
static void
tls_free(struct stream *s)
{
	struct pipe_guard g;

	if (s->error == 0 && SSL_is_init_finished(s->ssl)) {
		ERR_clear_error();
		guard_on(&g);
		(void)SSL_shutdown(s->ssl);
		guard_off(&g);
		ERR_clear_error();
	}
	SSL_free(s->ssl);
}

static const struct stream_tls_ops tls_ops = {
	tls_read_dl, tls_write_dl, tls_pending, tls_free
};

int
stream_start_tls(struct stream *s, SSL *ssl)
{
	if (s->ssl != NULL || ssl == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (io_set_nonblock(s->rfd, 1) == -1 ||
	    io_set_nonblock(s->wfd, 1) == -1)
		return -1;
	s->ssl = ssl;
	s->tls = &tls_ops;
	s->rpos = s->rlen = 0;
	s->eof = 0;
	return 0;
}

