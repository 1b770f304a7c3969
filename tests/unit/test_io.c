/*
 * test_io.c — unit tests for common/io.c: deadlines (ETIMEDOUT on a silent
 * pipe), file helpers, the line stream (exact CRLF/LF/CR/EOF detection, CR
 * at a read and at a buffer boundary, NUL bytes, the hard line limit),
 * descriptor passing over a socketpair, EPIPE instead of SIGPIPE, TLS
 * against an in-process OpenSSL peer with a certificate made at test time,
 * and /dev/null on closed standard descriptors (io_stdio_open).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/buf.h"
#include "common/io.h"

static long
elapsed_ms(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a->tv_sec) * 1000 +
	    (b.tv_nsec - a->tv_nsec) / 1000000;
}

/* A child that writes the given chunks with pauses between, then exits. */
static pid_t
writer(int fd, const char *const *chunks, const size_t *lens, size_t n)
{
	pid_t pid = fork();
	size_t i;

	ck_assert_int_ne(pid, -1);
	if (pid != 0)
		return pid;
	for (i = 0; i < n; i++) {
		if (io_write_all(fd, chunks[i], lens[i], 5000) == -1)
			_exit(1);
		usleep(30000);
	}
	_exit(0);
}

static void
reap(pid_t pid)
{
	int st;

	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

START_TEST(test_read_timeout)
{
	struct timespec t0;
	char c;
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	errno = 0;
	ck_assert_int_eq(io_read(p[0], &c, 1, 150), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_ge(elapsed_ms(&t0), 140);
	ck_assert_int_lt(elapsed_ms(&t0), 2000);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(io_read(p[0], &c, 1, 150), 1);
	ck_assert_int_eq(c, 'x');
	close(p[1]);
	ck_assert_int_eq(io_read(p[0], &c, 1, 150), 0);
	close(p[0]);
}
END_TEST

START_TEST(test_write_timeout)
{
	struct stream s;
	struct timespec t0;
	char big[65536];
	int p[2];

	/* nobody reads: the pipe fills, then the deadline expires */
	ck_assert_int_eq(pipe(p), 0);
	memset(big, 'x', sizeof(big));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	errno = 0;
	ck_assert_int_eq(io_write_all(p[1], big, sizeof(big), 100), 0);
	ck_assert_int_eq(io_write_all(p[1], big, sizeof(big), 150), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_ge(elapsed_ms(&t0), 140);
	ck_assert_int_lt(elapsed_ms(&t0), 2000);
	ck_assert_int_eq(stream_init(&s, -1, p[1], 100), 0);
	ck_assert_int_eq(stream_write(&s, "y", 1), 0);
	ck_assert_int_eq(stream_flush(&s), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	stream_free(&s);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(test_deadline_not_reset)
{
	struct timespec t0;
	char got[100];
	pid_t pid;
	int p[2], i;

	/* a peer trickling one octet every 20 ms cannot stretch one call */
	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		close(p[0]);
		for (i = 0; i < 100; i++) {
			if (write(p[1], "z", 1) != 1)
				_exit(0);
			usleep(20000);
		}
		_exit(0);
	}
	close(p[1]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	errno = 0;
	ck_assert_int_eq(io_read_full(p[0], got, sizeof(got), 200), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_ge(elapsed_ms(&t0), 190);
	ck_assert_int_lt(elapsed_ms(&t0), 1000);
	close(p[0]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}
END_TEST

START_TEST(test_read_full)
{
	const char *ch[] = { "ab", "cd", "ef" };
	size_t ln[] = { 2, 2, 2 };
	char got[10];
	pid_t pid;
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	pid = writer(p[1], ch, ln, 3);
	close(p[1]);
	ck_assert_int_eq(io_read_full(p[0], got, 10, 5000), 6);
	ck_assert_int_eq(memcmp(got, "abcdef", 6), 0);
	reap(pid);
	close(p[0]);
}
END_TEST

START_TEST(test_files)
{
	char dir[] = "/tmp/test_io.XXXXXX", path[64];
	struct buf b = BUF_INIT;
	struct stat st;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	errno = 0;
	ck_assert_int_eq(io_read_file(path, 100, &b), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(io_write_file_atomic(path, "a\0b\n", 4, 0640), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0640);
	ck_assert_int_eq(io_read_file(path, 4, &b), 0);
	ck_assert_uint_eq(b.len, 4);
	ck_assert_int_eq(memcmp(b.data, "a\0b\n", 5), 0);
	errno = 0;
	ck_assert_int_eq(io_read_file(path, 3, &b), -1);
	ck_assert_int_eq(errno, EFBIG);
	ck_assert_int_eq(io_write_file_atomic(path, "", 0, 0600), 0);
	ck_assert_int_eq(io_read_file(path, 3, &b), 0);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(buf_str(&b), "");
	ck_assert_int_eq(io_fsync_dir(path), 0);
	ck_assert_int_eq(io_fsync_dir(dir), 0);
	errno = 0;
	ck_assert_int_eq(io_read_file(dir, 100, &b), -1);
	ck_assert_int_eq(errno, EISDIR);
	unlink(path);
	/* a FIFO nobody writes to: refused at once, not a hang */
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	errno = 0;
	ck_assert_int_eq(io_read_file(path, 100, &b), -1);
	ck_assert_int_eq(errno, EINVAL);
	unlink(path);
	rmdir(dir);
	buf_free(&b);
}
END_TEST

START_TEST(test_line_scan)
{
	size_t clen, used;
	enum line_end e;

	ck_assert_int_eq(line_scan("ab\r\ncd", 6, 0, &clen, &used, &e), 1);
	ck_assert_uint_eq(clen, 2);
	ck_assert_uint_eq(used, 4);
	ck_assert_int_eq(e, LINE_CRLF);
	ck_assert_int_eq(line_scan("ab\ncd", 5, 0, &clen, &used, &e), 1);
	ck_assert_int_eq(e, LINE_LF);
	ck_assert_uint_eq(used, 3);
	ck_assert_int_eq(line_scan("ab\rcd", 5, 0, &clen, &used, &e), 1);
	ck_assert_int_eq(e, LINE_CR);
	ck_assert_uint_eq(clen, 2);
	ck_assert_uint_eq(used, 3);
	ck_assert_int_eq(line_scan("ab\r", 3, 0, &clen, &used, &e), 0);
	ck_assert_uint_eq(clen, 2);
	ck_assert_int_eq(line_scan("ab\r", 3, 1, &clen, &used, &e), 1);
	ck_assert_int_eq(e, LINE_CR);
	ck_assert_uint_eq(used, 3);
	ck_assert_int_eq(line_scan("a\0b", 3, 0, &clen, &used, &e), 0);
	ck_assert_uint_eq(clen, 3);
	ck_assert_int_eq(line_scan("a\0b", 3, 1, &clen, &used, &e), 1);
	ck_assert_int_eq(e, LINE_EOF);
	ck_assert_uint_eq(used, 3);
	ck_assert_int_eq(line_scan("", 0, 1, &clen, &used, &e), 0);
	ck_assert_int_eq(line_scan("\r\r\n", 3, 0, &clen, &used, &e), 1);
	ck_assert_int_eq(e, LINE_CR);
	ck_assert_uint_eq(used, 1);
	ck_assert_int_eq(line_scan("\n\r", 2, 0, &clen, &used, &e), 1);
	ck_assert_int_eq(e, LINE_LF);
	ck_assert_uint_eq(clen, 0);
}
END_TEST

/* Read every line of the stream into "content<END>" records. */
static void
read_all(struct stream *s, size_t max, struct buf *out)
{
	static const char *const names[] = { "<CRLF>", "<LF>", "<CR>",
	    "<EOF>" };
	struct buf line = BUF_INIT;
	enum line_end e;
	int r, guard;

	for (guard = 0; guard < 1000; guard++) {
		r = stream_getline(s, &line, max, &e);
		if (r == STREAM_EOF)
			break;
		ck_assert_int_ne(r, STREAM_ERR);
		if (r == STREAM_TOOLONG) {
			ck_assert_uint_eq(line.len, 0);
			buf_append_str(out, "<TOOLONG>");
		} else
			buf_append(out, line.data, line.len);
		buf_append_str(out, names[e]);
	}
	ck_assert_int_lt(guard, 1000);
	buf_free(&line);
}

static void
lines_from(const char *const *ch, const size_t *ln, size_t n, size_t max,
    struct buf *out)
{
	struct stream s;
	pid_t pid;
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	pid = writer(p[1], ch, ln, n);
	close(p[1]);
	ck_assert_int_eq(stream_init(&s, p[0], -1, 5000), 0);
	read_all(&s, max, out);
	stream_free(&s);
	close(p[0]);
	reap(pid);
}

START_TEST(test_getline_ends)
{
	const char *ch[] = { "abc\r", "\nxyz\r", "q\n", "\r", "\r\n",
	    "n\0ul\r\n", "tail" };
	size_t ln[] = { 4, 5, 2, 1, 2, 6, 4 };
	struct buf out = BUF_INIT;

	lines_from(ch, ln, 7, 100, &out);
	ck_assert_uint_eq(out.len, 50);
	ck_assert_int_eq(memcmp(out.data,
	    "abc<CRLF>xyz<CR>q<LF><CR><CRLF>n\0ul<CRLF>tail<EOF>", 50), 0);
	buf_free(&out);
}
END_TEST

START_TEST(test_getline_final_cr)
{
	const char *ch[] = { "a\r" };
	size_t ln[] = { 2 };
	struct buf out = BUF_INIT;

	lines_from(ch, ln, 1, 100, &out);
	ck_assert_str_eq(buf_str(&out), "a<CR>");
	buf_free(&out);
}
END_TEST

START_TEST(test_getline_buffer_boundary)
{
	/* 16383 octets then CRLF: a 16384-octet read ends on the CR */
	struct buf big = BUF_INIT, out = BUF_INIT, want = BUF_INIT;
	struct stream s;
	const char *ch[1];
	size_t ln[1], i;
	int p[2];

	for (i = 0; i < 16383; i++)
		buf_append_char(&big, 'a');
	buf_append_str(&big, "\r\nb\r\n");
	buf_append(&want, big.data, 16383);
	buf_append_str(&want, "<CRLF>b<CRLF>");
	/* all in the pipe before the first read, so that read returns the
	 * whole 16384-octet buffer, ending on the CR */
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(io_write_all(p[1], big.data, big.len, 1000), 0);
	close(p[1]);
	ck_assert_int_eq(stream_init(&s, p[0], -1, 1000), 0);
	read_all(&s, 20000, &out);
	stream_free(&s);
	close(p[0]);
	ck_assert_uint_eq(out.len, want.len);
	ck_assert_int_eq(memcmp(out.data, want.data, want.len), 0);
	/* the same through a writer child */
	ch[0] = big.data;
	ln[0] = big.len;
	buf_reset(&out);
	lines_from(ch, ln, 1, 20000, &out);
	ck_assert_uint_eq(out.len, want.len);
	ck_assert_int_eq(memcmp(out.data, want.data, want.len), 0);
	buf_free(&big);
	buf_free(&out);
	buf_free(&want);
}
END_TEST

START_TEST(test_getline_limit)
{
	/* max 10 octets including the terminator */
	const char *ch[] = { "12345678\r\n", "123456789\r\n", "123456789\n",
	    "1234567890\n", "12345678\r", "9\r\n", "ok\r\n",
	    "overlong-no-end" };
	size_t ln[] = { 10, 11, 10, 11, 9, 3, 4, 15 };
	struct buf out = BUF_INIT;

	lines_from(ch, ln, 8, 10, &out);
	ck_assert_str_eq(buf_str(&out), "12345678<CRLF><TOOLONG><CRLF>"
	    "123456789<LF><TOOLONG><LF>12345678<CR>9<CRLF>ok<CRLF>"
	    "<TOOLONG><EOF>");
	buf_free(&out);
}
END_TEST

START_TEST(test_getline_huge)
{
	/* a line much longer than the buffer is skipped, memory stays small */
	struct buf big = BUF_INIT, out = BUF_INIT;
	const char *ch[2];
	size_t ln[2], i;

	for (i = 0; i < 200000; i++)
		buf_append_char(&big, (char)('a' + i % 26));
	buf_append_str(&big, "\r\n");
	ch[0] = big.data;
	ln[0] = big.len;
	ch[1] = "QUIT\r\n";
	ln[1] = 6;
	lines_from(ch, ln, 2, 512, &out);
	ck_assert_str_eq(buf_str(&out), "<TOOLONG><CRLF>QUIT<CRLF>");
	buf_free(&big);
	buf_free(&out);
}
END_TEST

START_TEST(test_stream_timeout)
{
	struct stream s;
	struct buf line = BUF_INIT;
	struct timespec t0;
	enum line_end e;
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(write(p[1], "partial", 7), 7);
	ck_assert_int_eq(stream_init(&s, p[0], -1, 120), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	errno = 0;
	ck_assert_int_eq(stream_getline(&s, &line, 100, &e), STREAM_ERR);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_ge(elapsed_ms(&t0), 110);
	ck_assert_int_eq(stream_wait_readable(&s, 50), 0);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(stream_wait_readable(&s, 50), 1);
	stream_free(&s);
	buf_free(&line);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(test_stream_raw)
{
	struct stream s;
	struct buf line = BUF_INIT, b = BUF_INIT;
	enum line_end e;
	char c[4];
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(write(p[1], "HDR\r\n0123456789rest", 19), 19);
	close(p[1]);
	ck_assert_int_eq(stream_init(&s, p[0], -1, 1000), 0);
	ck_assert_int_eq(stream_getline(&s, &line, 100, &e), STREAM_LINE);
	ck_assert_str_eq(buf_str(&line), "HDR");
	ck_assert_uint_eq(stream_pending(&s), 14);
	ck_assert_int_eq(stream_read_exact(&s, &b, 10), 0);
	ck_assert_str_eq(buf_str(&b), "0123456789");
	ck_assert_int_eq(stream_read(&s, c, 2), 2);
	ck_assert_int_eq(memcmp(c, "re", 2), 0);
	stream_discard_input(&s);
	ck_assert_uint_eq(stream_pending(&s), 0);
	ck_assert_int_eq(stream_read(&s, c, 2), 0);
	ck_assert_int_eq(stream_read_exact(&s, &b, 1), -1);
	ck_assert_int_eq(stream_getline(&s, &line, 100, &e), STREAM_EOF);
	stream_free(&s);
	buf_free(&line);
	buf_free(&b);
	close(p[0]);
}
END_TEST

START_TEST(test_stream_write)
{
	struct stream s;
	char got[64];
	int p[2];
	ssize_t n;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, p), 0);
	ck_assert_int_eq(stream_init(&s, p[0], p[0], 1000), 0);
	ck_assert_int_eq(stream_puts(&s, "250 ok\r\n"), 0);
	ck_assert_int_eq(stream_printf(&s, "%d %s\r\n", 354, "go"), 0);
	ck_assert_int_eq(io_read(p[1], got, sizeof(got), 50), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_eq(stream_flush(&s), 0);
	n = io_read(p[1], got, sizeof(got), 1000);
	ck_assert_int_eq(n, 16);
	ck_assert_int_eq(memcmp(got, "250 ok\r\n354 go\r\n", 16), 0);
	/* peer gone: EPIPE, not SIGPIPE (the test would die) */
	close(p[1]);
	ck_assert_int_eq(stream_puts(&s, "x"), 0);
	ck_assert_int_eq(stream_flush(&s), -1);
	ck_assert_int_eq(errno, EPIPE);
	ck_assert_int_eq(stream_puts(&s, "y"), -1);
	stream_free(&s);
	close(p[0]);
}
END_TEST

START_TEST(test_pipe_epipe)
{
	struct stream s;
	sigset_t pend;
	int p[2];

	/* default SIGPIPE disposition: a raised signal would kill the test */
	signal(SIGPIPE, SIG_DFL);
	ck_assert_int_eq(pipe(p), 0);
	close(p[0]);
	errno = 0;
	ck_assert_int_eq(io_write_all(p[1], "x", 1, 1000), -1);
	ck_assert_int_eq(errno, EPIPE);
	ck_assert_int_eq(stream_init(&s, -1, p[1], 1000), 0);
	ck_assert_int_eq(stream_puts(&s, "250 ok\r\n"), 0);
	ck_assert_int_eq(stream_flush(&s), -1);
	ck_assert_int_eq(errno, EPIPE);
	stream_free(&s);
	ck_assert_int_eq(sigpending(&pend), 0);
	ck_assert_int_eq(sigismember(&pend, SIGPIPE), 0);
	close(p[1]);
}
END_TEST

START_TEST(test_fd_passing)
{
	struct stream s;
	char c[16];
	int sp[2], p[2], i, fd;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(io_send_fd(sp[1], "J", 1, p[1], 1000), 0);
	ck_assert_int_eq(io_send_fd(sp[1], "x", 0, p[1], 1000), -1);
	ck_assert_int_eq(io_send_fd(sp[1], "K", 1, -1, 1000), 0);
	ck_assert_int_eq(stream_init(&s, sp[0], sp[0], 1000), 0);
	stream_enable_fds(&s);
	ck_assert_int_eq(stream_read(&s, c, 1), 1);
	ck_assert_int_eq(c[0], 'J');
	fd = stream_take_fd(&s);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	ck_assert_int_eq(stream_take_fd(&s), -1);
	ck_assert_int_eq(write(fd, "via", 3), 3);
	close(fd);
	ck_assert_int_eq(read(p[0], c, 3), 3);
	ck_assert_int_eq(memcmp(c, "via", 3), 0);
	ck_assert_int_eq(stream_read(&s, c, 1), 1);
	ck_assert_int_eq(c[0], 'K');
	ck_assert_int_eq(stream_take_fd(&s), -1);

	/* more than the queue holds: extras are closed, not leaked */
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(io_send_fd(sp[1], "z", 1, p[1], 1000), 0);
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(stream_read(&s, c, 1), 1);
	for (i = 0; i < 8; i++) {
		fd = stream_take_fd(&s);
		ck_assert_int_ge(fd, 0);
		close(fd);
	}
	ck_assert_int_eq(stream_take_fd(&s), -1);
	/* only our own write end is open now: closing it gives EOF */
	close(p[1]);
	ck_assert_int_eq(io_read(p[0], c, 1, 1000), 0);

	/* stream_send_fd flushes pending output first */
	ck_assert_int_eq(stream_puts(&s, "AB"), 0);
	ck_assert_int_eq(stream_send_fd(&s, "C", 1, p[0]), 0);
	ck_assert_int_eq(io_read_full(sp[1], c, 3, 1000), 3);
	ck_assert_int_eq(memcmp(c, "ABC", 3), 0);
	stream_free(&s);
	close(p[0]);
	close(sp[0]);
	close(sp[1]);
}
END_TEST

static int
count_fds(void)
{
	int n = 0, fd;

	for (fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			n++;
	return n;
}

START_TEST(test_fd_flood)
{
	/* a hostile peer sends 20 descriptors in one message: at most 8 are
	 * kept, the rest never leak into our process */
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * 20)];
	} cm;
	struct msghdr mh;
	struct cmsghdr *c;
	struct iovec iov;
	struct stream s;
	int sp[2], p[2], fds[20], i, before, fd;
	char x = 'x';

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	ck_assert_int_eq(pipe(p), 0);
	for (i = 0; i < 20; i++)
		fds[i] = p[0];
	memset(&mh, 0, sizeof(mh));
	memset(&cm, 0, sizeof(cm));
	iov.iov_base = &x;
	iov.iov_len = 1;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.b;
	mh.msg_controllen = sizeof(cm.b);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	ck_assert_int_eq(sendmsg(sp[1], &mh, 0), 1);
	before = count_fds();
	ck_assert_int_eq(stream_init(&s, sp[0], sp[0], 1000), 0);
	stream_enable_fds(&s);
	ck_assert_int_eq(stream_read(&s, &x, 1), 1);
	ck_assert_int_le(count_fds() - before, 8);
	for (i = 0; (fd = stream_take_fd(&s)) != -1; i++)
		close(fd);
	ck_assert_int_le(i, 8);
	ck_assert_int_eq(count_fds(), before);
	stream_free(&s);
	close(sp[0]);
	close(sp[1]);
	close(p[0]);
	close(p[1]);
}
END_TEST

/* ---- TLS ---- */

static void
make_cert(EVP_PKEY **key, X509 **crt)
{
	X509_NAME *nm;

	*key = EVP_EC_gen("P-256");
	ck_assert_ptr_nonnull(*key);
	*crt = X509_new();
	ck_assert_ptr_nonnull(*crt);
	X509_set_version(*crt, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(*crt), 1);
	X509_gmtime_adj(X509_getm_notBefore(*crt), -60);
	X509_gmtime_adj(X509_getm_notAfter(*crt), 3600);
	X509_set_pubkey(*crt, *key);
	nm = X509_get_subject_name(*crt);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
	    (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(*crt, nm);
	ck_assert_int_gt(X509_sign(*crt, *key, EVP_sha256()), 0);
}

/* Child: TLS server on fd that echoes lines upper-cased ("silent" 1: just
 * handshakes and waits; 2: exits 0 only if the client's end of input
 * was its close_notify, not a bare close). */
static void
tls_server(int fd, int silent)
{
	EVP_PKEY *key;
	X509 *crt;
	SSL_CTX *ctx;
	SSL *ssl;
	char b[256];
	int n, i;

	make_cert(&key, &crt);
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL || SSL_CTX_use_certificate(ctx, crt) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1)
		_exit(2);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) != 1)
		_exit(3);
	if (silent == 1) {
		sleep(2);
		_exit(0);
	}
	while ((n = SSL_read(ssl, b, sizeof(b))) > 0) {
		for (i = 0; i < n; i++)
			if (b[i] >= 'a' && b[i] <= 'z')
				b[i] = (char)(b[i] - 32);
		if (SSL_write(ssl, b, n) != n)
			_exit(4);
		if (memchr(b, 'Z', (size_t)n) != NULL)
			break;	/* then a clean close_notify */
	}
	if (silent == 2)
		_exit(n <= 0 && SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN ?
		    0 : 6);
	SSL_shutdown(ssl);
	_exit(0);
}

static pid_t
tls_client(int *fdp, struct stream *s, int silent, int timeout)
{
	SSL_CTX *ctx;
	SSL *ssl;
	pid_t pid;
	int sp[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		close(sp[0]);
		tls_server(sp[1], silent);
	}
	close(sp[1]);
	ctx = SSL_CTX_new(TLS_client_method());
	ck_assert_ptr_nonnull(ctx);
	ssl = SSL_new(ctx);
	SSL_CTX_free(ctx);	/* the SSL keeps a reference */
	SSL_set_fd(ssl, sp[0]);
	SSL_set_connect_state(ssl);
	ck_assert_int_eq(io_tls_handshake(ssl, sp[0], sp[0], 5000), 0);
	ck_assert_int_eq(stream_init(s, sp[0], sp[0], timeout), 0);
	ck_assert_int_eq(stream_start_tls(s, ssl), 0);
	*fdp = sp[0];
	return pid;
}

START_TEST(test_tls_lines)
{
	struct stream s;
	struct buf line = BUF_INIT, big = BUF_INIT;
	enum line_end e;
	pid_t pid;
	size_t i;
	int fd;

	pid = tls_client(&fd, &s, 0, 5000);
	ck_assert_int_eq(stream_puts(&s, "ehlo x\r\nbare\nlast\r"), 0);
	ck_assert_int_eq(stream_flush(&s), 0);
	ck_assert_int_eq(stream_getline(&s, &line, 100, &e), STREAM_LINE);
	ck_assert_str_eq(buf_str(&line), "EHLO X");
	ck_assert_int_eq(e, LINE_CRLF);
	ck_assert_int_eq(stream_getline(&s, &line, 100, &e), STREAM_LINE);
	ck_assert_str_eq(buf_str(&line), "BARE");
	ck_assert_int_eq(e, LINE_LF);
	/* "LAST\r" waits for the next octet to classify the CR */
	for (i = 0; i < 100000; i++)
		buf_append_char(&big, 'q');
	buf_append_str(&big, "\n");
	ck_assert_int_eq(stream_write(&s, big.data, big.len), 0);
	ck_assert_int_eq(stream_flush(&s), 0);
	ck_assert_int_eq(stream_getline(&s, &line, 100, &e), STREAM_LINE);
	ck_assert_str_eq(buf_str(&line), "LAST");
	ck_assert_int_eq(e, LINE_CR);
	ck_assert_int_eq(stream_getline(&s, &line, 100, &e), STREAM_TOOLONG);
	ck_assert_int_eq(e, LINE_LF);
	ck_assert_int_eq(stream_puts(&s, "z\r\n"), 0);
	ck_assert_int_eq(stream_flush(&s), 0);
	ck_assert_int_eq(stream_getline(&s, &line, 100, &e), STREAM_LINE);
	ck_assert_str_eq(buf_str(&line), "Z");
	ck_assert_int_eq(stream_getline(&s, &line, 100, &e), STREAM_EOF);
	ck_assert_int_eq(stream_getline(&s, &line, 100, &e), STREAM_EOF);
	/* writing after the peer's close_notify is an error */
	reap(pid);
	signal(SIGPIPE, SIG_DFL);
	ck_assert_int_eq(stream_write(&s, big.data, big.len), -1);
	stream_free(&s);
	close(fd);
	buf_free(&line);
	buf_free(&big);
}
END_TEST

START_TEST(test_tls_read_exact)
{
	struct stream s;
	struct buf big = BUF_INIT, got = BUF_INIT;
	pid_t pid;
	size_t i;
	int fd;

	pid = tls_client(&fd, &s, 0, 5000);
	/* 'a'..'y': an upper-cased 'z' would end the server's loop */
	for (i = 0; i < 100000; i++)
		buf_append_char(&big, (char)('a' + i % 25));
	ck_assert_int_eq(stream_write(&s, big.data, big.len), 0);
	ck_assert_int_eq(stream_flush(&s), 0);
	/* the server upper-cases what it echoes */
	ck_assert_int_eq(stream_read_exact(&s, &got, big.len), 0);
	ck_assert_uint_eq(got.len, big.len);
	for (i = 0; i < big.len; i++)
		ck_assert_int_eq(got.data[i], big.data[i] - 32);
	ck_assert_int_eq(stream_puts(&s, "Z"), 0);
	ck_assert_int_eq(stream_flush(&s), 0);
	buf_reset(&got);
	ck_assert_int_eq(stream_read_exact(&s, &got, 1), 0);
	ck_assert_str_eq(buf_str(&got), "Z");
	/* after the peer's close_notify: EOF, not an error */
	ck_assert_int_eq(stream_read_exact(&s, &got, 1), -1);
	ck_assert(s.eof);
	stream_free(&s);
	close(fd);
	reap(pid);
	buf_free(&big);
	buf_free(&got);
}
END_TEST

/* An orderly end of a TLS stream sends close_notify (RFC 8446 6.1): a
 * peer must be able to tell it from a truncation. */
START_TEST(test_tls_close_notify)
{
	struct stream s;
	pid_t pid;
	int fd;

	pid = tls_client(&fd, &s, 2, 5000);
	ck_assert_int_eq(stream_puts(&s, "hello\r\n"), 0);
	ck_assert_int_eq(stream_flush(&s), 0);
	stream_free(&s);
	/* close only after the server has read what we sent: closing a
	 * unix socket with unread input (the echo, TLS 1.3 tickets) would
	 * reset the server's read */
	reap(pid);
	close(fd);
}
END_TEST

START_TEST(test_tls_timeout)
{
	struct stream s;
	struct buf line = BUF_INIT;
	struct timespec t0;
	enum line_end e;
	pid_t pid;
	int fd;

	pid = tls_client(&fd, &s, 1, 150);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	errno = 0;
	ck_assert_int_eq(stream_getline(&s, &line, 100, &e), STREAM_ERR);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_ge(elapsed_ms(&t0), 140);
	ck_assert_int_lt(elapsed_ms(&t0), 1500);
	/* the peer dies without close_notify: EPIPE, not SIGPIPE */
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	signal(SIGPIPE, SIG_DFL);
	ck_assert_int_eq(stream_puts(&s, "QUIT\r\n"), 0);
	ck_assert_int_eq(stream_flush(&s), -1);
	ck_assert(errno == EPIPE || errno == ECONNRESET);
	stream_free(&s);
	close(fd);
	buf_free(&line);
}
END_TEST

START_TEST(test_tls_handshake_garbage)
{
	SSL_CTX *ctx;
	SSL *ssl;
	int sp[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	ck_assert_int_eq(write(sp[1], "220 not tls at all\r\n", 20), 20);
	ctx = SSL_CTX_new(TLS_client_method());
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, sp[0]);
	SSL_set_connect_state(ssl);
	errno = 0;
	ck_assert_int_eq(io_tls_handshake(ssl, sp[0], sp[0], 2000), -1);
	ck_assert_int_eq(errno, EPROTO);
	SSL_free(ssl);
	close(sp[0]);
	close(sp[1]);
	/* a peer that never answers: the handshake times out */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, sp[0]);
	SSL_set_connect_state(ssl);
	errno = 0;
	ck_assert_int_eq(io_tls_handshake(ssl, sp[0], sp[0], 100), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(sp[0]);
	close(sp[1]);
}
END_TEST

/* A secret taken from the stream leaves no copy in its read buffer, and
 * the input after it is still there. */
START_TEST(test_wipe_consumed)
{
	static const char in[] = "AUTH PLAIN c2VjcmV0\r\nNOOP\r\n";
	struct buf line = BUF_INIT;
	enum line_end end;
	struct stream s;
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(write(p[1], in, sizeof(in) - 1),
	    (ssize_t)sizeof(in) - 1);
	close(p[1]);
	ck_assert_int_eq(stream_init(&s, p[0], -1, 5000), 0);
	ck_assert_int_eq(stream_getline(&s, &line, 100, &end), STREAM_LINE);
	ck_assert_str_eq(buf_str(&line), "AUTH PLAIN c2VjcmV0");
	ck_assert_ptr_nonnull(memmem(s.rbuf, s.rcap, "c2VjcmV0", 8));
	stream_wipe_consumed(&s);
	ck_assert_ptr_null(memmem(s.rbuf, s.rcap, "c2VjcmV0", 8));
	ck_assert_uint_eq(stream_pending(&s), 6);
	ck_assert_int_eq(stream_getline(&s, &line, 100, &end), STREAM_LINE);
	ck_assert_str_eq(buf_str(&line), "NOOP");
	buf_free(&line);
	stream_free(&s);
	close(p[0]);
}
END_TEST

/* Child of test_stdio_open: 0 if fd is open on /dev/null. */
static int
is_devnull(int fd)
{
	char path[32], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -1;
	target[n] = '\0';
	return strcmp(target, "/dev/null") == 0 ? 0 : -1;
}

/* io_stdio_open opens /dev/null on each closed descriptor 0-2, leaves
 * open ones alone, and says when it cannot (here: no descriptor left). */
START_TEST(test_stdio_open)
{
	struct rlimit rl = { 2, 2 };
	int p[2], status;
	pid_t pid;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		/* 1 and 2 closed, 0 a pipe that must stay */
		if (dup2(p[0], 0) == -1)
			_exit(10);
		close(1);
		close(2);
		if (io_stdio_open() != 0)
			_exit(11);
		if (is_devnull(0) == 0 || is_devnull(1) != 0 ||
		    is_devnull(2) != 0)
			_exit(12);
		/* fd 2 closed and no room for it: -1 EMFILE */
		close(2);
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			_exit(13);
		if (io_stdio_open() != -1 || errno != EMFILE)
			_exit(14);
		_exit(0);
	}
	close(p[0]);
	close(p[1]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child failed at step %d", WEXITSTATUS(status));
}
END_TEST

static Suite *
io_suite(void)
{
	Suite *s = suite_create("io");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_read_timeout);
	tcase_add_test(tc, test_write_timeout);
	tcase_add_test(tc, test_deadline_not_reset);
	tcase_add_test(tc, test_read_full);
	tcase_add_test(tc, test_files);
	tcase_add_test(tc, test_line_scan);
	tcase_add_test(tc, test_getline_ends);
	tcase_add_test(tc, test_getline_final_cr);
	tcase_add_test(tc, test_getline_buffer_boundary);
	tcase_add_test(tc, test_getline_limit);
	tcase_add_test(tc, test_getline_huge);
	tcase_add_test(tc, test_stream_timeout);
	tcase_add_test(tc, test_stream_raw);
	tcase_add_test(tc, test_wipe_consumed);
	tcase_add_test(tc, test_stream_write);
	tcase_add_test(tc, test_pipe_epipe);
	tcase_add_test(tc, test_fd_passing);
	tcase_add_test(tc, test_fd_flood);
	tcase_add_test(tc, test_tls_lines);
	tcase_add_test(tc, test_tls_read_exact);
	tcase_add_test(tc, test_tls_timeout);
	tcase_add_test(tc, test_tls_close_notify);
	tcase_add_test(tc, test_tls_handshake_garbage);
	tcase_add_test(tc, test_stdio_open);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(io_suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
