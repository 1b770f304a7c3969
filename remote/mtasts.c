/*
 * mtasts.c — MTA-STS (RFC 8461) policies for posthorn-remote (mtasts.h).
 *
 * Inputs, all hostile: TXT records (through dns.c), the HTTPS response of
 * mta-sts.DOMAIN (read with a size limit and a deadline, over TLS 1.2 or
 * later, after OpenSSL verified the certificate chain against
 * tls_ca_file or the system store and the name mta-sts.DOMAIN), and
 * cache files in the cache directory.
 * Every byte goes through the bounded parsers at the top of this file;
 * a cache file is parsed exactly like a freshly fetched policy, plus a
 * strict header that must name the domain asked for.  Cache files are
 * written to a temporary name, fsync'd and renamed into place, and only
 * in a directory that belongs to us and nobody else may write.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/io.h"
#include "common/log.h"
#include "remote/mtasts.h"
#include "remote/tls.h"

#define CACHE_MAGIC	"posthorn-mta-sts 1\n"
#define CACHE_FILE_MAX	(MTASTS_BODY_MAX + 1024)
#define FETCH_ADDRS_MAX	4	/* addresses of mta-sts.DOMAIN tried */

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static bool
is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* sts-ext-name: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".") */
static bool
ext_name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 32 || !is_alnum(s[0]))
		return false;
	for (i = 1; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '-' &&
		    s[i] != '.')
			return false;
	return true;
}

const char *
mtasts_mode_name(enum mtasts_mode m)
{
	return m == MTASTS_ENFORCE ? "enforce" : m == MTASTS_TESTING ?
	    "testing" : "none";
}

/* ---- TXT record (RFC 8461 3.1) -------------------------------------- */

int
mtasts_txt_parse(const char *s, size_t len, char id[MTASTS_ID_MAX + 1],
    const char **why)
{
	size_t i = 7, ns, nl, vs, vl;
	int have_id = 0;

	id[0] = '\0';
	if (len < 7 || memcmp(s, "v=STSv1", 7) != 0) {
		*why = "does not start with v=STSv1";
		return -1;
	}
	for (;;) {
		while (i < len && is_wsp(s[i]))
			i++;
		if (i == len)
			break;
		if (s[i] != ';') {
			*why = "fields must be separated by \";\"";
			return -1;
		}
		i++;
		while (i < len && is_wsp(s[i]))
			i++;
		if (i == len)
			break;		/* a final delimiter */
		for (ns = i; i < len && s[i] != '=' && s[i] != ';' &&
		    !is_wsp(s[i]); i++)
			;
		nl = i - ns;
		if (i == len || s[i] != '=' || !ext_name_ok(s + ns, nl)) {
			*why = "malformed field";
			return -1;
		}
		i++;
		/* sts-ext-value: %x21-3A / %x3C / %x3E-7E */
		for (vs = i; i < len && (unsigned char)s[i] > 0x20 &&
		    (unsigned char)s[i] < 0x7f && s[i] != ';' && s[i] != '=';
		    i++)
			;
		vl = i - vs;
		if (vl == 0 || (i < len && !is_wsp(s[i]) && s[i] != ';')) {
			*why = "malformed field value";
			return -1;
		}
		if (nl == 2 && memcmp(s + ns, "id", 2) == 0 && !have_id) {
			size_t k;

			if (vl > MTASTS_ID_MAX) {
				*why = "id longer than 32 characters";
				return -1;
			}
			for (k = 0; k < vl; k++)
				if (!is_alnum(s[vs + k])) {
					*why = "id is not alphanumeric";
					return -1;
				}
			memcpy(id, s + vs, vl);
			id[vl] = '\0';
			have_id = 1;
		}
	}
	if (!have_id) {
		*why = "no id field";
		return -1;
	}
	return 0;
}

int
mtasts_txt_pick(const struct txtlist *l, char id[MTASTS_ID_MAX + 1],
    const char **why)
{
	size_t i, n = 0, which = 0;

	for (i = 0; i < l->n; i++)
		if (l->len[i] >= 7 && memcmp(l->v[i], "v=STSv1", 7) == 0) {
			n++;
			which = i;
		}
	if (n != 1) {
		*why = n == 0 ? "no v=STSv1 record" :
		    "more than one v=STSv1 record";
		return -1;
	}
	return mtasts_txt_parse(l->v[which], l->len[which], id, why);
}

