/*
 * interp.h - the API interpreter shared by the libFuzzer harness
 * (api_fuzz.c) and the regression replayer (replay.c): it reads an input's
 * bytes as a sequence of calls to the public API across a few arenas and
 * memory sources, keeps track of every block it owns, and stops the
 * program (abort, after one line on stderr) at the first result the API's
 * contract does not allow.
 */
#ifndef CS_FUZZ_INTERP_H
#define CS_FUZZ_INTERP_H

#include <stddef.h>
#include <stdint.h>

/* Run one input from a clean state, and leave a clean state behind: every
   block freed, every user arena destroyed, every pool released (and found
   intact), cistern_check_heap() clean.  Not thread-safe. */
void fz_run(const uint8_t *data, size_t len);

/* Calls made by fz_run so far, for a report. */
unsigned long fz_calls(void);

#endif
