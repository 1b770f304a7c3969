/*
 * test_agent_msgsize.c — the message is the first env.size octets of the
 * job's message file (common/agent.c): agent_job_read() sets msgsize from
 * the envelope and refuses a file that is shorter or not a regular file;
 * agent_msg_read() never reads at or past msgsize and reports a file that
 * ends early as an error (EIO) instead of a short message.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/agent.h"

#define MSG	"Subject: x\n\nhi\n"
#define TRAILER	"TRAILER-MUST-NOT-APPEAR\n"

static int
msgfile(const char *p)
{
	int fd = memfd_create("msg", 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, p, strlen(p)), (ssize_t)strlen(p));
	return fd;
}

/* Send one job whose envelope says size, with fd; read it back. */
static int
job_with(int fd, uint64_t size, struct agent_job *j, const char **why)
{
	struct envelope e;
	struct stream s;
	const uint32_t idx[1] = { 0 };
	int sv[2], r;

	envelope_init(&e);
	ck_assert_int_eq(envelope_set_sender(&e, "a@example.org"), 0);
	ck_assert_int_eq(envelope_add_rcpt(&e, "b@example.net", 0, NULL), 0);
	ck_assert_int_eq(envelope_set_str(&e.qid, "0005E1A2B3C4D5000123"), 0);
	e.size = size;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(agent_job_send(sv[0], JOB_DELIVER, &e, idx, "", fd),
	    0);
	close(sv[0]);
	stream_init(&s, sv[1], sv[1], 5000);
	*why = NULL;
	r = agent_job_read(&s, j, why);
	stream_free(&s);
	close(sv[1]);
	envelope_free(&e);
	return r;
}

START_TEST(size_from_envelope)
{
	struct agent_job j;
	const char *why;
	char b[64];
	int fd = msgfile(MSG TRAILER);

	ck_assert_int_eq(job_with(fd, strlen(MSG), &j, &why), 1);
	ck_assert_uint_eq(j.msgsize, strlen(MSG));
	/* one read of more than the message gets the message, no more */
	ck_assert_int_eq(agent_msg_read(j.msgfd, j.msgsize, b, sizeof(b), 0),
	    (ssize_t)strlen(MSG));
	ck_assert_mem_eq(b, MSG, strlen(MSG));
	ck_assert_int_eq(agent_msg_read(j.msgfd, j.msgsize, b, sizeof(b),
	    j.msgsize), 0);
	ck_assert_int_eq(agent_msg_read(j.msgfd, j.msgsize, b, sizeof(b),
	    j.msgsize + 3), 0);
	agent_job_free(&j);
	/* today's files: exactly the envelope's size */
	ck_assert_int_eq(job_with(fd, strlen(MSG TRAILER), &j, &why), 1);
	ck_assert_uint_eq(j.msgsize, strlen(MSG TRAILER));
	agent_job_free(&j);
	/* an empty message */
	ck_assert_int_eq(job_with(fd, 0, &j, &why), 1);
	ck_assert_uint_eq(j.msgsize, 0);
	ck_assert_int_eq(agent_msg_read(j.msgfd, j.msgsize, b, sizeof(b), 0),
	    0);
	agent_job_free(&j);
	close(fd);
}
END_TEST

START_TEST(file_shorter_than_envelope)
{
	struct agent_job j;
	const char *why;
	int fd = msgfile(MSG);

	ck_assert_int_eq(job_with(fd, strlen(MSG) + 1, &j, &why), -1);
	ck_assert_str_eq(why, "message file shorter than its envelope");
	ck_assert_int_eq(j.msgfd, -1);		/* closed by the failure */
	ck_assert_ptr_null(j.rcpt_index);
	ck_assert_int_eq(job_with(fd, UINT64_MAX, &j, &why), -1);
	ck_assert_str_eq(why, "message file shorter than its envelope");
	close(fd);
}
END_TEST

START_TEST(not_a_file)
{
	struct agent_job j;
	const char *why;
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(write(p[1], MSG, strlen(MSG)), (ssize_t)strlen(MSG));
	ck_assert_int_eq(job_with(p[0], 0, &j, &why), -1);
	ck_assert_str_eq(why, "message descriptor is not a file");
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(msg_read_bounds)
{
	char b[8];
	int fd = msgfile(MSG TRAILER);
	const uint64_t n = strlen(MSG);

	/* a read that would cross msgsize stops at it */
	ck_assert_int_eq(agent_msg_read(fd, n, b, sizeof(b), n - 3), 3);
	ck_assert_mem_eq(b, "hi\n", 3);
	ck_assert_int_eq(agent_msg_read(fd, n, b, 0, 0), 0);
	ck_assert_int_eq(agent_msg_read(fd, n, b, sizeof(b), 2), 8);
	ck_assert_mem_eq(b, "bject: x", 8);
	/* the file ends before msgsize: an error, not a short message */
	ck_assert_int_eq(ftruncate(fd, 5), 0);
	errno = 0;
	ck_assert_int_eq(agent_msg_read(fd, n, b, sizeof(b), 5), -1);
	ck_assert_int_eq(errno, EIO);
	/* a bad descriptor */
	close(fd);
	ck_assert_int_eq(agent_msg_read(fd, n, b, sizeof(b), 0), -1);
	ck_assert_int_eq(errno, EBADF);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("agent_msgsize");
	TCase *t = tcase_create("msgsize");

	tcase_add_test(t, size_from_envelope);
	tcase_add_test(t, file_shorter_than_envelope);
	tcase_add_test(t, not_a_file);
	tcase_add_test(t, msg_read_bounds);
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
