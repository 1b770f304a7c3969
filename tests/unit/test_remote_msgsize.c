/*
 * test_remote_msgsize.c — posthorn-remote sends exactly the message's
 * first msg_size octets (the envelope's size) of the message file, never
 * what the queue keeps after them: body_scan() counts and body_send()
 * sends only them, and a whole transaction against a scripted peer
 * (SMTP with SIZE, PIPELINING and CHUNKING offered — posthorn-remote
 * uses DATA — and LMTP) gets a byte-exact transcript: SIZE= is the wire
 * size of the message alone.  A file that ends early is a read error.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/testutil.h"
#include "common/io.h"
#include "remote/body.h"
#include "remote/smtp.h"

#define MSG	"Subject: t\n\n.dot\nbody\n"
#define WIRE	"Subject: t\r\n\r\n..dot\r\nbody\r\n.\r\n"
#define TRAILER	"TRAILER-MUST-NOT-APPEAR\n"

static int
msgfile(const char *msg, const char *trailer)
{
	char path[] = "/tmp/test_remote_msgsize.XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(write(fd, msg, strlen(msg)), (ssize_t)strlen(msg));
	ck_assert_int_eq(write(fd, trailer, strlen(trailer)),
	    (ssize_t)strlen(trailer));
	return fd;
}

START_TEST(scan_and_send)
{
	struct body_info info;
	struct stream s;
	const char *why;
	char got[256];
	int fd = msgfile(MSG, TRAILER), sv[2];
	ssize_t n;

	ck_assert_int_eq(body_scan(fd, strlen(MSG), &info), 0);
	ck_assert_uint_eq(info.msg_size, strlen(MSG));
	ck_assert_uint_eq(info.wire_size, strlen(WIRE) - 3);
	ck_assert(!info.eightbit);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(stream_init(&s, sv[0], sv[0], 1000), 0);
	ck_assert_int_eq(body_send(fd, strlen(MSG), &s, &why), 0);
	close(sv[0]);
	n = io_read_full(sv[1], got, sizeof(got), 1000);
	ck_assert_int_eq(n, (ssize_t)strlen(WIRE));
	ck_assert_mem_eq(got, WIRE, strlen(WIRE));
	stream_free(&s);
	close(sv[1]);
	close(fd);
}
END_TEST

/* The body and its final ".\r\n" leave in one write when they fit the
 * stream's buffer: a separate small write of the dot waits for the
 * peer's delayed ACK under Nagle's algorithm (40 ms per message).  A
 * SOCK_SEQPACKET pair keeps write boundaries, so the first record read
 * must be the whole wire form. */
START_TEST(send_in_one_write)
{
	enum { LINES = 500 };	/* 500 * 41 octets: 20,500, several reads */
	static char msg[LINES * 41 + 1], wire[LINES * 42 + 4], got[65536];
	struct stream s;
	const char *why;
	size_t i, mlen = 0, wlen = 0;
	int fd, sv[2];
	ssize_t n;

	for (i = 0; i < LINES; i++) {
		memset(msg + mlen, 'a' + (int)(i % 26), 40);
		msg[mlen + 40] = '\n';
		mlen += 41;
		memcpy(wire + wlen, msg + mlen - 41, 40);
		memcpy(wire + wlen + 40, "\r\n", 2);
		wlen += 42;
	}
	memcpy(wire + wlen, ".\r\n", 3);
	wlen += 3;
	fd = msgfile(msg, TRAILER);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	ck_assert_int_eq(stream_init(&s, sv[0], sv[0], 1000), 0);
	ck_assert_int_eq(body_send(fd, mlen, &s, &why), 0);
	n = recv(sv[1], got, sizeof(got), MSG_DONTWAIT);
	ck_assert_int_eq(n, (ssize_t)wlen);
	ck_assert_mem_eq(got, wire, wlen);
	n = recv(sv[1], got, sizeof(got), MSG_DONTWAIT);
	ck_assert_int_eq(n, -1);	/* nothing else was written */
	stream_free(&s);
	close(sv[0]);
	close(sv[1]);
	close(fd);
}
END_TEST

/* 8-bit octets only after the message: not 8-bit; a trailer without a
 * final newline does not change the last line either. */
START_TEST(scan_ignores_trailer)
{
	struct body_info info;
	int fd = msgfile("Subject: t\n\nend", "\xc3\xa9\n");

	ck_assert_int_eq(body_scan(fd, 15, &info), 0);
	ck_assert(!info.eightbit);
	ck_assert(!info.header8bit);
	/* "Subject: t\r\n\r\nend\r\n" */
	ck_assert_uint_eq(info.wire_size, 19);
	close(fd);
	fd = msgfile("Subject: t\n\n", "");
	ck_assert_int_eq(body_scan(fd, 0, &info), 0);
	ck_assert_uint_eq(info.wire_size, 0);
	close(fd);
}
END_TEST

START_TEST(file_shorter_is_an_error)
{
	struct body_info info;
	struct stream s;
	const char *why;
	int fd = msgfile(MSG, ""), sv[2];

	ck_assert_int_eq(body_scan(fd, strlen(MSG) + 1, &info), -1);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(stream_init(&s, sv[0], sv[0], 1000), 0);
	errno = 0;
	ck_assert_int_eq(body_send(fd, strlen(MSG) + 1, &s, &why), -1);
	ck_assert_int_eq(errno, EIO);
	ck_assert_str_eq(why, "message file read error");
	stream_free(&s);
	close(sv[0]);
	close(sv[1]);
	close(fd);
}
END_TEST

