/*
 * sendmail.c — the sendmail-compatible front end (also mailq and
 * newaliases by argv[0]).  Runs as the calling user, never setuid.
 *
 * Takes recipients from the arguments and/or (-t) the To/Cc/Bcc fields,
 * reads the whole message from standard input (CRLF becomes LF; without
 * -i a line holding only "." ends it; at most max_message_size octets)
 * before it contacts the queue, removes Bcc, adds From/Date/Message-ID
 * when missing, prepends a Received field naming the uid, and sends it
 * to posthorn-queue over queue_socket (common/qclient.h).  -bp lists
 * the queue, -q flushes it, -Mrm removes messages from it (root or the
 * spool's owner), -bs speaks SMTP on stdin/stdout through posthorn-smtpd,
 * -bi does nothing.
 *
 * Exit codes (sysexits.h; man/sendmail.8 says when each is used): 0
 * queued; 64 usage; 65 bad message; 67 bad address (recipient, or the
 * caller's login name); 69 too large, or refused by the queue; 70
 * posthorn-smtpd not found (-bs); 71 out of memory or another system
 * error (also: /dev/null cannot be opened on a closed fd 0-2); 74 cannot read the input (or write the listing); 75 the queue
 * could not be reached or answered a temporary failure; 78 bad
 * configuration; 77 -Mrm not permitted.
 *
 * Trust: arguments, environment and input belong to the caller, who may
 * be anyone; the queue learns the caller's uid from the socket, not from
 * us.  Nothing here reaches a shell.
 */
#include <sys/mman.h>
#include <sys/random.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/envelope.h"
#include "common/io.h"
#include "common/log.h"
#include "common/qclient.h"
#include "common/qid.h"
#include "queue/sendmail_msg.h"
#include "queue/sendmail_verify.h"

#define READ_CHUNK	65536

enum mode { M_DELIVER, M_SMTP, M_LIST, M_FLUSH, M_ALIASES, M_REMOVE,
    M_VERIFY };

struct opts {
	enum mode mode;
	const char *confdir;
	const char *sender;	/* -f, or NULL */
	const char *fullname;	/* -F, or NULL */
	const char *flush_domain;	/* -qR */
	bool extract;		/* -t */
	bool ignore_dots;	/* -i, -oi */
	unsigned notify;	/* -N */
	enum dsn_ret ret;	/* -R */
	const char *envid;	/* -V */
	enum body_type body;	/* -B */
	bool smtputf8;		/* -SMTPUTF8 */
	char **rcpts;		/* the remaining arguments */
	int nrcpts;
};

static void __attribute__((noreturn))
fatal(int code, const char *what, const char *detail)
{
	if (detail != NULL && detail[0] != '\0')
		log_msg(LOG_ERR, "error", "reason", what, "detail", detail,
		    (char *)NULL);
	else
		log_msg(LOG_ERR, "error", "reason", what, (char *)NULL);
	exit(code);
}

static void __attribute__((noreturn))
usage(const char *why)
{
	log_msg(LOG_ERR, "usage", "reason", why, (char *)NULL);
	fprintf(stderr, "usage: sendmail [-t] [-i] [-f sender] [-F name] "
	    "[-N dsn] [-R ret] [-V envid] [-B type] [-C dir] [-v] "
	    "[recipient ...]\n"
	    "       sendmail -bp | -bs | -bi | -q[Rdomain] [-C dir]\n"
	    "       sendmail -Mrm queue-id ... [-C dir]\n");
	exit(EX_USAGE);
}

static void
opt_notify(struct opts *o, const char *v)
{
	char up[128];
	size_t k;

	if (strlen(v) >= sizeof(up))
		usage("bad -N value");
	for (k = 0; v[k] != '\0'; k++)
		up[k] = (char)toupper((unsigned char)v[k]);
	up[k] = '\0';
	if (notify_parse(up, &o->notify) == -1)
		usage("bad -N value (never, or success,failure,delay)");
}

