/*
 * io.c — descriptor I/O with deadlines, durable file writes, and the
 * buffered line stream (io.h), optionally over TLS or with descriptor
 * passing on unix sockets.  No call here can raise SIGPIPE: a vanished
 * reader is the error EPIPE.
 *
 * Every wait goes through poll() against a deadline computed once per call
 * from CLOCK_MONOTONIC, so a peer that trickles bytes cannot stretch one
 * call past its timeout; EINTR is retried with the remaining time.  Writes
 * use send(MSG_NOSIGNAL) where the descriptor is a socket so a vanished
 * peer is an EPIPE error, not a signal.  Input is hostile: lines are split
 * by line_scan(), which reports the exact terminator (CRLF, bare LF, bare
 * CR, or none at EOF), and stream_getline() never stores more than the
 * caller's limit, discarding the rest of an overlong line up to its end.
 * Under TLS the descriptors are non-blocking and SSL_read/SSL_write are
 * driven by poll() with the same deadlines.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


#include "common/buf.h"
#include "common/io.h"
#include "common/io_internal.h"

#define STREAM_RBUF	16384
#define STREAM_WMAX	65536	/* pending output that forces a flush */
#define IO_CHUNK	65536

/* ---- deadlines ------------------------------------------------------- */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Absolute deadline for a timeout; -1 means none. */
int64_t
deadline_of(int timeout_ms)
{
	if (timeout_ms <= 0)
		return -1;
	return now_ms() + timeout_ms;
}

