/*
 * deliver.c — routing, host iteration, reporting and logging for one
 * posthorn-remote job (see deliver.h).
 *
 * Inputs: the job from the scheduler (envelope already validated by
 * agent_job_read), the routes table, DNS answers (dns.c) and peers
 * (smtp.c), all treated as hostile.  Rules, in order:
 *   - a routes entry decides where mail goes (LMTP, smarthost, [host]);
 *   - otherwise MX records by preference (equal ones shuffled), the
 *     domain itself when there is no MX (RFC 5321 5.1), null MX
 *     (RFC 7505) fails at once with 5.1.10, NXDOMAIN with 5.1.2, a DNS
 *     failure defers with 4.4.3;
 *   - for MX deliveries (no routes entry, or "direct") an MTA-STS policy
 *     (RFC 8461, mtasts.c) in enforce mode keeps only the MX hosts it
 *     names and requires TLS with a verified certificate for them;
 *     testing mode only logs; DANE, where TLSA records apply, wins;
 *   - the connection kept from the last job to the same domain is
 *     used first, but only when its host is still in the plan and it
 *     was made under a TLS policy at least as strict as the one the
 *     host has now (reuse_kept); else it is closed;
 *   - a connection failure, a 4xx or a dropped connection moves the
 *     recipients still open to the next address / host; a 5xx is final;
 *   - when the hosts run out, what is still open is deferred.
 * Every recipient gets exactly one result.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <time.h>

#include "common/addr.h"
#include "common/log.h"
#include "remote/deliver.h"
#include "common/idna.h"
#include "remote/tls.h"

struct plan {
	struct mx hosts[DNS_MX_MAX];
	size_t n;
	unsigned port;
	int lmtp;
	int unix_sock;			/* LMTP over a unix socket */
	char path[108];
	enum smtp_tls tls;
	int by_mx;			/* hosts came from an MX lookup */
	int mx_secure;			/* ... with the AD bit */
	int from_route;			/* hosts came from routes: a lookup
					   failure is a configuration problem,
					   never a bounce */
	int sts;			/* an MTA-STS policy applies */
	struct mtasts_policy pol;
};

struct jobctx {
	const struct agent_job *job;
	struct rres *res;
	bool *todo;
	struct body_info info;
	char last_dsn[16];
	char last_text[DIAG_MAX + 1];
	int attempts;
	int dns_temp;			/* an address lookup failed softly */
	char reused[320];		/* relay of the reused connection */
	int sts_testing;		/* this host: report what an enforced
					   policy would have refused */
	char sts_note[300];		/* this host: errors are MTA-STS's */
	char adomain[256];		/* the domain in A-labels (IDNA) */
	const char *idna_why;		/* NULL: adomain is set */
};

/* The TLS policy of one host. */
struct hostpol {
	enum smtp_tls tls;
	struct tlsalist tl;		/* DANE: the TLSA records */
	char base[NS_MAXDNAME];		/* DANE: the TLSA base domain, the
					   host or its CNAME-expanded name
					   (RFC 7672 2.2.2); SNI and first
					   reference identifier */
	char alt[NS_MAXDNAME];		/* DANE: the other of the two, a
					   second reference identifier; ""
					   when the host is no alias */
};

static int
ms(uint64_t seconds)
{
	return seconds > 86400 ? 86400 * 1000 : (int)seconds * 1000;
}

int
remote_init(struct remote *r, const struct config *cfg, struct buf *err)
{
	uint64_t t = cfg->smtp_timeout > 0 ? cfg->smtp_timeout : 300;

	memset(r, 0, sizeof(*r));
	r->cfg = cfg;
	if (table_load(cfg->routes, TABLE_SPACE, &r->routes, err) < 0)
		return -1;
	if ((r->ctx = tls_client_ctx(cfg->tls_ca_file, err)) == NULL)
		goto bad;
	if (dns_open(&r->dns, &cfg->dns_servers, 5, err) < 0)
		goto bad;
	r->sts.cache_dir = cfg->mta_sts_cache;
	r->sts.ctx = r->ctx;
	r->sts.dns = &r->dns;
	r->sts.port = MTASTS_HTTPS_PORT;
	/* RFC 5321 4.5.3.2: 5 min for commands, 2 for DATA, 3 per data
	 * block, 10 for the final dot; a shorter smtp_timeout shortens
	 * all of them (the final dot gets twice as long) */
	r->base.helo = cfg->hostname;
	r->base.ctx = r->ctx;
	r->base.connect_ms = ms(cfg->remote_connect_timeout > 0 ?
	    cfg->remote_connect_timeout : 30);
	r->base.cmd_ms = ms(t);
	r->base.data_init_ms = ms(t < 120 ? t : 120);
	r->base.data_block_ms = ms(t < 180 ? t : 180);
	r->base.data_end_ms = ms(t >= 300 ? 600 : 2 * t);
	/* a policy fetch: 30 s in all, less with a short smtp_timeout */
	r->sts.connect_ms = r->base.connect_ms;
	r->sts.fetch_ms = ms(t < 30 ? t : 30);
	return 0;
bad:
	table_free(&r->routes);
	if (r->ctx != NULL)
		SSL_CTX_free(r->ctx);
	r->ctx = NULL;
	return -1;
}