static void
opt_b(struct opts *o, const char *arg)
{
	if (strcmp(arg, "m") == 0)
		o->mode = M_DELIVER;
	else if (strcmp(arg, "s") == 0)
		o->mode = M_SMTP;
	else if (strcmp(arg, "p") == 0)
		o->mode = M_LIST;
	else if (strcmp(arg, "i") == 0)
		o->mode = M_ALIASES;
	else if (strcmp(arg, "v") == 0)
		o->mode = M_VERIFY;
	else if (strcmp(arg, "d") == 0 || strcmp(arg, "D") == 0)
		usage("daemon mode: use posthorn-run or the systemd units");
	else
		usage("unsupported -b mode");
}

static void
opt_q(struct opts *o, const char *v)
{
	o->mode = M_FLUSH;
	if (v[0] == 'R') {
		if (v[1] == '\0')
			usage("-qR needs a domain");
		o->flush_domain = v + 1;
	}
	/* -q30m, -qI..., -qS...: one flush of everything */
}

/* RFC 3461 ENVID: at most 100 printable ASCII characters. */
static bool
envid_ok(const char *v)
{
	size_t n;

	for (n = 0; v[n] != '\0'; n++)
		if (v[n] < 0x21 || v[n] > 0x7e || n >= 100)
			return false;
	return n > 0;
}

/* One option letter c with its value v (NULL for a flag). */
static void
parse_opt(struct opts *o, int c, const char *v)
{
	switch (c) {
	case 't':
		o->extract = true;
		break;
	case 'i':
		o->ignore_dots = true;
		break;
	case 'o':	/* -oi (also -o i, -oi...); other -oX are ignored */
		if (v[0] == 'i')
			o->ignore_dots = true;
		break;
	case 'v':
		log_set_verbose(1);
		break;
	case 'f':
	case 'r':
		o->sender = v;
		break;
	case 'F':
		o->fullname = v;
		break;
	case 'C':
		o->confdir = v;
		break;
	case 'N':
		opt_notify(o, v);
		break;
	case 'R':
		if (strcasecmp(v, "full") == 0)
			o->ret = RET_FULL;
		else if (strcasecmp(v, "hdrs") == 0)
			o->ret = RET_HDRS;
		else
			usage("bad -R value (full or hdrs)");
		break;
	case 'V':
		if (!envid_ok(v))
			usage("bad -V value (1 to 100 printable ASCII)");
		o->envid = v;
		break;
	case 'B':
		if (strcasecmp(v, "8BITMIME") == 0)
			o->body = BODY_8BITMIME;
		else if (strcasecmp(v, "7BIT") == 0)
			o->body = BODY_7BIT;
		else
			usage("bad -B value (7BIT or 8BITMIME)");
		break;
	case 'b':
		opt_b(o, v);
		break;
	case 'I':	/* Postfix: initialise the alias database */
		o->mode = M_ALIASES;
		break;
	case 'q':
		opt_q(o, v);
		break;
	case 'M':	/* -Mrm QID...: remove messages (as Exim's -Mrm) */
		if (strcmp(v, "rm") != 0)
			usage("unsupported -M option (only -Mrm)");
		o->mode = M_REMOVE;
		break;
	default:
		/* accepted and ignored: -A x (-Am/-Ac), -e x (error mode),
		 * -h n (hop count), -L tag, -O opt, -p proto, -X file, and
		 * the flags -c, -G, -m, -n, -U, -x */
		break;
	}
}

/*
 * The options are Postfix's sendmail(1) set, parsed by getopt(3) as
 * Postfix does: flags group (-ti), an option's value is the rest of its
 * argument or the next argument (-oi = -o i, -tf addr, -Fname), "--"
 * ends the options and so does the first argument that is not one ("+":
 * recipients are never taken for options).  Two arguments getopt cannot
 * parse are taken first, as Postfix takes -q: a bare "-q" (flush) and
 * "-SMTPUTF8"; and "-qR domain" may name the domain in the next argument.
 */
