/*
 * config.c — posthorn.conf (config.h).
 *
 * One static table, keys[], lists every key with its type, its place in
 * struct config, its default and its limits; defaults are parsed by the
 * same code as the file, so a default can never be a value the file could
 * not hold.  Computed defaults: hostname (the FQDN from gethostname() and
 * getaddrinfo(AI_CANONNAME), else the bare host name), local_domains
 * (hostname and localhost), the table files (DIR/<key>), mta_sts_cache
 * (CONFIG_STATE_DIR/mta-sts for /etc/posthorn, else DIR/mta-sts) and
 * checkpassword (libexec_path("posthorn-checkpassword")).
 *
 * The file is read whole (at most 1 MiB) and trusted no more than any other
 * input: lines are "key = value", '#' starts a comment line, blank lines
 * are skipped, a line may end in CRLF; a NUL octet, an overlong line, an
 * unknown or duplicate key, a malformed value, a '#' after a blank in a
 * value (a comment after the value) or an inconsistent pair of values is
 * an error "FILE:LINE: key: reason" and nothing is loaded.
 * Relative file names (tables, TLS files) are taken relative to DIR.
 */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/cidr.h"
#include "common/config.h"
#include "common/idna.h"
#include "common/io.h"
#include "common/log.h"
#include "common/units.h"

#define CONFIG_FILE_MAX	(1024 * 1024)
#define CONFIG_LINE_MAX	4096
#define LIST_MAX	1024	/* entries in one list */
#define DAY		86400ULL
#define TEN_YEARS	(3650 * DAY)

enum ktype {
	K_HOST,		/* a domain name */
	K_DOMAINS,	/* list of domains (".example" = subdomains) */
	K_CIDRS,	/* list of networks */
	K_ABSPATH,	/* absolute path */
	K_FILE,		/* path, relative to DIR; "" = none */
	K_LISTEN,	/* list of host:port */
	K_DNS,		/* list of ip[:port] */
	K_SIZE,
	K_DURATION,
	K_UINT,
	K_BOOL,
	K_DELIM,	/* one character or "" */
	K_BARE,		/* reject | normalize */
	K_WORD		/* a user name */
};

struct key {
	const char *name;
	enum ktype type;
	size_t off;
	const char *def;	/* NULL: computed or none */
	uint64_t min, max;	/* numbers */
};

#define F(m) offsetof(struct config, m)

