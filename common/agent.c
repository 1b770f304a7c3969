/*
 * agent.c — the scheduler ↔ delivery agent protocol and the spawner
 * request (queue/PROTOCOL.md §3 and §4), both sides.
 *
 * Trusts: neither side trusts the other's bytes.  The agent side checks
 * the job's framing, the envelope (envelope_decode re-validates it) and
 * that exactly one descriptor came with the job, a regular file holding at
 * least the envelope's size in octets; the scheduler side checks
 * every result field and copies text only after sanitising it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/agent.h"
#include "common/frame.h"
#include "common/log.h"

#define AGENT_FRAME_MAX		8192
#define AGENT_ENV_MAX		(4u * 1024 * 1024)
#define AGENT_SEND_TIMEOUT_MS	(60 * 1000)
#define AGENT_MAX_RCPTS		100000

/* Strict unsigned decimal, no sign, no leading zeros, <= max. */
static int
parse_u32(const char *s, size_t n, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 10 || (n > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* "X.Y.Z": class 2/4/5, subject 1-3 digits, detail 1-3 digits. */
static int
dsn_ok(const char *s, char cls)
{
	size_t i = 2, d;

	if (s[0] != cls || s[1] != '.')
		return 0;
	for (d = 0; s[i] >= '0' && s[i] <= '9'; i++)
		d++;
	if (d == 0 || d > 3 || s[i] != '.')
		return 0;
	i++;
	for (d = 0; s[i] >= '0' && s[i] <= '9'; i++)
		d++;
	return d > 0 && d <= 3 && s[i] == '\0';
}

static char
status_class(char status)
{
	switch (status) {
	case 'D':
		return '2';
	case 'T':
		return '4';
	case 'P':
		return '5';
	default:
		return 0;
	}
}

/* ---- agent side ------------------------------------------------------- */

static int
parse_indexes(const char *s, size_t n, struct agent_job *job)
{
	size_t i, start = 0, k = 0;
	uint32_t v;

	if (job->env.nrcpts == 0 || job->env.nrcpts > AGENT_MAX_RCPTS)
		return -1;
	job->rcpt_index = xcalloc_array(job->env.nrcpts, sizeof(uint32_t));
	if (job->rcpt_index == NULL)
		return -1;
	for (i = 0; i <= n; i++) {
		if (i < n && s[i] != ',')
			continue;
		if (k >= job->env.nrcpts ||
		    parse_u32(s + start, i - start, UINT32_MAX - 1, &v) == -1)
			return -1;
		job->rcpt_index[k++] = v;
		start = i + 1;
	}
	return k == job->env.nrcpts ? 0 : -1;
}

static int
job_fail(struct agent_job *job, const char **why, const char *reason)
{
	*why = reason;
	agent_job_free(job);
	return -1;
}

int
agent_job_read(struct stream *ctl, struct agent_job *job, const char **why)
{
	struct buf jp = BUF_INIT, ep = BUF_INIT, store = BUF_INIT;
	const char *f[3];
	struct stat st;
	uint32_t kind;
	char tag;
	int r, nf;

	memset(job, 0, sizeof(*job));
	envelope_init(&job->env);
	job->msgfd = -1;
	stream_enable_fds(ctl);
	r = frame_read(ctl, AGENT_FRAME_MAX, &tag, &jp);
	if (r == FRAME_EOF) {
		buf_free(&jp);
		return 0;
	}
	if (r != FRAME_OK || tag != 'J') {
		buf_free(&jp);
		return job_fail(job, why, r == FRAME_ERR ?
		    "control socket read error" : "malformed job frame");
	}
	job->msgfd = stream_take_fd(ctl);
	nf = frame_fields(jp.data, jp.len, &store, f, 3);
	if (job->msgfd == -1 || nf != 3 ||
	    parse_u32(f[0], strlen(f[0]), JOB_BOUNCE_SUCCESS, &kind) == -1 ||
	    strlen(f[1]) >= sizeof(job->domain)) {
		buf_free(&jp);
		buf_free(&store);
		return job_fail(job, why, job->msgfd == -1 ?
		    "job without message descriptor" : "malformed job frame");
	}
	job->kind = (enum agent_kind_of_job)kind;
	snprintf(job->domain, sizeof(job->domain), "%s", f[1]);
	r = frame_read(ctl, AGENT_ENV_MAX, &tag, &ep);
	if (r != FRAME_OK || tag != 'E' ||
	    envelope_decode(ep.data, ep.len, &job->env, why) == -1 ||
	    parse_indexes(f[2], strlen(f[2]), job) == -1) {
		buf_free(&jp);
		buf_free(&ep);
		buf_free(&store);
		return job_fail(job, why, "malformed job envelope");
	}
	buf_free(&jp);
	buf_free(&ep);
	buf_free(&store);
	if (job->env.qid == NULL)
		return job_fail(job, why, "job envelope without queue id");
	if (fstat(job->msgfd, &st) == -1 || !S_ISREG(st.st_mode))
		return job_fail(job, why, "message descriptor is not a file");
	if (st.st_size < 0 || (uint64_t)st.st_size < job->env.size)
		return job_fail(job, why,
		    "message file shorter than its envelope");
	job->msgsize = job->env.size;
	return 1;
}

ssize_t
agent_msg_read(int fd, uint64_t msgsize, void *p, size_t n, uint64_t off)
{
	ssize_t r;

	if (off >= msgsize || n == 0)
		return 0;
	if (msgsize - off < n)
		n = (size_t)(msgsize - off);
	if (n > SSIZE_MAX)
		n = SSIZE_MAX;
	if (off > (uint64_t)INT64_MAX) {
		errno = EOVERFLOW;
		return -1;
	}
	do
		r = pread(fd, p, n, (off_t)off);
	while (r == -1 && errno == EINTR);
	if (r == 0) {
		errno = EIO;	/* the file ended inside the message */
		return -1;
	}
	return r;
}

void
agent_job_free(struct agent_job *job)
{
	envelope_free(&job->env);
	free(job->rcpt_index);
	job->rcpt_index = NULL;
	if (job->msgfd != -1)
		close(job->msgfd);
	job->msgfd = -1;
}

int
agent_report(struct stream *ctl, const struct agent_job *job, size_t i,
    char status, const char *dsn, const char *text, const char *relay)
{
	struct buf out = BUF_INIT, t = BUF_INIT, rl = BUF_INIT;
	char idx[16], st[2] = { status, '\0' }, dfl[8];
	const char *fields[5];
	int r;

	if (i >= job->env.nrcpts || status_class(status) == 0) {
		errno = EINVAL;
		return -1;
	}
	if (dsn == NULL || !dsn_ok(dsn, status_class(status))) {
		snprintf(dfl, sizeof(dfl), "%c.0.0", status_class(status));
		dsn = dfl;
	}
	if (text == NULL)
		text = "";
	sanitize_text(&t, text, strlen(text), 500);
	if (relay != NULL)
		sanitize_text(&rl, relay, strlen(relay), 299);
	snprintf(idx, sizeof(idx), "%u", (unsigned)job->rcpt_index[i]);
	fields[0] = idx;
	fields[1] = st;
	fields[2] = dsn;
	fields[3] = buf_str(&t);
	fields[4] = buf_str(&rl);
	r = frame_put_fields(&out, 'R', fields, 5);
	if (r == 0)
		r = stream_write(ctl, out.data, out.len);
	if (r == 0)
		r = stream_flush(ctl);
	buf_free(&out);
	buf_free(&t);
	buf_free(&rl);
	return r == 0 ? 0 : -1;
}

int
agent_job_done(struct stream *ctl)
{
	if (stream_write(ctl, "1:Z,", 4) == -1)
		return -1;
	return stream_flush(ctl);
}

/* ---- scheduler side --------------------------------------------------- */

int
agent_job_encode(enum agent_kind_of_job kind, const struct envelope *e,
    const uint32_t *index, const char *domain, struct buf *out)
{
	struct buf env = BUF_INIT, idx = BUF_INIT;
	const char *fields[3];
	char k[8];
	size_t i;
	int r = -1;

	if (e->nrcpts == 0) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < e->nrcpts; i++)
		if (buf_printf(&idx, i == 0 ? "%u" : ",%u",
		    (unsigned)index[i]) == -1)
			goto out;
	snprintf(k, sizeof(k), "%d", (int)kind);
	fields[0] = k;
	fields[1] = domain != NULL ? domain : "";
	fields[2] = buf_str(&idx);
	if (frame_put_fields(out, 'J', fields, 3) == -1 ||
	    envelope_encode(e, &env) == -1 ||
	    frame_put(out, 'E', env.data, env.len) == -1)
		goto out;
	r = 0;
out:
	buf_free(&env);
	buf_free(&idx);
	return r;
}

int
agent_job_send(int ctlfd, enum agent_kind_of_job kind,
    const struct envelope *e, const uint32_t *index, const char *domain,
    int msgfd)
{
	struct buf out = BUF_INIT;
	int r = -1;

	if (msgfd < 0) {
		errno = EINVAL;
		return -1;
	}
	if (agent_job_encode(kind, e, index, domain, &out) == 0)
		r = io_send_fd(ctlfd, out.data, out.len, msgfd,
		    AGENT_SEND_TIMEOUT_MS);
	buf_free(&out);
	return r == 0 ? 0 : -1;
}

static void
copy_clean(char *dst, size_t dstsz, const char *src)
{
	struct buf b = BUF_INIT;

	sanitize_text(&b, src, strlen(src), dstsz - 1);
	snprintf(dst, dstsz, "%s", buf_str(&b));
	buf_free(&b);
}

int
agent_result_decode(char tag, const char *payload, size_t plen,
    struct agent_result *r, const char **why)
{
	struct buf store = BUF_INIT;
	const char *f[5];
	int nf;

	memset(r, 0, sizeof(*r));
	if (tag == 'Z') {
		if (plen != 0) {
			*why = "done frame with payload";
			return -1;
		}
		return 2;
	}
	if (tag != 'R') {
		*why = "unknown frame from agent";
		return -1;
	}
	nf = frame_fields(payload, plen, &store, f, 5);
	if (nf != 5 || strlen(f[1]) != 1 || status_class(f[1][0]) == 0 ||
	    parse_u32(f[0], strlen(f[0]), UINT32_MAX - 1, &r->rcpt_index) ==
	    -1 || !dsn_ok(f[2], status_class(f[1][0]))) {
		buf_free(&store);
		*why = "malformed result frame";
		return -1;
	}
	r->status = f[1][0];
	snprintf(r->dsn, sizeof(r->dsn), "%s", f[2]);
	copy_clean(r->text, sizeof(r->text), f[3]);
	copy_clean(r->relay, sizeof(r->relay), f[4]);
	buf_free(&store);
	return 1;
}

/* ---- spawner ---------------------------------------------------------- */

/* Strict unsigned decimal, no sign, no leading zeros, 1..SPAWN_ID_MAX. */
static int
parse_id(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 19 || s[0] == '0')
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');	/* < 10^19: no wrap */
	}
	if (v > SPAWN_ID_MAX)
		return -1;
	*out = v;
	return 0;
}