#define OPTSTRING	"+:A:B:C:F:GIL:M:N:O:R:UV:X:b:ce:f:h:imno:p:q:r:tvx"

static void
parse_args(struct opts *o, int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/');
	int c;

	base = base ? base + 1 : argv[0];
	memset(o, 0, sizeof(*o));
	if (strcmp(base, "mailq") == 0)
		o->mode = M_LIST;
	else if (strcmp(base, "newaliases") == 0)
		o->mode = M_ALIASES;
	opterr = 0;
	optind = 1;
	while (optind < argc) {
		const char *a = argv[optind];

		/* each is caught before getopt starts on it, so getopt
		 * is never in the middle of one of these */
		if (strcmp(a, "-q") == 0) {
			o->mode = M_FLUSH;
			optind++;
			continue;
		}
		if (strcmp(a, "-SMTPUTF8") == 0) {
			o->smtputf8 = true;
			optind++;
			continue;
		}
		if (strcmp(a, "-qR") == 0 && optind + 1 < argc) {
			o->mode = M_FLUSH;
			o->flush_domain = argv[optind + 1];
			optind += 2;
			continue;
		}
		c = getopt(argc, argv, OPTSTRING);
		if (c == -1)
			break;
		if (c == ':')
			usage("option requires an argument");
		if (c == '?')
			usage("unknown option");
		parse_opt(o, c, optarg);
	}
	o->rcpts = argv + optind;
	o->nrcpts = argc - optind;
	if (o->mode == M_REMOVE && o->nrcpts == 0)
		usage("-Mrm needs queue ids");
	if (o->mode == M_VERIFY && o->nrcpts == 0)
		usage("-bv needs addresses");
	if (o->mode != M_DELIVER && o->mode != M_REMOVE &&
	    o->mode != M_VERIFY && o->nrcpts > 0)
		usage("recipients given with -bp, -bs, -bi or -q");
}

/* ---- deliver --------------------------------------------------------- */

struct job {
	struct opts *o;
	struct config *cfg;
	struct envelope env;
	struct sm_rcpts rcpts;
	bool utf8;		/* some address is not ASCII: SMTPUTF8 */
	char login[ADDR_LOCAL_MAX + 1];
	char gecos[256];
	char sender[ADDR_MAX + 1];	/* "" = null sender */
	struct sm_headers hdr;
	struct sm_filter filt;
	struct buf in;		/* filtered input, not yet in memfd */
	int memfd;		/* the input beyond SPILL_AT, or -1 */
	uint64_t total;		/* octets of filtered input */
	const char *msg;	/* all of it, once read (in or a map) */
	size_t msglen;
	void *map;		/* mmap of memfd, or NULL */
};

static void
who_am_i(struct job *j)
{
	struct passwd *pw = getpwuid(getuid());
	const char *comma;
	struct addr a;
	const char *why;
	size_t n;

	if (pw == NULL || pw->pw_name == NULL) {
		/* a container's anonymous uid: still a valid local part */
		snprintf(j->login, sizeof(j->login), "uid%lu",
		    (unsigned long)getuid());
		return;
	}
	if (strlen(pw->pw_name) >= sizeof(j->login) ||
	    addr_parse_mailbox(pw->pw_name, strlen(pw->pw_name),
	    ADDR_ALLOW_NODOMAIN, &a, &why) == -1)
		fatal(EX_NOUSER, "the user name is not a valid local part",
		    pw->pw_name);
	snprintf(j->login, sizeof(j->login), "%s", pw->pw_name);
	if (pw->pw_gecos != NULL) {
		comma = strchr(pw->pw_gecos, ',');
		n = comma ? (size_t)(comma - pw->pw_gecos) :
		    strlen(pw->pw_gecos);
		if (n >= sizeof(j->gecos))
			n = sizeof(j->gecos) - 1;
		memcpy(j->gecos, pw->pw_gecos, n);
		j->gecos[n] = '\0';
	}
}

