/*
 * test_queue_spool.c — spool envelope records (queue/spool.c): exact
 * encoding of the scheduler state, round trip with delivery state,
 * rejection of every truncation, trailing data, a wrong version, owed
 * lists that do not match, bad state fields; atomic store and load
 * with the file name checked against the queue id; the queue file
 * (message, first record, footer): layout, every truncation, footers
 * that lie; which record is current (env/, msg/, incoming/).
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/frame.h"
#include "common/io.h"
#include "common/qid.h"
#include "queue/spool.h"
#include "tests/unit/testutil.h"

#define QID "0005E1A2B3C4D5000123"

static void
mkrec(struct spool_rec *r)
{
	spool_rec_init(r);
	ck_assert_int_eq(envelope_set_sender(&r->env, "a@example.org"), 0);
	ck_assert_int_eq(envelope_add_rcpt(&r->env, "b@example.net",
	    NOTIFY_SUCCESS, "rfc822;b@example.net"), 0);
	ck_assert_int_eq(envelope_add_rcpt(&r->env, "c@example.com", 0,
	    NULL), 1);
	ck_assert_int_eq(envelope_set_str(&r->env.qid, QID), 0);
	r->env.arrival = 1700000000;
	r->env.size = 1234;
	r->env.uid = 1000;
	ck_assert_int_eq(spool_rec_reset_owed(r), 0);
}

static void
encode(const struct spool_rec *r, struct buf *b)
{
	buf_reset(b);
	ck_assert_int_eq(spool_rec_encode(r, b), 0);
}

START_TEST(layout)
{
	struct spool_rec r;
	struct buf b = BUF_INIT;
	const char *pl;
	size_t plen, used;
	char tag;

	mkrec(&r);
	r.next_try = 1700000300;
	r.warned = 1;
	r.owed[1] = OWED_FAILURE;
	encode(&r, &b);
	ck_assert_int_eq(memcmp(b.data, "17:Vposthorn-spool-1,", 21), 0);
	ck_assert_int_eq(frame_decode(b.data + 21, b.len - 21, SPOOL_ENV_MAX,
	    &tag, &pl, &plen, &used), FRAME_OK);
	ck_assert_int_eq(tag, 'E');
	ck_assert_uint_eq(b.len - 21 - used, 24);
	ck_assert_int_eq(memcmp(b.data + 21 + used,
	    "16:S1700000300\0" "1\0" "-F,1:.,", 24), 0);
	spool_rec_free(&r);
	buf_free(&b);
}
END_TEST

START_TEST(round_trip)
{
	struct spool_rec r, d;
	struct buf b = BUF_INIT, b2 = BUF_INIT;
	const char *why = NULL;

	mkrec(&r);
	r.env.rcpts[1].state = RCPT_DEFERRED;
	snprintf(r.env.rcpts[1].dsn, sizeof(r.env.rcpts[1].dsn), "4.4.1");
	ck_assert_int_eq(envelope_set_str(&r.env.rcpts[1].diag,
	    "connection refused"), 0);
	r.env.rcpts[1].attempts = 3;
	r.env.rcpts[1].last_attempt = 1700000100;
	r.owed[0] = OWED_SUCCESS;
	r.next_try = 42;
	encode(&r, &b);
	spool_rec_init(&d);
	ck_assert_msg(spool_rec_decode(b.data, b.len, &d, &why) == 0, "%s",
	    why);
	ck_assert_str_eq(d.env.qid, QID);
	ck_assert_str_eq(d.env.sender, "a@example.org");
	ck_assert_uint_eq(d.env.nrcpts, 2);
	ck_assert_str_eq(d.env.rcpts[0].orcpt, "rfc822;b@example.net");
	ck_assert_uint_eq(d.env.rcpts[0].notify, NOTIFY_SUCCESS);
	ck_assert_int_eq(d.env.rcpts[1].state, RCPT_DEFERRED);
	ck_assert_str_eq(d.env.rcpts[1].dsn, "4.4.1");
	ck_assert_str_eq(d.env.rcpts[1].diag, "connection refused");
	ck_assert_uint_eq(d.env.rcpts[1].attempts, 3);
	ck_assert_int_eq(d.next_try, 42);
	ck_assert_int_eq(d.warned, 0);
	ck_assert_str_eq(d.owed, "S-");
	encode(&d, &b2);
	ck_assert_uint_eq(b.len, b2.len);
	ck_assert_int_eq(memcmp(b.data, b2.data, b.len), 0);
	spool_rec_free(&r);
	spool_rec_free(&d);
	buf_free(&b);
	buf_free(&b2);
}
END_TEST

static int
decodes(const char *p, size_t n)
{
	struct spool_rec d;
	const char *why = NULL;
	int r;

	spool_rec_init(&d);
	r = spool_rec_decode(p, n, &d, &why);
	if (r == -1)
		ck_assert_ptr_nonnull(why);
	spool_rec_free(&d);
	return r;
}

START_TEST(truncations_and_trailers)
{
	struct spool_rec r;
	struct buf b = BUF_INIT, x = BUF_INIT;
	size_t n;

	mkrec(&r);
	encode(&r, &b);
	ck_assert_int_eq(decodes(b.data, b.len), 0);
	for (n = 0; n < b.len; n++)
		ck_assert_msg(decodes(b.data, n) == -1, "prefix %zu", n);
	buf_set(&x, b.data, b.len);
	buf_append_str(&x, "1:.,");
	ck_assert_int_eq(decodes(x.data, x.len), -1);
	buf_set(&x, b.data, b.len);
	buf_append_char(&x, '\n');
	ck_assert_int_eq(decodes(x.data, x.len), -1);
	spool_rec_free(&r);
	buf_free(&b);
	buf_free(&x);
}
END_TEST

/* Rebuild a record from hand-made frames around a real E frame. */
static int
decodes_with(const struct spool_rec *r, const char *v, const char *s,
    size_t slen)
{
	struct buf env = BUF_INIT, b = BUF_INIT;
	int rc;

	ck_assert_int_eq(envelope_encode(&r->env, &env), 0);
	frame_put_str(&b, 'V', v);
	frame_put(&b, 'E', env.data, env.len);
	frame_put(&b, 'S', s, slen);
	frame_put(&b, '.', "", 0);
	rc = decodes(b.data, b.len);
	buf_free(&env);
	buf_free(&b);
	return rc;
}

