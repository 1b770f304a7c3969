/*
 * deliver.h — one posthorn-remote delivery job: route the destination
 * domain (routes table, else DNS MX with A/AAAA fallback), try its hosts
 * in order until every recipient has a final answer or the hosts run out,
 * report one result per recipient to the scheduler and log it.  The last
 * connection stays open for the scheduler's next job to the same domain,
 * which uses it only if it meets that job's TLS policy.
 */
#ifndef POSTHORN_REMOTE_DELIVER_H
#define POSTHORN_REMOTE_DELIVER_H

#include "common/agent.h"
#include "common/config.h"
#include "common/io.h"
#include "common/table.h"
#include "remote/dns.h"
#include "remote/mtasts.h"
#include "remote/smtp.h"

#define REMOTE_MAX_ATTEMPTS	10	/* connections per job */

struct remote {
	const struct config *cfg;
	struct table routes;
	SSL_CTX *ctx;
	struct dns dns;
	struct mtasts sts;		/* MTA-STS policies (RFC 8461) */
	struct smtp_params base;
	struct smtp_conn conn;		/* kept for the next job */
	int have_conn;
	char conn_domain[256];
};

/* 0 ok; -1 with err (bad routes file, resolver or TLS setup). */
int remote_init(struct remote *r, const struct config *cfg, struct buf *err);
/* QUIT a kept connection and free everything. */
void remote_free(struct remote *r);
/* Close a kept connection (the scheduler has been idle). */
void remote_idle(struct remote *r);
/* Deliver one job, report every recipient and send the done frame.
 * 0 ok, -1 when the control connection failed. */
int remote_job(struct remote *r, struct stream *ctl,
    const struct agent_job *job);

#endif