static const struct key keys[] = {
	{ "hostname", K_HOST, F(hostname), NULL, 0, 0 },
	{ "local_domains", K_DOMAINS, F(local_domains), NULL, 0, 0 },
	{ "relay_domains", K_DOMAINS, F(relay_domains), "", 0, 0 },
	{ "relay_networks", K_CIDRS, F(relay_networks),
	    "127.0.0.0/8, ::1/128", 0, 0 },
	{ "spool", K_ABSPATH, F(spool), "/var/spool/posthorn", 0, 0 },
	{ "max_message_size", K_SIZE, F(max_message_size), "35M", 1024,
	    UINT64_C(1) << 40 },
	{ "max_recipients", K_UINT, F(max_recipients), "1000", 1, 100000 },
	{ "smtp_timeout", K_DURATION, F(smtp_timeout), "5m", 1, DAY },
	{ "tls_cert", K_FILE, F(tls_cert), "", 0, 0 },
	{ "tls_key", K_FILE, F(tls_key), "", 0, 0 },
	{ "aliases", K_FILE, F(aliases), NULL, 0, 0 },
	{ "mailboxes", K_FILE, F(mailboxes), NULL, 0, 0 },
	{ "passwd", K_FILE, F(passwd), NULL, 0, 0 },
	{ "relocated", K_FILE, F(relocated), NULL, 0, 0 },
	{ "routes", K_FILE, F(routes), NULL, 0, 0 },
	{ "dns_servers", K_DNS, F(dns_servers), "", 0, 0 },
	{ "remote_port", K_UINT, F(remote_port), "25", 1, 65535 },
	{ "retry_min", K_DURATION, F(retry_min), "5m", 1, TEN_YEARS },
	{ "retry_max", K_DURATION, F(retry_max), "4h", 1, TEN_YEARS },
	{ "queue_lifetime", K_DURATION, F(queue_lifetime), "5d", 0,
	    TEN_YEARS },
	{ "delay_warning", K_DURATION, F(delay_warning), "4h", 0, TEN_YEARS },
	{ "local_concurrency", K_UINT, F(local_concurrency), "10", 1, 1000 },
	{ "remote_concurrency", K_UINT, F(remote_concurrency), "20", 1,
	    1000 },
	{ "listen", K_LISTEN, F(listen), "127.0.0.1:2525", 0, 0 },
	{ "submission_listen", K_LISTEN, F(submission_listen), "", 0, 0 },
	{ "smtps_listen", K_LISTEN, F(smtps_listen), "", 0, 0 },
	{ "queue_socket", K_ABSPATH, F(queue_socket),
	    "/run/posthorn/queue.sock", 0, 0 },
	{ "bare_newline", K_BARE, F(bare_newline), "reject", 0, 0 },
	{ "checkpassword", K_ABSPATH, F(checkpassword), NULL, 0, 0 },
	{ "smtp_max_errors", K_UINT, F(smtp_max_errors), "10", 1, 1000 },
	{ "smtp_session_timeout", K_DURATION, F(smtp_session_timeout), "1h",
	    1, 7 * DAY },
	{ "smtpd_max_use", K_UINT, F(smtpd_max_use), "100", 1, 10000 },
	{ "bounce_max_original", K_SIZE, F(bounce_max_original), "100k", 0,
	    UINT64_C(1) << 40 },
	{ "local_case_insensitive", K_BOOL, F(local_case_insensitive), "yes",
	    0, 0 },
	{ "recipient_delimiter", K_DELIM, F(recipient_delimiter), "+", 0, 0 },
	{ "local_program_timeout", K_DURATION, F(local_program_timeout), "1h",
	    1, 7 * DAY },
	{ "lock_timeout", K_DURATION, F(lock_timeout), "60s", 1, DAY },
	{ "alias_user", K_WORD, F(alias_user), "nobody", 0, 0 },
	{ "mail_spool_dir", K_ABSPATH, F(mail_spool_dir), "/var/mail", 0, 0 },
	{ "reverse_dns", K_BOOL, F(reverse_dns), "yes", 0, 0 },
	{ "remote_connect_timeout", K_DURATION, F(remote_connect_timeout),
	    "30s", 1, DAY },
	{ "tls_ca_file", K_FILE, F(tls_ca_file), "", 0, 0 },
	{ "mta_sts", K_BOOL, F(mta_sts), "yes", 0, 0 },
	{ "mta_sts_cache", K_FILE, F(mta_sts_cache), NULL, 0, 0 },
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

#define AT(cfg, k, type) ((type *)(void *)((char *)(cfg) + (k)->off))

/* ---- small helpers ---------------------------------------------------- */

const char *
config_key_name(size_t i)
{
	return i < NKEYS ? keys[i].name : NULL;
}

void
strlist_free(struct strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int
strlist_add(struct strlist *l, const char *s)
{
	char **v, *d;
	size_t n;

	if (size_add(l->n, 1, &n) == -1 || (d = strdup(s)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	v = xrealloc_array(l->v, n, sizeof(*v));
	if (v == NULL) {
		free(d);
		return -1;
	}
	v[l->n] = d;
	l->v = v;
	l->n = n;
	return 0;
}

/* Does domain equal an entry, or lie below an entry ".parent"? */
bool
strlist_contains_domain(const struct strlist *l, const char *domain)
{
	size_t i, dl = strlen(domain), el;

	for (i = 0; i < l->n; i++) {
		if (l->v[i][0] != '.') {
			if (addr_domain_eq(l->v[i], domain))
				return true;
			continue;
		}
		el = strlen(l->v[i]);
		if (dl > el && addr_domain_eq(l->v[i], domain + dl - el))
			return true;
	}
	return false;
}

/* domain in the list, as written or (UTF-8) in its A-label form */
static bool
contains_domain_idn(const struct strlist *l, const char *domain)
{
	char alabel[ADDR_DOMAIN_MAX + 1];
	const char *why;

	if (strlist_contains_domain(l, domain))
		return true;
	return str_has_8bit(domain) &&
	    idna_domain_ascii(domain, alabel, sizeof(alabel), &why) == 0 &&
	    strlist_contains_domain(l, alabel);
}

bool
config_is_local_domain(const struct config *cfg, const char *domain)
{
	return contains_domain_idn(&cfg->local_domains, domain);
}

bool
config_is_relay_domain(const struct config *cfg, const char *domain)
{
	return contains_domain_idn(&cfg->relay_domains, domain);
}

const char *
config_dir(const char *arg)
{
	const char *env;

	if (arg != NULL && arg[0] != '\0')
		return arg;
	env = getenv("POSTHORN_CONF");
	if (env != NULL && env[0] != '\0')
		return env;
	return CONFIG_DEFAULT_DIR;
}

int
libexec_path(const char *prog, char *out, size_t outsz)
{
	char exe[PATH_MAX];
	const char *env = getenv("POSTHORN_LIBEXEC");
	char *slash;
	ssize_t n;
	int r;

	if (strchr(prog, '/') != NULL || prog[0] == '\0') {
		errno = EINVAL;
		return -1;
	}
	if (env != NULL && env[0] != '\0') {
		r = snprintf(out, outsz, "%s/%s", env, prog);
	} else {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n <= 0)
			return -1;
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash == NULL) {
			errno = ENOENT;
			return -1;
		}
		*slash = '\0';
		r = snprintf(out, outsz, "%s/%s", exe, prog);
	}
	if (r < 0 || (size_t)r >= outsz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* The system's FQDN, else its host name, else "localhost".  Computed once
 * per process (the lookup may need the resolver). */
static char *
system_hostname(void)
{
	static char cached[256];
	struct addrinfo hints, *res = NULL;
	char host[256];
	const char *why;
	char *r = NULL;

	if (cached[0] != '\0')
		return strdup(cached);
	if (gethostname(host, sizeof(host)) == -1)
		return strdup("localhost");
	host[sizeof(host) - 1] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_flags = AI_CANONNAME;
	if (strchr(host, '.') == NULL &&
	    getaddrinfo(host, NULL, &hints, &res) == 0 && res != NULL &&
	    res->ai_canonname != NULL &&
	    strchr(res->ai_canonname, '.') != NULL &&
	    addr_domain_valid(res->ai_canonname, strlen(res->ai_canonname), 0,
	    &why) == 0)
		r = strdup(res->ai_canonname);
	if (res != NULL)
		freeaddrinfo(res);
	if (r == NULL && addr_domain_valid(host, strlen(host), 0, &why) == 0)
		r = strdup(host);
	if (r == NULL)
		r = strdup("localhost");
	if (r != NULL) {
		addr_lower(r);
		if (strlen(r) < sizeof(cached))
			memcpy(cached, r, strlen(r) + 1);
	}
	return r;
}

/* ---- value parsers ----------------------------------------------------- */

/* Split a list value at commas and blanks into l (replacing it). */
static int
split_list(const char *v, struct strlist *l, const char **why)
{
	char item[CONFIG_LINE_MAX];
	size_t n;

	strlist_free(l);
	while (*v != '\0') {
		n = strcspn(v, ", \t");
		if (n > 0) {
			if (l->n == LIST_MAX) {
				*why = "too many list entries";
				return -1;
			}
			memcpy(item, v, n);
			item[n] = '\0';
			if (strlist_add(l, item) == -1) {
				*why = "out of memory";
				return -1;
			}
		}
		v += n;
		if (*v != '\0')
			v++;
	}
	return 0;
}

static int
set_str(char **field, const char *v, const char **why)
{
	char *d = strdup(v);

	if (d == NULL) {
		*why = "out of memory";
		return -1;
	}
	free(*field);
	*field = d;
	return 0;
}

/* A domain list; an internationalised domain (U-labels) is kept as
 * written and also in its A-label form, so that it matches either
 * (strlist_contains_domain turns a UTF-8 domain asked about into
 * A-labels too). */
static int
set_domains(struct strlist *l, const char *v, const char **why)
{
	char alabel[ADDR_DOMAIN_MAX + 2];
	size_t i, n;
	const char *d;
	bool sub;

	if (split_list(v, l, why) == -1)
		return -1;
	n = l->n;
	for (i = 0; i < n; i++) {
		sub = l->v[i][0] == '.';
		d = sub ? l->v[i] + 1 : l->v[i];
		if (addr_domain_valid(d, strlen(d), ADDR_UTF8, why) == -1)
			return -1;
		addr_lower(l->v[i]);
		addr_domain_canon(l->v[i]);	/* as addresses are parsed */
		if (!str_has_8bit(d))
			continue;
		alabel[0] = '.';
		if (idna_domain_ascii(d, alabel + 1, sizeof(alabel) - 1,
		    why) == -1)
			return -1;
		addr_lower(alabel);
		if (strlist_add(l, sub ? alabel : alabel + 1) == -1) {
			*why = "out of memory";
			return -1;
		}
	}
	return 0;
}

static int
set_cidrs(struct cidrlist *cl, const char *v, const char **why)
{
	struct strlist l = { NULL, 0 };
	struct cidr c;
	size_t i;

	cidrlist_free(cl);
	if (split_list(v, &l, why) == -1)
		goto fail;
	for (i = 0; i < l.n; i++) {
		if (cidr_parse(l.v[i], &c, why) == -1)
			goto fail;
		if (cidrlist_add(cl, &c) == -1) {
			*why = "out of memory";
			goto fail;
		}
	}
	strlist_free(&l);
	return 0;
fail:
	strlist_free(&l);
	return -1;
}

static int
set_hostports(struct strlist *l, const char *v, bool need_port, bool need_ip,
    const char **why)
{
	struct sockaddr_storage ss;
	char host[256];
	unsigned port;
	size_t i;

	if (split_list(v, l, why) == -1)
		return -1;
	for (i = 0; i < l->n; i++) {
		if (parse_hostport(l->v[i], host, sizeof(host), &port) == -1) {
			*why = "malformed host:port";
			return -1;
		}
		if (need_port && port == 0) {
			*why = "a port is required (host:port)";
			return -1;
		}
		if (need_ip && ip_parse(host, &ss) == -1) {
			*why = "not a numeric IP address";
			return -1;
		}
	}
	return 0;
}

/* A file name: "" = none; relative names are below dir. */
static int
set_file(char **field, const char *v, const char *dir, const char **why)
{
	struct buf b = BUF_INIT;

	if (v[0] == '\0') {
		free(*field);
		*field = NULL;
		return 0;
	}
	if (v[0] == '/')
		return set_str(field, v, why);
	if (buf_printf(&b, "%s/%s", dir, v) == -1) {
		*why = "out of memory";
		return -1;
	}
	free(*field);
	*field = buf_detach(&b);
	if (*field == NULL) {
		*why = "out of memory";
		return -1;
	}
	return 0;
}

static int
set_number(const struct key *k, uint64_t *field, const char *v,
    const char **why)
{
	uint64_t n;
	int r;

	if (k->type == K_SIZE)
		r = parse_size(v, &n);
	else if (k->type == K_DURATION)
		r = parse_duration(v, &n);
	else
		r = parse_uint(v, UINT64_MAX, &n);
	if (r == -1) {
		*why = k->type == K_SIZE ?
		    "malformed size (e.g. 512, 100k, 35M)" :
		    k->type == K_DURATION ?
		    "malformed duration (e.g. 30s, 5m, 4h, 5d)" :
		    "malformed number";
		return -1;
	}
	if (n < k->min || n > k->max) {
		*why = "value out of range";
		return -1;
	}
	*field = n;
	return 0;
}

static int
set_word(char **field, const char *v, const char **why)
{
	size_t i;

	for (i = 0; v[i] != '\0'; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') ||
		    (v[i] >= 'A' && v[i] <= 'Z') ||
		    (v[i] >= '0' && v[i] <= '9') || v[i] == '_' ||
		    (i > 0 && (v[i] == '-' || v[i] == '.'))))
			break;
	if (i == 0 || v[i] != '\0' || i > 32) {
		*why = "not a valid user name";
		return -1;
	}
	return set_str(field, v, why);
}

static int
set_value(struct config *cfg, const struct key *k, const char *v,
    const char **why)
{
	bool b;

	*why = NULL;
	switch (k->type) {
	case K_HOST:
		if (addr_domain_valid(v, strlen(v), 0, why) == -1 ||
		    v[0] == '[') {
			if (*why == NULL || v[0] == '[')
				*why = "not a domain name";
			return -1;
		}
		if (set_str(AT(cfg, k, char *), v, why) == -1)
			return -1;
		addr_lower(*AT(cfg, k, char *));
		return 0;
	case K_DOMAINS:
		return set_domains(AT(cfg, k, struct strlist), v, why);
	case K_CIDRS:
		return set_cidrs(AT(cfg, k, struct cidrlist), v, why);
	case K_ABSPATH:
		if (v[0] != '/') {
			*why = "must be an absolute path";
			return -1;
		}
		return set_str(AT(cfg, k, char *), v, why);
	case K_FILE:
		return set_file(AT(cfg, k, char *), v, cfg->dir, why);
	case K_LISTEN:
		return set_hostports(AT(cfg, k, struct strlist), v, true, false,
		    why);
	case K_DNS:
		return set_hostports(AT(cfg, k, struct strlist), v, false,
		    true, why);
	case K_SIZE:
	case K_DURATION:
	case K_UINT:
		return set_number(k, AT(cfg, k, uint64_t), v, why);
	case K_BOOL:
		if (parse_bool(v, &b) == -1) {
			*why = "expected yes or no";
			return -1;
		}
		*AT(cfg, k, bool) = b;
		return 0;
	case K_DELIM:
		if (v[0] != '\0' && (v[1] != '\0' ||
		    strchr("+-_=", v[0]) == NULL)) {
			*why = "expected one of + - _ = or nothing";
			return -1;
		}
		*AT(cfg, k, char) = v[0];
		return 0;
	case K_BARE:
		if (strcmp(v, "reject") == 0)
			cfg->bare_newline = BARE_NEWLINE_REJECT;
		else if (strcmp(v, "normalize") == 0)
			cfg->bare_newline = BARE_NEWLINE_NORMALIZE;
		else {
			*why = "expected reject or normalize";
			return -1;
		}
		return 0;
	case K_WORD:
		return set_word(AT(cfg, k, char *), v, why);
	}
	*why = "internal error: unknown key type";
	return -1;
}

/* ---- loading ------------------------------------------------------------ */

static const struct key *
find_key(const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static int
apply_defaults(struct config *cfg, struct buf *err)
{
	const char *why;
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		if (keys[i].def == NULL)
			continue;
		if (set_value(cfg, &keys[i], keys[i].def, &why) == -1) {
			buf_printf(err, "default: %s: %s", keys[i].name, why);
			return -1;
		}
	}
	return 0;
}

/* Defaults that depend on other values or on the system. */
static int
computed_defaults(struct config *cfg, const unsigned *set, struct buf *err)
{
	static const char *const files[] = { "aliases", "mailboxes", "passwd",
	    "relocated", "routes" };
	char path[PATH_MAX];
	const char *why = NULL;
	size_t i;

	if (!set[find_key("hostname") - keys] &&
	    (cfg->hostname = system_hostname()) == NULL)
		goto oom;
	if (!set[find_key("local_domains") - keys] &&
	    (strlist_add(&cfg->local_domains, cfg->hostname) == -1 ||
	    (strcmp(cfg->hostname, "localhost") != 0 &&
	    strlist_add(&cfg->local_domains, "localhost") == -1)))
		goto oom;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		const struct key *k = find_key(files[i]);

		if (*AT(cfg, k, char *) == NULL && !set[k - keys] &&
		    set_file(AT(cfg, k, char *), files[i], cfg->dir,
		    &why) == -1)
			goto oom;
	}
	/* the MTA-STS policy cache: the state directory for the system's
	 * instance, inside DIR for any other (posthorn-run's) */
	if (!set[find_key("mta_sts_cache") - keys] &&
	    set_file(&cfg->mta_sts_cache, strcmp(cfg->dir,
	    CONFIG_DEFAULT_DIR) == 0 ? CONFIG_STATE_DIR "/mta-sts" :
	    "mta-sts", cfg->dir, &why) == -1)
		goto oom;
	if (cfg->checkpassword == NULL) {
		if (libexec_path("posthorn-checkpassword", path,
		    sizeof(path)) == -1)
			snprintf(path, sizeof(path),
			    "/usr/libexec/posthorn/posthorn-checkpassword");
		if (set_str(&cfg->checkpassword, path, &why) == -1)
			goto oom;
	}
	return 0;
oom:
	buf_printf(err, "%s: out of memory", cfg->dir);
	return -1;
}

/* Line of the latest of keys a and b set in the file (0: neither). */
static unsigned
last_line(const unsigned *set, const char *a, const char *b)
{
	unsigned la = set[find_key(a) - keys], lb = set[find_key(b) - keys];

	return la > lb ? la : lb;
}

static void
pair_error(struct buf *err, const char *file, const unsigned *set,
    const char *a, const char *b, const char *reason)
{
	unsigned line = last_line(set, a, b);

	if (line > 0)
		buf_printf(err, "%s:%u: %s: %s", file, line,
		    set[find_key(a) - keys] == line ? a : b, reason);
	else
		buf_printf(err, "%s: %s: %s", file, a, reason);
}

/* Checks across keys, reported on the line of the later of the two. */
static int
check_consistency(const struct config *cfg, const unsigned *set,
    const char *file, struct buf *err)
{
	if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
		pair_error(err, file, set, "tls_cert", "tls_key",
		    "set both tls_cert and tls_key, or neither");
		return -1;
	}
	if (cfg->retry_min > cfg->retry_max) {
		pair_error(err, file, set, "retry_min", "retry_max",
		    "retry_min is larger than retry_max");
		return -1;
	}
	if (cfg->smtps_listen.n > 0 && cfg->tls_cert == NULL) {
		pair_error(err, file, set, "smtps_listen", "smtps_listen",
		    "needs tls_cert and tls_key");
		return -1;
	}
	return 0;
}

static void
trim(char **s, char **e)
{
	while (*s < *e && (**s == ' ' || **s == '\t'))
		(*s)++;
	while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
}

/* Lists take blanks (tabs too) between their entries. */
static bool
list_type(enum ktype t)
{
	return t == K_DOMAINS || t == K_CIDRS || t == K_LISTEN || t == K_DNS;
}

/* Parse one line (NUL-terminated, no newline). */
static int
parse_line(struct config *cfg, char *line, unsigned *set, const char *file,
    unsigned lineno, struct buf *err)
{
	char *s = line, *e = line + strlen(line), *eq, *ke, *vs;
	const char *c;
	const struct key *k;
	const char *why;

	trim(&s, &e);
	if (s == e || *s == '#')
		return 0;
	*e = '\0';
	eq = strchr(s, '=');
	if (eq == NULL) {
		buf_printf(err, "%s:%u: expected \"key = value\"", file,
		    lineno);
		return -1;
	}
	ke = eq;
	vs = eq + 1;
	trim(&s, &ke);
	trim(&vs, &e);
	*ke = '\0';
	*e = '\0';
	if (s == ke) {
		buf_printf(err, "%s:%u: missing key before '='", file, lineno);
		return -1;
	}
	k = find_key(s);
	if (k == NULL) {
		buf_printf(err, "%s:%u: ", file, lineno);
		sanitize_text(err, s, strlen(s), 64);
		buf_append_str(err, ": unknown key");
		return -1;
	}
	if (set[k - keys]) {
		buf_printf(err, "%s:%u: %s: duplicate key", file, lineno,
		    k->name);
		return -1;
	}
	set[k - keys] = lineno;
	/* a comment after the value would otherwise be part of it: a path
	 * ("aliases = /etc/aliases  # site aliases") names no file, and a
	 * missing table is an empty one -- aliases silently off again */
	for (c = vs; *c != '\0'; c++)
		if (*c == '#' && (c == vs || c[-1] == ' ' ||
		    c[-1] == '\t')) {
			buf_printf(err, "%s:%u: %s: '#' after the value (a "
			    "comment must be on a line of its own)", file,
			    lineno, k->name);
			return -1;
		}
	/* a stray CR (or any control character) would otherwise end up in a
	 * path: "aliases = /etc/aliases\r" names no file, and a missing
	 * table is an empty one -- aliases silently off */
	for (c = vs; *c != '\0'; c++)
		if (((unsigned char)*c < 0x20 || *c == 0x7f) &&
		    (*c != '\t' || !list_type(k->type))) {
			buf_printf(err, "%s:%u: %s: control character in the "
			    "value%s", file, lineno, k->name, *c == '\r' ?
			    " (a carriage return)" : *c == '\t' ? " (a tab)" :
			    "");
			return -1;
		}
	if (set_value(cfg, k, vs, &why) == -1) {
		buf_printf(err, "%s:%u: %s: %s", file, lineno, k->name, why);
		return -1;
	}
	return 0;
}

static int
parse_text(struct config *cfg, char *text, size_t len, unsigned *set,
    const char *file, struct buf *err)
{
	char *line = text, *nl;
	unsigned lineno = 0;
	size_t n;

	if (memchr(text, '\0', len) != NULL) {
		buf_printf(err, "%s: contains a NUL octet", file);
		return -1;
	}
	while (line < text + len) {
		lineno++;
		nl = memchr(line, '\n', (size_t)(text + len - line));
		n = nl != NULL ? (size_t)(nl - line) :
		    (size_t)(text + len - line);
		if (n > CONFIG_LINE_MAX) {
			buf_printf(err, "%s:%u: line too long", file, lineno);
			return -1;
		}
		line[n] = '\0';
		if (n > 0 && line[n - 1] == '\r')
			line[n - 1] = '\0';
		if (parse_line(cfg, line, set, file, lineno, err) == -1)
			return -1;
		line += n + 1;
	}
	return 0;
}

void
config_free(struct config *cfg)
{
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		switch (keys[i].type) {
		case K_HOST:
		case K_ABSPATH:
		case K_FILE:
		case K_WORD:
			free(*AT(cfg, &keys[i], char *));
			*AT(cfg, &keys[i], char *) = NULL;
			break;
		case K_DOMAINS:
		case K_LISTEN:
		case K_DNS:
			strlist_free(AT(cfg, &keys[i], struct strlist));
			break;
		case K_CIDRS:
			cidrlist_free(AT(cfg, &keys[i], struct cidrlist));
			break;
		default:
			break;
		}
	}
	free(cfg->dir);
	cfg->dir = NULL;
}