START_TEST(bad_fields)
{
	struct spool_rec r;

	mkrec(&r);
	ck_assert_int_eq(decodes_with(&r, SPOOL_MAGIC, "0\0" "0\0" "--", 6),
	    0);
	ck_assert_int_eq(decodes_with(&r, "posthorn-spool-2",
	    "0\0" "0\0" "--", 6), -1);
	ck_assert_int_eq(decodes_with(&r, SPOOL_MAGIC, "0\0" "0\0" "---", 7),
	    -1);
	ck_assert_int_eq(decodes_with(&r, SPOOL_MAGIC, "0\0" "0\0" "-", 5),
	    -1);
	ck_assert_int_eq(decodes_with(&r, SPOOL_MAGIC, "0\0" "0\0" "-X", 6),
	    -1);
	ck_assert_int_eq(decodes_with(&r, SPOOL_MAGIC, "0\0" "2\0" "--", 6),
	    -1);
	ck_assert_int_eq(decodes_with(&r, SPOOL_MAGIC, "-1\0" "0\0" "--", 7),
	    -1);
	ck_assert_int_eq(decodes_with(&r, SPOOL_MAGIC, "01\0" "0\0" "--", 7),
	    -1);
	ck_assert_int_eq(decodes_with(&r, SPOOL_MAGIC,
	    "99999999999999999999\0" "0\0" "--", 25), -1);
	/* a next attempt after the year 9999 is corrupt (its time in
	 * microseconds would overflow); the last second of 9999 is not */
	ck_assert_int_eq(decodes_with(&r, SPOOL_MAGIC,
	    "253402300800\0" "0\0" "--", 17), -1);
	ck_assert_int_eq(decodes_with(&r, SPOOL_MAGIC,
	    "18446744073710\0" "0\0" "--", 19), -1);
	ck_assert_int_eq(decodes_with(&r, SPOOL_MAGIC,
	    "253402300799\0" "0\0" "--", 17), 0);
	ck_assert_int_eq(decodes_with(&r, SPOOL_MAGIC, "0\0" "0", 3), -1);
	ck_assert_int_eq(decodes_with(&r, SPOOL_MAGIC, "0\0" "0\0" "--\0", 7),
	    -1);
	/* an envelope without qid is not a spool record */
	envelope_set_str(&r.env.qid, NULL);
	ck_assert_int_eq(decodes_with(&r, SPOOL_MAGIC, "0\0" "0\0" "--", 6),
	    -1);
	spool_rec_free(&r);
}
END_TEST

