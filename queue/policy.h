/*
 * policy.h — posthorn-send's decisions about one message, as pure
 * functions on its spool record (no I/O), so they can be unit-tested:
 * applying agent results, expiry, delay notices, when a message is done,
 * and when to try again.
 */
#ifndef POSTHORN_QUEUE_POLICY_H
#define POSTHORN_QUEUE_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "common/agent.h"
#include "queue/spool.h"

/* Pending or deferred: still to be delivered. */
bool policy_deliverable(const struct spool_rec *r, size_t i);
/* The domain of an address (after the last '@'; "" if none). */
const char *policy_domain(const char *addr);
/* Record a delivery agent's result for recipient i (status D/T/P). */
int policy_apply_delivery(struct spool_rec *r, size_t i, char status,
    const char *dsn, const char *text, const char *relay, int64_t now);
/* Record posthorn-bounce's result for recipient i of a notice job. */
void policy_apply_notice(struct spool_rec *r, enum agent_kind_of_job kind,
    size_t i, char status);
/* Deferred recipients of a message older than lifetime become permanent
 * failures (dsn 4.4.7, failure notice owed).  Returns how many. */
size_t policy_expire(struct spool_rec *r, int64_t now, uint64_t lifetime);
/* Is a delay notice owed now (delay_warning 0 = never)? */
bool policy_delay_due(const struct spool_rec *r, int64_t now,
    uint64_t delay_warning);
/* Every recipient delivered or failed and no notice owed. */
bool policy_done(const struct spool_rec *r);
/* When to try again (seconds since the epoch). */
int64_t policy_next_try(const struct spool_rec *r, int64_t now,
    uint64_t retry_min, uint64_t retry_max, uint64_t rnd);

#endif