void
remote_idle(struct remote *r)
{
	if (r->have_conn)
		smtp_quit(&r->conn);
	r->have_conn = 0;
}

void
remote_free(struct remote *r)
{
	remote_idle(r);
	dns_close(&r->dns);
	table_free(&r->routes);
	if (r->ctx != NULL)
		SSL_CTX_free(r->ctx);
	r->ctx = NULL;
}

/* ---- recipient bookkeeping ----------------------------------------- */

static bool
open_rcpt(const struct rres *x)
{
	return x->status == 0 || x->status == 'T';
}

static size_t
count_open(const struct jobctx *jc)
{
	size_t i, n = 0;

	for (i = 0; i < jc->job->env.nrcpts; i++)
		if (open_rcpt(&jc->res[i]))
			n++;
	return n;
}

static void
settle_open(struct jobctx *jc, char status, const char *dsn,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Give every open recipient a final status. */
static void
settle_open(struct jobctx *jc, char status, const char *dsn,
    const char *fmt, ...)
{
	struct rres *x;
	va_list ap;
	size_t i;

	for (i = 0; i < jc->job->env.nrcpts; i++) {
		x = &jc->res[i];
		if (!open_rcpt(x))
			continue;
		x->status = status;
		snprintf(x->dsn, sizeof(x->dsn), "%s", dsn);
		va_start(ap, fmt);
		vsnprintf(x->text, sizeof(x->text), fmt, ap);
		va_end(ap);
	}
}

/* snprintf that may truncate (diagnostics). */
static void
textf(char *out, size_t outsz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
textf(char *out, size_t outsz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, outsz, fmt, ap);
	va_end(ap);
}

static void
note_error(struct jobctx *jc, const struct smtp_err *e)
{
	snprintf(jc->last_dsn, sizeof(jc->last_dsn), "%s", e->dsn);
	if (jc->sts_note[0] != '\0')
		textf(jc->last_text, sizeof(jc->last_text), "%s: %s",
		    jc->sts_note, e->text);
	else
		snprintf(jc->last_text, sizeof(jc->last_text), "%s", e->text);
}

/* MTA-STS testing mode: what enforce would have refused (RFC 8461 5). */
static void
log_sts_testing(const struct agent_job *job, const char *host,
    const char *reason)
{
	log_msg(LOG_WARNING, "mta-sts-testing", "qid", job->env.qid,
	    "domain", job->domain, "mx", host, "reason", reason,
	    "action", "delivered anyway (policy mode testing)", (char *)NULL);
}

/* ---- one connection -------------------------------------------------- */

static void
log_tls_fallback(const struct agent_job *job, const struct smtp_conn *c)
{
	log_msg(LOG_WARNING, "tls-fallback", "qid", job->env.qid,
	    "relay", c->relay, "reason", c->err.text, (char *)NULL);
}

static void
log_8bit(const struct agent_job *job, const struct smtp_conn *c,
    const struct jobctx *jc)
{
	if (jc->info.eightbit && !(c->ext & EXT_8BITMIME))
		log_msg(LOG_INFO, "8bit-to-7bit-peer", "qid", job->env.qid,
		    "relay", c->relay, "action", "sent unchanged", (char *)NULL);
}

/* Run the transaction for the open recipients on c, and another for
 * those the server refused as too many (each takes at least one
 * recipient more, so this ends); keep c for the next job when everything
 * is settled, else close it.  Returns smtp_transaction's result (-1: the
 * connection broke). */
static int
transact(struct remote *r, struct jobctx *jc, struct smtp_conn *c)
{
	const struct envelope *env = &jc->job->env;
	size_t i, again;
	int rc;

	for (i = 0; i < env->nrcpts; i++)
		jc->todo[i] = open_rcpt(&jc->res[i]);
	log_8bit(jc->job, c, jc);
	for (;;) {
		rc = smtp_transaction(c, env, jc->todo, jc->job->msgfd,
		    &jc->info, jc->res);
		for (i = 0, again = 0; i < env->nrcpts; i++) {
			jc->todo[i] = jc->todo[i] && jc->res[i].status == 'T' &&
			    jc->res[i].again;
			if (jc->todo[i])
				again++;
		}
		if (rc < 0 || again == 0)
			break;
	}
	if (rc < 0)
		note_error(jc, &c->err);
	if (rc == 0 && count_open(jc) == 0) {
		r->conn = *c;
		r->have_conn = 1;
		snprintf(r->conn_domain, sizeof(r->conn_domain), "%s",
		    jc->job->domain);
		return 0;
	}
	if (rc == 0)
		smtp_quit(c);
	else
		smtp_close(c);
	return rc;
}

static void
try_address(struct remote *r, struct jobctx *jc, const char *host,
    const struct sockaddr *sa, const struct plan *pl,
    const struct hostpol *hp)
{
	struct smtp_params p = r->base;
	struct smtp_conn c;

	p.lmtp = pl->lmtp;
	p.tls = pl->unix_sock ? SMTP_TLS_NONE : hp->tls;
	if (p.tls == SMTP_TLS_DANE) {
		p.tlsa = &hp->tl;
		p.tls_name = hp->base;
		p.tls_alt_name = hp->alt[0] != '\0' ? hp->alt : NULL;
	}
	jc->attempts++;
	if (smtp_open(&c, host, sa, &p) == 0) {
		if (jc->sts_testing && !(c.tls && c.tls_res.trusted))
			log_sts_testing(jc->job, host, c.tls ? "certificate "
			    "not verified for the MX name" : "no TLS");
		if (strcmp(c.relay, jc->reused) == 0) {
			smtp_quit(&c);	/* just tried on the kept one */
			return;
		}
		(void)transact(r, jc, &c);
		return;
	}
	note_error(jc, &c.err);
	if (!c.err.tls_failed || p.tls != SMTP_TLS_MAY)
		return;
	log_tls_fallback(jc->job, &c);
	p.tls = SMTP_TLS_NONE;
	jc->attempts++;
	if (smtp_open(&c, host, sa, &p) == 0) {
		if (jc->sts_testing)
			log_sts_testing(jc->job, host, "no TLS");
		(void)transact(r, jc, &c);
	} else
		note_error(jc, &c.err);
}

/* ---- routing --------------------------------------------------------- */

static enum smtp_tls
tls_policy(enum route_tls t)
{
	switch (t) {
	case ROUTE_TLS_NONE:
		return SMTP_TLS_NONE;
	case ROUTE_TLS_ENCRYPT:
		return SMTP_TLS_ENCRYPT;
	case ROUTE_TLS_VERIFY:
		return SMTP_TLS_VERIFY;
	case ROUTE_TLS_DANE:
		return SMTP_TLS_DANE;
	default:
		return SMTP_TLS_MAY;
	}
}

/* "[192.0.2.1]" / "[IPv6:2001:db8::1]" -> "192.0.2.1" / "2001:db8::1" */
static int
domain_literal(const char *d, char *out, size_t outsz)
{
	size_t n = strlen(d);

	if (n < 3 || d[0] != '[' || d[n - 1] != ']')
		return 0;
	d++;
	n -= 2;
	if (n > 5 && strncasecmp(d, "IPv6:", 5) == 0) {
		d += 5;
		n -= 5;
	}
	if (n >= outsz)
		return 0;
	memcpy(out, d, n);
	out[n] = '\0';
	return 1;
}

static int
numeric_addr(const char *host, unsigned port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		return 1;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		return 1;
	}
	return 0;
}

