/*
 * run_net.c — posthorn-run's sockets and files: the TCP listeners
 * ("host:port", "[v6]:port", a bare host for the kind's standard port,
 * port 0 for a free one), the queue's unix socket, the notification
 * socket, and the atomically written files under DIR/run.
 *
 * Trust: addresses come from the caller's configuration or command line
 * and are parsed strictly; a stale socket is only removed when it is a
 * socket.
 */
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/io.h"
#include "common/log.h"
#include "common/units.h"
#include "queue/run.h"

const char *const lkind_name[] = {
	"smtp", "submission", "smtps", "queue"
};


uint64_t
now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

int
mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t len, i;

	len = strlen(path);
	if (len == 0 || len >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, mode) == -1 && errno != EEXIST)
			return -1;
		tmp[i] = i == len ? '\0' : '/';
	}
	return 0;
}

int
parent_dir(const char *path, char *out, size_t outsz)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (slash == NULL)
		return snprintf(out, outsz, ".") < (int)outsz ? 0 : -1;
	n = (size_t)(slash - path);
	if (n == 0)
		n = 1;
	if (n >= outsz)
		return -1;
	memcpy(out, path, n);
	out[n] = '\0';
	return 0;
}

static void
format_sockaddr(const struct sockaddr_storage *ss, char *out, size_t outsz)
{
	char ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(out, outsz, "%s:%u", ip, ntohs(s4->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(out, outsz, "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else {
		snprintf(out, outsz, "?");
	}
}

void
split_sockaddr(const struct sockaddr_storage *ss, char *ip, size_t ipsz,
    char *port, size_t portsz)
{
	unsigned p = 0;

	ip[0] = '\0';
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, ip, (socklen_t)ipsz);
		p = ntohs(s4->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, (socklen_t)ipsz);
		p = ntohs(s6->sin6_port);
	}
	snprintf(port, portsz, "%u", p);
}

static struct listener *
listener_new(struct run *r, enum lkind kind, int fd)
{
	struct listener *l;

	if (r->nls == MAX_LISTENERS)
		return NULL;
	l = &r->ls[r->nls++];
	memset(l, 0, sizeof(*l));
	l->run = r;
	l->kind = kind;
	l->fd = fd;
	l->max = kind == L_QUEUE ? MAX_INJECTIONS : MAX_SESSIONS;
	return l;
}

/* "host:port", "[v6]:port", "host" (the kind's standard port) or
 * "host:0" (a free port, chosen by the kernel). */
int
listen_spec(enum lkind kind, const char *spec, char *host, size_t hostsz,
    unsigned *port)
{
	static const unsigned std[] = { 25, 587, 465, 0 };
	char tmp[300];
	size_t n = strlen(spec);
	const char *first = strchr(spec, ':');
	bool zero;

	zero = n > 2 && strcmp(spec + n - 2, ":0") == 0 &&
	    ((spec[0] == '[' && spec[n - 3] == ']') ||
	    (spec[0] != '[' && first == spec + n - 2));
	if (zero) {
		if (n - 2 >= sizeof(tmp))
			return -1;
		memcpy(tmp, spec, n - 2);
		tmp[n - 2] = '\0';
		if (parse_hostport(tmp, host, hostsz, port) == -1 ||
		    *port != 0)
			return -1;
		return 0;
	}
	if (parse_hostport(spec, host, hostsz, port) == -1)
		return -1;
	if (*port == 0)
		*port = std[kind];
	return 0;
}

/* Bind every address "host:port" resolves to. */
int
bind_tcp(struct run *r, enum lkind kind, const char *spec, struct buf *err)
{
	struct addrinfo hints, *res, *ai;
	char host[256], portstr[16];
	unsigned port;
	int rc, n = 0;

	if (listen_spec(kind, spec, host, sizeof(host), &port) == -1) {
		buf_printf(err, "%s: bad listen address \"%s\"",
		    lkind_name[kind], spec);
		return -1;
	}
	snprintf(portstr, sizeof(portstr), "%u", port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &res);
	if (rc != 0) {
		buf_printf(err, "%s: cannot resolve \"%s\": %s",
		    lkind_name[kind], spec, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct listener *l;
		int fd, one = 1;

		fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd == -1)
			goto fail;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
			    sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
		    listen(fd, 128) == -1 ||
		    getsockname(fd, (struct sockaddr *)&ss, &sl) == -1) {
			close(fd);
			goto fail;
		}
		if ((l = listener_new(r, kind, fd)) == NULL) {
			close(fd);
			errno = EMFILE;
			goto fail;
		}
		format_sockaddr(&ss, l->addr, sizeof(l->addr));
		n++;
	}
	freeaddrinfo(res);
	return n > 0 ? 0 : -1;
fail:
	buf_printf(err, "%s: cannot listen on %s: %s", lkind_name[kind], spec,
	    strerror(errno));
	freeaddrinfo(res);
	return -1;
}

