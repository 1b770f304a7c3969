# queue/frontend.mk — the user-facing programs of queue/: the sendmail
# front end (also installed as mailq and newaliases) and posthorn-run, the
# foreground launcher of a whole instance.  Helper sources shared with the
# unit tests go into the queue library: queue_SRCS is only appended to
# here, so queue/module.mk must append too (or assign before this file).

PROGRAMS += sendmail posthorn-run
sendmail_MAIN := queue/sendmail.c
posthorn-run_MAIN := queue/run.c
queue_SRCS += queue/sendmail_msg.c queue/sendmail_verify.c queue/run_net.c \
	queue/run_proc.c

# mailq and newaliases are sendmail under another name (argv[0]).
all: bin/mailq bin/newaliases
bin/mailq bin/newaliases: bin/sendmail
	ln -sf sendmail $@