static void
plan_one(struct plan *pl, const char *host)
{
	snprintf(pl->hosts[0].name, sizeof(pl->hosts[0].name), "%s", host);
	pl->hosts[0].pref = 0;
	pl->n = 1;
}

/* RFC 5321 5.1: when our own name is among the MX hosts, that host and
 * every one of equal or higher preference value are dropped; if nothing
 * is left the mail would loop back to us.  0 ok, -1 settled. */
static int
drop_self(struct remote *r, struct jobctx *jc, struct plan *pl,
    const char *name)
{
	size_t i;

	if (r->cfg->hostname == NULL)
		return 0;
	for (i = 0; i < pl->n; i++)
		if (strcasecmp(pl->hosts[i].name, r->cfg->hostname) == 0)
			break;
	if (i == pl->n)
		return 0;
	while (i > 0 && pl->hosts[i - 1].pref == pl->hosts[i].pref)
		i--;
	pl->n = i;
	if (pl->n > 0)
		return 0;
	settle_open(jc, pl->from_route ? 'T' : 'P', pl->from_route ?
	    "4.4.6" : "5.4.6", "mail for %s loops back to myself", name);
	return -1;
}

/* MX lookup for name into pl; settles the recipients and returns -1 when
 * DNS gives a final answer or a temporary failure. */
