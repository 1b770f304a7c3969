# posthorn — hand-written Makefile.
#
# Every program lands in bin/.  Components (smtpd queue local remote bounce)
# describe their programs in DIR/module.mk:
#
#   PROGRAMS += posthorn-smtpd
#   posthorn-smtpd_MAIN := smtpd/main.c      (the file holding main())
#   smtpd_SRCS := smtpd/session.c ...        (everything else; linked into
#                                              build/smtpd/lib.a, also used by
#                                              unit tests and fuzz targets)
#
# common/*.c is the shared library build/common/lib.a.
# tests/unit/test_*.c are libcheck suites; tests/fuzz/fuzz_*.c libFuzzer
# targets; tests/e2e/test_* end-to-end tests run by tests/e2e/run-all.

PREFIX     ?= /usr/local
DESTDIR    ?=
LIBEXECDIR ?= $(PREFIX)/libexec/posthorn
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR    ?= $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
SYSUSERSDIR ?= $(shell pkg-config --variable=sysusersdir systemd 2>/dev/null || echo /usr/lib/sysusers.d)
TMPFILESDIR ?= $(shell pkg-config --variable=tmpfilesdir systemd 2>/dev/null || echo /usr/lib/tmpfiles.d)

CC      ?= cc
PKGS    := libsystemd openssl libidn2
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs check 2>/dev/null)

WARN    := -Wall -Wextra -Wformat=2 -Wshadow -Wconversion -Wno-sign-conversion \
           -Wstrict-prototypes -Wmissing-prototypes -Wvla -Werror
HARDEN  := -D_FORTIFY_SOURCE=3 -fstack-protector-strong -fPIE
CFLAGS  ?= -O2 -g
ALL_CFLAGS := -std=c17 -D_GNU_SOURCE $(WARN) $(HARDEN) $(CFLAGS) -I. $(PKG_CFLAGS)
LDFLAGS ?=
ALL_LDFLAGS := -pie -Wl,-z,relro,-z,now -Wl,--as-needed $(LDFLAGS)
LIBS    := $(PKG_LIBS) -lcrypt -lresolv

SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CC   ?= clang
FUZZ_FLAGS := -std=c17 -D_GNU_SOURCE -g -O1 -I. $(PKG_CFLAGS) \
              -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
              -DPOSTHORN_FUZZ
FUZZ_SECONDS ?= 10