static int
sun_fill(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun->sun_path, path, strlen(path));
	return 0;
}

/* Remove a stale socket left by an earlier run (never a regular file). */
void
unlink_stale_socket(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
}

/* Bind a unix socket whose file gets mode: set by the umask, not by a
 * chmod(path) afterwards, which (run by root) would follow whatever
 * link someone put at path in between. */
static int
bind_mode(int fd, const struct sockaddr_un *sun, mode_t mode)
{
	mode_t old = umask(~mode & 0777);
	int rc = bind(fd, (const struct sockaddr *)sun, sizeof(*sun));
	int saved = errno;

	umask(old);
	errno = saved;
	return rc;
}

/* Remove the socket at path only if it is still the one we bound: one
 * that someone else put there since is theirs. */
void
unlink_own_socket(const char *path, dev_t dev, ino_t ino)
{
	struct stat st;

	if (ino != 0 && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == dev && st.st_ino == ino)
		unlink(path);
}

/* Does a process accept connections on the unix socket at sun?  1 yes
 * (or cannot tell: errno says why), 0 no (nothing there, or a stale
 * socket: ECONNREFUSED).  The servers of a posthorn-run killed a moment
 * ago are given up to two seconds to go. */
static int
socket_in_use(const struct sockaddr_un *sun)
{
	int fd, rc, i;

	for (i = 0; i < 20; i++) {
		if (i > 0)
			(void)nanosleep(&(struct timespec){ 0, 100000000L },
			    NULL);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd == -1)
			return 1;
		rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
		if (rc == -1 && errno == EINTR)
			errno = EAGAIN;
		close(fd);
		if (rc == -1 && (errno == ECONNREFUSED || errno == ENOENT ||
		    errno == ENOTSOCK))
			return 0;
		if (rc == -1 && errno != EAGAIN)
			return 1;
	}
	errno = EADDRINUSE;
	return 1;
}

/* The queue socket: never one that another instance (the system's
 * posthorn-queue.socket, another posthorn-run) is listening on; taking
 * it over would steal that instance's injections, and removing ours at
 * exit would leave it without a socket. */
int
bind_queue(struct run *r, struct buf *err)
{
	const char *path = r->cfg.queue_socket;
	struct sockaddr_un sun;
	char dir[PATH_MAX];
	struct listener *l;
	struct stat st;
	int fd;

	if (parent_dir(path, dir, sizeof(dir)) == -1 ||
	    mkdir_p(dir, 0755) == -1 || sun_fill(&sun, path) == -1) {
		buf_printf(err, "queue socket %s: %s", path, strerror(errno));
		return -1;
	}
	if (socket_in_use(&sun)) {
		buf_printf(err, "queue socket %s: in use by another process "
		    "(%s; the system's posthorn-queue.socket or another "
		    "posthorn-run?): not taken over", path,
		    strerror(errno));
		return -1;
	}
	unlink_stale_socket(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 || bind_mode(fd, &sun, 0666) == -1 ||
	    listen(fd, 128) == -1) {
		buf_printf(err, "queue socket %s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (lstat(path, &st) == 0) {
		r->qsock_dev = st.st_dev;
		r->qsock_ino = st.st_ino;
	}
	if ((l = listener_new(r, L_QUEUE, fd)) == NULL) {
		close(fd);
		buf_printf(err, "too many listeners");
		return -1;
	}
	snprintf(l->addr, sizeof(l->addr), "%s", path);
	return 0;
}

/* ---- readiness ------------------------------------------------------- */

int
write_run_file(struct run *r, const char *name, const struct buf *b)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/%s", r->rundir, name) >=
	    (int)sizeof(path))
		return -1;
	return io_write_file_atomic(path, b->data ? b->data : "", b->len,
	    0644);
}

int
bind_notify(struct run *r, struct buf *err)
{
	struct sockaddr_un sun;
	char path[PATH_MAX];
	size_t n;
	int fd, one = 1;

	if (snprintf(path, sizeof(path), "%s/notify.sock", r->rundir) >=
	    (int)sizeof(path) ||
	    (n = strlen(path)) >= sizeof(r->notify_path)) {
		/* too long for a unix socket path: an abstract name */
		unsigned long long rnd = now_usec();

		snprintf(r->notify_path, sizeof(r->notify_path),
		    "@posthorn-run/%ld/%llx", (long)getpid(), rnd);
	} else {
		unlink_stale_socket(path);
		memcpy(r->notify_path, path, n + 1);
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, r->notify_path, strlen(r->notify_path));
	if (r->notify_path[0] == '@')
		sun.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one,
	    sizeof(one)) == -1 || bind(fd, (struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(r->notify_path))) == -1) {
		buf_printf(err, "notify socket %s: %s", r->notify_path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	r->notify_fd = fd;
	return 0;
}