static int
plan_mx(struct remote *r, struct jobctx *jc, struct plan *pl,
    const char *name)
{
	struct mxlist mx;
	int rc;

	rc = dns_mx(&r->dns, name, &mx);
	if (pl->from_route && (rc == DNS_NXDOMAIN || rc == DNS_NODATA ||
	    rc == DNS_NULLMX))
		rc = DNS_NODATA;	/* a relay host: use its address */
	switch (rc) {
	case DNS_OK:
		memcpy(pl->hosts, mx.v, mx.n * sizeof(mx.v[0]));
		pl->n = mx.n;
		pl->by_mx = 1;
		pl->mx_secure = mx.secure;
		return drop_self(r, jc, pl, name);
	case DNS_NODATA:
		plan_one(pl, name);	/* RFC 5321 5.1: implicit MX */
		return 0;
	case DNS_NULLMX:
		settle_open(jc, 'P', "5.1.10", "Domain %s does not accept "
		    "mail (null MX)", name);
		return -1;
	case DNS_NXDOMAIN:
		settle_open(jc, 'P', "5.1.2", "Host or domain name not "
		    "found. Name service error for name=%s type=MX: Host not "
		    "found", name);
		return -1;
	default:
		settle_open(jc, 'T', "4.4.3", "Host or domain name not "
		    "found. Name service error for name=%s type=MX: Host not "
		    "found, try again", name);
		return -1;
	}
}

/* The MTA-STS policy of the job's domain, for MX deliveries (RFC 8461
 * 5.1); logged either way. */
static void
plan_sts(struct remote *r, struct jobctx *jc, struct plan *pl)
{
	const struct agent_job *job = jc->job;
	char id[MTASTS_ID_MAX + 1], why[DIAG_MAX + 1];
	const char *src = "";

	if (!r->cfg->mta_sts)
		return;
	if (mtasts_lookup(&r->sts, jc->adomain, (int64_t)time(NULL),
	    &pl->pol, &src, id, why, sizeof(why)) <= 0) {
		if (why[0] != '\0')
			log_msg(LOG_WARNING, "mta-sts", "qid", job->env.qid,
			    "domain", job->domain, "policy", "none",
			    "reason", why, (char *)NULL);
		return;
	}
	pl->sts = pl->pol.mode != MTASTS_NONE;
	log_msg(LOG_INFO, "mta-sts", "qid", job->env.qid, "domain",
	    job->domain, "policy", mtasts_mode_name(pl->pol.mode), "id", id,
	    "source", src, "reason", why[0] != '\0' ? why : "-",
	    (char *)NULL);
}

/* MX delivery to the job's domain, looked up by its A-label form. */
static int
plan_domain(struct remote *r, struct jobctx *jc, struct plan *pl)
{
	if (jc->idna_why != NULL) {
		settle_open(jc, 'P', "5.1.2", "cannot look up %s: not a valid "
		    "internationalized domain name (%s)", jc->job->domain,
		    jc->idna_why);
		return -1;
	}
	if (plan_mx(r, jc, pl, jc->adomain) < 0)
		return -1;
	plan_sts(r, jc, pl);
	return 0;
}

/* Decide where the job's mail goes.  0: pl filled; -1: settled. */
static int
make_plan(struct remote *r, struct jobctx *jc, struct plan *pl)
{
	const char *domain = jc->job->domain, *why = NULL;
	char lit[INET6_ADDRSTRLEN + 8];
	struct route rt;
	int rc;

	memset(pl, 0, sizeof(*pl));
	pl->tls = SMTP_TLS_MAY;
	pl->port = (unsigned)r->cfg->remote_port;
	if (addr_domain_valid(domain, strlen(domain), ADDR_UTF8, &why) < 0) {
		settle_open(jc, 'T', "4.3.5", "invalid destination domain "
		    "from the scheduler: %s", why);
		return -1;
	}
	/* RFC 5890: DNS knows a UTF-8 domain only by its A-labels */
	jc->idna_why = NULL;
	if (idna_domain_ascii(domain, jc->adomain, sizeof(jc->adomain),
	    &why) < 0)
		jc->idna_why = why;
	else if (strcmp(jc->adomain, domain) != 0)
		log_msg(LOG_INFO, "idna", "qid", jc->job->env.qid, "domain",
		    domain, "a_label", jc->adomain, (char *)NULL);
	rc = route_lookup(&r->routes, domain, &rt, &why);
	if (rc < 0) {
		settle_open(jc, 'T', "4.3.5", "bad routes entry for %s: %s",
		    domain, why != NULL ? why : "malformed");
		return -1;
	}
	if (rc == 0) {
		if (domain_literal(domain, lit, sizeof(lit))) {
			plan_one(pl, lit);
			return 0;
		}
		return plan_domain(r, jc, pl);
	}
	pl->tls = tls_policy(rt.tls);
	pl->from_route = rt.kind != ROUTE_MX;
	switch (rt.kind) {
	case ROUTE_LMTP_UNIX:
		pl->lmtp = 1;
		pl->unix_sock = 1;
		snprintf(pl->path, sizeof(pl->path), "%s", rt.path);
		plan_one(pl, rt.path);
		return 0;
	case ROUTE_LMTP_TCP:
		pl->lmtp = 1;
		pl->port = rt.port != 0 ? rt.port : 24;
		plan_one(pl, rt.host);
		return 0;
	case ROUTE_SMTP:
		if (rt.port != 0)
			pl->port = rt.port;
		if (rt.nomx || numeric_addr(rt.host, 0,
		    &(struct sockaddr_storage){ 0 })) {
			plan_one(pl, rt.host);
			return 0;
		}
		return plan_mx(r, jc, pl, rt.host);
	default:
		if (jc->idna_why != NULL)
			return plan_domain(r, jc, pl);	/* settles */
		if (plan_mx(r, jc, pl, jc->adomain) < 0)
			return -1;
		/* "direct": an explicit TLS policy is the administrator's */
		if (pl->tls == SMTP_TLS_MAY || pl->tls == SMTP_TLS_DANE)
			plan_sts(r, jc, pl);
		return 0;
	}
}

