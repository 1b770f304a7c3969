# local/ — posthorn-local, the local delivery agent (issue 5).
PROGRAMS += posthorn-local
posthorn-local_MAIN := local/main.c
local_SRCS := local/deliver.c local/expand.c local/forward.c \
	local/maildir.c local/mbox.c local/message.c local/program.c \
	local/result.c
