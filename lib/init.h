/*
 * init.h - process and thread life cycle: initialisation on first use,
 * thread registration for the exit hook, fork handlers, teardown.
 */
#ifndef CS_INIT_H
#define CS_INIT_H

#include "platform.h"

struct cs_thread;

extern cs_atomic_t cs_init_state __attribute__((visibility("hidden")));
#define CS_INIT_DONE 2

/* Initialise once (any thread, any time; recursion from the initialising
   thread returns at once). */
void cs_init_slow(void);
static inline void cs_ensure_init(void)
{
    if (cs_unlikely(cs_atomic_load_acquire(&cs_init_state) != CS_INIT_DONE))
        cs_init_slow();
}
/* Arrange for cs_thread_exit to run when the calling thread exits. */
void cs_thread_register_exit(struct cs_thread *t);

#endif