int
spawn_request_send(int spawnfd, char kind, uint64_t id, const char *rcpt,
    bool own_mailbox, int ctlfd)
{
	struct buf out = BUF_INIT;
	const char *f[3];
	char num[24];
	int r;

	snprintf(num, sizeof(num), "%llu", (unsigned long long)id);
	f[0] = num;
	f[1] = rcpt != NULL ? rcpt : "";
	f[2] = "mailbox";
	if (id == 0 || id > SPAWN_ID_MAX ||
	    (kind == SPAWN_LOCAL && (rcpt == NULL || rcpt[0] == '\0' ||
	    strlen(rcpt) >= ADDR_MAX)) ||
	    (kind != SPAWN_LOCAL && kind != SPAWN_REMOTE &&
	    kind != SPAWN_KILL) || ((kind == SPAWN_KILL) != (ctlfd < 0)) ||
	    (own_mailbox && kind != SPAWN_LOCAL)) {
		errno = EINVAL;
		return -1;
	}
	r = frame_put_fields(&out, kind, f, kind != SPAWN_LOCAL ? 1 :
	    own_mailbox ? 3 : 2);
	if (r == 0)
		r = io_send_fd(spawnfd, out.data, out.len, ctlfd,
		    AGENT_SEND_TIMEOUT_MS);
	buf_free(&out);
	return r == 0 ? 0 : -1;
}