static void
set_sender(struct job *j)
{
	struct sm_rcpts one;
	const char *s = j->o->sender, *why;

	if (s == NULL) {
		if (snprintf(j->sender, sizeof(j->sender), "%s@%s", j->login,
		    j->cfg->hostname) >= (int)sizeof(j->sender))
			fatal(EX_CONFIG, "hostname too long", NULL);
		return;
	}
	if (s[0] == '\0' || strcmp(s, "<>") == 0) {
		j->sender[0] = '\0';
		return;
	}
	sm_rcpts_init(&one);
	if (sm_addrlist_parse(s, strlen(s), j->cfg->hostname, &one,
	    &why) == -1 || one.l.n != 1)
		fatal(EX_USAGE, "invalid sender address (-f)", why ? why :
		    "expected exactly one address");
	snprintf(j->sender, sizeof(j->sender), "%s", one.l.v[0]);
	sm_rcpts_free(&one);
}

static void
add_rcpts(struct job *j, const char *s, size_t n, const char *where)
{
	const char *why;

	if (sm_addrlist_parse(s, n, j->cfg->hostname, &j->rcpts, &why) ==
	    -1) {
		struct logline l;

		log_begin(&l, LOG_ERR, "error");
		log_add(&l, "reason", "invalid recipient address");
		log_add(&l, "in", where);
		log_add(&l, "detail", why ? why : "syntax");
		log_addn(&l, "address", s, n);
		log_end(&l);
		exit(EX_NOUSER);
	}
}

/*
 * The whole message is read before the queue is connected to: a producer
 * may be silent for longer than the queue waits for data (cron piping a
 * job's output, "{ echo Subject: x; echo; long_job; } | sendmail"), and
 * a connection held open meanwhile would cost a queue worker for that
 * long.  The input is bounded by max_message_size.
 *
 * Up to SPILL_AT octets stay in the heap, so a typical small message
 * costs no more system calls or copies than before.  A larger one goes
 * to an anonymous memory file (memfd_create): it grows without realloc
 * copies or a doubled buffer, its pages can be swapped like any tmpfs
 * page, and it needs no directory.  An O_TMPFILE file in a directory of
 * the user's would keep a 35 MB message off memory, but needs a writable
 * directory on a file system that supports it (not NFS) and puts mail on
 * a disk whose quota and privacy we do not know; memory is what Postfix's
 * and qmail's injectors effectively use as well (a pipe to postdrop).
 */
#define SPILL_AT	(1024 * 1024)

static void __attribute__((noreturn))
too_large(const struct job *j)
{
	char limit[32];

	snprintf(limit, sizeof(limit), "%llu",
	    (unsigned long long)j->cfg->max_message_size);
	log_msg(LOG_ERR, "error", "reason", "message larger than "
	    "max_message_size; nothing was sent", "max_message_size", limit,
	    (char *)NULL);
	exit(EX_UNAVAILABLE);
}

/* Move the filtered input held in the heap to the memory file. */
static void
spill(struct job *j)
{
	if (j->memfd == -1) {
		j->memfd = memfd_create("posthorn-sendmail", MFD_CLOEXEC);
		if (j->memfd == -1)
			fatal(EX_OSERR, "cannot create a memory file for the "
			    "message", strerror(errno));
	}
	if (io_write_file(j->memfd, j->in.data, j->in.len) == -1)
		fatal(EX_OSERR, "cannot keep the message in memory",
		    strerror(errno));
	buf_reset(&j->in);
}

