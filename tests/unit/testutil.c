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

/* One submission on the accepted connection c: its M octets to out, its
 * envelope frame's payload to out.env, then the verdict reply. */
static void
fake_queue_one(int c, const char *out, const char *reply_code)
{
	struct stream s;
	struct buf p = BUF_INIT, reply = BUF_INIT, body = BUF_INIT;
	struct buf env = BUF_INIT, envpath = BUF_INIT;
	const char *f[4] = { reply_code, reply_code[0] == '2' ? "2.0.0" :
	    reply_code[0] == '4' ? "4.3.0" : "5.3.4", "fake verdict",
	    "0123456789ABCDEF0124" };
	char tag;
	int i;

	if (stream_init(&s, c, c, 10000) != 0)
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
	    frame_put_fields(&reply, 'R', f, reply_code[0] == '2' ? 4 : 3)
	    != 0 ||
	    write(c, reply.data, reply.len) != (ssize_t)reply.len)
		_exit(4);
	stream_free(&s);
	close(c);
}

pid_t
test_fake_queue_replies(const char *sock, const char *out,
    const char *const *codes, int n)
{
	struct buf path = BUF_INIT;
	int l, c, k;
	pid_t pid;

	l = test_listen_unix(sock);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid != 0) {
		close(l);
		return pid;
	}
	alarm(20);
	for (k = 0; k < n; k++) {
		c = accept(l, NULL, NULL);
		if (c < 0)
			_exit(1);
		buf_reset(&path);
		if ((n == 1 ? buf_printf(&path, "%s", out) :
		    buf_printf(&path, "%s.%d", out, k + 1)) != 0)
			_exit(1);
		fake_queue_one(c, buf_str(&path), codes[k]);
	}
	_exit(0);
}

pid_t
test_fake_queue(const char *sock, const char *out)
{
	static const char *const ok[1] = { "250" };

	return test_fake_queue_replies(sock, out, ok, 1);
}