COMPONENTS := smtpd queue local remote bounce
PROGRAMS :=
include $(sort $(wildcard $(addsuffix /*.mk,$(COMPONENTS))))

COMMON_SRCS := $(sort $(wildcard common/*.c))
UNIT_SRCS   := $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRCS   := $(sort $(wildcard tests/fuzz/fuzz_*.c))
UNIT_HELPERS := $(filter-out $(UNIT_SRCS),$(sort $(wildcard tests/unit/*.c)))

# Component libraries, in link order (components may use common, not each other).
COMP_LIBS      := $(foreach c,$(COMPONENTS),$(if $($(c)_SRCS),build/$(c)/lib.a))

BINS := $(addprefix bin/,$(PROGRAMS))
UNIT_BINS      := $(patsubst tests/unit/%.c,build/tests/%,$(UNIT_SRCS))
UNIT_BINS_ASAN := $(patsubst tests/unit/%.c,build-asan/tests/%,$(UNIT_SRCS))
FUZZ_BINS      := $(patsubst tests/fuzz/%.c,build-fuzz/%,$(FUZZ_SRCS))

.PHONY: all check unit unit-asan e2e e2e-valgrind fuzz fuzz-run run install uninstall deps \
        deps-check clean bench lint
.DEFAULT_GOAL := all

all: $(BINS)

# ---- objects -------------------------------------------------------------
build/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

build-asan/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -O1 -MMD -MP -c $< -o $@

build-fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -MMD -MP -c $< -o $@

build/common/lib.a: $(COMMON_SRCS:%.c=build/%.o)
	@rm -f $@
	ar rcs $@ $^
build-asan/common/lib.a: $(COMMON_SRCS:%.c=build-asan/%.o)
	@rm -f $@
	ar rcs $@ $^
build-fuzz/common.a: $(COMMON_SRCS:%.c=build-fuzz/obj/%.o)
	@rm -f $@
	ar rcs $@ $^

define component_rules
build/$(1)/lib.a: $$($(1)_SRCS:%.c=build/%.o)
	@rm -f $$@
	ar rcs $$@ $$^
build-asan/$(1)/lib.a: $$($(1)_SRCS:%.c=build-asan/%.o)
	@rm -f $$@
	ar rcs $$@ $$^
endef
$(foreach c,$(COMPONENTS),$(if $($(c)_SRCS),$(eval $(call component_rules,$(c)))))

# A program links its own component's library (if any) and common.
comp_of = $(patsubst %/,%,$(dir $(1)))
complib = $(if $($(1)_SRCS),build/$(1)/lib.a)
define program_rules
bin/$(1): build/$$(basename $$($(1)_MAIN)).o $$(call complib,$$(call comp_of,$$($(1)_MAIN))) build/common/lib.a
	@mkdir -p bin
	$$(CC) $$(ALL_CFLAGS) $$(ALL_LDFLAGS) -o $$@ $$(filter %.o %.a,$$^) $$(LIBS)
endef
$(foreach p,$(PROGRAMS),$(eval $(call program_rules,$(p))))

# ---- tests ---------------------------------------------------------------
# tests/unit/test_COMPONENT_*.c links that component's library; any other
# test_*.c links common only.
test_comp = $(firstword $(filter $(COMPONENTS),$(word 2,$(subst _, ,$(notdir $(1))))))
define unit_rules
build/tests/$(1): tests/unit/$(1).c $(UNIT_HELPERS) $$(call complib,$$(call test_comp,$(1))) build/common/lib.a
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_CFLAGS) $$(CHECK_CFLAGS) $$(ALL_LDFLAGS) -o $$@ $$(filter %.c %.a,$$^) $$(LIBS) $$(CHECK_LIBS)
build-asan/tests/$(1): tests/unit/$(1).c $(UNIT_HELPERS) $$(patsubst build/%,build-asan/%,$$(call complib,$$(call test_comp,$(1)))) build-asan/common/lib.a
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_CFLAGS) $$(SAN_FLAGS) -O1 $$(CHECK_CFLAGS) $$(ALL_LDFLAGS) -o $$@ $$(filter %.c %.a,$$^) $$(LIBS) $$(CHECK_LIBS)
endef
$(foreach t,$(UNIT_SRCS:tests/unit/%.c=%),$(eval $(call unit_rules,$(t))))

# tests/fuzz/fuzz_COMPONENT_*.c links that component's sources; others
# common only.
define fuzz_comp_rules
build-fuzz/$(1).a: $$($(1)_SRCS:%.c=build-fuzz/obj/%.o)
	@rm -f $$@
	ar rcs $$@ $$^
endef
$(foreach c,$(COMPONENTS),$(if $($(c)_SRCS),$(eval $(call fuzz_comp_rules,$(c)))))
fuzzlib = $(if $($(1)_SRCS),build-fuzz/$(1).a)
define fuzz_rules
build-fuzz/$(1): tests/fuzz/$(1).c $$(call fuzzlib,$$(call test_comp,$(1))) build-fuzz/common.a
	@mkdir -p $$(@D)
	$$(FUZZ_CC) $$(FUZZ_FLAGS) -fsanitize=fuzzer -o $$@ $$(filter %.c %.a,$$^) $$(LIBS)
endef
$(foreach t,$(FUZZ_SRCS:tests/fuzz/%.c=%),$(eval $(call fuzz_rules,$(t))))

unit: deps-check $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

unit-asan: deps-check $(UNIT_BINS_ASAN)
	@set -e; for t in $(UNIT_BINS_ASAN); do echo "== $$t (ASan+UBSan)"; \
	  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $$t; done

e2e: all
	@tests/e2e/run-all

# every program under valgrind's memcheck through wrappers (minutes; not
# part of check)
e2e-valgrind: all
	@tests/e2e/valgrind

fuzz: deps-check $(FUZZ_BINS)

fuzz-run: fuzz
	@tests/fuzz/run-all $(FUZZ_SECONDS)

check: deps-check
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory unit-asan
	@$(MAKE) --no-print-directory fuzz-run
	@$(MAKE) --no-print-directory e2e

run: deps-check all
	@test -f dev/posthorn.conf || tests/e2e/make-dev-config dev
	exec bin/posthorn-run -C dev

build/bench/fsync-ceiling: bench/fsync-ceiling.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $<

bench: all build/bench/fsync-ceiling
	@SENDMAIL_MESSAGES=$${SENDMAIL_MESSAGES:-1000} bench/run-all

# cppcheck, then clang's warnings on every C file (the build uses cc, gcc
# on Debian: warning-free with both).
# varFuncNullUB: log_msg()'s NULL sentinel is ((void *)0) with glibc, a
# pointer, so passing it through "..." is well defined here.
lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
	  --suppress=missingIncludeSystem --suppress=varFuncNullUB \
	  --inline-suppr -I. -D_GNU_SOURCE \
	  common $(COMPONENTS)
	@echo "clang -fsyntax-only $(WARN) (every C file)"
	@printf '%s\n' common/*.c $(COMPONENTS:%=%/*.c) tests/unit/*.c \
	  tests/fuzz/*.c tests/e2e/*.c bench/*.c | \
	  xargs -P2 -n8 $(FUZZ_CC) -std=c17 -D_GNU_SOURCE $(WARN) -I. \
	  $(PKG_CFLAGS) $(CHECK_CFLAGS) -fsyntax-only

# ---- dependencies --------------------------------------------------------
deps:
	@tools/deps install

deps-check:
	@tools/deps ensure

# ---- install -------------------------------------------------------------
install: all
	@PREFIX='$(PREFIX)' DESTDIR='$(DESTDIR)' LIBEXECDIR='$(LIBEXECDIR)' \
	  SBINDIR='$(SBINDIR)' MANDIR='$(MANDIR)' SYSCONFDIR='$(SYSCONFDIR)' \
	  UNITDIR='$(UNITDIR)' SYSUSERSDIR='$(SYSUSERSDIR)' TMPFILESDIR='$(TMPFILESDIR)' \
	  tools/install install $(PROGRAMS)

uninstall:
	@PREFIX='$(PREFIX)' DESTDIR='$(DESTDIR)' LIBEXECDIR='$(LIBEXECDIR)' \
	  SBINDIR='$(SBINDIR)' MANDIR='$(MANDIR)' SYSCONFDIR='$(SYSCONFDIR)' \
	  UNITDIR='$(UNITDIR)' SYSUSERSDIR='$(SYSUSERSDIR)' TMPFILESDIR='$(TMPFILESDIR)' \
	  tools/install uninstall $(PROGRAMS)

clean:
	rm -rf build build-asan build-fuzz bin

-include $(shell find build build-asan build-fuzz -name '*.d' -type f 2>/dev/null)
