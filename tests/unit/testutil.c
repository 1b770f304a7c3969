/*
 * testutil.c — helpers shared by the unit tests.  Trusts its caller: the
 * paths are the tests' own temporary directories.
 */
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/frame.h"
#include "common/io.h"
#include "tests/unit/testutil.h"

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

int
rm_rf(const char *path)
{
	return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

/* A fake posthorn-queue for one submission: writes the M octets it gets
 * to out, answers 250 after the end frame. */
int
test_listen_unix(const char *path)
{
	struct sockaddr_un sun;
	int l;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(l, 0);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(listen(l, 1), 0);
	return l;
}

pid_t
test_fake_queue(const char *sock, const char *out)
{
	struct stream s;
	struct buf p = BUF_INIT, reply = BUF_INIT, body = BUF_INIT;
	struct buf env = BUF_INIT, envpath = BUF_INIT;
	const char *f[4] = { "250", "2.0.0", "queued",
	    "0123456789ABCDEF0124" };
	char tag;
	int l, c, i;
	pid_t pid;

	l = test_listen_unix(sock);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid != 0) {
		close(l);
		return pid;
	}
	alarm(20);
	c = accept(l, NULL, NULL);
	if (c < 0 || stream_init(&s, c, c, 10000) != 0)
		_exit(1);
	for (i = 0; i < 10000; i++) {
		if (frame_read(&s, 70000, &tag, &p) != FRAME_OK)
			_exit(2);
		if (tag == 'M' && buf_append(&body, p.data, p.len) != 0)
			_exit(3);
		if (tag != 'M' && tag != '.' && env.len == 0 &&
		    buf_append(&env, p.data, p.len) != 0)
			_exit(3);
		if (tag == '.')
			break;
	}
	if (buf_printf(&envpath, "%s.env", out) != 0 ||
	    io_write_file_atomic(buf_str(&envpath), env.data, env.len,
	    0600) != 0 ||
	    io_write_file_atomic(out, body.data, body.len, 0600) != 0 ||
	    frame_put_fields(&reply, 'R', f, 4) != 0 ||
	    write(c, reply.data, reply.len) != (ssize_t)reply.len)
		_exit(4);
	_exit(0);
}
