/*
 * io.h — file-descriptor I/O with deadlines, and the buffered line stream
 * used for every line-oriented peer (SMTP client or server, protocol pipes).
 *
 * All functions retry on EINTR.  A timeout is per call, in milliseconds
 * (<= 0: wait forever) and reported as -1 with errno ETIMEDOUT.  The stream
 * may run over TLS (OpenSSL) once stream_start_tls() was called; callers see
 * the same interface either way.  Input is treated as hostile: lines have a
 * hard limit and their terminator is reported exactly, so the SMTP server
 * can refuse bare LF / bare CR (SMTP smuggling, CVE-2023-51764..51766).
 */
#ifndef POSTHORN_IO_H
#define POSTHORN_IO_H

#include <stddef.h>
#include <sys/types.h>
#include <openssl/ssl.h>

#include "common/buf.h"

struct stream_tls_ops;

/* Plain fd helpers.  A timeout covers the whole call (a deadline), not each
 * wait inside it; writes to a socket whose peer is gone fail with EPIPE
 * (MSG_NOSIGNAL), on pipes callers should ignore SIGPIPE. */
ssize_t io_read(int fd, void *p, size_t n, int timeout_ms);	/* 0 = EOF */
int io_write_all(int fd, const void *p, size_t n, int timeout_ms);	/* 0 ok */
/* Write all n octets to a regular file (plain write(2), EINTR retried):
 * one system call where io_write_all first probes for a socket. */
int io_write_file(int fd, const void *p, size_t n);
/* Read until n bytes or EOF; returns bytes read or -1. */
ssize_t io_read_full(int fd, void *p, size_t n, int timeout_ms);
/* pread exactly n bytes at off of a regular file; -1 with errno (EIO if
 * the file ends first). */
int io_pread_all(int fd, void *p, size_t n, off_t off);
/* Read a whole (small) regular file into b (replacing its contents),
 * failing with EFBIG beyond max bytes, EISDIR / EINVAL for a directory or
 * anything else that is not a regular file (a FIFO never blocks). */
int io_read_file(const char *path, size_t max, struct buf *b);
/* Write data to path via a temporary file, fsync, rename, fsync dir. */
int io_write_file_atomic(const char *path, const void *p, size_t n, int mode);
/* fsync the directory that contains path (or path itself if a dir). */
int io_fsync_dir(const char *path);
int io_set_nonblock(int fd, int on);
int io_set_cloexec(int fd, int on);

/* How a line ended. */
enum line_end {
	LINE_CRLF,	/* "\r\n" */
	LINE_LF,	/* bare "\n" */
	LINE_CR,	/* bare "\r" not followed by "\n" */
	LINE_EOF	/* input ended without a terminator */
};

/* Results of stream_getline(). */
#define STREAM_LINE	1	/* a line is in *line */
#define STREAM_EOF	0	/* clean end of input, nothing pending */
#define STREAM_ERR	(-1)	/* I/O error or timeout (errno) */
#define STREAM_TOOLONG	(-2)	/* line exceeded max; it was read and
				   discarded up to its terminator, *end set */

struct stream {
	int rfd, wfd;
	SSL *ssl;		/* NULL: plaintext */
	const struct stream_tls_ops *tls;	/* set with ssl (io_tls.c) */
	int timeout_ms;		/* per read/write call */
	char *rbuf;
	size_t rpos, rlen, rcap;
	struct buf wbuf;	/* pending output, sent by stream_flush() */
	int eof;		/* peer closed its side */
	int fds_enabled;	/* read with recvmsg, collect SCM_RIGHTS */
	int fdq[8];		/* received, not yet taken descriptors */
	size_t nfdq;
	int error;		/* sticky I/O error (errno value) */
};

int stream_init(struct stream *s, int rfd, int wfd, int timeout_ms);
void stream_free(struct stream *s);	/* frees buffers and the SSL object
					   and closes received descriptors
					   not yet taken; does not close
					   rfd/wfd */
/* Read one line of at most max octets (terminator included) into line
 * (terminator not stored).  See STREAM_* for results.  The stream's
 * timeout covers the whole call.  On STREAM_TOOLONG line is empty.  A bare
 * CR is a line end (LINE_CR) once the next octet is known not to be LF; a
 * final line without terminator is returned with LINE_EOF. */