/* ---- policy (RFC 8461 3.2) ------------------------------------------ */

static int
parse_mx_pattern(const char *v, size_t n, char out[256], const char **why)
{
	size_t off = 0;

	if (n > 0 && v[n - 1] == '.')
		n--;
	if (n >= 2 && v[0] == '*' && v[1] == '.')
		off = 2;
	if (n - off == 0 || n >= 256) {
		*why = "malformed mx pattern";
		return -1;
	}
	if (addr_domain_valid(v + off, n - off, 0, why) < 0)
		return -1;
	memcpy(out, v, n);
	out[n] = '\0';
	addr_lower(out);
	return 0;
}

static int
parse_max_age(const char *v, size_t n, uint64_t *out, const char **why)
{
	uint64_t x = 0;
	size_t i;

	if (n == 0 || n > 10) {
		*why = "max_age must be 1 to 10 digits";
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9') {
			*why = "max_age is not a number";
			return -1;
		}
		x = x * 10 + (uint64_t)(v[i] - '0');	/* < 10^10 */
	}
	*out = x > MTASTS_MAXAGE_MAX ? MTASTS_MAXAGE_MAX : x;
	return 0;
}

int
mtasts_policy_parse(const char *s, size_t len, struct mtasts_policy *p,
    const char **why)
{
	size_t i = 0, ls, le, ke, vs;
	int have_version = 0, have_mode = 0, have_age = 0;
	const char *v;
	size_t vl, kl;

	memset(p, 0, sizeof(*p));
	if (len > MTASTS_BODY_MAX) {
		*why = "policy larger than 64 KiB";
		return -1;
	}
	while (i < len) {
		ls = i;
		while (i < len && s[i] != '\n')
			i++;
		le = i;
		if (i < len)
			i++;	/* the LF */
		if (le > ls && s[le - 1] == '\r')
			le--;
		while (le > ls && is_wsp(s[le - 1]))
			le--;
		if (le == ls)
			continue;	/* blank line (tolerated) */
		for (ke = ls; ke < le && s[ke] != ':'; ke++)
			if ((unsigned char)s[ke] < 0x20 ||
			    (unsigned char)s[ke] >= 0x7f) {
				*why = "control or 8-bit octet in a field name";
				return -1;
			}
		kl = ke - ls;
		if (ke == le || !ext_name_ok(s + ls, kl)) {
			*why = "malformed policy line";
			return -1;
		}
		for (vs = ke + 1; vs < le && is_wsp(s[vs]); vs++)
			;
		v = s + vs;
		vl = le - vs;
		for (size_t k = 0; k < vl; k++)
			if ((unsigned char)v[k] < 0x20 && v[k] != '\t') {
				*why = "control octet in a policy value";
				return -1;
			}
		if (kl == 7 && memcmp(s + ls, "version", 7) == 0) {
			if (have_version++)
				continue;
			if (vl != 5 || memcmp(v, "STSv1", 5) != 0) {
				*why = "version is not STSv1";
				return -1;
			}
		} else if (kl == 4 && memcmp(s + ls, "mode", 4) == 0) {
			if (have_mode++)
				continue;
			if (vl == 7 && memcmp(v, "enforce", 7) == 0)
				p->mode = MTASTS_ENFORCE;
			else if (vl == 7 && memcmp(v, "testing", 7) == 0)
				p->mode = MTASTS_TESTING;
			else if (vl == 4 && memcmp(v, "none", 4) == 0)
				p->mode = MTASTS_NONE;
			else {
				*why = "mode is not enforce, testing or none";
				return -1;
			}
		} else if (kl == 7 && memcmp(s + ls, "max_age", 7) == 0) {
			if (have_age++)
				continue;
			if (parse_max_age(v, vl, &p->max_age, why) < 0)
				return -1;
		} else if (kl == 2 && memcmp(s + ls, "mx", 2) == 0) {
			if (p->nmx == MTASTS_MX_MAX) {
				*why = "too many mx patterns";
				return -1;
			}
			if (parse_mx_pattern(v, vl, p->mx[p->nmx], why) < 0)
				return -1;
			p->nmx++;
		}
		/* other fields are extensions: ignored */
	}
	if (!have_version) {
		*why = "no version field";
		return -1;
	}
	if (!have_mode) {
		*why = "no mode field";
		return -1;
	}
	if (!have_age) {
		*why = "no max_age field";
		return -1;
	}
	if (p->mode != MTASTS_NONE && p->nmx == 0) {
		*why = "no mx field";
		return -1;
	}
	return 0;
}

