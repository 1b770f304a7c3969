# queue/module.mk — posthorn-queue (injector) and posthorn-send
# (scheduler); the spool record code and the scheduler's pieces go into the
# queue library for the unit tests and fuzz targets.
PROGRAMS += posthorn-queue posthorn-send
posthorn-queue_MAIN := queue/qmain.c
posthorn-send_MAIN := queue/smain.c
queue_SRCS += queue/spool.c queue/inject.c queue/index.c queue/policy.c \
	queue/sched.c queue/agents.c queue/recover.c queue/closer.c \
	queue/notify.c

# Test helpers for tests/e2e/test_queue_*: a fake delivery agent and a
# command-line queue client (common/ only).
QUEUE_TEST_BINS := build/queue-test/fakeagent build/queue-test/qclient
all: $(QUEUE_TEST_BINS)
build/queue-test/fakeagent: tests/e2e/test_queue_fakeagent.c build/common/lib.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)
build/queue-test/qclient: tests/e2e/test_queue_client.c build/common/lib.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)