START_TEST(store_and_load)
{
	char dir[] = "/tmp/test_queue_spoolXXXXXX", tmp[256], path[256],
	    other[256];
	struct spool_rec r, d;
	const char *why = NULL;
	struct stat st;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(spool_mkdirs(dir), 0);
	ck_assert_int_eq(spool_mkdirs(dir), 0);	/* idempotent */
	ck_assert_int_eq(spool_path(path, sizeof(path), dir, "env", QID), 0);
	ck_assert_int_eq(spool_path(tmp, sizeof(tmp), dir, "tmp", QID ".s"),
	    0);
	ck_assert_int_eq(spool_path(other, sizeof(other), dir, "env",
	    "0005E1A2B3C4D5000124"), 0);
	ck_assert_int_eq(spool_path(other, 10, dir, "env", QID), -1);
	mkrec(&r);
	ck_assert_int_eq(spool_rec_store(tmp, path, &r), 0);
	ck_assert_int_eq(stat(tmp, &st), -1);	/* renamed away */
	spool_rec_init(&d);
	ck_assert_int_eq(spool_rec_load(path, QID, &d, &why), 0);
	ck_assert_str_eq(d.env.rcpts[1].addr, "c@example.com");
	spool_rec_free(&d);
	ck_assert_int_eq(rename(path, other), 0);
	spool_rec_init(&d);
	ck_assert_int_eq(spool_rec_load(other, "0005E1A2B3C4D5000124", &d,
	    &why), -1);
	ck_assert_str_eq(why, "queue id does not match the file name");
	spool_rec_free(&d);
	spool_rec_init(&d);
	ck_assert_int_eq(spool_rec_load(path, QID, &d, &why), -2);
	spool_rec_free(&d);
	unlink(other);
	spool_rec_free(&r);
	snprintf(path, sizeof(path), "00000000000001%06X",
	    (unsigned)getpid());
	ck_assert(spool_qid_pid_alive(path));
	/* above Linux's largest pid_max: never a live process */
	ck_assert(!spool_qid_pid_alive("00000000000001FFFFFF"));
	ck_assert_int_eq(rm_rf(dir), 0);
}
END_TEST

/* An injector that died but was never reaped (its parent was killed and
 * nothing reaps orphans) is dead: recovery may remove its files. */
START_TEST(zombie_injector_is_dead)
{
	char qid[QID_LEN + 8];	/* room for any pid in hex */
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	usleep(200 * 1000);	/* exited, not yet reaped: a zombie */
	snprintf(qid, sizeof(qid), "00000000000001%06X",
	    (unsigned)pid & 0xFFFFFFu);
	ck_assert(!spool_qid_pid_alive(qid));
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
}
END_TEST

/* A queue file: message, first record, footer (queue/SPOOL.md). */
static void
write_qfile(const char *path, const char *msg, int mode, struct spool_rec *r)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, msg, strlen(msg)), (ssize_t)strlen(msg));
	r->env.size = strlen(msg);
	ck_assert_int_eq(spool_qfile_finish(fd, strlen(msg), r), 0);
	ck_assert_int_eq(fchmod(fd, (mode_t)mode), 0);
	close(fd);
}

static int
decode_image(const struct buf *img, const char *qid, const char **why)
{
	struct spool_rec d;
	int rc;

	spool_rec_init(&d);
	rc = spool_qfile_decode(img->data, img->len, qid, &d, why);
	spool_rec_free(&d);
	return rc;
}

