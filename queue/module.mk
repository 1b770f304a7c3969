# queue/module.mk — posthorn-queue (injector) and posthorn-send
# (scheduler); the spool record code and the scheduler's pieces go into the
# queue library for the unit tests and fuzz targets.
PROGRAMS += posthorn-queue posthorn-send
posthorn-queue_MAIN := queue/qmain.c
posthorn-send_MAIN := queue/smain.c
queue_SRCS += queue/spool.c queue/inject.c queue/index.c queue/policy.c \
	queue/sched.c queue/agents.c queue/recover.c