/* getaddrinfo() (files, then DNS) for relay hosts named in routes. */
static int
system_addrs(const char *host, unsigned port, struct addrlist *al)
{
	struct addrinfo hints, *res, *ai;
	char svc[16];

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(svc, sizeof(svc), "%u", port);
	if (getaddrinfo(host, svc, &hints, &res) != 0)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (al->n >= sizeof(al->v) / sizeof(al->v[0]))
			break;
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof(al->v[0]))
			continue;
		memset(&al->v[al->n], 0, sizeof(al->v[0]));
		memcpy(&al->v[al->n], ai->ai_addr, ai->ai_addrlen);
		al->n++;
	}
	freeaddrinfo(res);
	return al->n > 0 ? 0 : -1;
}

/* Addresses of one host; 0 with at least one address, -1 none. */
static int
host_addrs(struct remote *r, struct jobctx *jc, const struct plan *pl,
    const char *host, struct addrlist *al)
{
	int rc;

	al->n = 0;
	al->secure = 0;
	al->cname[0] = '\0';
	if (numeric_addr(host, pl->port, &al->v[0])) {
		/* an MX names a host, never an address (RFC 5321 5.1):
		 * such a record is skipped, as Postfix does */
		if (pl->by_mx) {
			log_msg(LOG_WARNING, "mx_numeric", "host", host,
			    "reason", "an address where an MX needs a host "
			    "name: skipped", (char *)NULL);
			snprintf(jc->last_dsn, sizeof(jc->last_dsn), "5.4.4");
			textf(jc->last_text, sizeof(jc->last_text), "MX host "
			    "%s of %s is an address, not a host name (RFC "
			    "5321 5.1)", host, jc->job->domain);
			return -1;
		}
		al->n = 1;
		return 0;
	}
	rc = dns_addrs(&r->dns, host, pl->port, al);
	if (rc == DNS_OK)
		return 0;
	/* a relay host from routes may live in /etc/hosts ("localhost") */
	if (pl->from_route && rc != DNS_TEMP && rc != DNS_BAD &&
	    system_addrs(host, pl->port, al) == 0)
		return 0;
	if (rc == DNS_TEMP || rc == DNS_BAD)
		jc->dns_temp = 1;
	snprintf(jc->last_dsn, sizeof(jc->last_dsn), "%s",
	    rc == DNS_TEMP || rc == DNS_BAD ? "4.4.3" : "4.4.4");
	snprintf(jc->last_text, sizeof(jc->last_text), "Host or domain "
	    "name not found. Name service error for name=%s type=AAAA/A: %s",
	    host, rc == DNS_TEMP || rc == DNS_BAD ? "Host not found, try "
	    "again" : rc == DNS_NXDOMAIN ? "Host not found" :
	    "no address records");
	return -1;
}

/* RFC 7672 for one host: DANE when the MX answer (when there is one),
 * the host's address records and the TLSA answer are all authenticated
 * and TLSA records exist; mandatory unauthenticated TLS when they exist
 * but none is usable; opportunistic TLS when there are none or any of the
 * answers is not authenticated.  For a host that is an alias (its
 * authenticated address answer went through CNAME records) the TLSA
 * records are looked up at the name it leads to first, and only if there
 * are none there at the host's own name (RFC 7672 2.2.2); both names are
 * reference identifiers, the one with the records first.  -1: a TLSA
 * lookup failed, the host must not be used. */
