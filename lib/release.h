/*
 * release.h - the release policy's clock: free pages idle for decay_ms are
 * decommitted, by the heap on its free path and by a background thread
 * (option background_thread) so that a process gone idle gives memory back
 * too, not only one that keeps calling free.
 */
#ifndef CS_RELEASE_H
#define CS_RELEASE_H

#include "platform.h"

/* Some heap holds committed free pages: the background thread is wanted.
   Only a flag: free() must not create a thread (that allocates). */
void cs_release_notify(void);
/* Set when the thread is wanted and not running; read on malloc slow paths. */
extern cs_atomic_t cs_release_wanted __attribute__((visibility("hidden")));
/* Start the thread (from an allocation slow path, no lock held). */
void cs_release_start(void);
/* Stop and join the background thread (teardown, library unload). */
void cs_release_stop(void);
/* After fork, in the child: the thread is gone. */
void cs_release_fork_child(void);

#endif