/* Wait until fd has ev (POLLIN/POLLOUT).  0 ready, -1 (ETIMEDOUT, ...). */
int
wait_fd(int fd, short ev, int64_t deadline)
{
	struct pollfd pfd;
	int64_t left;
	int r, t;

	for (;;) {
		t = -1;
		if (deadline >= 0) {
			left = deadline - now_ms();
			if (left <= 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			t = left > INT_MAX ? INT_MAX : (int)left;
		}
		pfd.fd = fd;
		pfd.events = ev;
		pfd.revents = 0;
		r = poll(&pfd, 1, t);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		if (r == 0)
			continue;	/* re-check the deadline */
		if (pfd.revents & POLLNVAL) {
			errno = EBADF;
			return -1;
		}
		return 0;	/* ready, or HUP/ERR: the call reports it */
	}
}

/* ---- SIGPIPE ----------------------------------------------------------
 * A write to a pipe whose reader is gone, or OpenSSL's write() to a socket
 * whose peer is gone, raises SIGPIPE, which would kill a program that did
 * not ignore it.  Around such calls SIGPIPE is blocked, and a SIGPIPE the
 * call raised is taken back with sigtimedwait(), so the caller sees EPIPE.
 */
void
guard_on(struct pipe_guard *g)
{
	sigset_t set, pend;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigemptyset(&pend);
	g->was_pending = sigpending(&pend) == 0 &&
	    sigismember(&pend, SIGPIPE) == 1;
	sigprocmask(SIG_BLOCK, &set, &g->old);
}

void
guard_off(struct pipe_guard *g)
{
	static const struct timespec zero = { 0, 0 };
	sigset_t set, pend;
	int e = errno;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigemptyset(&pend);
	if (!g->was_pending && sigpending(&pend) == 0 &&
	    sigismember(&pend, SIGPIPE) == 1) {
		while (sigtimedwait(&set, NULL, &zero) == -1 && errno == EINTR)
			;
	}
	sigprocmask(SIG_SETMASK, &g->old, NULL);
	errno = e;
}

static ssize_t
write_nosig(int fd, const void *p, size_t n)
{
	struct pipe_guard g;
	ssize_t r;

	guard_on(&g);
	r = write(fd, p, n);
	guard_off(&g);
	return r;
}

/* ---- plain descriptors ---------------------------------------------- */

static ssize_t
read_dl(int fd, void *p, size_t n, int64_t deadline)
{
	ssize_t r;

	for (;;) {
		if (wait_fd(fd, POLLIN, deadline) == -1)
			return -1;
		r = read(fd, p, n);
		if (r >= 0)
			return r;
		if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
	}
}

ssize_t
io_read(int fd, void *p, size_t n, int timeout_ms)
{
	return read_dl(fd, p, n, deadline_of(timeout_ms));
}

static int
write_dl(int fd, const void *p, size_t n, int64_t deadline)
{
	enum { SOCKET, REGULAR, OTHER } kind = SOCKET;
	const char *c = p;
	struct stat st;
	size_t chunk = SIZE_MAX;
	ssize_t r;
	int fl;

	/* Sockets: try first (MSG_DONTWAIT never blocks past the deadline),
	 * wait only when the buffer is full.  Regular files: plain write(),
	 * they neither block nor raise SIGPIPE.  Pipes and the rest: wait
	 * for room, then write with SIGPIPE held off; on a blocking pipe a
	 * write larger than the room poll() saw would wait for the reader
	 * without a deadline, so there at most PIPE_BUF octets go at once
	 * (poll says a pipe is writable when a whole page is free). */
	while (n > 0) {
		if (kind == SOCKET) {
			r = send(fd, c, n, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (r == -1 && errno == ENOTSOCK) {
				kind = fstat(fd, &st) == 0 &&
				    S_ISREG(st.st_mode) ? REGULAR : OTHER;
				if (kind == OTHER &&
				    ((fl = fcntl(fd, F_GETFL)) == -1 ||
				    !(fl & O_NONBLOCK)))
					chunk = PIPE_BUF;
				continue;
			}
			if (r == -1 && (errno == EAGAIN ||
			    errno == EWOULDBLOCK)) {
				if (wait_fd(fd, POLLOUT, deadline) == -1)
					return -1;
				continue;
			}
		} else if (kind == REGULAR) {
			r = write(fd, c, n);
		} else {
			if (wait_fd(fd, POLLOUT, deadline) == -1)
				return -1;
			r = write_nosig(fd, c, n < chunk ? n : chunk);
		}
		if (r == -1) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			return -1;
		}
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

int
io_write_all(int fd, const void *p, size_t n, int timeout_ms)
{
	return write_dl(fd, p, n, deadline_of(timeout_ms));
}

int
io_write_file(int fd, const void *p, size_t n)
{
	const char *c = p;
	ssize_t r;

	while (n > 0) {
		r = write(fd, c, n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		if (r == 0) {
			errno = EIO;
			return -1;
		}
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

ssize_t
io_read_full(int fd, void *p, size_t n, int timeout_ms)
{
	int64_t deadline = deadline_of(timeout_ms);
	char *c = p;
	size_t got = 0;
	ssize_t r;

	if (n > SSIZE_MAX) {
		errno = EINVAL;
		return -1;
	}
	while (got < n) {
		r = read_dl(fd, c + got, n - got, deadline);
		if (r == -1)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int
io_pread_all(int fd, void *p, size_t n, off_t off)
{
	char *c = p;
	ssize_t r;

	while (n > 0) {
		r = pread(fd, c, n, off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		if (r == 0) {
			errno = EIO;
			return -1;
		}
		c += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

int
io_read_file(const char *path, size_t max, struct buf *b)
{
	char chunk[8192];
	struct stat st;
	ssize_t r;
	int fd, e;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		goto fail;
	}
	if ((uint64_t)st.st_size > max) {
		errno = EFBIG;
		goto fail;
	}
	buf_reset(b);
	for (;;) {
		r = read(fd, chunk, sizeof(chunk));
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			goto fail;
		if (r == 0)
			break;
		if ((size_t)r > max || b->len > max - (size_t)r) {
			errno = EFBIG;
			goto fail;
		}
		if (buf_append(b, chunk, (size_t)r) == -1)
			goto fail;
	}
	close(fd);
	if (b->data == NULL && buf_reserve(b, 0) == -1)
		return -1;
	return 0;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

int
io_fsync_dir(const char *path)
{
	struct stat st;
	char dir[PATH_MAX];
	const char *slash;
	int fd, r, e;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (snprintf(dir, sizeof(dir), "%s", path) >=
		    (int)sizeof(dir)) {
			errno = ENAMETOOLONG;
			return -1;
		}
	} else {
		slash = strrchr(path, '/');
		if (slash == NULL)
			snprintf(dir, sizeof(dir), ".");
		else if (slash == path)
			snprintf(dir, sizeof(dir), "/");
		else if ((size_t)(slash - path) >= sizeof(dir)) {
			errno = ENAMETOOLONG;
			return -1;
		} else {
			memcpy(dir, path, (size_t)(slash - path));
			dir[slash - path] = '\0';
		}
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	r = fsync(fd);
	e = errno;
	close(fd);
	errno = e;
	return r;
}

int
io_write_file_atomic(const char *path, const void *p, size_t n, int mode)
{
	char tmp[PATH_MAX];
	int fd, e;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY,
	    (mode_t)mode);
	if (fd == -1)
		return -1;
	if (write_dl(fd, p, n, -1) == -1 || fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto fail;
	return io_fsync_dir(path);
fail:
	e = errno;
	if (fd != -1)
		close(fd);
	(void)unlink(tmp);
	errno = e;
	return -1;
}

int
io_set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1)
		return -1;
	fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	return fcntl(fd, F_SETFL, fl) == -1 ? -1 : 0;
}

int
io_set_cloexec(int fd, int on)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl == -1)
		return -1;
	fl = on ? (fl | FD_CLOEXEC) : (fl & ~FD_CLOEXEC);
	return fcntl(fd, F_SETFD, fl) == -1 ? -1 : 0;
}

/* ---- descriptor passing --------------------------------------------- */

ssize_t
io_send_fd_nowait(int sock, const void *p, size_t n, int fd)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;
	struct msghdr mh;
	struct cmsghdr *c;
	struct iovec iov;
	ssize_t r;

	if (n == 0 || fd < 0) {
		errno = EINVAL;	/* a stream socket needs a byte to carry it */
		return -1;
	}
	memset(&mh, 0, sizeof(mh));
	memset(&cm, 0, sizeof(cm));
	iov.iov_base = (void *)(uintptr_t)p;
	iov.iov_len = n;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.b;
	mh.msg_controllen = sizeof(cm.b);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	do
		r = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (r == -1 && errno == EINTR);
	if (r == 0) {	/* cannot happen for n > 0; never report it as sent */
		errno = EAGAIN;
		return -1;
	}
	return r;
}

int
io_send_fd(int sock, const void *p, size_t n, int fd, int timeout_ms)
{
	int64_t deadline = deadline_of(timeout_ms);
	ssize_t r;

	if (fd < 0)
		return write_dl(sock, p, n, deadline);
	for (;;) {
		if (wait_fd(sock, POLLOUT, deadline) == -1)
			return -1;
		r = io_send_fd_nowait(sock, p, n, fd);
		if (r > 0)
			break;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
	}
	/* the descriptor went with the first byte; the rest is plain data */
	return write_dl(sock, (const char *)p + r, n - (size_t)r, deadline);
}

static void
stream_queue_fds(struct stream *s, struct msghdr *mh)
{
	struct cmsghdr *c;
	size_t i, nfd;
	int fd;

	for (c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		if (c->cmsg_len < CMSG_LEN(0))
			continue;
		nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < nfd; i++) {
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int),
			    sizeof(int));
			if (s->nfdq < sizeof(s->fdq) / sizeof(s->fdq[0]))
				s->fdq[s->nfdq++] = fd;
			else
				close(fd);
		}
	}
}

static ssize_t
recv_fds_dl(struct stream *s, void *p, size_t n, int64_t deadline)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * 8)];
	} cm;
	struct msghdr mh;
	struct iovec iov;
	ssize_t r;

	for (;;) {
		if (wait_fd(s->rfd, POLLIN, deadline) == -1)
			return -1;
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = p;
		iov.iov_len = n;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.b;
		mh.msg_controllen = sizeof(cm.b);
		r = recvmsg(s->rfd, &mh, MSG_CMSG_CLOEXEC);
		if (r >= 0) {
			stream_queue_fds(s, &mh);
			return r;
		}
		if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
	}
}

