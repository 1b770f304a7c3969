/*
 * fuzz_queue_inject.c — libFuzzer target for posthorn-queue's side of the
 * injection protocol (queue/inject.c inject_serve): the input is the
 * client's byte stream; the server must never crash, hang or leak, and
 * every file it leaves in incoming/ must be a complete queue file (marked
 * 0640, footer and first record checked, queue/SPOOL.md): a rejected or
 * abandoned message leaves nothing, and nothing else is written.  The
 * spool lives on /dev/shm so that fsync is cheap.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "queue/queue.h"
#include "queue/spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char spool[64];
static int devnull = -1;

/* Remove every file in SPOOL/sub; returns how many there were. */
static int
empty_dir(const char *sub)
{
	char path[1024];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", spool, sub);
	dir = opendir(path);
	if (dir == NULL)
		return 0;
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/%s", spool, sub,
		    d->d_name);
		unlink(path);
		n++;
	}
	closedir(dir);
	return n;
}

/* Every file in incoming/ is a complete queue file; then remove it. */
static void
check_incoming(void)
{
	char path[1024];
	struct spool_rec rec;
	struct dirent *d;
	struct stat st;
	const char *why;
	DIR *dir;
	int fd;

	snprintf(path, sizeof(path), "%s/incoming", spool);
	dir = opendir(path);
	if (dir == NULL)
		abort();
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/incoming/%s", spool,
		    d->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd == -1 || fstat(fd, &st) == -1 ||
		    (st.st_mode & 0777) != 0640)
			abort();	/* left unfinished */
		spool_rec_init(&rec);
		if (spool_qfile_read(fd, d->d_name, &rec, &why) != 0)
			abort();	/* marked complete but is not */
		spool_rec_free(&rec);
		close(fd);
		unlink(path);
	}
	closedir(dir);
}

static void
remove_spool(void)
{
	static const char *const subs[] = { "tmp", "msg", "incoming", "env",
	    "quarantine" };
	char path[1024];
	size_t i;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		empty_dir(subs[i]);
		snprintf(path, sizeof(path), "%s/%s", spool, subs[i]);
		rmdir(path);
	}
	rmdir(spool);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct inject_opts o;
	int fd;

	if (spool[0] == '\0') {
		snprintf(spool, sizeof(spool), "/dev/shm/fuzz_queue_%ld",
		    (long)getpid());
		if (mkdir(spool, 0700) == -1 && errno != EEXIST)
			abort();
		if (spool_mkdirs(spool) == -1)
			abort();
		devnull = open("/dev/null", O_WRONLY);
		log_init("fuzz");
		atexit(remove_spool);
	}
	fd = memfd_create("in", MFD_CLOEXEC);
	if (fd == -1 || write(fd, data, size) != (ssize_t)size ||
	    lseek(fd, 0, SEEK_SET) != 0)
		abort();
	memset(&o, 0, sizeof(o));
	o.spool = spool;
	o.max_message_size = 4096;
	o.max_recipients = 50;
	o.timeout_ms = 1000;
	o.peer_uid = 1000;	/* an ordinary user: untrusted fields are
				   relabelled (identity_relabel()) */
	o.alias_uid = o.smtpd_uid = o.bounce_uid = -1;
	(void)inject_serve(&o, fd, devnull);
	close(fd);
	if (empty_dir("tmp") != 0 || empty_dir("msg") != 0 ||
	    empty_dir("env") != 0)
		abort();	/* the injector writes only incoming/ */
	check_incoming();
	return 0;
}
