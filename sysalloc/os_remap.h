/*
 * os_remap.h - moving and resizing a mapping of the os source without
 * copying (mremap), for a large block that has an os region of its own.
 * Only ever called on ranges cs_os_map made: never on injected memory
 * (design invariant 1), which is why it is no source operation.
 */
#ifndef CS_OS_REMAP_H
#define CS_OS_REMAP_H

#include <stddef.h>

/* Whether cs_os_remap can work on this system (Linux mremap). */
int cs_os_can_remap(void);
/* Resize the private anonymous mapping [old, old+old_size) to new_size
   bytes (both multiples of the OS page).  to NULL: in place only (always
   possible when shrinking; when growing, only if the addresses after it are
   free).  to non-NULL: the pages move onto [to, to+new_size), a mapping of
   the caller's that this replaces, and old is unmapped.  Contents move with
   the pages, nothing is copied.  0 or an errno; on failure nothing changed. */
int cs_os_remap(void *old, size_t old_size, size_t new_size, void *to);

#endif
