/*
 * test_queue_client.c — a command-line client of the injection protocol
 * for the queue's end-to-end tests, built on common/qclient.c (built by
 * queue/module.mk as build/queue-test/qclient):
 *   qclient SOCKET inject SENDER RCPT...  < message
 *           prints "CODE DSN QID TEXT" and exits 0 for 2xx, 1 otherwise
 *           (RCPT may end in ":SUCCESS" etc. for NOTIFY, and start
 *           with "\\" for the own-mailbox mark)
 *   qclient SOCKET flush [DOMAIN]     qclient SOCKET list
 * Envelope fields a real client sets are filled with fixed test values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/qclient.h"

static int
inject(const char *sock, int argc, char **argv)
{
	struct envelope e;
	struct qresult res;
	struct qclient *q;
	struct buf err = BUF_INIT;
	char b[65536], rcpt[600], *colon;
	unsigned notify;
	ssize_t n;
	long k;
	int i;
	bool own;

	envelope_init(&e);
	if (envelope_set_sender(&e, argv[0]) == -1)
		return 2;
	for (i = 1; i < argc; i++) {
		own = argv[i][0] == '\\';
		snprintf(rcpt, sizeof(rcpt), "%s", argv[i] + own);
		notify = 0;
		colon = strchr(rcpt, ':');
		if (colon != NULL) {
			*colon = '\0';
			if (notify_parse(colon + 1, &notify) == -1)
				return 2;
		}
		k = envelope_add_rcpt(&e, rcpt, notify, NULL);
		if (k == -1) {
			fprintf(stderr, "bad recipient %s\n", rcpt);
			return 2;
		}
		e.rcpts[k].own_mailbox = own;
	}
	envelope_set_str(&e.client_addr, "127.0.0.1");
	envelope_set_str(&e.client_helo, "client.test");
	envelope_set_str(&e.protocol, "ESMTP");
	e.uid = 4242;		/* the queue must overwrite this */
	q = qclient_open(sock, &err);
	if (q == NULL) {
		printf("open failed: %s\n", buf_str(&err));
		buf_free(&err);
		envelope_free(&e);
		return 1;
	}
	qclient_envelope(q, &e);
	while ((n = read(0, b, sizeof(b))) > 0)
		if (qclient_write(q, b, (size_t)n) == -1)
			break;
	i = qclient_finish(q, &res);
	printf("%d %s %s %s\n", res.code, res.dsn,
	    res.qid[0] != '\0' ? res.qid : "-", res.text);
	envelope_free(&e);
	return i == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	struct buf err = BUF_INIT;

	if (argc >= 5 && strcmp(argv[2], "inject") == 0)
		return inject(argv[1], argc - 3, argv + 3);
	if (argc >= 3 && strcmp(argv[2], "flush") == 0) {
		if (qclient_flush(argv[1], argc > 3 ? argv[3] : NULL, &err) !=
		    0) {
			printf("flush failed: %s\n", buf_str(&err));
			buf_free(&err);
			return 1;
		}
		printf("flushed\n");
		return 0;
	}
	if (argc == 3 && strcmp(argv[2], "list") == 0) {
		if (qclient_list(argv[1], stdout, &err) == -1) {
			printf("list failed: %s\n", buf_str(&err));
			buf_free(&err);
			return 1;
		}
		return 0;
	}
	fprintf(stderr, "usage: qclient SOCKET inject|flush|list ...\n");
	return 2;
}