/* ---- MX matching (RFC 8461 4.1) ------------------------------------- */

bool
mtasts_pattern_match(const char *pattern, const char *host)
{
	size_t hl = strlen(host), pl = strlen(pattern);
	const char *dot;

	if (hl > 0 && host[hl - 1] == '.')
		hl--;
	if (hl == 0 || pl == 0)
		return false;
	if (pl >= 2 && pattern[0] == '*' && pattern[1] == '.') {
		/* exactly one label in place of the "*" */
		dot = memchr(host, '.', hl);
		if (dot == NULL || dot == host)
			return false;
		hl -= (size_t)(dot - host);
		host = dot;
		pattern++;
		pl--;
	}
	return hl == pl && strncasecmp(host, pattern, pl) == 0;
}

bool
mtasts_mx_match(const struct mtasts_policy *p, const char *host)
{
	size_t i;

	for (i = 0; i < p->nmx; i++)
		if (mtasts_pattern_match(p->mx[i], host))
			return true;
	return false;
}

/* ---- HTTP response -------------------------------------------------- */

/* Case-insensitive "Name:" at the start of line[0..n); the value, with
 * surrounding whitespace removed, in *v / *vl. */
static bool
header_is(const char *line, size_t n, const char *name, const char **v,
    size_t *vl)
{
	size_t k = strlen(name), e;

	if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
		return false;
	for (k++; k < n && is_wsp(line[k]); k++)
		;
	for (e = n; e > k && is_wsp(line[e - 1]); e--)
		;
	*v = line + k;
	*vl = e - k;
	return true;
}

int
mtasts_http_parse(const char *s, size_t len, bool tls_closed,
    const char **body, size_t *body_len, const char **why)
{
	size_t i = 0, ls, le, n, clen = 0, blen;
	int line = 0, have_clen = 0, have_ctype = 0, done = 0;
	const char *v;
	size_t vl, k;

	while (!done) {
		ls = i;
		while (i < len && s[i] != '\n')
			i++;
		if (i == len || i > MTASTS_HEAD_MAX) {
			*why = "incomplete or overlong HTTP header";
			return -1;
		}
		le = i++;
		if (le > ls && s[le - 1] == '\r')
			le--;
		n = le - ls;
		for (k = ls; k < le; k++)
			if ((unsigned char)s[k] < 0x20 && s[k] != '\t') {
				*why = "control octet in the HTTP header";
				return -1;
			}
		if (line++ == 0) {
			/* "HTTP/1.x 200 reason" */
			if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 ||
			    s[7] < '0' || s[7] > '9' || s[8] != ' ') {
				*why = "malformed HTTP status line";
				return -1;
			}
			if (memcmp(s + 9, "200", 3) != 0 ||
			    (n > 12 && s[12] != ' ')) {
				*why = s[9] == '3' ? "HTTP redirect (not "
				    "followed)" : "HTTP status is not 200";
				return -1;
			}
			continue;
		}
		if (n == 0) {
			done = 1;
			break;
		}
		if (header_is(s + ls, n, "Content-Type", &v, &vl)) {
			if (vl < 10 || strncasecmp(v, "text/plain", 10) != 0 ||
			    (vl > 10 && v[10] != ';' && !is_wsp(v[10]))) {
				*why = "Content-Type is not text/plain";
				return -1;
			}
			have_ctype = 1;
		} else if (header_is(s + ls, n, "Transfer-Encoding", &v,
		    &vl)) {
			if (vl != 8 || strncasecmp(v, "identity", 8) != 0) {
				*why = "unsupported Transfer-Encoding";
				return -1;
			}
		} else if (header_is(s + ls, n, "Content-Length", &v, &vl)) {
			if (have_clen++ || vl == 0 || vl > 6) {
				*why = "bad Content-Length";
				return -1;
			}
			for (k = 0, clen = 0; k < vl; k++) {
				if (v[k] < '0' || v[k] > '9') {
					*why = "bad Content-Length";
					return -1;
				}
				clen = clen * 10 + (size_t)(v[k] - '0');
			}
		}
	}
	if (!have_ctype) {
		*why = "no Content-Type";
		return -1;
	}
	blen = len - i;
	if (blen > MTASTS_BODY_MAX || (have_clen && clen > MTASTS_BODY_MAX)) {
		*why = "policy larger than 64 KiB";
		return -1;
	}
	if (have_clen && clen != blen) {
		*why = "body length differs from Content-Length";
		return -1;
	}
	if (!have_clen && !tls_closed) {
		*why = "no Content-Length and no TLS close_notify: the "
		    "policy may be cut short";
		return -1;
	}
	*body = s + i;
	*body_len = blen;
	return 0;
}