/* Read and filter all of standard input into j->msg, j->msglen. */
static void
read_message(struct job *j)
{
	char chunk[READ_CHUNK];
	uint64_t limit = j->cfg->max_message_size;
	bool eof = false;
	ssize_t r;
	int fr = 0;

	if (limit > SIZE_MAX)
		limit = SIZE_MAX;
	while (!eof) {
		r = read(0, chunk, sizeof(chunk));
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* standard input was left non-blocking (O_NONBLOCK
			 * belongs to the open file, which the caller may
			 * share): wait as a blocking read would */
			struct pollfd pfd = { 0, POLLIN, 0 };

			if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
				fatal(EX_IOERR, "cannot read the message",
				    strerror(errno));
			continue;
		}
		if (r == -1)
			fatal(EX_IOERR, "cannot read the message",
			    strerror(errno));
		if (r > 0)
			fr = sm_filter_feed(&j->filt, chunk, (size_t)r, &j->in);
		if (fr == -1)
			fatal(EX_OSERR, "out of memory", NULL);
		if (r == 0 || fr == 1) {
			if (sm_filter_finish(&j->filt, &j->in) == -1)
				fatal(EX_OSERR, "out of memory", NULL);
			eof = true;
		}
		/* j->total counts what went to memfd; it is <= limit */
		if (j->in.len > limit - j->total)
			too_large(j);
		if (j->in.len >= SPILL_AT) {
			j->total += j->in.len;
			spill(j);
		}
	}
	if (j->memfd == -1) {
		j->total = j->in.len;
		j->msg = j->in.data != NULL ? j->in.data : "";
		j->msglen = j->in.len;
		return;
	}
	if (j->in.len > 0) {
		j->total += j->in.len;
		spill(j);
	}
	j->msglen = (size_t)j->total;	/* <= limit <= SIZE_MAX */
	j->map = mmap(NULL, j->msglen, PROT_READ, MAP_PRIVATE, j->memfd, 0);
	if (j->map == MAP_FAILED)
		fatal(EX_OSERR, "cannot map the message", strerror(errno));
	j->msg = j->map;
}

static void
parse_headers(struct job *j)
{
	const char *why = NULL;

	errno = 0;
	if (sm_headers_parse(&j->hdr, j->msg, j->msglen, true, &why) == -1)
		fatal(errno == ENOMEM ? EX_OSERR : EX_DATAERR, why, NULL);
}

/* -t: To, Cc and Bcc; for a resent message (one with Resent-To,
 * Resent-Cc or Resent-Bcc) only those, as sendmail and Postfix do. */
static void
extract_rcpts(struct job *j)
{
	static const char *const plain[] = { "To", "Cc", "Bcc" };
	static const char *const resent[] = { "Resent-To", "Resent-Cc",
		"Resent-Bcc" };
	const char *const *names = plain;
	const char *v;
	size_t i, k, vlen;

	for (k = 0; k < 3; k++)
		if (sm_has_field(&j->hdr, resent[k]))
			names = resent;
	for (i = 0; i < j->hdr.n; i++)
		for (k = 0; k < 3; k++) {
			if (!sm_field_is(&j->hdr, i, names[k]))
				continue;
			sm_field_value(&j->hdr, i, &v, &vlen);
			add_rcpts(j, v, vlen, names[k]);
		}
}

/* The envelope of recipients [first, first + n). */
static void
build_envelope(struct job *j, size_t first, size_t n)
{
	struct envelope *e = &j->env;
	size_t i;

	envelope_init(e);
	if (envelope_set_sender(e, j->sender) == -1)
		fatal(EX_OSERR, "out of memory", NULL);
	e->smtputf8 = j->utf8;
	for (i = first; i < first + n; i++)
		if (envelope_add_rcpt(e, j->rcpts.l.v[i], j->o->notify,
		    NULL) < 0)
			fatal(EX_OSERR, "out of memory", NULL);
	e->ret = j->o->ret;
	e->body = j->o->body;
	e->uid = (int64_t)getuid();
	if ((j->o->envid != NULL && envelope_set_str(&e->envid,
	    j->o->envid) == -1) ||
	    envelope_set_str(&e->client_addr, "local") == -1 ||
	    envelope_set_str(&e->protocol, "local") == -1)
		fatal(EX_OSERR, "out of memory", NULL);
}