/* ---- the stream ------------------------------------------------------ */

int
stream_init(struct stream *s, int rfd, int wfd, int timeout_ms)
{
	memset(s, 0, sizeof(*s));
	s->rfd = rfd;
	s->wfd = wfd;
	s->timeout_ms = timeout_ms;
	buf_init(&s->wbuf);
	s->rbuf = malloc(STREAM_RBUF);
	if (s->rbuf == NULL) {
		errno = ENOMEM;
		return -1;
	}
	s->rcap = STREAM_RBUF;
	return 0;
}

void
stream_free(struct stream *s)
{
	size_t i;

	if (s->tls != NULL)
		s->tls->free(s);
	s->ssl = NULL;
	s->tls = NULL;
	for (i = 0; i < s->nfdq; i++)
		close(s->fdq[i]);
	s->nfdq = 0;
	free(s->rbuf);
	s->rbuf = NULL;
	s->rpos = s->rlen = s->rcap = 0;
	buf_free(&s->wbuf);
}

/* Raw read from the stream's source, bypassing the buffer. */
static ssize_t
stream_raw_read(struct stream *s, void *p, size_t n, int64_t deadline)
{
	ssize_t r;

	if (s->error != 0) {
		errno = s->error;
		return -1;
	}
	if (s->eof)
		return 0;
	if (s->tls != NULL)
		r = s->tls->read(s, p, n, deadline);
	else if (s->fds_enabled)
		r = recv_fds_dl(s, p, n, deadline);
	else
		r = read_dl(s->rfd, p, n, deadline);
	if (r == 0)
		s->eof = 1;
	if (r == -1 && errno != ETIMEDOUT)
		s->error = errno;
	return r;
}

