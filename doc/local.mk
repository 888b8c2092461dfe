## doc: build fragment, included by the top-level Makefile.am.
## Paths are relative to the top source directory (non-recursive build).

# Manual pages: installed into man1/ and man3/ by their suffix.  The
# one-line pages are `.so' links to the page that documents the name.
dist_man_MANS += \
	doc/cistern-run.1 \
	doc/cistern.3 \
	doc/cistern_arena.3 \
	doc/cistern_sysalloc.3 \
	doc/cistern_secondary.3 \
	doc/cistern_malloc.3 \
	doc/cistern_calloc.3 \
	doc/cistern_realloc.3 \
	doc/cistern_free.3 \
	doc/cistern_aligned_alloc.3 \
	doc/cistern_usable_size.3 \
	doc/cistern_stats_print.3 \
	doc/cistern_release_free_memory.3 \
	doc/cistern_option_set.3 \
	doc/cistern_arena_create.3 \
	doc/cistern_arena_default.3 \
	doc/cistern_arena_add_sysalloc.3 \
	doc/cistern_arena_remove_sysalloc.3 \
	doc/cistern_arena_reset.3 \
	doc/cistern_arena_destroy.3 \
	doc/cistern_thread_set_arena.3 \
	doc/cistern_sysalloc_hugepage.3 \
	doc/cistern_sysalloc_pool.3 \
	doc/cistern_sysalloc_shm.3 \
	doc/cistern_sysalloc_release.3 \
	doc/cistern_secondary_set.3

EXTRA_DIST += \
	doc/hardening.md \
	doc/examples/README.md

# Every page renders without a single groff or man warning (skips, 77,
# where groff is not installed).
TESTS += tests/doc/man_render.sh
EXTRA_DIST += tests/doc/man_render.sh

# ChangeLog stays in the GNU format (NEWS has the changes by kind).
TESTS += tests/doc/changelog.sh
EXTRA_DIST += tests/doc/changelog.sh NEWS ChangeLog
