# queue/spawn.mk — posthorn-spawn, the root local-delivery spawner (issue 5).
PROGRAMS += posthorn-spawn
posthorn-spawn_MAIN := queue/spawn.c