START_TEST(queue_file)
{
	char dir[] = "/tmp/test_queue_qfileXXXXXX", path[256];
	struct spool_rec r, d;
	struct buf img = BUF_INIT, bad = BUF_INIT;
	const char *why = NULL;
	char footer[SPOOL_FOOTER_LEN + 1];
	int fd;

	ck_assert_uint_eq(SPOOL_FOOTER_LEN, 31);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(spool_mkdirs(dir), 0);
	ck_assert_int_eq(spool_path(path, sizeof(path), dir, "incoming", QID),
	    0);
	mkrec(&r);
	/* the size in the record must be the message's */
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(spool_qfile_finish(fd, 5, &r), -1);
	close(fd);
	write_qfile(path, "Subject: q\n\nbody\n", 0640, &r);
	ck_assert_int_eq(io_read_file(path, 1 << 20, &img), 0);
	/* the message first, unchanged; the footer last */
	ck_assert_int_eq(memcmp(img.data, "Subject: q\n\nbody\n", 17), 0);
	snprintf(footer, sizeof(footer), "posthorn-qf-1 %016x\n", 17);
	ck_assert_int_eq(memcmp(img.data + img.len - 31, footer, 31), 0);
	ck_assert_int_eq(decode_image(&img, QID, &why), 0);
	fd = open(path, O_RDONLY);
	spool_rec_init(&d);
	ck_assert_int_eq(spool_qfile_read(fd, QID, &d, &why), 0);
	ck_assert_uint_eq(d.env.size, 17);
	ck_assert_str_eq(d.env.rcpts[0].addr, "b@example.net");
	spool_rec_free(&d);
	close(fd);
	/* every truncation is unfinished or corrupt, never a record */
	for (size_t n = 0; n < img.len; n++) {
		buf_reset(&bad);
		buf_append(&bad, img.data, n);
		why = NULL;
		int rc = decode_image(&bad, QID, &why);

		ck_assert(rc == SPOOL_INCOMPLETE || (rc == -1 && why != NULL));
	}
	ck_assert_int_eq(decode_image(&img, "0005E1A2B3C4D5000124", &why), -1);
	ck_assert_str_eq(why, "queue id does not match the file name");
	/* a footer pointing elsewhere: outside the file, or not at the
	 * record's size */
	buf_reset(&bad);
	buf_append(&bad, img.data, img.len - 31);
	buf_append(&bad, "posthorn-qf-1 00000000ffffffff\n", 31);
	ck_assert_int_eq(decode_image(&bad, QID, &why), -1);
	ck_assert_str_eq(why, "queue file footer points outside the file");
	buf_reset(&bad);
	buf_append(&bad, "X", 1);
	buf_append(&bad, img.data, img.len - 31);
	buf_append(&bad, "posthorn-qf-1 0000000000000012\n", 31);
	ck_assert_int_eq(decode_image(&bad, QID, &why), -1);
	ck_assert_str_eq(why, "record size does not match the message");
	buf_reset(&bad);
	buf_append(&bad, img.data, img.len - 31);
	buf_append(&bad, "posthorn-qf-1 0000000000000011 ", 31);
	ck_assert_int_eq(decode_image(&bad, QID, &why), SPOOL_INCOMPLETE);
	buf_reset(&bad);
	buf_append(&bad, img.data, img.len - 31);
	buf_append(&bad, "posthorn-qf-1 000000000000001G\n", 31);
	ck_assert_int_eq(decode_image(&bad, QID, &why), SPOOL_INCOMPLETE);
	buf_free(&bad);
	buf_free(&img);
	spool_rec_free(&r);
	ck_assert_int_eq(rm_rf(dir), 0);
}
END_TEST

/* A file marked complete (0640) had its footer written first: without a
 * valid one it is corrupt (quarantined), not unfinished (removed). */
START_TEST(complete_without_footer)
{
	char dir[] = "/tmp/test_queue_nofootXXXXXX", path[256];
	struct spool_rec r, d;
	const char *why = NULL;
	struct stat st;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(spool_mkdirs(dir), 0);
	ck_assert_int_eq(spool_path(path, sizeof(path), dir, "incoming", QID),
	    0);
	mkrec(&r);
	for (int mode = 0600; mode <= 0640; mode += 040) {
		write_qfile(path, "Subject: q\n\nbody\n", mode, &r);
		ck_assert_int_eq(stat(path, &st), 0);
		ck_assert_int_eq(truncate(path, st.st_size - 9), 0);
		spool_rec_init(&d);
		why = NULL;
		if (mode == 0600)
			ck_assert_int_eq(spool_qfile_load(path, QID, &d, &why),
			    SPOOL_INCOMPLETE);
		else {
			ck_assert_int_eq(spool_qfile_load(path, QID, &d, &why),
			    -1);
			ck_assert_str_eq(why, "complete queue file without a "
			    "valid footer");
		}
		spool_rec_free(&d);
	}
	spool_rec_free(&r);
	ck_assert_int_eq(rm_rf(dir), 0);
}
END_TEST

