/*
 * notify.h — posthorn-send's messages to its service manager (READY=1,
 * RELOADING=1, STOPPING=1, WATCHDOG=1, STATUS=…), and the spawner's
 * relay of them.
 *
 * posthorn-send.service allows notifications from its main process only
 * (NotifyAccess=main): every delivery agent and every |program a delivery
 * runs is in the same cgroup and must not be able to say STOPPING=1,
 * MAINPID= or WATCHDOG=trigger.  The main process is posthorn-spawn, so
 * the spawner hands the scheduler one end of a private SOCK_SEQPACKET
 * pair (named by POSTHORN_NOTIFY_FD) and relays what arrives on the other,
 * restricted to the five messages above (notify_relayable).  Without a
 * spawner the scheduler sends to $NOTIFY_SOCKET itself.
 */
#ifndef POSTHORN_NOTIFY_H
#define POSTHORN_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NOTIFY_FD_ENV	"POSTHORN_NOTIFY_FD"
#define NOTIFY_LINE_MAX	256	/* longest message relayed */

/* Take POSTHORN_NOTIFY_FD or NOTIFY_SOCKET, and WATCHDOG_USEC (if meant
 * for us: WATCHDOG_PID unset or ours), from the environment and remove
 * all of them, so that no agent inherits them.  -1: POSTHORN_NOTIFY_FD is
 * set but names no open descriptor. */
int notify_init(void);

/* Send text; wait = block while the receiver's queue is full (READY=1
 * and the like), else drop it then (STATUS=). */
void notify_send(const char *text, bool wait);

/* In the spawner: send text on to $NOTIFY_SOCKET without ever blocking
 * for long (the spawner serves every delivery): a full queue drops it,
 * or, if important (READY=1, STOPPING=1, RELOADING=1), drops it after a
 * second of retries. */
void notify_relay_send(const char *text, bool important);

/* WATCHDOG_USEC as notify_init() found it; 0 = no watchdog. */
uint64_t notify_watchdog_usec(void);

/* One line (without its newline) the spawner may pass on to the service
 * manager: exactly READY=1, RELOADING=1, STOPPING=1, WATCHDOG=1, or
 * STATUS= with printable ASCII, at most NOTIFY_LINE_MAX octets in all. */
bool notify_relayable(const char *line, size_t n);

#endif
