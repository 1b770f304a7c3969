/*
 * log.c — one line per event, key=value, on stderr or to the journal
 * (log.h).
 *
 * Every key and value is treated as hostile (they carry peer names,
 * addresses, reply text): keys are reduced to [a-z0-9_], values have
 * control and non-ASCII octets written as \xNN, and are double-quoted
 * (with \" and \\ escapes) when they hold a space, a quote, a backslash,
 * '=' or nothing, so a peer can neither start a new line nor forge a field.
 * Values are cut at LOG_VALUE_MAX octets.  A line is written with one
 * write(2), so lines of concurrent processes sharing stderr do not mix.
 *
 * When JOURNAL_STREAM names the device:inode of our stderr we were started
 * by systemd with journal output: the same fields then go to journald's
 * native socket (journal.c) as KEY=value (upper-cased), with MESSAGE= (the
 * "event=... k=v" text), PRIORITY= and SYSLOG_IDENTIFIER=; if the journal
 * refuses the message it is written to stderr instead.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/io.h"
#include "common/journal.h"
#include "common/log.h"

#define LOG_VALUE_MAX	1024
#define LOG_KEY_MAX	64

static char log_prog[64];
static int log_verbose;
static int log_journal = -1;	/* -1 not yet decided */

int (*log_journal_send)(const struct iovec *iov, int n) = journal_sendv;

static const char *
prog(void)
{
	if (log_prog[0] == '\0')
		snprintf(log_prog, sizeof(log_prog), "%s",
		    program_invocation_short_name);
	return log_prog;
}