/* Refill: keep unconsumed input, read more after it.  >0, 0 EOF, -1. */
static ssize_t
stream_fill(struct stream *s, int64_t deadline)
{
	ssize_t r;

	if (s->rpos > 0) {
		memmove(s->rbuf, s->rbuf + s->rpos, s->rlen - s->rpos);
		s->rlen -= s->rpos;
		s->rpos = 0;
	}
	if (s->rlen == s->rcap) {
		errno = ENOBUFS;
		return -1;
	}
	r = stream_raw_read(s, s->rbuf + s->rlen, s->rcap - s->rlen,
	    deadline);
	if (r > 0)
		s->rlen += (size_t)r;
	return r;
}

int
line_scan(const char *p, size_t n, int eof, size_t *clen, size_t *consumed,
    enum line_end *end)
{
	const char *lf, *cr;
	size_t i, limit;

	/* the first LF, then the first CR before it (memchr: fast path) */
	lf = n > 0 ? memchr(p, '\n', n) : NULL;
	limit = lf != NULL ? (size_t)(lf - p) : n;
	cr = limit > 0 ? memchr(p, '\r', limit) : NULL;
	if (cr == NULL && lf != NULL) {
		*clen = limit;
		*consumed = limit + 1;
		*end = LINE_LF;
		return 1;
	}
	if (cr != NULL) {
		i = (size_t)(cr - p);
		*clen = i;
		if (i + 1 == n && !eof) {
			*consumed = 0;	/* need the next octet */
			return 0;
		}
		if (i + 1 < n && p[i + 1] == '\n') {
			*consumed = i + 2;
			*end = LINE_CRLF;
		} else {
			*consumed = i + 1;
			*end = LINE_CR;
		}
		return 1;
	}
	*clen = n;
	*consumed = 0;
	if (eof && n > 0) {
		*consumed = n;
		*end = LINE_EOF;
		return 1;
	}
	return 0;
}

/* Add content octets to the line unless it is already too long. */
static int
line_take(struct buf *line, const char *p, size_t n, size_t *total,
    size_t max, int *toolong)
{
	if (size_add(*total, n, total) == -1)
		*total = SIZE_MAX;
	if (*total > max || *toolong) {
		if (!*toolong)
			buf_reset(line);
		*toolong = 1;
		return 0;
	}
	return buf_append(line, p, n);
}

int
stream_getline(struct stream *s, struct buf *line, size_t max,
    enum line_end *end)
{
	int64_t deadline = deadline_of(s->timeout_ms);
	size_t clen, used, total = 0;
	int toolong = 0, started = 0, r;
	ssize_t got;

	buf_reset(line);
	for (;;) {
		r = line_scan(s->rbuf + s->rpos, s->rlen - s->rpos, s->eof,
		    &clen, &used, end);
		if (clen > 0 || r == 1)
			started = 1;
		if (line_take(line, s->rbuf + s->rpos, clen, &total, max,
		    &toolong) == -1)
			return STREAM_ERR;
		if (r == 1) {
			s->rpos += used;
			/* the terminator counts against the limit */
			if (!toolong && used - clen > max - total)
				toolong = 1;
			if (toolong) {
				buf_reset(line);
				return STREAM_TOOLONG;
			}
			return STREAM_LINE;
		}
		s->rpos += clen;
		if (s->eof) {
			/* nothing left: EOF right at a line start, else the
			 * pending CR was handled by line_scan above */
			if (!started)
				return STREAM_EOF;
			*end = LINE_EOF;
			if (toolong) {
				buf_reset(line);
				return STREAM_TOOLONG;
			}
			return STREAM_LINE;
		}
		got = stream_fill(s, deadline);
		if (got == -1)
			return STREAM_ERR;
	}
}