static int
dane_policy(struct remote *r, struct jobctx *jc, const struct plan *pl,
    const char *host, const struct addrlist *al, struct hostpol *hp)
{
	const char *names[2];
	size_t n = 0, i;
	int rc;

	hp->tls = pl->tls;
	hp->tl.n = hp->tl.seen = 0;
	hp->tl.secure = 0;
	hp->base[0] = hp->alt[0] = '\0';
	if (pl->tls != SMTP_TLS_DANE)
		return 0;
	hp->tls = SMTP_TLS_MAY;
	if (pl->by_mx && !pl->mx_secure)
		return 0;	/* insecure MX: DANE does not apply */
	/* RFC 7672 2.2: nor with insecure address records (a [host]
	 * route, an implicit MX or an MX host alike); an IP address from
	 * routes has none at all */
	if (!al->secure)
		return 0;
	if (al->cname[0] != '\0')
		names[n++] = al->cname;
	names[n++] = host;
	for (i = 0; i < n; i++) {
		rc = dns_tlsa(&r->dns, names[i], pl->port, &hp->tl);
		if (rc == DNS_NODATA || rc == DNS_NXDOMAIN)
			continue;
		if (rc != DNS_OK) {
			snprintf(jc->last_dsn, sizeof(jc->last_dsn), "4.7.5");
			textf(jc->last_text, sizeof(jc->last_text), "TLSA "
			    "lookup for _%u._tcp.%s failed", pl->port,
			    names[i]);
			return -1;
		}
		if (!hp->tl.secure)
			continue;	/* not authenticated: as if none */
		hp->tls = hp->tl.n > 0 ? SMTP_TLS_DANE : SMTP_TLS_ENCRYPT;
		snprintf(hp->base, sizeof(hp->base), "%s", names[i]);
		if (n == 1)
			return 0;
		snprintf(hp->alt, sizeof(hp->alt), "%s", names[1 - i]);
		log_msg(LOG_INFO, "dane", "qid", jc->job->env.qid, "host",
		    host, "cname", al->cname, "tlsa_base", hp->base,
		    (char *)NULL);
		return 0;
	}
	hp->tl.n = hp->tl.seen = 0;
	return 0;
}

/* MTA-STS for one MX host: -1 when an enforced policy rules it out. */
static int
sts_host(struct jobctx *jc, const struct plan *pl, const char *host)
{
	if (!pl->sts || mtasts_mx_match(&pl->pol, host))
		return 0;
	if (pl->pol.mode == MTASTS_TESTING) {
		log_sts_testing(jc->job, host, "MX host not in the policy");
		return 0;
	}
	if (jc->last_dsn[0] == '\0') {	/* keep a real host's error */
		snprintf(jc->last_dsn, sizeof(jc->last_dsn), "4.7.5");
		textf(jc->last_text, sizeof(jc->last_text), "MX host %s does "
		    "not match the MTA-STS policy of %s (mode enforce)", host,
		    jc->job->domain);
	}
	log_msg(LOG_WARNING, "mta-sts", "qid", jc->job->env.qid, "domain",
	    jc->job->domain, "mx", host, "action", "skipped (not in the "
	    "enforced policy)", (char *)NULL);
	return -1;
}

/* MTA-STS TLS requirements for one host whose DANE status is known:
 * DANE, where it applies, takes precedence (RFC 8461 2); enforce needs
 * TLS with a certificate valid for the MX name (4.7.x otherwise, never a
 * plaintext retry); testing reports what enforce would refuse. */
static void
sts_tls(struct jobctx *jc, const struct plan *pl, const char *host,
    struct hostpol *hp)
{
	if (!pl->sts || hp->tls == SMTP_TLS_DANE)
		return;
	if (pl->pol.mode == MTASTS_TESTING) {
		jc->sts_testing = 1;
		return;
	}
	hp->tls = SMTP_TLS_VERIFY;
	textf(jc->sts_note, sizeof(jc->sts_note), "MTA-STS policy of %s "
	    "(mode enforce) for MX host %s", jc->job->domain, host);
}

static void
run_plan(struct remote *r, struct jobctx *jc, const struct plan *pl)
{
	static struct hostpol hp;
	struct addrlist al;
	struct sockaddr_un sun;
	size_t h, a;
	int any_addr = 0;

	if (pl->unix_sock) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", pl->path);
		memset(&hp, 0, sizeof(hp));
		hp.tls = SMTP_TLS_NONE;
		try_address(r, jc, pl->path, (struct sockaddr *)&sun, pl, &hp);
		return;
	}
	for (h = 0; h < pl->n && count_open(jc) > 0; h++) {
		if (host_addrs(r, jc, pl, pl->hosts[h].name, &al) < 0)
			continue;
		any_addr = 1;
		if (dane_policy(r, jc, pl, pl->hosts[h].name, &al, &hp) < 0)
			continue;
		/* DANE, where it applies, takes precedence (RFC 8461 2) */
		if (hp.tls != SMTP_TLS_DANE && sts_host(jc, pl,
		    pl->hosts[h].name) < 0)
			continue;
		sts_tls(jc, pl, pl->hosts[h].name, &hp);
		for (a = 0; a < al.n && count_open(jc) > 0; a++) {
			if (jc->attempts >= REMOTE_MAX_ATTEMPTS)
				break;
			try_address(r, jc, pl->hosts[h].name,
			    (struct sockaddr *)&al.v[a], pl, &hp);
		}
		jc->sts_note[0] = '\0';
		jc->sts_testing = 0;
		if (jc->attempts >= REMOTE_MAX_ATTEMPTS)
			return;
	}
	/* an MX the enforced policy does not name is never used (RFC 8461
	 * 5); the open recipients are deferred with the last error */
	if (any_addr || jc->dns_temp)
		return;
	/* no host has any address, and DNS said so definitively; for a
	 * routes entry that is the administrator's mistake: defer */
	if (pl->from_route)
		settle_open(jc, 'T', "4.4.4", "%s (routes)", jc->last_text);
	else
		settle_open(jc, 'P', pl->by_mx ? "5.4.4" : "5.1.2", "%s",
		    jc->last_text);
}