/* dir made absolute (programs chdir; file names derived from DIR must
 * keep working), without resolving symbolic links. */
static char *
absolute_dir(const char *dir)
{
	struct buf b = BUF_INIT;
	char cwd[PATH_MAX];

	if (dir[0] == '/')
		return strdup(dir);
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return NULL;
	if (buf_printf(&b, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd,
	    dir) == -1) {
		buf_free(&b);
		return NULL;
	}
	return buf_detach(&b);
}

/* text == NULL: no file, all defaults. */
static int
config_build(const char *dir, const char *name, char *text, size_t len,
    struct config *cfg, struct buf *err)
{
	unsigned set[NKEYS];

	memset(cfg, 0, sizeof(*cfg));
	memset(set, 0, sizeof(set));
	buf_reset(err);
	cfg->dir = absolute_dir(dir);
	if (cfg->dir == NULL) {
		buf_printf(err, "%s: %s", dir, strerror(errno));
		goto fail;
	}
	if (apply_defaults(cfg, err) == -1)
		goto fail;
	if (text != NULL && parse_text(cfg, text, len, set, name, err) == -1)
		goto fail;
	if (computed_defaults(cfg, set, err) == -1 ||
	    check_consistency(cfg, set, name, err) == -1)
		goto fail;
	return 0;
fail:
	config_free(cfg);
	return -1;
}

