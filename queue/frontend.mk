# queue/frontend.mk — the user-facing programs of queue/: the sendmail
# front end (also installed as mailq and newaliases) and posthorn-run, the
# foreground launcher of a whole instance.  Helper sources shared with the
# unit tests go into the queue library (queue_SRCS is appended to, never
# replaced, so queue/module.mk may be included before or after this file).

PROGRAMS += posthorn-run
posthorn-run_MAIN := queue/run.c
