/*
 * release.h - the release policy's clock: free pages idle for decay_ms are
 * decommitted, by the heap on its free path and by a background thread
 * (option background_thread) so that a process gone idle gives memory back
 * too, not only one that keeps calling free.
 */
#ifndef CS_RELEASE_H
#define CS_RELEASE_H

/* Some heap holds committed free pages: make sure the background thread runs. */
void cs_release_notify(void);
/* Stop and join the background thread (teardown, library unload). */
void cs_release_stop(void);
/* After fork, in the child: the thread is gone. */
void cs_release_fork_child(void);

#endif