/* Is stderr the journal stream systemd gave us? */
static int
journal_wanted(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char tail;

	if (js == NULL)
		return 0;
	if (sscanf(js, "%llu:%llu%c", &dev, &ino, &tail) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

/* stderr is a file (posthorn-run's log, a redirection) for most of our
 * processes: then one write(2) per line, not io_write_all's probe for a
 * socket (send, then fstat, then write) every time. */
static void
write_stderr(const char *p, size_t n)
{
	static int regular = -1;	/* -1 not yet known */
	struct stat st;

	if (regular == -1)
		regular = fstat(STDERR_FILENO, &st) == 0 &&
		    S_ISREG(st.st_mode);
	if (regular)
		(void)io_write_file(STDERR_FILENO, p, n);
	else
		(void)io_write_all(STDERR_FILENO, p, n, 0);
}

void
log_init(const char *progname)
{
	const char *slash;

	/* argv[0] may be NULL or empty (execve with an empty argv) */
	if (progname == NULL || progname[0] == '\0')
		progname = "posthorn";
	slash = strrchr(progname, '/');
	if (slash != NULL && slash[1] == '\0') {
		slash = NULL;
		progname = "posthorn";
	}

	snprintf(log_prog, sizeof(log_prog), "%s",
	    slash != NULL ? slash + 1 : progname);
	log_journal = journal_wanted();
}

void
log_set_verbose(int on)
{
	log_verbose = on;
}

int
sanitize_text(struct buf *out, const char *p, size_t n, size_t max)
{
	size_t i;
	unsigned char c;

	if (n > max)
		n = max;
	if (buf_reserve(out, n) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		c = (unsigned char)p[i];
		out->data[out->len++] = (c < 0x20 || c > 0x7e) ? '?' : (char)c;
	}
	out->data[out->len] = '\0';
	return 0;
}

static int
needs_quotes(const char *v, size_t n)
{
	size_t i;

	if (n == 0)
		return 1;
	for (i = 0; i < n; i++)
		if (v[i] == ' ' || v[i] == '"' || v[i] == '=' || v[i] == '\\')
			return 1;
	return 0;
}

/* Append the escaped form of v (without quotes). */
static void
escape_value(struct buf *out, const char *v, size_t n, int quoted)
{
	unsigned char c;
	size_t i;

	for (i = 0; i < n; i++) {
		c = (unsigned char)v[i];
		if (c < 0x20 || c > 0x7e)
			buf_printf(out, "\\x%02X", c);
		else if (quoted && (c == '"' || c == '\\')) {
			buf_append_char(out, '\\');
			buf_append_char(out, (char)c);
		} else
			buf_append_char(out, (char)c);
	}
}

/* Keys come from our own code, but are still reduced to [a-z0-9_]. */
static void
clean_key(char *dst, const char *key)
{
	size_t i, n = strnlen(key, LOG_KEY_MAX);
	char c;

	for (i = 0; i < n; i++) {
		c = key[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			c = '_';
		dst[i] = c;
	}
	if (i == 0)
		dst[i++] = '_';
	dst[i] = '\0';
}

/* Journal field names may not start with a digit, and must not be a
 * trusted field ("_PID", leading underscore) or one of the fields this
 * file sets itself: such keys get an 'F' in front. */
static int
journal_needs_prefix(const char *k)
{
	static const char *const own[] = { "message", "priority",
	    "syslog_identifier", "syslog_pid", "syslog_facility",
	    "message_id", "errno", "code_file", "code_line", "code_func" };
	size_t i;

	if ((k[0] >= '0' && k[0] <= '9') || k[0] == '_')
		return 1;
	for (i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (strcmp(k, own[i]) == 0)
			return 1;
	return 0;
}

void
log_addn(struct logline *l, const char *key, const char *value, size_t n)
{
	char k[LOG_KEY_MAX + 1];
	size_t i, start;
	int q;

	clean_key(k, key);
	if (n > LOG_VALUE_MAX)
		n = LOG_VALUE_MAX;
	q = needs_quotes(value, n);
	buf_printf(&l->text, " %s=%s", k, q ? "\"" : "");
	escape_value(&l->text, value, n, q);
	if (q)
		buf_append_char(&l->text, '"');

	/* journal: "KEY=value\0" */
	start = l->fields.len;
	if (journal_needs_prefix(k))
		buf_append_char(&l->fields, 'F');
	for (i = 0; k[i] != '\0'; i++)
		buf_append_char(&l->fields, (char)(k[i] >= 'a' && k[i] <= 'z' ?
		    k[i] - 'a' + 'A' : k[i]));
	buf_append_char(&l->fields, '=');
	escape_value(&l->fields, value, n, 0);
	if (buf_append_char(&l->fields, '\0') == -1)
		buf_truncate(&l->fields, start);
	else
		l->nfields++;
}

void
log_add(struct logline *l, const char *key, const char *value)
{
	log_addn(l, key, value, strlen(value));
}

void
log_addf(struct logline *l, const char *key, const char *fmt, ...)
{
	struct buf v = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	(void)buf_vprintf(&v, fmt, ap);
	va_end(ap);
	log_addn(l, key, buf_str(&v), v.len);
	buf_free(&v);
}

void
log_begin(struct logline *l, int prio, const char *event)
{
	l->prio = prio;
	l->nfields = 0;
	buf_init(&l->text);
	buf_init(&l->fields);
	buf_append_str(&l->text, "");
	log_add(l, "event", event);
}

static int
send_journal(struct logline *l, const char *msg)
{
	struct buf head = BUF_INIT;
	struct iovec *iov;
	size_t i, n = 0, off = 0;
	int r = -1;

	iov = xcalloc_array(l->nfields + 3, sizeof(*iov));
	if (iov == NULL)
		return -1;
	if (buf_printf(&head, "MESSAGE=%s", msg) == -1 ||
	    buf_append_char(&head, '\0') == -1 ||
	    buf_printf(&head, "PRIORITY=%d", l->prio) == -1 ||
	    buf_append_char(&head, '\0') == -1 ||
	    buf_printf(&head, "SYSLOG_IDENTIFIER=%s", prog()) == -1)
		goto out;
	/* the three head entries, then the fields, each NUL-delimited */
	for (i = 0; i < 3; i++) {
		iov[n].iov_base = head.data + off;
		iov[n].iov_len = strlen(head.data + off);
		off += iov[n++].iov_len + 1;
	}
	for (i = 0, off = 0; i < l->nfields && off < l->fields.len; i++) {
		iov[n].iov_base = l->fields.data + off;
		iov[n].iov_len = strlen(l->fields.data + off);
		off += iov[n++].iov_len + 1;
	}
	r = log_journal_send(iov, (int)n) < 0 ? -1 : 0;
out:
	buf_free(&head);
	free(iov);
	return r;
}

void
log_end(struct logline *l)
{
	struct buf line = BUF_INIT;
	const char *msg;
	int e = errno;

	if (l->prio == LOG_DEBUG && !log_verbose)
		goto out;
	if (log_journal == -1)
		log_journal = journal_wanted();
	/* l->text starts with the space before "event=" */
	msg = buf_str(&l->text);
	if (*msg == ' ')
		msg++;
	if (log_journal == 1 && send_journal(l, msg) == 0)
		goto out;
	if (buf_printf(&line, "%s[%ld]: %s\n", prog(), (long)getpid(),
	    msg) == 0)
		write_stderr(line.data, line.len);
out:
	buf_free(&line);
	buf_free(&l->text);
	buf_free(&l->fields);
	l->nfields = 0;
	errno = e;	/* logging never disturbs the caller's errno */
}

void
log_msg(int prio, const char *event, ...)
{
	struct logline l;
	const char *k, *v;
	va_list ap;
	int i;

	log_begin(&l, prio, event);
	va_start(ap, event);
	/* bounded: at most 64 pairs */
	for (i = 0; i < 64; i++) {
		k = va_arg(ap, const char *);
		if (k == NULL)
			break;
		v = va_arg(ap, const char *);
		if (v == NULL)
			break;
		log_add(&l, k, v);
	}
	va_end(ap);
	log_end(&l);
}

void
die(int code, const char *reason, const char *detail)
{
	struct logline l;

	log_begin(&l, LOG_ERR, "fatal");
	log_add(&l, "reason", reason != NULL ? reason : "");
	if (detail != NULL)
		log_add(&l, "detail", detail);
	log_end(&l);
	exit(code);
}
