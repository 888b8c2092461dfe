/*
 * fatal.c - the abort path and allocation-free message formatting.
 */
#include "platform.h"
#include "fatal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cs_buf_str(struct cs_buf *b, const char *s)
{
    while (*s && b->len + 1 < b->cap)
        b->p[b->len++] = *s++;
    b->p[b->len] = 0;
}

void cs_buf_hex(struct cs_buf *b, uintptr_t v)
{
    char tmp[2 + 2 * sizeof v + 1];
    int i = (int)sizeof tmp - 1;
    tmp[i] = 0;
    do {
        tmp[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    tmp[--i] = 'x';
    tmp[--i] = '0';
    cs_buf_str(b, tmp + i);
}

void cs_buf_dec(struct cs_buf *b, uint64_t v)
{
    char tmp[24];
    int i = (int)sizeof tmp - 1;
    tmp[i] = 0;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    cs_buf_str(b, tmp + i);
}

void cs_buf_write(struct cs_buf *b, int fd)
{
    size_t off = 0;
    while (off < b->len) {
        ssize_t n = write(fd, b->p + off, b->len - off);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return;
        }
        off += (size_t)n;
    }
}

void cs_fatal_pointer(const char *call, const void *p, const char *what)
{
    char mem[256];
    struct cs_buf b = { mem, 0, sizeof mem };
    cs_buf_str(&b, "cistern: ");
    cs_buf_str(&b, call);
    cs_buf_str(&b, "(");
    cs_buf_hex(&b, (uintptr_t)p);
    cs_buf_str(&b, "): ");
    cs_buf_str(&b, what);
    cs_buf_str(&b, "\n");
    cs_buf_write(&b, 2);
    abort();
}

void cs_fatal(const char *msg)
{
    char mem[256];
    struct cs_buf b = { mem, 0, sizeof mem };
    cs_buf_str(&b, "cistern: ");
    cs_buf_str(&b, msg);
    cs_buf_str(&b, "\n");
    cs_buf_write(&b, 2);
    abort();
}

void cs_warn(const char *a, const char *b2)
{
    char mem[256];
    struct cs_buf b = { mem, 0, sizeof mem };
    cs_buf_str(&b, "cistern: warning: ");
    cs_buf_str(&b, a);
    cs_buf_str(&b, b2 ? b2 : "");
    cs_buf_str(&b, "\n");
    cs_buf_write(&b, 2);
}