/* The current record: env/QID, else msg/QID's first one, else (when
 * asked) a complete incoming/QID; an unfinished (0600) one is none. */
START_TEST(state_load)
{
	char dir[] = "/tmp/test_queue_stateXXXXXX", inc[256], msg[256],
	    env[256], tmp[256];
	struct spool_rec r, d;
	const char *why = NULL;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(spool_mkdirs(dir), 0);
	ck_assert_int_eq(spool_path(inc, sizeof(inc), dir, "incoming", QID),
	    0);
	ck_assert_int_eq(spool_path(msg, sizeof(msg), dir, "msg", QID), 0);
	ck_assert_int_eq(spool_path(env, sizeof(env), dir, "env", QID), 0);
	ck_assert_int_eq(spool_path(tmp, sizeof(tmp), dir, "tmp", QID ".s"),
	    0);
	mkrec(&r);
	write_qfile(inc, "m\n", 0600, &r);
	spool_rec_init(&d);
	ck_assert_int_eq(spool_state_load(dir, QID, true, &d, &why), -2);
	spool_rec_free(&d);
	ck_assert_int_eq(chmod(inc, 0640), 0);
	spool_rec_init(&d);
	ck_assert_int_eq(spool_state_load(dir, QID, false, &d, &why), -2);
	spool_rec_free(&d);
	spool_rec_init(&d);
	ck_assert_int_eq(spool_state_load(dir, QID, true, &d, &why), 0);
	ck_assert_int_eq(d.next_try, 0);
	spool_rec_free(&d);
	ck_assert_int_eq(rename(inc, msg), 0);
	spool_rec_init(&d);
	ck_assert_int_eq(spool_state_load(dir, QID, false, &d, &why), 0);
	spool_rec_free(&d);
	r.next_try = 1700000900;
	ck_assert_int_eq(spool_rec_store(tmp, env, &r), 0);
	spool_rec_init(&d);
	ck_assert_int_eq(spool_state_load(dir, QID, false, &d, &why), 0);
	ck_assert_int_eq(d.next_try, 1700000900);
	spool_rec_free(&d);
	spool_rec_free(&r);
	ck_assert_int_eq(rm_rf(dir), 0);
}
END_TEST

/* The lock of an unfinished file: seen by anyone else, gone with the
 * last descriptor of its holder (a killed injector's too). */
START_TEST(unfinished_lock)
{
	char dir[] = "/tmp/test_queue_lockXXXXXX", path[256], none[256];
	int fd, dup_fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(snprintf(path, sizeof(path), "%s/f", dir) > 0, 1);
	ck_assert_int_eq(snprintf(none, sizeof(none), "%s/none", dir) > 0, 1);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert(!spool_is_locked(path));
	ck_assert(!spool_is_locked(none));
	ck_assert_int_eq(spool_lock_unfinished(fd), 0);
	ck_assert(spool_is_locked(path));
	/* checking it (open, GETLK, close) does not release it */
	ck_assert(spool_is_locked(path));
	/* a second open file description cannot take it */
	dup_fd = open(path, O_WRONLY | O_CLOEXEC);
	ck_assert_int_ge(dup_fd, 0);
	ck_assert_int_eq(spool_lock_unfinished(dup_fd), -1);
	close(dup_fd);
	ck_assert(spool_is_locked(path));
	close(fd);
	ck_assert(!spool_is_locked(path));
	ck_assert_int_eq(rm_rf(dir), 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("queue_spool");
	TCase *t = tcase_create("spool");
	SRunner *r;
	int failed;

	tcase_add_test(t, layout);
	tcase_add_test(t, round_trip);
	tcase_add_test(t, truncations_and_trailers);
	tcase_add_test(t, bad_fields);
	tcase_add_test(t, store_and_load);
	tcase_add_test(t, zombie_injector_is_dead);
	tcase_add_test(t, queue_file);
	tcase_add_test(t, state_load);
	tcase_add_test(t, complete_without_footer);
	tcase_add_test(t, unfinished_lock);
	suite_add_tcase(s, t);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed == 0 ? 0 : 1;
}
