/*
 * notify.c — posthorn-send's service notifications, sent to the spawner's
 * relay or to $NOTIFY_SOCKET (see notify.h).  sd_notify() is not used: it
 * reads NOTIFY_SOCKET from the environment at every call, and the
 * environment must not hold it (agents inherit the environment).
 *
 * Trust: notify_relayable() runs in the spawner (root) on what the
 * scheduler (posthorn-queue) sent; it only compares octets.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "common/io.h"
#include "queue/notify.h"

static int relay_fd = -1;
static struct sockaddr_un manager;
static socklen_t manager_len;	/* 0: no NOTIFY_SOCKET */
static uint64_t watchdog_usec;

/* The address NOTIFY_SOCKET names (a path, or @ for the abstract
 * namespace); its length, or 0 when there is none. */
static socklen_t
socket_address(const char *path, struct sockaddr_un *sun)
{
	size_t n;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return 0;
	n = strlen(path);
	if (n < 2 || n >= sizeof(sun->sun_path))
		return 0;
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, n);
	if (path[0] == '@')
		sun->sun_path[0] = '\0';	/* abstract namespace */
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
}

/* One datagram to the service manager; -1 with errno. */
static int
send_manager(const struct sockaddr_un *sun, socklen_t len, const char *text,
    int flags)
{
	ssize_t n;
	int fd, saved;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	while ((n = sendto(fd, text, strlen(text), flags | MSG_NOSIGNAL,
	    (const struct sockaddr *)sun, len)) == -1 && errno == EINTR)
		;
	saved = errno;
	close(fd);
	errno = saved;
	return n == -1 ? -1 : 0;
}

int
notify_init(void)
{
	const char *fd = getenv(NOTIFY_FD_ENV);
	uint64_t usec = 0;
	char *end;
	long v;
	int rc = 0;

	if (fd != NULL && fd[0] != '\0') {
		errno = 0;
		v = strtol(fd, &end, 10);
		if (errno != 0 || *end != '\0' || v < 3 || v > 65535 ||
		    fcntl((int)v, F_GETFD) == -1)
			rc = -1;
		else {
			relay_fd = (int)v;
			io_set_cloexec(relay_fd, 1);
		}
	} else
		manager_len = socket_address(getenv("NOTIFY_SOCKET"), &manager);
	/* unset_environment = 1: WATCHDOG_USEC and WATCHDOG_PID go */
	if (sd_watchdog_enabled(1, &usec) > 0)
		watchdog_usec = usec;
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	unsetenv("NOTIFY_SOCKET");
	unsetenv(NOTIFY_FD_ENV);
	return rc;
}

uint64_t
notify_watchdog_usec(void)
{
	return watchdog_usec;
}

void
notify_send(const char *text, bool wait)
{
	int flags = MSG_NOSIGNAL | (wait ? 0 : MSG_DONTWAIT);
	size_t n = strlen(text);

	if (relay_fd >= 0) {
		while (send(relay_fd, text, n, flags) == -1 && errno == EINTR)
			;
		return;
	}
	if (manager_len != 0)
		(void)send_manager(&manager, manager_len, text,
		    wait ? 0 : MSG_DONTWAIT);
}

void
notify_relay_send(const char *text, bool important)
{
	struct sockaddr_un sun;
	socklen_t len = socket_address(getenv("NOTIFY_SOCKET"), &sun);
	int i;

	for (i = 0; len != 0 && i < 20; i++) {
		if (send_manager(&sun, len, text, MSG_DONTWAIT) == 0 ||
		    errno != EAGAIN || !important)
			return;
		(void)nanosleep(&(struct timespec){ 0, 50 * 1000000L }, NULL);
	}
}

bool
notify_relayable(const char *line, size_t n)
{
	static const char *const fixed[] = { "READY=1", "RELOADING=1",
		"STOPPING=1", "WATCHDOG=1" };
	size_t i;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (n == strlen(fixed[i]) && memcmp(line, fixed[i], n) == 0)
			return true;
	if (n <= 7 || n > NOTIFY_LINE_MAX || memcmp(line, "STATUS=", 7) != 0)
		return false;
	for (i = 7; i < n; i++)
		if (line[i] < 0x20 || line[i] > 0x7e)
			return false;
	return true;
}