int
spawn_request_decode(char tag, const char *payload, size_t plen,
    int have_fd, struct spawn_req *r)
{
	const char *nul;
	struct addr a;
	const char *why;
	size_t idlen = plen;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	if (tag != SPAWN_LOCAL && tag != SPAWN_REMOTE && tag != SPAWN_KILL)
		return -1;
	if ((tag == SPAWN_KILL) == (have_fd != 0))
		return -1;
	nul = memchr(payload, '\0', plen);
	if (tag == SPAWN_LOCAL) {
		if (nul == NULL)
			return -1;
		idlen = (size_t)(nul - payload);
	} else if (nul != NULL)
		return -1;
	if (parse_id(payload, idlen, &r->id) == -1)
		return -1;
	r->kind = tag;
	if (tag != SPAWN_LOCAL)
		return 0;
	payload += idlen + 1;
	plen -= idlen + 1;
	/* the one optional field after the recipient: "mailbox" */
	nul = memchr(payload, '\0', plen);
	if (nul != NULL) {
		size_t rest = plen - (size_t)(nul - payload) - 1;

		if (rest != 7 || memcmp(nul + 1, "mailbox", 7) != 0)
			return -1;
		r->own_mailbox = true;
		plen = (size_t)(nul - payload);
	}
	if (plen == 0 || plen >= sizeof(r->rcpt) ||
	    addr_parse_mailbox(payload, plen, ADDR_UTF8, &a, &why) == -1)
		return -1;
	memcpy(r->rcpt, payload, plen);
	r->rcpt[plen] = '\0';
	return 0;
}

