/*
 * release.h - the release policy's clock: free pages idle for decay_ms are
 * decommitted, by the heap on its free path and by a background thread
 * (option background_thread) so that a process gone idle gives memory back
 * too, not only one that keeps calling free.
 */
#ifndef CS_RELEASE_H
#define CS_RELEASE_H

#include "platform.h"

/* The background thread costs a stack, a wake-up every period and, in a
   program that starts no thread of its own, the C library's thread code
   paged in: about 200 KiB resident, more than a small program's whole heap.
   It starts once some source has committed this much (allocation paths
   check it, so a program that frees everything and goes idle had its
   thread started while it grew); below that, a process left idle keeps at
   most this much committed, which the free path still releases when it
   runs. */
#define CS_RELEASE_START_BYTES ((size_t)1 << 20)

/* Some heap holds committed free pages: the background thread is wanted
   (once armed, see below).  Only a flag: free() must not create a thread
   (that allocates). */
void cs_release_notify(void);
/* A source has committed bytes in all: from CS_RELEASE_START_BYTES on, the
   background thread is armed and wanted.  Any thread, any lock held. */
void cs_release_committed(size_t bytes);
/* Whether the background thread has been armed (for tests). */
int cs_release_armed(void);
/* Set when the thread is wanted and not running; read on malloc slow paths. */
extern cs_atomic_t cs_release_wanted __attribute__((visibility("hidden")));
/* Start the thread (from an allocation slow path, no lock held). */
void cs_release_start(void);
/* Stop and join the background thread, and disarm it (teardown, library
   unload): after a teardown the process starts afresh. */
void cs_release_stop(void);
/* After fork, in the child: the thread is gone. */
void cs_release_fork_child(void);

#endif