static void
unique_id(char *out, size_t outsz)
{
	char qid[QID_LEN + 1];
	unsigned char rnd[4] = { 0, 0, 0, 0 };

	qid_new(qid);
	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	snprintf(out, outsz, "%s.%02X%02X%02X%02X", qid, rnd[0], rnd[1],
	    rnd[2], rnd[3]);
}

static void
new_headers(struct job *j, struct buf *out)
{
	struct sm_addfields a;
	char uniq[QID_LEN + 16];
	char from[ADDR_MAX + 1];

	unique_id(uniq, sizeof(uniq));
	if (j->sender[0] != '\0')
		snprintf(from, sizeof(from), "%s", j->sender);
	else
		snprintf(from, sizeof(from), "%s@%s", j->login,
		    j->cfg->hostname);
	memset(&a, 0, sizeof(a));
	a.from_addr = from;
	a.full_name = j->o->fullname != NULL ? j->o->fullname :
	    j->o->sender == NULL ? j->gecos : NULL;
	a.hostname = j->cfg->hostname;
	a.now = (long long)time(NULL);
	a.unique = uniq;
	/* the trace field of a local submission, as Postfix's pickup
	 * writes it: who injected the message, and when */
	if (buf_printf(out, "Received: by %s (posthorn sendmail, from "
	    "userid %lu);\n\t", j->cfg->hostname,
	    (unsigned long)getuid()) == -1 || sm_date(a.now, out) == -1 ||
	    buf_append_char(out, '\n') == -1 ||
	    sm_headers_write(&j->hdr, &a, out) == -1)
		fatal(EX_OSERR, "out of memory", NULL);
}

static int
verdict(const struct qresult *res)
{
	char code[8];

	snprintf(code, sizeof(code), "%d", res->code);
	if (res->code >= 200 && res->code < 300) {
		log_msg(LOG_DEBUG, "queued", "qid", res->qid, (char *)NULL);
		return 0;
	}
	log_msg(LOG_ERR, "not_sent", "code", code, "dsn", res->dsn, "text",
	    res->text, (char *)NULL);
	if (res->code >= 400 && res->code < 500)
		return EX_TEMPFAIL;
	if (strncmp(res->dsn, "5.1.", 4) == 0)
		return EX_NOUSER;
	return EX_UNAVAILABLE;
}

/* One queue transaction: the message for recipients [first, first + n).
 * 0 queued; else the exit code, with the reason logged. */
static int
submit(struct job *j, const struct buf *head, size_t first, size_t n)
{
	struct buf err = BUF_INIT;
	struct qclient *q;
	struct qresult res;

	build_envelope(j, first, n);
	if ((q = qclient_open(j->cfg->queue_socket, &err)) == NULL) {
		log_msg(LOG_ERR, "error", "reason", "cannot reach the mail "
		    "queue; message not sent", "detail", buf_str(&err),
		    (char *)NULL);
		buf_free(&err);
		envelope_free(&j->env);
		return EX_TEMPFAIL;
	}
	/* a failed write is reported by qclient_finish */
	if (qclient_envelope(q, &j->env) == 0 &&
	    qclient_write(q, head->data, head->len) == 0)
		(void)qclient_write(q, j->msg + j->hdr.body_off,
		    j->msglen - j->hdr.body_off);
	(void)qclient_finish(q, &res);	/* always fills res */
	envelope_free(&j->env);
	return verdict(&res);
}

/* A transaction after the first failed: say who has the message and
 * who has not. */