ssize_t
stream_read(struct stream *s, void *p, size_t n)
{
	size_t avail;
	ssize_t r;

	if (n == 0)
		return 0;
	if (s->rlen == s->rpos) {
		s->rpos = s->rlen = 0;
		r = stream_fill(s, deadline_of(s->timeout_ms));
		if (r <= 0)
			return r;
	}
	avail = s->rlen - s->rpos;
	if (avail > n)
		avail = n;
	if (avail > SSIZE_MAX)
		avail = SSIZE_MAX;
	memcpy(p, s->rbuf + s->rpos, avail);
	s->rpos += avail;
	return (ssize_t)avail;
}

int
stream_read_exact(struct stream *s, struct buf *b, size_t n)
{
	size_t want;
	ssize_t r;

	while (n > 0) {
		want = n > IO_CHUNK ? IO_CHUNK : n;
		if (buf_reserve(b, want) == -1)
			return -1;
		r = stream_read(s, b->data + b->len, want);
		if (r == 0)
			errno = EPIPE;
		if (r <= 0)
			return -1;
		b->len += (size_t)r;
		b->data[b->len] = '\0';
		n -= (size_t)r;
	}
	return 0;
}

int
stream_write(struct stream *s, const void *p, size_t n)
{
	if (s->error != 0) {
		errno = s->error;
		return -1;
	}
	if (buf_append(&s->wbuf, p, n) == -1)
		return -1;
	if (s->wbuf.len >= STREAM_WMAX)
		return stream_flush(s);
	return 0;
}

int
stream_puts(struct stream *s, const char *str)
{
	return stream_write(s, str, strlen(str));
}

int
stream_printf(struct stream *s, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (s->error != 0) {
		errno = s->error;
		return -1;
	}
	va_start(ap, fmt);
	r = buf_vprintf(&s->wbuf, fmt, ap);
	va_end(ap);
	if (r == -1)
		return -1;
	if (s->wbuf.len >= STREAM_WMAX)
		return stream_flush(s);
	return 0;
}

int
stream_flush(struct stream *s)
{
	int64_t deadline = deadline_of(s->timeout_ms);
	int r;

	if (s->error != 0) {
		errno = s->error;
		return -1;
	}
	if (s->wbuf.len == 0)
		return 0;
	if (s->tls != NULL)
		r = s->tls->write(s, s->wbuf.data, s->wbuf.len, deadline);
	else
		r = write_dl(s->wfd, s->wbuf.data, s->wbuf.len, deadline);
	if (r == -1) {
		s->error = errno;
		return -1;
	}
	buf_reset(&s->wbuf);
	return 0;
}

size_t
stream_pending(const struct stream *s)
{
	return s->rlen - s->rpos;
}

void
stream_wipe_consumed(struct stream *s)
{
	if (s->rbuf == NULL)
		return;
	explicit_bzero(s->rbuf, s->rpos);
	explicit_bzero(s->rbuf + s->rlen, s->rcap - s->rlen);
}

void
stream_discard_input(struct stream *s)
{
	s->rpos = s->rlen = 0;
}

void
stream_drop_output(struct stream *s)
{
	buf_reset(&s->wbuf);
	s->error = 0;
}

int
stream_wait_readable(struct stream *s, int timeout_ms)
{
	if (s->rlen > s->rpos || s->eof)
		return 1;
	if (s->tls != NULL && s->tls->pending(s) > 0)
		return 1;
	if (wait_fd(s->rfd, POLLIN, deadline_of(timeout_ms)) == -1)
		return errno == ETIMEDOUT ? 0 : -1;
	return 1;
}

void
stream_enable_fds(struct stream *s)
{
	s->fds_enabled = 1;
}

int
stream_take_fd(struct stream *s)
{
	int fd;

	if (s->nfdq == 0)
		return -1;
	fd = s->fdq[0];
	memmove(s->fdq, s->fdq + 1, (s->nfdq - 1) * sizeof(s->fdq[0]));
	s->nfdq--;
	return fd;
}

int
stream_send_fd(struct stream *s, const void *p, size_t n, int fd)
{
	if (stream_flush(s) == -1)
		return -1;
	if (io_send_fd(s->wfd, p, n, fd, s->timeout_ms) == -1) {
		s->error = errno;
		return -1;
	}
	return 0;
}

int
io_stdio_open(void)
{
	int fd, null;

	for (fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		/* 0 .. fd-1 are open, so this is fd itself */
		null = open("/dev/null", O_RDWR);
		if (null == -1)
			return -1;
		if (null != fd) {
			int r = dup2(null, fd);

			close(null);
			if (r == -1)
				return -1;
		}
	}
	return 0;
}