int stream_getline(struct stream *s, struct buf *line, size_t max,
    enum line_end *end);
/* Read up to n raw bytes (buffered input first); 0 = EOF, -1 error. */
ssize_t stream_read(struct stream *s, void *p, size_t n);
/* Read exactly n raw bytes into b (appending); -1 on EOF/error. */
int stream_read_exact(struct stream *s, struct buf *b, size_t n);
/* Buffered output; stream_flush() sends it all within the timeout. */
int stream_write(struct stream *s, const void *p, size_t n);
int stream_puts(struct stream *s, const char *str);
int stream_printf(struct stream *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int stream_flush(struct stream *s);
/* Bytes already received but not yet consumed (pipelined input). */
size_t stream_pending(const struct stream *s);
/* Zero every octet of the read buffer but the input not yet consumed
 * (input already taken, and stale copies left behind when the buffer was
 * compacted): for a reader that has just taken a secret from it. */
void stream_wipe_consumed(struct stream *s);
/* Drop all buffered input (used after STARTTLS: CVE-2011-0411). */
void stream_discard_input(struct stream *s);
/* After a failed write: drop the output not sent and forget the error, so
 * that what the peer sent before it went away can still be read (an SMTP
 * client reads the reply a server gave in the middle of the message). */
void stream_drop_output(struct stream *s);
/* Is input readable within timeout_ms (buffered input counts)? 1/0/-1 */
int stream_wait_readable(struct stream *s, int timeout_ms);
/* Unix sockets: receive with recvmsg() and queue descriptors passed with
 * SCM_RIGHTS (extra ones beyond the queue's size are closed).  Received
 * descriptors are O_CLOEXEC. */
void stream_enable_fds(struct stream *s);
/* The oldest received descriptor not yet taken, or -1. */
int stream_take_fd(struct stream *s);
/* Send p[0..n) with one descriptor attached (fd < 0: none), unbuffered:
 * any pending stream output is flushed first. */
int stream_send_fd(struct stream *s, const void *p, size_t n, int fd);
/* Same on a bare socket fd. */
int io_send_fd(int sock, const void *p, size_t n, int fd, int timeout_ms);
/* One sendmsg() of p[0..n) (n > 0) with descriptor fd attached to its
 * first byte, without waiting (MSG_DONTWAIT): the octets sent (at least
 * one, and fd went with them), or -1 (errno EAGAIN: no room yet, nothing
 * sent).  For an event loop that writes the rest when there is room. */
ssize_t io_send_fd_nowait(int sock, const void *p, size_t n, int fd);

/* Switch to TLS on an established SSL object whose handshake is done
 * (stream takes ownership).  Buffered plaintext input must have been
 * discarded by the caller first. */
int stream_start_tls(struct stream *s, SSL *ssl);
/* Run the TLS handshake of ssl (SSL_set_fd/set_accept_state or
 * set_connect_state done by the caller) over rfd/wfd within timeout_ms,
 * making both descriptors non-blocking.  0 done, -1 failed (errno:
 * ETIMEDOUT, EPROTO for a TLS failure, or the system error). */
int io_tls_handshake(SSL *ssl, int rfd, int wfd, int timeout_ms);

/* The line splitter under stream_getline(), on memory: look for the first
 * line end in p[0..n).  Returns 1 with *clen content octets, *consumed
 * octets including the terminator and *end set; or 0 when more input is
 * needed (*clen octets are certainly content; a trailing CR waits for the
 * next octet).  With eof set, a final CR is LINE_CR and unterminated
 * content is a LINE_EOF line; n == 0 with eof returns 0. */
int line_scan(const char *p, size_t n, int eof, size_t *clen,
    size_t *consumed, enum line_end *end);

/* Make sure descriptors 0-2 are open: each that is closed (fcntl F_GETFD
 * fails with EBADF) is opened on /dev/null, so that no descriptor the
 * program opens later becomes standard input, output or error by
 * accident (and receives its log lines).  0 ok; -1 with errno when
 * /dev/null could not be opened (the program should exit: EX_OSERR). */
int io_stdio_open(void);

#endif
