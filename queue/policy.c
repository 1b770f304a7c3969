/*
 * policy.c — per-message decisions of the scheduler (policy.h).  Works on
 * a decoded spool record only; agent results reach it already validated
 * by agent_result_decode().
 */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/agent.h"
#include "queue/policy.h"

bool
policy_deliverable(const struct spool_rec *r, size_t i)
{
	return r->env.rcpts[i].state == RCPT_PENDING ||
	    r->env.rcpts[i].state == RCPT_DEFERRED;
}

const char *
policy_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at != NULL ? at + 1 : "";
}

int
policy_apply_delivery(struct spool_rec *r, size_t i, char status,
    const char *dsn, const char *text, const char *relay, int64_t now)
{
	struct rcpt *rc = &r->env.rcpts[i];

	if (!policy_deliverable(r, i))
		return -1;
	switch (status) {
	case 'D':
		rc->state = RCPT_DELIVERED;
		/* NOTIFY=SUCCESS is ours to honour unless the next server took
		 * the DSN request over (RFC 3461 §4.2; posthorn-remote says so
		 * at the start of the text, which peers cannot forge). */
		if ((rc->notify & NOTIFY_SUCCESS) && (text == NULL ||
		    strncmp(text, AGENT_TEXT_DSN_PASSED,
		    strlen(AGENT_TEXT_DSN_PASSED)) != 0))
			r->owed[i] = OWED_SUCCESS;
		break;
	case 'T':
		rc->state = RCPT_DEFERRED;
		break;
	case 'P':
		rc->state = RCPT_FAILED;
		r->owed[i] = OWED_FAILURE;
		break;
	default:
		return -1;
	}
	snprintf(rc->dsn, sizeof(rc->dsn), "%s", dsn);
	rc->attempts++;
	rc->last_attempt = now;
	if (envelope_set_str(&rc->diag, text[0] != '\0' ? text : NULL) == -1 ||
	    envelope_set_str(&rc->remote_mta,
	    relay != NULL && relay[0] != '\0' ? relay : NULL) == -1)
		return -1;
	return 0;
}

void
policy_apply_notice(struct spool_rec *r, enum agent_kind_of_job kind,
    size_t i, char status)
{
	/* 'D' queued (or deliberately dropped), 'P' never possible: either
	 * way nothing is owed any more; 'T' tries again later. */
	if (status == 'T')
		return;
	if (kind == JOB_BOUNCE_DELAYED)
		r->warned = 1;
	else if (kind == JOB_BOUNCE_FAILED && r->owed[i] == OWED_FAILURE)
		r->owed[i] = OWED_NONE;
	else if (kind == JOB_BOUNCE_SUCCESS && r->owed[i] == OWED_SUCCESS)
		r->owed[i] = OWED_NONE;
}

size_t
policy_expire(struct spool_rec *r, int64_t now, uint64_t lifetime)
{
	struct buf t = BUF_INIT;
	size_t i, n = 0;

	if (now - r->env.arrival < (int64_t)lifetime)
		return 0;
	for (i = 0; i < r->env.nrcpts; i++) {
		struct rcpt *rc = &r->env.rcpts[i];

		if (rc->state != RCPT_DEFERRED)
			continue;
		buf_reset(&t);
		buf_printf(&t, "delivery time expired%s%s",
		    rc->diag != NULL ? ": " : "",
		    rc->diag != NULL ? rc->diag : "");
		rc->state = RCPT_FAILED;
		snprintf(rc->dsn, sizeof(rc->dsn), "4.4.7");
		(void)envelope_set_str(&rc->diag, buf_str(&t));
		r->owed[i] = OWED_FAILURE;
		n++;
	}
	buf_free(&t);
	return n;
}

bool
policy_delay_due(const struct spool_rec *r, int64_t now,
    uint64_t delay_warning)
{
	size_t i;

	if (delay_warning == 0 || r->warned ||
	    now - r->env.arrival < (int64_t)delay_warning)
		return false;
	for (i = 0; i < r->env.nrcpts; i++)
		if (r->env.rcpts[i].state == RCPT_DEFERRED)
			return true;
	return false;
}

bool
policy_done(const struct spool_rec *r)
{
	size_t i;

	for (i = 0; i < r->env.nrcpts; i++)
		if (policy_deliverable(r, i) || r->owed[i] != OWED_NONE)
			return false;
	return true;
}

int64_t
policy_next_try(const struct spool_rec *r, int64_t now, uint64_t retry_min,
    uint64_t retry_max, uint64_t rnd)
{
	uint32_t attempts = 0;
	size_t i;
	bool deferred = false;

	for (i = 0; i < r->env.nrcpts; i++)
		if (policy_deliverable(r, i)) {
			deferred = true;
			if (r->env.rcpts[i].attempts > attempts)
				attempts = r->env.rcpts[i].attempts;
		}
	if (!deferred)	/* only notices owed: retry them at the minimum */
		return now + (int64_t)sched_backoff(retry_min, retry_max, 1,
		    rnd);
	return now + (int64_t)sched_backoff(retry_min, retry_max,
	    attempts == 0 ? 1 : attempts, rnd);
}