/* ---- the connection kept from the last job ---------------------------- */

/* Close the kept connection, and say why it was not used. */
static void
drop_kept(struct remote *r, struct jobctx *jc, const char *why)
{
	log_msg(LOG_INFO, "conn-reuse", "qid", jc->job->env.qid, "domain",
	    jc->job->domain, "relay", r->conn.relay, "action", "closed",
	    "reason", why, (char *)NULL);
	r->have_conn = 0;
	smtp_quit(&r->conn);
}

/* Where in the plan the kept connection's host is; pl->n: nowhere (the
 * route, the MX records or the port changed since it was made). */
static size_t
kept_host(const struct remote *r, const struct plan *pl)
{
	const struct smtp_conn *c = &r->conn;
	size_t h;

	if (c->p.lmtp != pl->lmtp || c->port != (pl->unix_sock ? 0 : pl->port))
		return pl->n;
	for (h = 0; h < pl->n; h++)
		if (strcasecmp(pl->hosts[h].name, c->host) == 0)
			break;
	return h;
}

/*
 * The connection kept from the last job to this domain carries this job
 * only if it meets this job's TLS policy, computed afresh: the routes,
 * the MX records, the DNSSEC status, the TLSA records and the MTA-STS
 * policy may all have changed since it was made (a first MTA-STS policy
 * in enforce mode, say, while the connection was opportunistic).  The
 * host must still be one of the plan's, allowed by an enforced MTA-STS
 * policy, and the connection made under a policy at least as strict as
 * the host's now (smtp_conn_satisfies).  Otherwise it is closed and the
 * plan starts with new connections.
 */
static void
reuse_kept(struct remote *r, struct jobctx *jc, const struct plan *pl)
{
	static struct hostpol hp;
	struct smtp_conn *c = &r->conn;
	struct addrlist al;
	char why[DIAG_MAX + 1];
	const char *unmet;
	size_t h;

	h = kept_host(r, pl);
	if (h == pl->n) {
		textf(why, sizeof(why), "%s is not a host for %s now",
		    c->host, jc->job->domain);
		drop_kept(r, jc, why);
		return;
	}
	memset(&hp, 0, sizeof(hp));
	hp.tls = pl->unix_sock ? SMTP_TLS_NONE : pl->tls;
	if (hp.tls == SMTP_TLS_DANE && (host_addrs(r, jc, pl, c->host,
	    &al) < 0 || dane_policy(r, jc, pl, c->host, &al, &hp) < 0)) {
		textf(why, sizeof(why), "the TLS policy of %s cannot be "
		    "determined now", c->host);
		drop_kept(r, jc, why);
		return;
	}
	/* DANE, where it applies, takes precedence (RFC 8461 2) */
	if (hp.tls != SMTP_TLS_DANE && pl->sts &&
	    pl->pol.mode == MTASTS_ENFORCE && !mtasts_mx_match(&pl->pol,
	    c->host)) {
		textf(why, sizeof(why), "%s is not in the enforced MTA-STS "
		    "policy of %s", c->host, jc->job->domain);
		drop_kept(r, jc, why);
		return;
	}
	if (!pl->unix_sock)
		sts_tls(jc, pl, c->host, &hp);
	if (!smtp_conn_satisfies(c, hp.tls, hp.tls == SMTP_TLS_DANE ?
	    hp.base : c->host, hp.alt[0] != '\0' ? hp.alt : NULL, &hp.tl,
	    &unmet)) {
		textf(why, sizeof(why), "TLS policy %s: %s",
		    smtp_tls_name(hp.tls), unmet);
		drop_kept(r, jc, why);
		jc->sts_note[0] = '\0';
		jc->sts_testing = 0;
		return;
	}
	r->have_conn = 0;
	if (smtp_rset(c) == 0) {
		log_msg(LOG_DEBUG, "conn-reuse", "qid", jc->job->env.qid,
		    "domain", jc->job->domain, "relay", c->relay, "action",
		    "reused", "tls", smtp_tls_name(hp.tls), (char *)NULL);
		if (jc->sts_testing && !(c->tls && c->tls_res.trusted))
			log_sts_testing(jc->job, c->host, c->tls ?
			    "certificate not verified for the MX name" :
			    "no TLS");
		/* a host that answered on the kept connection is not asked
		 * again at once; one whose connection broke is */
		snprintf(jc->reused, sizeof(jc->reused), "%s", c->relay);
		if (transact(r, jc, c) < 0)
			jc->reused[0] = '\0';
	} else
		smtp_quit(c);
	jc->sts_note[0] = '\0';
	jc->sts_testing = 0;
}