/* ---- cache file ----------------------------------------------------- */

int
mtasts_cache_format(struct buf *out, const char *domain, const char *id,
    int64_t fetched, const char *body, size_t body_len)
{
	buf_reset(out);
	if (buf_printf(out, CACHE_MAGIC "domain %s\nid %s\nfetched %lld\n\n",
	    domain, id, (long long)fetched) < 0 ||
	    buf_append(out, body, body_len) < 0)
		return -1;
	return 0;
}

/* "KEY VALUE\n" at s[*i..len): the value's bounds. */
static int
cache_line(const char *s, size_t len, size_t *i, const char *key,
    const char **v, size_t *vl)
{
	size_t kl = strlen(key), st = *i, e;

	if (len - st <= kl || memcmp(s + st, key, kl) != 0 ||
	    s[st + kl] != ' ')
		return -1;
	st += kl + 1;
	for (e = st; e < len && s[e] != '\n'; e++)
		if ((unsigned char)s[e] < 0x20 || (unsigned char)s[e] >= 0x7f)
			return -1;
	if (e == len || e == st)
		return -1;
	*v = s + st;
	*vl = e - st;
	*i = e + 1;
	return 0;
}

int
mtasts_cache_parse(const char *s, size_t len, const char *domain,
    char id[MTASTS_ID_MAX + 1], int64_t *fetched, struct mtasts_policy *p,
    const char **why)
{
	size_t i = sizeof(CACHE_MAGIC) - 1, vl, k;
	const char *v;
	int64_t t = 0;

	*why = "malformed cache file";
	if (len < i || memcmp(s, CACHE_MAGIC, i) != 0)
		return -1;
	if (cache_line(s, len, &i, "domain", &v, &vl) < 0)
		return -1;
	if (vl != strlen(domain) || strncasecmp(v, domain, vl) != 0) {
		*why = "cache file for another domain";
		return -1;
	}
	if (cache_line(s, len, &i, "id", &v, &vl) < 0 || vl > MTASTS_ID_MAX)
		return -1;
	for (k = 0; k < vl; k++)
		if (!is_alnum(v[k]))
			return -1;
	memcpy(id, v, vl);
	id[vl] = '\0';
	if (cache_line(s, len, &i, "fetched", &v, &vl) < 0 || vl > 18)
		return -1;
	for (k = 0; k < vl; k++) {
		if (v[k] < '0' || v[k] > '9')
			return -1;
		t = t * 10 + (v[k] - '0');	/* at most 18 digits */
	}
	*fetched = t;
	if (i >= len || s[i] != '\n')
		return -1;
	i++;
	return mtasts_policy_parse(s + i, len - i, p, why);
}

/* ---- HTTPS fetch ---------------------------------------------------- */

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
left_ms(int64_t deadline)
{
	int64_t l = deadline - mono_ms();

	return l < 1 ? 1 : l > 86400000 ? 86400000 : (int)l;
}