int
spawn_request_read(struct stream *s, struct spawn_req *r)
{
	struct buf p = BUF_INIT;
	char tag;
	int rc, fd;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	stream_enable_fds(s);
	rc = frame_read(s, SPAWN_FRAME_MAX, &tag, &p);
	/* a scheduler that exits with answers unread resets the
	 * connection: that is its end too, not a bad request */
	if (rc == FRAME_EOF || (rc == FRAME_ERR && errno == ECONNRESET)) {
		buf_free(&p);
		return 0;
	}
	fd = rc == FRAME_OK ? stream_take_fd(s) : -1;
	if (rc != FRAME_OK || spawn_request_decode(tag, p.data, p.len,
	    fd != -1, r) == -1) {
		if (fd != -1)
			close(fd);
		buf_free(&p);
		return -1;
	}
	r->fd = fd;
	buf_free(&p);
	return 1;
}

int
spawn_exit_put(struct buf *out, uint64_t id, const char *how, unsigned code)
{
	char num[24], c[16];
	const char *f[3];

	snprintf(num, sizeof(num), "%llu", (unsigned long long)id);
	snprintf(c, sizeof(c), "%u", code);
	f[0] = num;
	f[1] = how;
	f[2] = c;
	return frame_put_fields(out, SPAWN_EXIT, f, 3);
}

int
spawn_exit_decode(char tag, const char *payload, size_t plen,
    struct spawn_exit *x)
{
	struct buf store = BUF_INIT;
	const char *f[3];
	uint32_t code;
	int nf, ok;

	memset(x, 0, sizeof(*x));
	if (tag != SPAWN_EXIT)
		return -1;
	nf = frame_fields(payload, plen, &store, f, 3);
	ok = nf == 3 && parse_id(f[0], strlen(f[0]), &x->id) == 0 &&
	    (strcmp(f[1], "exit") == 0 || strcmp(f[1], "signal") == 0 ||
	    strcmp(f[1], "refused") == 0) &&
	    parse_u32(f[2], strlen(f[2]), 255, &code) == 0;
	if (ok) {
		snprintf(x->how, sizeof(x->how), "%s", f[1]);
		x->code = code;
	}
	buf_free(&store);
	return ok ? 0 : -1;
}