/* ---- reporting ------------------------------------------------------- */

static void
log_result(const struct agent_job *job, size_t i, const struct rres *x)
{
	struct logline l;
	struct timespec now;
	double delay = 0;

	clock_gettime(CLOCK_REALTIME, &now);
	if (job->env.arrival > 0)
		delay = (double)now.tv_sec - (double)job->env.arrival +
		    (double)now.tv_nsec / 1e9;
	if (delay < 0)
		delay = 0;
	log_begin(&l, x->status == 'D' ? LOG_INFO : LOG_WARNING, "delivery");
	log_add(&l, "qid", job->env.qid != NULL ? job->env.qid : "");
	log_addf(&l, "to", "<%s>", job->env.rcpts[i].addr);
	log_add(&l, "relay", x->relay[0] != '\0' ? x->relay : "none");
	log_addf(&l, "delay", "%.2f", delay);
	log_add(&l, "tls", x->tls[0] != '\0' ? x->tls : "none");
	log_add(&l, "dsn", x->dsn);
	log_add(&l, "status", x->status == 'D' ? "sent" :
	    x->status == 'P' ? "bounced" : "deferred");
	log_add(&l, "reply", x->text);
	log_end(&l);
}

static int
report(struct stream *ctl, const struct agent_job *job, struct jobctx *jc)
{
	struct rres *x;
	size_t i;
	char cls;

	for (i = 0; i < job->env.nrcpts; i++) {
		x = &jc->res[i];
		if (x->status == 0) {
			x->status = 'T';
			snprintf(x->dsn, sizeof(x->dsn), "%s",
			    jc->last_dsn[0] != '\0' ? jc->last_dsn : "4.4.1");
			snprintf(x->text, sizeof(x->text), "%s",
			    jc->last_text[0] != '\0' ? jc->last_text :
			    "no mail host could be reached");
		}
		/* the scheduler insists on a matching class */
		cls = x->status == 'D' ? '2' : x->status == 'T' ? '4' : '5';
		if (x->dsn[0] != cls)
			dsn_with_class(x->dsn, cls, x->dsn);
		log_result(job, i, x);
		if (agent_report(ctl, job, i, x->status, x->dsn, x->text,
		    x->relay[0] != '\0' ? x->relay : NULL) < 0)
			return -1;
	}
	return agent_job_done(ctl);
}

int
remote_job(struct remote *r, struct stream *ctl, const struct agent_job *job)
{
	struct jobctx jc;
	struct plan pl;
	int rc;

	memset(&jc, 0, sizeof(jc));
	jc.job = job;
	jc.res = xcalloc_array(job->env.nrcpts ? job->env.nrcpts : 1,
	    sizeof(*jc.res));
	jc.todo = xcalloc_array(job->env.nrcpts ? job->env.nrcpts : 1,
	    sizeof(*jc.todo));
	if (jc.res == NULL || jc.todo == NULL) {
		free(jc.res);
		free(jc.todo);
		return -1;
	}
	if (body_scan(job->msgfd, job->msgsize, &jc.info) < 0) {
		/* 'T' still counts as open: report without touching the
		 * network instead of sending a message we cannot read */
		settle_open(&jc, 'T', "4.3.0", "cannot read the message file");
		goto done;
	}
	if (count_open(&jc) > 0 && r->have_conn &&
	    strcasecmp(r->conn_domain, job->domain) != 0) {
		r->have_conn = 0;
		smtp_quit(&r->conn);
	}
	if (count_open(&jc) > 0) {
		if (make_plan(r, &jc, &pl) == 0) {
			if (r->have_conn)
				reuse_kept(r, &jc, &pl);
			if (count_open(&jc) > 0)
				run_plan(r, &jc, &pl);
		} else if (r->have_conn)
			drop_kept(r, &jc, "the job was settled without a "
			    "connection");
	}
done:
	rc = report(ctl, job, &jc);
	free(jc.res);
	free(jc.todo);
	return rc;
}