static int
connect_deadline(const struct sockaddr_storage *ss, int timeout_ms)
{
	socklen_t len = ss->ss_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	struct pollfd pfd;
	socklen_t elen = sizeof(int);
	int fd, r, e = 0;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)ss, len) == 0)
		return fd;
	if (errno != EINPROGRESS)
		goto bad;
	pfd.fd = fd;
	pfd.events = POLLOUT;
	do
		r = poll(&pfd, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		errno = ETIMEDOUT;
	if (r <= 0)
		goto bad;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
		goto bad;
	if (e == 0)
		return fd;
	errno = e;
bad:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

static void
ssl_reason(char *why, size_t whysz, const char *what)
{
	unsigned long e = ERR_get_error();
	char tmp[200];

	if (e != 0) {
		ERR_error_string_n(e, tmp, sizeof(tmp));
		snprintf(why, whysz, "%s: %s", what, tmp);
	} else
		snprintf(why, whysz, "%s", what);
	ERR_clear_error();
}

/* One HTTPS GET on a connected fd (closed here).  0 / -1 with why;
 * *closed: the server ended TLS with close_notify. */
static int
fetch_on(struct mtasts *m, int fd, const char *host, int64_t deadline,
    struct buf *resp, bool *closed, char *why, size_t whysz)
{
	struct stream s;
	SSL *ssl;
	char chunk[4096];
	ssize_t n;
	long vr;
	int rc = -1;

	tls_ctx_ready(m->ctx);
	if ((ssl = SSL_new(m->ctx)) == NULL) {
		ssl_reason(why, whysz, "SSL_new");
		close(fd);
		return -1;
	}
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	/* authenticated TLS: 1.2 at least (RFC 8461 7.2, RFC 8996) */
	if (SSL_set_min_proto_version(ssl, tls_min_version(1)) != 1 ||
	    SSL_set_fd(ssl, fd) != 1 ||
	    SSL_set_tlsext_host_name(ssl, host) != 1 ||
	    SSL_set1_host(ssl, host) != 1) {
		ssl_reason(why, whysz, "TLS setup");
		goto free_ssl;
	}
	SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	SSL_set_connect_state(ssl);
	if (io_tls_handshake(ssl, fd, fd, left_ms(deadline)) != 0) {
		vr = SSL_get_verify_result(ssl);
		if (errno == ETIMEDOUT)
			snprintf(why, whysz, "timeout in the TLS handshake "
			    "with %s", host);
		else if (vr != X509_V_OK)
			snprintf(why, whysz, "certificate of %s not "
			    "verified: %s", host,
			    X509_verify_cert_error_string(vr));
		else
			ssl_reason(why, whysz, "TLS handshake failed");
		goto free_ssl;
	}
	if (SSL_get_verify_result(ssl) != X509_V_OK ||
	    SSL_get0_peer_certificate(ssl) == NULL) {
		snprintf(why, whysz, "certificate of %s not verified", host);
		goto free_ssl;
	}
	if (stream_init(&s, fd, fd, left_ms(deadline)) < 0) {
		snprintf(why, whysz, "out of memory");
		goto free_ssl;
	}
	if (stream_start_tls(&s, ssl) < 0) {
		stream_free(&s);
		snprintf(why, whysz, "cannot start TLS");
		goto free_ssl;
	}
	ssl = NULL;	/* the stream owns it */
	*closed = false;
	/* HTTP/1.0: no chunked encoding, the server closes at the end */
	if (stream_printf(&s, "GET /.well-known/mta-sts.txt HTTP/1.0\r\n"
	    "Host: %s\r\nUser-Agent: posthorn\r\nConnection: close\r\n\r\n",
	    host) < 0 || stream_flush(&s) < 0) {
		snprintf(why, whysz, "cannot send the request to %s", host);
		goto free_stream;
	}
	buf_reset(resp);
	for (;;) {
		s.timeout_ms = left_ms(deadline);
		if (mono_ms() >= deadline) {
			snprintf(why, whysz, "timeout fetching from %s", host);
			goto free_stream;
		}
		n = stream_read(&s, chunk, sizeof(chunk));
		if (n == 0) {
			*closed = (SSL_get_shutdown(s.ssl) &
			    SSL_RECEIVED_SHUTDOWN) != 0;
			break;
		}
		if (n < 0) {
			snprintf(why, whysz, "%s fetching from %s",
			    errno == ETIMEDOUT ? "timeout" : "read error",
			    host);
			goto free_stream;
		}
		if (resp->len + (size_t)n > MTASTS_HEAD_MAX + MTASTS_BODY_MAX) {
			snprintf(why, whysz, "response of %s larger than "
			    "64 KiB", host);
			goto free_stream;
		}
		if (buf_append(resp, chunk, (size_t)n) < 0) {
			snprintf(why, whysz, "out of memory");
			goto free_stream;
		}
	}
	rc = 0;
free_stream:
	stream_free(&s);
free_ssl:
	if (ssl != NULL)
		SSL_free(ssl);
	close(fd);
	return rc;
}

int
mtasts_fetch(struct mtasts *m, const char *domain, struct buf *body,
    char *why, size_t whysz)
{
	struct buf resp = BUF_INIT;
	struct addrlist al;
	char host[300];
	const char *b, *pw;
	size_t blen, a;
	int64_t deadline = mono_ms() + m->fetch_ms;
	bool closed;
	int fd, rc;

	if ((size_t)snprintf(host, sizeof(host), "mta-sts.%s", domain) >=
	    sizeof(host) || strlen(host) > 253) {
		snprintf(why, whysz, "name too long");
		return -1;
	}
	rc = dns_addrs(m->dns, host, m->port, &al);
	if (rc != DNS_OK) {
		snprintf(why, whysz, "no address for %s%s", host,
		    rc == DNS_TEMP || rc == DNS_BAD ? " (DNS failure)" : "");
		return -1;
	}
	snprintf(why, whysz, "cannot connect to %s", host);
	for (a = 0; a < al.n && a < FETCH_ADDRS_MAX; a++) {
		if (mono_ms() >= deadline) {
			snprintf(why, whysz, "timeout fetching from %s", host);
			break;
		}
		fd = connect_deadline(&al.v[a], left_ms(deadline) <
		    m->connect_ms ? left_ms(deadline) : m->connect_ms);
		if (fd < 0) {
			snprintf(why, whysz, "connect to %s port %u: %s",
			    host, m->port, strerror(errno));
			continue;
		}
		if (fetch_on(m, fd, host, deadline, &resp, &closed, why,
		    whysz) < 0)
			continue;
		if (mtasts_http_parse(resp.data, resp.len, closed, &b, &blen,
		    &pw) < 0) {
			snprintf(why, whysz, "https://%s/.well-known/"
			    "mta-sts.txt: %s", host, pw);
			break;	/* the server answered: no other address */
		}
		rc = buf_set(body, b, blen);
		buf_free(&resp);
		if (rc < 0) {
			snprintf(why, whysz, "out of memory");
			return -1;
		}
		return 0;
	}
	buf_free(&resp);
	return -1;
}

/* ---- cache and lookup ----------------------------------------------- */

static int
cache_path(const struct mtasts *m, const char *domain, char *out,
    size_t outsz)
{
	return (size_t)snprintf(out, outsz, "%s/%s", m->cache_dir, domain) <
	    outsz ? 0 : -1;
}

/* Is the cache directory ours alone?  Policies in a directory others
 * may write could switch MTA-STS off or send mail nowhere: such a
 * directory is not used (logged once).  The last component is created
 * when missing.  1 usable, 0 not (yet) there, -1 refused. */
static int
cache_dir_check(struct mtasts *m, int create)
{
	struct stat st;

	if (m->cache_ok != 0)
		return m->cache_ok;
	if (lstat(m->cache_dir, &st) < 0) {
		if (errno != ENOENT)
			goto bad;
		if (!create)
			return 0;
		/* the last component only: the parent is the admin's */
		if (mkdir(m->cache_dir, 0700) < 0 ||
		    lstat(m->cache_dir, &st) < 0)
			goto bad;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 022) != 0) {
		log_msg(LOG_WARNING, "mta-sts-cache", "dir", m->cache_dir,
		    "error", "not a directory of ours alone (owner and mode)",
		    "action", "policies kept in memory only", (char *)NULL);
		m->cache_ok = -1;
		return -1;
	}
	m->cache_ok = 1;
	return 1;
bad:
	log_msg(LOG_WARNING, "mta-sts-cache", "dir", m->cache_dir, "error",
	    strerror(errno), "action", "policies kept in memory only",
	    (char *)NULL);
	m->cache_ok = -1;
	return -1;
}

