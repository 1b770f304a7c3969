/*
 * spool.c — envelope records of the spool (queue/SPOOL.md): encode,
 * strict decode, atomic store; spool paths; retry backoff.
 *
 * Trusts: nothing read from the spool.  A record is accepted only if every
 * frame is well-formed, in order, the envelope decodes (addresses are
 * re-validated by envelope_decode), the owed string matches the
 * recipients, and nothing follows the end frame.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/frame.h"
#include "common/io.h"
#include "common/pdeath.h"
#include "common/qid.h"
#include "queue/spool.h"

void
spool_rec_init(struct spool_rec *r)
{
	memset(r, 0, sizeof(*r));
	envelope_init(&r->env);
}

void
spool_rec_free(struct spool_rec *r)
{
	envelope_free(&r->env);
	free(r->owed);
	r->owed = NULL;
}

int
spool_rec_reset_owed(struct spool_rec *r)
{
	size_t n;

	if (size_add(r->env.nrcpts, 1, &n) == -1)
		return -1;
	free(r->owed);
	r->owed = malloc(n);
	if (r->owed == NULL)
		return -1;
	memset(r->owed, OWED_NONE, r->env.nrcpts);
	r->owed[r->env.nrcpts] = '\0';
	return 0;
}

int
spool_rec_encode(const struct spool_rec *r, struct buf *out)
{
	struct buf env = BUF_INIT;
	char next[24], warned[2] = { r->warned ? '1' : '0', '\0' };
	const char *f[3];
	int rc = -1;

	if (r->owed == NULL || strlen(r->owed) != r->env.nrcpts) {
		errno = EINVAL;
		return -1;
	}
	snprintf(next, sizeof(next), "%lld",
	    (long long)(r->next_try < 0 ? 0 : r->next_try));
	f[0] = next;
	f[1] = warned;
	f[2] = r->owed;
	if (frame_put_str(out, 'V', SPOOL_MAGIC) == 0 &&
	    envelope_encode(&r->env, &env) == 0 &&
	    frame_put(out, 'E', env.data, env.len) == 0 &&
	    frame_put_fields(out, 'S', f, 3) == 0 &&
	    frame_put(out, '.', "", 0) == 0)
		rc = 0;
	buf_free(&env);
	return rc;
}

/* Strict decimal: 1..19 digits, no leading zeros. */
static int
parse_i64(const char *s, int64_t *out)
{
	int64_t v = 0;
	size_t i, n = strlen(s);

	if (n == 0 || n > 18 || (n > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int
decode_state(const char *p, size_t n, struct spool_rec *r, const char **why)
{
	struct buf store = BUF_INIT;
	const char *f[3];
	size_t i, len;
	int nf;

	nf = frame_fields(p, n, &store, f, 3);
	if (nf != 3 || parse_i64(f[0], &r->next_try) == -1 ||
	    r->next_try > SPOOL_TIME_MAX ||
	    (strcmp(f[1], "0") != 0 && strcmp(f[1], "1") != 0)) {
		buf_free(&store);
		*why = "malformed scheduler state";
		return -1;
	}
	r->warned = f[1][0] == '1';
	len = strlen(f[2]);
	if (len != r->env.nrcpts) {
		buf_free(&store);
		*why = "owed list does not match the recipients";
		return -1;
	}
	for (i = 0; i < len; i++)
		if (f[2][i] != OWED_NONE && f[2][i] != OWED_FAILURE &&
		    f[2][i] != OWED_SUCCESS) {
			buf_free(&store);
			*why = "bad owed octet";
			return -1;
		}
	r->owed = xstrndup(f[2], len);
	buf_free(&store);
	if (r->owed == NULL) {
		*why = "out of memory";
		return -1;
	}
	return 0;
}

/* Expected tags in order. */
static const char rec_tags[] = "VES.";

int
spool_rec_decode(const char *p, size_t n, struct spool_rec *r,
    const char **why)
{
	const char *pl;
	size_t plen, used, k;
	char tag;
	int fr;

	for (k = 0; k < sizeof(rec_tags) - 1; k++) {
		fr = frame_decode(p, n, SPOOL_ENV_MAX + 1, &tag, &pl, &plen,
		    &used);
		if (fr != FRAME_OK || tag != rec_tags[k]) {
			*why = fr == FRAME_EOF ? "record truncated" :
			    "malformed record frame";
			return -1;
		}
		switch (tag) {
		case 'V':
			if (plen != strlen(SPOOL_MAGIC) ||
			    memcmp(pl, SPOOL_MAGIC, plen) != 0) {
				*why = "unknown record version";
				return -1;
			}
			break;
		case 'E':
			if (envelope_decode(pl, plen, &r->env, why) == -1)
				return -1;
			if (r->env.qid == NULL || !qid_valid(r->env.qid) ||
			    r->env.nrcpts == 0) {
				*why = "envelope without queue id or recipients";
				return -1;
			}
			break;
		case 'S':
			if (decode_state(pl, plen, r, why) == -1)
				return -1;
			break;
		case '.':
			if (plen != 0) {
				*why = "malformed end frame";
				return -1;
			}
			break;
		}
		p += used;
		n -= used;
	}
	if (n != 0) {
		*why = "data after the end of the record";
		return -1;
	}
	return 0;
}

int
spool_rec_load(const char *path, const char *qid, struct spool_rec *r,
    const char **why)
{
	struct buf b = BUF_INIT;

	if (io_read_file(path, SPOOL_REC_MAX, &b) == -1) {
		if (errno == EFBIG) {
			*why = "record too large";
			buf_free(&b);
			return -1;
		}
		buf_free(&b);
		return -2;
	}
	if (spool_rec_decode(b.data != NULL ? b.data : "", b.len, r, why)
	    == -1) {
		buf_free(&b);
		return -1;
	}
	buf_free(&b);
	if (strcmp(r->env.qid, qid) != 0) {
		*why = "queue id does not match the file name";
		return -1;
	}
	return 0;
}

/* An encoded record into tmppath, fsync'd. */
static int
write_encoded(const char *tmppath, const char *p, size_t n)
{
	int fd, saved;

	fd = open(tmppath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0640);
	if (fd == -1)
		return -1;
	if (io_write_file(fd, p, n) == -1 || fsync(fd) == -1) {
		saved = errno;
		close(fd);
		unlink(tmppath);
		errno = saved;
		return -1;
	}
	if (close(fd) == -1) {
		saved = errno;
		unlink(tmppath);
		errno = saved;
		return -1;
	}
	return 0;
}

/* Encode r, write it to tmppath, and rename it to path unless NULL. */
static int
encode_and_store(const char *tmppath, const char *path,
    const struct spool_rec *r)
{
	struct buf b = BUF_INIT;
	int rc = -1, saved;

	if (spool_rec_encode(r, &b) == 0)
		rc = path == NULL ? write_encoded(tmppath, b.data, b.len) :
		    spool_rec_store_encoded(tmppath, path, b.data, b.len);
	saved = errno;
	buf_free(&b);
	errno = saved;
	return rc;
}

int
spool_rec_write(const char *tmppath, const struct spool_rec *r)
{
	return encode_and_store(tmppath, NULL, r);
}

int
spool_rec_store(const char *tmppath, const char *path,
    const struct spool_rec *r)
{
	return encode_and_store(tmppath, path, r);
}

int
spool_rec_store_encoded(const char *tmppath, const char *path,
    const char *p, size_t n)
{
	int saved;

	if (write_encoded(tmppath, p, n) == -1)
		return -1;
	if (rename(tmppath, path) == -1) {
		saved = errno;
		unlink(tmppath);
		errno = saved;
		return -1;
	}
	return 0;
}

int
spool_qfile_finish(int fd, uint64_t msgsize, const struct spool_rec *r)
{
	struct buf b = BUF_INIT;
	char footer[SPOOL_FOOTER_LEN + 1];
	int rc = -1;

	snprintf(footer, sizeof(footer), "%s%016llx\n", SPOOL_FOOTER_MAGIC,
	    (unsigned long long)msgsize);
	if (r->env.size != msgsize) {
		errno = EINVAL;
		return -1;
	}
	if (spool_rec_encode(r, &b) == 0 &&
	    buf_append(&b, footer, SPOOL_FOOTER_LEN) == 0 &&
	    io_write_file(fd, b.data, b.len) == 0)
		rc = 0;
	buf_free(&b);
	return rc;
}

/* The record's offset from a footer; -1 if p is not one. */
static int
footer_parse(const char *p, uint64_t *off)
{
	size_t m = sizeof(SPOOL_FOOTER_MAGIC) - 1, i;
	uint64_t v = 0;

	if (memcmp(p, SPOOL_FOOTER_MAGIC, m) != 0 ||
	    p[SPOOL_FOOTER_LEN - 1] != '\n')
		return -1;
	for (i = m; i < m + 16; i++) {
		if (p[i] >= '0' && p[i] <= '9')
			v = v << 4 | (uint64_t)(p[i] - '0');
		else if (p[i] >= 'a' && p[i] <= 'f')
			v = v << 4 | (uint64_t)(p[i] - 'a' + 10);
		else
			return -1;
	}
	*off = v;
	return 0;
}

/* Where the record lies in a file of fsize octets with this footer:
 * [*off, *off + *len).  -1 (*why) if it cannot. */
static int
record_span(const char *footer, uint64_t fsize, uint64_t *off,
    size_t *len, const char **why)
{
	uint64_t end;

	if (fsize < SPOOL_FOOTER_LEN || footer_parse(footer, off) == -1)
		return SPOOL_INCOMPLETE;
	end = fsize - SPOOL_FOOTER_LEN;
	if (*off > end || end - *off > SPOOL_REC_MAX) {
		*why = "queue file footer points outside the file";
		return -1;
	}
	*len = (size_t)(end - *off);
	return 0;
}

static int
record_check(const char *p, size_t n, uint64_t off, const char *qid,
    struct spool_rec *r, const char **why)
{
	if (spool_rec_decode(p, n, r, why) == -1)
		return -1;
	if (strcmp(r->env.qid, qid) != 0) {
		*why = "queue id does not match the file name";
		return -1;
	}
	if (r->env.size != off) {
		*why = "record size does not match the message";
		return -1;
	}
	return 0;
}

int
spool_qfile_decode(const char *p, size_t n, const char *qid,
    struct spool_rec *r, const char **why)
{
	uint64_t off;
	size_t len;
	int rc;

	if (n < SPOOL_FOOTER_LEN)
		return SPOOL_INCOMPLETE;
	rc = record_span(p + n - SPOOL_FOOTER_LEN, n, &off, &len, why);
	if (rc != 0)
		return rc;
	return record_check(p + off, len, off, qid, r, why);
}

int
spool_qfile_read(int fd, const char *qid, struct spool_rec *r,
    const char **why)
{
	char footer[SPOOL_FOOTER_LEN];
	struct stat st;
	uint64_t off;
	size_t len;
	char *rec;
	int rc;

	if (fstat(fd, &st) == -1)
		return -2;
	if (!S_ISREG(st.st_mode)) {
		*why = "not a regular file";
		return -1;
	}
	if ((uint64_t)st.st_size < SPOOL_FOOTER_LEN)
		return SPOOL_INCOMPLETE;
	if (io_pread_all(fd, footer, SPOOL_FOOTER_LEN,
	    (off_t)((uint64_t)st.st_size - SPOOL_FOOTER_LEN)) == -1)
		return -2;
	rc = record_span(footer, (uint64_t)st.st_size, &off, &len, why);
	if (rc != 0)
		return rc;
	rec = malloc(len > 0 ? len : 1);
	if (rec == NULL)
		return -2;
	if (io_pread_all(fd, rec, len, (off_t)off) == -1) {
		free(rec);
		return -2;
	}
	rc = record_check(rec, len, off, qid, r, why);
	free(rec);
	return rc;
}

int
spool_qfile_open(const char *path, const char *qid, struct spool_rec *r,
    const char **why, int *fdp)
{
	struct stat st;
	int fd, rc, saved;

	*fdp = -1;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd == -1)
		return -2;
	if (fstat(fd, &st) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -2;
	}
	/* the injector makes the file group-readable when it is complete
	 * (SPOOL.md "Injection"): nothing in a message can fake that */
	if (S_ISREG(st.st_mode) && (st.st_mode & S_IRGRP) == 0)
		rc = SPOOL_INCOMPLETE;
	else
		rc = spool_qfile_read(fd, qid, r, why);
	/* marked complete, so its footer was written before: a file that
	 * lost it (a power failure before its fsync, a damaged disk) is
	 * corrupt and goes to quarantine, never removed as unfinished */
	if (rc == SPOOL_INCOMPLETE && S_ISREG(st.st_mode) &&
	    (st.st_mode & S_IRGRP) != 0) {
		*why = "complete queue file without a valid footer";
		rc = -1;
	}
	if (rc == 0) {
		*fdp = fd;
		return 0;
	}
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int
spool_qfile_load(const char *path, const char *qid, struct spool_rec *r,
    const char **why)
{
	int fd, rc = spool_qfile_open(path, qid, r, why, &fd);

	if (fd != -1)
		close(fd);
	return rc;
}

static int
qfile_load(const char *path, const char *qid, struct spool_rec *r,
    const char **why)
{
	int rc = spool_qfile_load(path, qid, r, why);

	if (rc == SPOOL_INCOMPLETE) {
		errno = ENOENT;		/* not a message yet */
		return -2;
	}
	return rc;
}

int
spool_state_load(const char *spool, const char *qid, bool include_incoming,
    struct spool_rec *r, const char **why)
{
	char path[4096];
	int rc;

	if (spool_path(path, sizeof(path), spool, "env", qid) == -1)
		return -2;
	rc = spool_rec_load(path, qid, r, why);
	if (rc != -2 || errno != ENOENT)
		return rc;
	if (spool_path(path, sizeof(path), spool, "msg", qid) == -1)
		return -2;
	spool_rec_free(r);
	spool_rec_init(r);
	rc = qfile_load(path, qid, r, why);
	if (rc != -2 || errno != ENOENT || !include_incoming)
		return rc;
	if (spool_path(path, sizeof(path), spool, "incoming", qid) == -1)
		return -2;
	spool_rec_free(r);
	spool_rec_init(r);
	return qfile_load(path, qid, r, why);
}

int
spool_path(char *out, size_t outsz, const char *spool, const char *sub,
    const char *name)
{
	int n;

	n = snprintf(out, outsz, "%s/%s%s%s", spool, sub,
	    name[0] != '\0' ? "/" : "", name);
	if (n < 0 || (size_t)n >= outsz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
spool_mkdirs(const char *spool)
{
	static const char *const dirs[] = { "tmp", "msg", "incoming", "env",
	    "quarantine" };
	char path[4096];
	size_t i;

	if (mkdir(spool, 0750) == -1 && errno != EEXIST)
		return -1;
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (spool_path(path, sizeof(path), spool, dirs[i], "") == -1)
			return -1;
		if (mkdir(path, 0750) == -1 && errno != EEXIST)
			return -1;
	}
	return 0;
}

/* A killed injector whose parent is gone may stay a zombie for long
 * where nothing reaps orphans (a container whose PID 1 does not):
 * kill(pid, 0) still succeeds, but it will never finish its message. */
static bool
pid_is_zombie(pid_t pid)
{
	char path[64], line[512], *paren;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return false;
	n = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (n <= 0)
		return false;
	line[n] = '\0';
	paren = strrchr(line, ')');	/* the name may contain anything */
	return paren != NULL && paren[1] == ' ' &&
	    (paren[2] == 'Z' || paren[2] == 'X');
}

bool
spool_qid_pid_alive(const char *qid)
{
	unsigned long pid;
	char *end;

	if (!qid_valid(qid))
		return true;
	pid = strtoul(qid + QID_LEN - 6, &end, 16);
	if (*end != '\0' || pid == 0)
		return true;
	if (kill((pid_t)pid, 0) == -1 && errno == ESRCH)
		return false;
	return !pid_is_zombie((pid_t)pid);
}

int
spool_lock_unfinished(int fd)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;	/* l_start 0, l_len 0: the whole file */
	return fcntl(fd, F_OFD_SETLK, &fl);
}

bool
spool_is_locked(const char *path)
{
	struct flock fl;
	bool locked;
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return errno != ENOENT;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	locked = fcntl(fd, F_OFD_GETLK, &fl) == -1 || fl.l_type != F_UNLCK;
	close(fd);
	return locked;
}

int
spool_drop_privileges(const char *spool)
{
	struct stat st;
	struct pdeath pd;

	if (geteuid() != 0)
		return 0;
	if (stat(spool, &st) == -1)
		return errno == ENOENT ? 0 : -1;	/* created by us later */
	if (st.st_uid == 0)
		return 0;
	/* posthorn-run's parent-death signal survives the switch */
	pdeath_save(&pd);
	if (setgroups(0, NULL) == -1 || setgid(st.st_gid) == -1 ||
	    setuid(st.st_uid) == -1)
		return -1;
	return pdeath_restore(&pd);
}

uint64_t
sched_backoff(uint64_t rmin, uint64_t rmax, uint32_t attempts, uint64_t rnd)
{
	uint64_t d = rmin < 1 ? 1 : rmin;
	uint32_t i;

	if (rmax < d)
		rmax = d;
	for (i = 1; i < attempts && d < rmax; i++)
		d = d > rmax / 2 ? rmax : d * 2;
	if (d > rmax)
		d = rmax;
	if (d >= 10)
		d -= rnd % (d / 10 + 1);
	return d < 1 ? 1 : d;
}
