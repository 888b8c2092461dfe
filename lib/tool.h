/*
 * tool.h - telling memory checkers what cistern does.
 *
 * Under valgrind (memcheck client requests, when <valgrind/memcheck.h> was
 * found) and in AddressSanitizer builds, cistern reports every allocation
 * and free (MALLOCLIKE/FREELIKE, or poisoning), so leaks and invalid
 * accesses inside arenas are caught, and marks the memory of a reset arena
 * inaccessible.  While a tool is active, thread caches and transfer caches
 * are bypassed, so every allocation and free passes the slow paths where
 * these hooks sit: the fast paths carry no cost for them.
 */
#ifndef CS_TOOL_H
#define CS_TOOL_H

#include <stddef.h>

struct cs_span;

/* Non-zero when a memory checker watches the process (set by init). */
extern int cs_tool_active __attribute__((visibility("hidden")));

void cs_tool_init(void);
/* Whether memcheck (through client requests) watches the process. */
int cs_tool_valgrind(void);
/* p (usable bytes) is handed to the program. */
void cs_tool_alloc(const void *p, size_t usable);
/* p (usable bytes) comes back from the program. */
void cs_tool_free(const void *p, size_t usable);
/* A large block resized in place. */
void cs_tool_resize(const void *p, size_t old_usable, size_t new_usable);
/* Whether p lies in memory the tool marks as freed (ASan: poisoned). */
int cs_tool_is_freed(const void *p);
/* An injected range goes back to its owner: accessible again. */
void cs_tool_hand_back(const void *p, size_t len);
/* Arena reset: every live object of span s is gone at once. */
void cs_tool_drop_span(const struct cs_span *s);

#endif