/* 0 with the cached entry (*tried: the last failed refresh, 0 none);
 * -1 none (or unusable: logged). */
static int
cache_load(struct mtasts *m, const char *domain, char id[MTASTS_ID_MAX + 1],
    int64_t *fetched, int64_t *tried, struct mtasts_policy *p)
{
	struct buf b = BUF_INIT;
	struct stat st;
	char path[4096];
	const char *why;
	int rc = -1;

	*tried = 0;
	if (m->mem_domain[0] != '\0' && strcmp(m->mem_domain, domain) == 0) {
		memcpy(id, m->mem_id, sizeof(m->mem_id));
		*fetched = m->mem_fetched;
		*tried = m->mem_tried;
		*p = m->mem;
		return 0;
	}
	if (m->cache_dir == NULL || cache_dir_check(m, 0) <= 0 ||
	    cache_path(m, domain, path, sizeof(path)) < 0)
		return -1;
	if (io_read_file(path, CACHE_FILE_MAX, &b) < 0) {
		if (errno != ENOENT)
			log_msg(LOG_WARNING, "mta-sts-cache", "domain", domain,
			    "file", path, "error", strerror(errno),
			    (char *)NULL);
		goto out;
	}
	if (mtasts_cache_parse(b.data, b.len, domain, id, fetched, p,
	    &why) < 0) {
		log_msg(LOG_WARNING, "mta-sts-cache", "domain", domain, "file",
		    path, "error", why, "action", "ignored", (char *)NULL);
		goto out;
	}
	/* written when fetched; touched later by a failed refresh */
	if (stat(path, &st) == 0 && (int64_t)st.st_mtime > *fetched)
		*tried = (int64_t)st.st_mtime;
	rc = 0;
out:
	buf_free(&b);
	return rc;
}

