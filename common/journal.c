/*
 * journal.c — log entries to journald's native socket (journal.h).
 *
 * Trust: the fields come from log.c, which has already escaped every value
 * and reduced every key; they are still checked here (names by journald's
 * rule, lengths with checked arithmetic) so that no field can be cut or
 * forged by what it holds.  Nothing is read from the socket.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/journal.h"

#define JOURNAL_NAME_MAX	64

const char *journal_socket_path = "/run/systemd/journal/socket";

static int
name_valid(const char *p, size_t len)
{
	if (len == 0 || len > JOURNAL_NAME_MAX || p[0] == '_' ||
	    (p[0] >= '0' && p[0] <= '9'))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((p[i] >= 'A' && p[i] <= 'Z') ||
		    (p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
			return 0;
	return 1;
}

static int
encode_field(const char *f, size_t len, struct buf *out)
{
	const char *eq = memchr(f, '=', len);
	const char *val;
	size_t name_len, val_len;
	unsigned char le[8];
	uint64_t v;

	if (eq == NULL)
		return -1;
	name_len = (size_t)(eq - f);
	if (!name_valid(f, name_len))
		return -1;
	val = eq + 1;
	val_len = len - name_len - 1;
	if (memchr(val, '\n', val_len) == NULL)
		return buf_append(out, f, len) == -1 ||
		    buf_append_char(out, '\n') == -1 ? -1 : 0;
	/* binary form: the name, a newline, the length, the value */
	v = (uint64_t)val_len;
	for (int i = 0; i < 8; i++)
		le[i] = (unsigned char)(v >> (8 * i));
	if (buf_append(out, f, name_len) == -1 ||
	    buf_append_char(out, '\n') == -1 ||
	    buf_append(out, le, sizeof(le)) == -1 ||
	    buf_append(out, val, val_len) == -1 ||
	    buf_append_char(out, '\n') == -1)
		return -1;
	return 0;
}

int
journal_encode(const struct iovec *iov, int n, struct buf *out)
{
	size_t start = out->len;

	for (int i = 0; i < n; i++)
		if (encode_field(iov[i].iov_base, iov[i].iov_len, out) == -1) {
			buf_truncate(out, start);
			return -1;
		}
	return 0;
}

int
journal_sendv(const struct iovec *iov, int n)
{
	static int fd = -1;
	struct sockaddr_un sa;
	struct buf entry = BUF_INIT;
	size_t plen = strlen(journal_socket_path);
	ssize_t r;
	int e;

	if (plen >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (journal_encode(iov, n, &entry) == -1) {
		buf_free(&entry);
		errno = EINVAL;
		return -1;
	}
	if (fd == -1)
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		e = errno;
		buf_free(&entry);
		errno = e;
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, journal_socket_path, plen);
	r = sendto(fd, entry.data, entry.len, MSG_DONTWAIT | MSG_NOSIGNAL,
	    (struct sockaddr *)&sa, sizeof(sa));
	e = errno;
	buf_free(&entry);
	errno = e;
	return r == -1 ? -1 : 0;
}
