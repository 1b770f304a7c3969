# queue/module.mk — posthorn-queue (injector) and posthorn-send
# (scheduler); the spool record code and the scheduler's pieces go into the
# queue library for the unit tests and fuzz targets.
PROGRAMS += posthorn-queue
posthorn-queue_MAIN := queue/qmain.c
queue_SRCS += queue/spool.c queue/inject.c