static void
mem_store(struct mtasts *m, const char *domain, const char *id,
    int64_t fetched, const struct mtasts_policy *p)
{
	snprintf(m->mem_domain, sizeof(m->mem_domain), "%s", domain);
	snprintf(m->mem_id, sizeof(m->mem_id), "%s", id);
	m->mem_fetched = fetched;
	m->mem_tried = 0;
	m->mem = *p;
}

/* Is the unexpired policy fetched at `fetched' due for a refresh at now
 * (MTASTS_REFRESH_SEC, MTASTS_RETRY_SEC)?  A failed attempt "in the
 * future" (the clock went back) does not hold the next one off. */
static bool
refresh_due(uint64_t max_age, int64_t fetched, int64_t tried, int64_t now)
{
	uint64_t every = max_age / 2, retry;

	if (every > MTASTS_REFRESH_SEC)
		every = MTASTS_REFRESH_SEC;
	retry = every / 4 < MTASTS_RETRY_SEC ? every / 4 : MTASTS_RETRY_SEC;
	if (now < fetched || (uint64_t)(now - fetched) < every)
		return false;
	return tried == 0 || tried > now || (uint64_t)(now - tried) >= retry;
}

/* A refresh failed: not again before MTASTS_RETRY_SEC, in this process
 * (memory) and in the others (the cache file's modification time). */
static void
refresh_failed(struct mtasts *m, const char *domain, int64_t now)
{
	struct timespec ts[2];
	char path[4096];

	if (strcmp(m->mem_domain, domain) == 0)
		m->mem_tried = now;
	if (m->cache_dir == NULL || m->cache_ok != 1 ||
	    cache_path(m, domain, path, sizeof(path)) < 0)
		return;
	ts[0].tv_sec = ts[1].tv_sec = (time_t)now;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	(void)utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW);
}

