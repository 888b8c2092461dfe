/*
 * fatal.h - the one way cistern stops a program, and its message helpers.
 *
 * Nothing on this path allocates: messages are formatted into a stack
 * buffer and written with write(2), then the process aborts.
 */
#ifndef CS_FATAL_H
#define CS_FATAL_H

#include <stddef.h>
#include <stdint.h>

/* Print "cistern: <call>(<ptr>): <what>" on stderr and abort. */
__attribute__((noreturn, cold)) void cs_fatal_pointer(const char *call, const void *p,
                                                       const char *what);
/* Print "cistern: <msg>" on stderr and abort. */
__attribute__((noreturn, cold)) void cs_fatal(const char *msg);
/* Print "cistern: warning: <a><b>" once per call on stderr; never aborts. */
void cs_warn(const char *a, const char *b);

/* Formatting into a caller's buffer, without stdio (which may allocate). */
struct cs_buf {
    char *p;
    size_t len, cap;
};
void cs_buf_str(struct cs_buf *b, const char *s);
void cs_buf_hex(struct cs_buf *b, uintptr_t v);
void cs_buf_dec(struct cs_buf *b, uint64_t v);
void cs_buf_write(struct cs_buf *b, int fd);

/* Internal assertion, compiled in every build, evaluated from level 2. */
#define CS_ASSERT(cond)                                                           \
    do {                                                                          \
        if (CISTERN_DEBUG >= 2 && !(cond))                                        \
            cs_fatal("assertion failed: " #cond " at " __FILE__);                 \
    } while (0)

#endif /* CS_FATAL_H */