static void
report_partial(const struct job *j, size_t done)
{
	char n1[32], n2[32], to[ADDR_MAX + 3];
	size_t i;

	snprintf(n1, sizeof(n1), "%zu", done);
	snprintf(n2, sizeof(n2), "%zu", j->rcpts.l.n - done);
	log_msg(LOG_ERR, "partial", "reason", "the message was queued for "
	    "some recipients only; the rest follow as not_sent", "queued", n1,
	    "not_sent", n2, (char *)NULL);
	for (i = done; i < j->rcpts.l.n; i++) {
		snprintf(to, sizeof(to), "<%s>", j->rcpts.l.v[i]);
		log_msg(LOG_ERR, "not_sent", "to", to, (char *)NULL);
	}
}

/*
 * The queue takes at most max_recipients recipients per message (452
 * 4.5.3 beyond), as an SMTP client would be told at RCPT.  sendmail has
 * no such limit (Postfix's neither), so more recipients are sent as
 * several transactions of at most max_recipients each, the same message
 * every time.  They stop at the first that fails: the transactions
 * before it stand (those recipients get the message), the exit code is
 * that of the failure, and every recipient without the message is
 * logged (report_partial), so that whoever retries knows whom to retry.
 */
static int
deliver(struct opts *o, struct config *cfg)
{
	static struct job j;
	struct buf head = BUF_INIT;
	size_t i, first, per, cnt;
	int rc;

	j.o = o;
	j.cfg = cfg;
	j.memfd = -1;
	buf_init(&j.in);
	sm_rcpts_init(&j.rcpts);
	sm_headers_init(&j.hdr);
	sm_filter_init(&j.filt, o->ignore_dots);
	who_am_i(&j);
	set_sender(&j);
	for (i = 0; i < (size_t)o->nrcpts; i++)
		add_rcpts(&j, o->rcpts[i], strlen(o->rcpts[i]), "arguments");
	if (!o->extract && j.rcpts.l.n == 0)
		usage("no recipients given (and no -t)");
	read_message(&j);
	parse_headers(&j);
	if (o->extract)
		extract_rcpts(&j);
	if (j.rcpts.l.n == 0)
		fatal(EX_USAGE, "no recipients found", NULL);
	j.utf8 = o->smtputf8 || str_has_8bit(j.sender);
	for (i = 0; i < j.rcpts.l.n; i++)
		j.utf8 = j.utf8 || str_has_8bit(j.rcpts.l.v[i]);
	new_headers(&j, &head);
	per = cfg->max_recipients > SIZE_MAX ? SIZE_MAX :
	    (size_t)cfg->max_recipients;
	if (per == 0)
		per = 1;
	rc = 0;
	for (first = 0; first < j.rcpts.l.n && rc == 0; first += cnt) {
		cnt = j.rcpts.l.n - first < per ? j.rcpts.l.n - first : per;
		rc = submit(&j, &head, first, cnt);
		if (rc != 0 && first > 0)
			report_partial(&j, first);
	}
	buf_free(&head);
	if (j.map != NULL)
		munmap(j.map, j.msglen);
	if (j.memfd != -1)
		close(j.memfd);
	buf_free(&j.in);
	sm_headers_free(&j.hdr);
	sm_rcpts_free(&j.rcpts);
	return rc;
}

/* ---- the other modes ------------------------------------------------- */

static int
list_queue(const struct config *cfg)
{
	struct buf err = BUF_INIT;

	if (qclient_list(cfg->queue_socket, stdout, &err) == -1) {
		fflush(stdout);
		fatal(EX_TEMPFAIL, "cannot list the mail queue",
		    buf_str(&err));
	}
	buf_free(&err);
	if (fflush(stdout) == EOF)
		fatal(EX_IOERR, "cannot write the listing", strerror(errno));
	return 0;
}

static int
flush_queue(const struct config *cfg, const char *domain)
{
	struct buf err = BUF_INIT;
	int r;

	/* the only permanent refusal is of our argument: the -qR domain */
	if ((r = qclient_flush(cfg->queue_socket, domain, &err)) != 0)
		fatal(r == -2 ? EX_USAGE : EX_TEMPFAIL,
		    "cannot flush the mail queue", buf_str(&err));
	buf_free(&err);
	return 0;
}