static void
cache_store(struct mtasts *m, const char *domain, const char *id,
    int64_t fetched, const struct buf *body)
{
	struct buf b = BUF_INIT;
	char path[4096];

	if (m->cache_dir == NULL || cache_dir_check(m, 1) <= 0)
		return;
	if (cache_path(m, domain, path, sizeof(path)) < 0 ||
	    mtasts_cache_format(&b, domain, id, fetched, body->data,
	    body->len) < 0 ||
	    io_write_file_atomic(path, b.data, b.len, 0600) < 0)
		log_msg(LOG_WARNING, "mta-sts-cache", "file", path, "error",
		    strerror(errno), "action", "policy not cached",
		    (char *)NULL);
	buf_free(&b);
}

int
mtasts_lookup(struct mtasts *m, const char *domain, int64_t now,
    struct mtasts_policy *p, const char **src, char id[MTASTS_ID_MAX + 1],
    char *why, size_t whysz)
{
	static struct txtlist txt;
	static struct mtasts_policy cached, fresh;
	struct buf body = BUF_INIT;
	char name[300], cid[MTASTS_ID_MAX + 1], tid[MTASTS_ID_MAX + 1];
	char fwhy[256];
	const char *pw;
	int64_t fetched = 0, tried = 0;
	int have_cache, valid, rc;

	why[0] = '\0';
	have_cache = cache_load(m, domain, cid, &fetched, &tried,
	    &cached) == 0;
	valid = have_cache && now >= fetched &&
	    (uint64_t)(now - fetched) < cached.max_age;
	tid[0] = '\0';
	if ((size_t)snprintf(name, sizeof(name), "_mta-sts.%s", domain) <
	    sizeof(name)) {
		rc = dns_txt(m->dns, name, &txt);
		if (rc == DNS_OK && mtasts_txt_pick(&txt, tid, &pw) < 0) {
			snprintf(why, whysz, "%s: %s", name, pw);
			tid[0] = '\0';
		} else if (rc == DNS_TEMP || rc == DNS_BAD)
			snprintf(why, whysz, "TXT lookup of %s failed", name);
	}
	if (valid && (tid[0] == '\0' || strcmp(tid, cid) == 0)) {
		/* RFC 8461 5.1: unchanged (or unknown) id, unexpired */
		*p = cached;
		*src = MTASTS_SRC_CACHE;
		memcpy(id, cid, sizeof(cid));
		mem_store(m, domain, cid, fetched, &cached);
		m->mem_tried = tried;
		if (!refresh_due(cached.max_age, fetched, tried, now))
			return 1;
		/* RFC 8461 10.2: before it expires, whatever the TXT
		 * lookup said; the cached policy stays if this fails */
		pw = NULL;
		if (mtasts_fetch(m, domain, &body, fwhy, sizeof(fwhy)) == 0 &&
		    mtasts_policy_parse(body.data, body.len, &fresh,
		    &pw) == 0) {
			if (tid[0] != '\0')
				memcpy(id, tid, sizeof(tid));
			cache_store(m, domain, id, now, &body);
			mem_store(m, domain, id, now, &fresh);
			*p = fresh;
			*src = MTASTS_SRC_REFRESHED;
		} else {
			snprintf(why, whysz, "refresh failed: %s%s%s",
			    pw != NULL ? "policy: " : "",
			    pw != NULL ? pw : fwhy, "; cached policy kept");
			refresh_failed(m, domain, now);
		}
		buf_free(&body);
		return 1;
	}
	if (tid[0] == '\0')
		return 0;	/* no policy (why says why, if anything) */
	if (mtasts_fetch(m, domain, &body, why, whysz) == 0) {
		if (mtasts_policy_parse(body.data, body.len, &fresh,
		    &pw) == 0) {
			why[0] = '\0';
			cache_store(m, domain, tid, now, &body);
			mem_store(m, domain, tid, now, &fresh);
			buf_free(&body);
			*p = fresh;
			*src = MTASTS_SRC_FETCHED;
			memcpy(id, tid, sizeof(tid));
			return 1;
		}
		snprintf(why, whysz, "policy of %s: %s", domain, pw);
	}
	buf_free(&body);
	if (valid) {
		/* the new policy cannot be had: keep the one we know */
		*p = cached;
		*src = MTASTS_SRC_CACHE;
		memcpy(id, cid, sizeof(cid));
		return 1;
	}
	return 0;
}
