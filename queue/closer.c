/*
 * closer.c — close descriptors on a thread of their own.
 *
 * The scheduler's last descriptor of a queue file it just unlinked is the
 * file's last reference: closing it frees the inode and its blocks, and
 * on a file system mounted with discard (ext4 without a journal issues
 * the discard synchronously) close() waits for the device, about a
 * millisecond per message on a virtual disk.  The scheduler's event loop
 * must not wait for that; this thread does.  It only ever calls close()
 * on numbers the main thread handed over (and then no longer uses), so
 * it shares no other state.
 *
 * Trust: nothing is read here but descriptor numbers from our own pipe.
 * When CLOSER_MAX_PENDING are already waiting, the pipe is full or the
 * thread could not start, the descriptor is closed inline: never lost,
 * never closed twice.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#include "queue/closer.h"

/* At most this many descriptors wait for the thread; beyond, close()
 * runs inline: a slow device must not pile up open files (and the
 * scheduler's descriptor limit) behind it. */
#define CLOSER_MAX_PENDING	128

static int closer_pipe[2] = { -1, -1 };
static atomic_int closer_pending;

static void *
closer_main(void *arg)
{
	int fd;
	ssize_t n;

	(void)arg;
	for (;;) {
		n = read(closer_pipe[0], &fd, sizeof(fd));
		if (n == (ssize_t)sizeof(fd)) {
			close(fd);
			atomic_fetch_sub(&closer_pending, 1);
		} else if (n == -1 && errno == EINTR)
			continue;
		else
			return NULL;	/* write end gone: the process exits */
	}
}

int
closer_start(void)
{
	pthread_attr_t attr;
	pthread_t t;
	sigset_t all, old;
	int e;

	if (closer_pipe[1] != -1)
		return 0;
	if (pipe2(closer_pipe, O_CLOEXEC) == -1)
		return -1;
	/* the writer never blocks: a full pipe means closing inline */
	if (fcntl(closer_pipe[1], F_SETFL, O_NONBLOCK) == -1)
		goto fail;
	/* the thread takes no signal: the main loop's signalfd does */
	sigfillset(&all);
	if (pthread_sigmask(SIG_SETMASK, &all, &old) != 0)
		goto fail;
	e = pthread_attr_init(&attr);
	if (e == 0) {
		(void)pthread_attr_setdetachstate(&attr,
		    PTHREAD_CREATE_DETACHED);
		(void)pthread_attr_setstacksize(&attr, 64 * 1024);
		e = pthread_create(&t, &attr, closer_main, NULL);
		pthread_attr_destroy(&attr);
	}
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e == 0)
		return 0;
	errno = e;
fail:
	e = errno;
	close(closer_pipe[0]);
	close(closer_pipe[1]);
	closer_pipe[0] = closer_pipe[1] = -1;
	errno = e;
	return -1;
}

void
closer_close(int fd)
{
	if (fd < 0)
		return;
	if (closer_pipe[1] == -1 ||
	    atomic_load(&closer_pending) >= CLOSER_MAX_PENDING) {
		close(fd);
		return;
	}
	atomic_fetch_add(&closer_pending, 1);
	if (write(closer_pipe[1], &fd, sizeof(fd)) != (ssize_t)sizeof(fd)) {
		atomic_fetch_sub(&closer_pending, 1);
		close(fd);
	}
}