int
config_parse(const char *dir, const char *name, const char *text,
    size_t len, struct config *cfg, struct buf *err)
{
	struct buf copy = BUF_INIT;
	int r;

	if (buf_set(&copy, text, len) == -1) {
		memset(cfg, 0, sizeof(*cfg));
		buf_reset(err);
		buf_printf(err, "%s: out of memory", name);
		return -1;
	}
	r = config_build(dir, name, copy.data, copy.len, cfg, err);
	buf_free(&copy);
	return r;
}

int
config_load(const char *dir, struct config *cfg, struct buf *err)
{
	struct buf file = BUF_INIT, text = BUF_INIT;
	int r = -1;

	if (buf_printf(&file, "%s/posthorn.conf", dir) == -1) {
		memset(cfg, 0, sizeof(*cfg));
		buf_reset(err);
		buf_printf(err, "%s: out of memory", dir);
		return -1;
	}
	if (io_read_file(file.data, CONFIG_FILE_MAX, &text) == 0)
		r = config_build(dir, file.data, text.data, text.len, cfg, err);
	else if (errno == ENOENT)
		r = config_build(dir, file.data, NULL, 0, cfg, err);
	else {
		memset(cfg, 0, sizeof(*cfg));
		buf_reset(err);
		buf_printf(err, "%s: %s", file.data,
		    errno == EFBIG ? "file too large" :
		    errno == EINVAL ? "not a regular file" : strerror(errno));
	}
	buf_free(&file);
	buf_free(&text);
	return r;
}