/* -Mrm QID...: ask the queue to remove each message (root or the spool's
 * owner only; the queue checks).  Every id is tried; the exit code is
 * the first failure's: 77 not permitted, 65 no such message or not a
 * queue id, 75 the queue or the scheduler could not be reached. */
static int
remove_messages(const struct config *cfg, char **qids, int n)
{
	struct buf err = BUF_INIT;
	int i, r, rc = 0, code;

	for (i = 0; i < n; i++) {
		if (!qid_valid(qids[i])) {
			log_msg(LOG_ERR, "error", "reason", "not a queue id",
			    "qid", qids[i], (char *)NULL);
			if (rc == 0)
				rc = EX_DATAERR;
			continue;
		}
		r = qclient_remove(cfg->queue_socket, qids[i], &err);
		if (r == 0) {
			printf("%s: removal requested\n", qids[i]);
			continue;
		}
		code = r == -1 ? EX_TEMPFAIL :
		    strstr(buf_str(&err), " 5.7.1 ") != NULL ? EX_NOPERM :
		    EX_DATAERR;
		log_msg(LOG_ERR, "error", "reason", "cannot remove",
		    "qid", qids[i], "detail", buf_str(&err), (char *)NULL);
		if (rc == 0)
			rc = code;
	}
	buf_free(&err);
	if (fflush(stdout) == EOF && rc == 0)
		rc = EX_IOERR;
	return rc;
}

/* -bs: an SMTP session on stdin/stdout: posthorn-smtpd --local, as the
 * caller (the queue records our uid; the Received header names it). */
static int
smtp_session(const char *dir)
{
	char prog[PATH_MAX];

	if (libexec_path("posthorn-smtpd", prog, sizeof(prog)) == -1)
		fatal(EX_SOFTWARE, "cannot locate posthorn-smtpd", NULL);
	if (setenv("POSTHORN_CONF", dir, 1) == -1)
		fatal(EX_OSERR, "cannot set the environment", NULL);
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("TCPREMOTEIP");
	execl(prog, "posthorn-smtpd", "--local", "-C", dir, (char *)NULL);
	fatal(EX_UNAVAILABLE, "cannot run posthorn-smtpd", strerror(errno));
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct config cfg;
	struct buf err = BUF_INIT;
	int rc;

	/* Before anything is opened: a caller (cron, a daemon) may start us
	 * with 0, 1 or 2 closed, and the memory file or the queue socket
	 * must not become standard error, where log lines go (Postfix's
	 * sendmail does the same). */
	rc = io_stdio_open() == -1 ? errno : 0;
	log_init("sendmail");
	if (rc != 0)
		fatal(EX_OSERR, "cannot open /dev/null on a closed standard "
		    "descriptor", strerror(rc));
	if (argc < 1)
		usage("no program name");
	parse_args(&o, argc, argv);
	/* aliases are read directly: newaliases has nothing to build */
	if (o.mode == M_ALIASES)
		return 0;
	memset(&cfg, 0, sizeof(cfg));
	if (config_load(config_dir(o.confdir), &cfg, &err) == -1)
		fatal(EX_CONFIG, "bad configuration", buf_str(&err));
	switch (o.mode) {
	case M_LIST:
		rc = list_queue(&cfg);
		break;
	case M_FLUSH:
		rc = flush_queue(&cfg, o.flush_domain);
		break;
	case M_SMTP:
		rc = smtp_session(config_dir(o.confdir));
		break;
	case M_REMOVE:
		rc = remove_messages(&cfg, o.rcpts, o.nrcpts);
		break;
	case M_VERIFY:
		rc = sendmail_verify(&cfg, o.rcpts, o.nrcpts, stdout);
		break;
	default:
		rc = deliver(&o, &cfg);
		break;
	}
	config_free(&cfg);
	buf_free(&err);
	return rc;
}