/* ---- a whole transaction ------------------------------------------------ */

static size_t
peer_line(int fd, char *b, size_t n)
{
	size_t i = 0;

	while (i + 1 < n && read(fd, b + i, 1) == 1)
		if (b[i++] == '\n')
			break;
	b[i] = '\0';
	return i;
}

static void
peer_say(int fd, const char *s)
{
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		_exit(3);
}

/* A scripted SMTP/LMTP server writing everything the client sent to
 * the file log. */
static void
peer(int fd, const char *log, int lmtp)
{
	struct buf all = BUF_INIT;
	char l[1024];
	size_t n;

	alarm(20);
	peer_say(fd, lmtp ? "220 peer.example LMTP\r\n" :
	    "220 peer.example ESMTP\r\n");
	while ((n = peer_line(fd, l, sizeof(l))) > 0) {
		buf_append(&all, l, n);
		if (strncmp(l, "EHLO ", 5) == 0 || strncmp(l, "LHLO ", 5) == 0)
			peer_say(fd, "250-peer.example\r\n250-PIPELINING\r\n"
			    "250-SIZE 1000\r\n250-CHUNKING\r\n"
			    "250 ENHANCEDSTATUSCODES\r\n");
		else if (strncmp(l, "MAIL ", 5) == 0)
			peer_say(fd, "250 2.1.0 ok\r\n");
		else if (strncmp(l, "RCPT ", 5) == 0)
			peer_say(fd, "250 2.1.5 ok\r\n");
		else if (strncmp(l, "DATA", 4) == 0) {
			peer_say(fd, "354 go\r\n");
			while ((n = peer_line(fd, l, sizeof(l))) > 0) {
				buf_append(&all, l, n);
				if (strcmp(l, ".\r\n") == 0)
					break;
			}
			peer_say(fd, "250 2.0.0 queued as X1\r\n");
		} else if (strncmp(l, "QUIT", 4) == 0) {
			peer_say(fd, "221 bye\r\n");
			break;
		} else
			peer_say(fd, "500 5.5.1 what\r\n");
	}
	if (io_write_file_atomic(log, all.data, all.len, 0600) != 0)
		_exit(4);
	_exit(0);
}

static void
transaction(int lmtp, struct buf *transcript)
{
	struct smtp_params p;
	struct smtp_conn c;
	struct envelope env;
	struct body_info info;
	struct rres res[1];
	char dir[] = "/tmp/test_remote_msgsize.XXXXXX", log[64];
	bool todo[1] = { true };
	int sv[2], msgfd, st;
	pid_t pid;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(log, sizeof(log), "%s/log", dir);
	msgfd = msgfile(MSG, TRAILER);
	ck_assert_int_eq(body_scan(msgfd, strlen(MSG), &info), 0);
	envelope_init(&env);
	ck_assert_int_eq(envelope_set_sender(&env, "s@example.org"), 0);
	ck_assert_int_ge(envelope_add_rcpt(&env, "r@example.net", 0, NULL),
	    0);
	env.size = strlen(MSG);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(sv[0]);
		peer(sv[1], log, lmtp);
	}
	close(sv[1]);
	memset(&p, 0, sizeof(p));
	p.helo = "me.example";
	p.lmtp = lmtp;
	p.tls = SMTP_TLS_NONE;
	p.connect_ms = p.cmd_ms = p.data_init_ms = 5000;
	p.data_block_ms = p.data_end_ms = 5000;
	ck_assert_int_eq(smtp_start(&c, sv[0], "peer.example", "peer[sock]",
	    &p), 0);
	memset(res, 0, sizeof(res));
	ck_assert_int_eq(smtp_transaction(&c, &env, todo, msgfd, &info, res),
	    0);
	ck_assert_msg(res[0].status == 'D', "%c %s", res[0].status,
	    res[0].text);
	smtp_quit(&c);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_int_eq(io_read_file(log, 65536, transcript), 0);
	envelope_free(&env);
	close(msgfd);
	ck_assert_int_eq(rm_rf(dir), 0);
}

START_TEST(smtp_transcript)
{
	struct buf t = BUF_INIT;

	transaction(0, &t);
	ck_assert_str_eq(buf_str(&t), "EHLO me.example\r\n"
	    "MAIL FROM:<s@example.org> SIZE=27\r\n"
	    "RCPT TO:<r@example.net>\r\n"
	    "DATA\r\n" WIRE "QUIT\r\n");
	buf_free(&t);
}
END_TEST

START_TEST(lmtp_transcript)
{
	struct buf t = BUF_INIT;

	transaction(1, &t);
	ck_assert_str_eq(buf_str(&t), "LHLO me.example\r\n"
	    "MAIL FROM:<s@example.org> SIZE=27\r\n"
	    "RCPT TO:<r@example.net>\r\n"
	    "DATA\r\n" WIRE "QUIT\r\n");
	buf_free(&t);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("remote_msgsize");
	TCase *t = tcase_create("msgsize");

	tcase_set_timeout(t, 30);
	tcase_add_test(t, scan_and_send);
	tcase_add_test(t, send_in_one_write);
	tcase_add_test(t, scan_ignores_trailer);
	tcase_add_test(t, file_shorter_is_an_error);
	tcase_add_test(t, smtp_transcript);
	tcase_add_test(t, lmtp_transcript);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
