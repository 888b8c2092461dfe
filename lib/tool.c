/*
 * tool.c - memcheck client requests and ASan poisoning (see tool.h).
 */
#include "platform.h"
#include "tool.h"
#include "options.h"
#include "span.h"

#ifdef HAVE_VALGRIND_MEMCHECK_H
#include <valgrind/memcheck.h>
#define CS_VALGRIND 1
#else
#define CS_VALGRIND 0
#define VALGRIND_MALLOCLIKE_BLOCK(p, n, rz, z) ((void)0)
#define VALGRIND_FREELIKE_BLOCK(p, rz) ((void)0)
#define VALGRIND_RESIZEINPLACE_BLOCK(p, o, n, rz) ((void)0)
#define VALGRIND_MAKE_MEM_NOACCESS(p, n) ((void)0)
#define RUNNING_ON_VALGRIND 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define CS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CS_ASAN 1
#endif
#endif
#ifndef CS_ASAN
#define CS_ASAN 0
#endif

#if CS_ASAN
#include <sanitizer/asan_interface.h>
#else
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define __asan_address_is_poisoned(p) 0
#endif

int cs_tool_active;

void cs_tool_init(void)
{
    /* Under callgrind or cachegrind the hooks only cost: tool_hooks=0 keeps
       the ordinary paths for instruction counts. */
    cs_tool_active = CS_ASAN || (RUNNING_ON_VALGRIND && cs_opt.tool_hooks);
}

int cs_tool_valgrind(void)
{
    return cs_tool_active && RUNNING_ON_VALGRIND;
}

void cs_tool_alloc(const void *p, size_t usable)
{
    ASAN_UNPOISON_MEMORY_REGION(p, usable);
    VALGRIND_MALLOCLIKE_BLOCK(p, usable, 0, 0);
}

void cs_tool_free(const void *p, size_t usable)
{
    VALGRIND_FREELIKE_BLOCK(p, 0);
    ASAN_POISON_MEMORY_REGION(p, usable);
}

void cs_tool_resize(const void *p, size_t old_usable, size_t new_usable)
{
    if (new_usable > old_usable)
        ASAN_UNPOISON_MEMORY_REGION((const char *)p + old_usable, new_usable - old_usable);
    else
        ASAN_POISON_MEMORY_REGION((const char *)p + new_usable, old_usable - new_usable);
    VALGRIND_RESIZEINPLACE_BLOCK(p, old_usable, new_usable, 0);
}

int cs_tool_is_freed(const void *p)
{
    return __asan_address_is_poisoned(p);
}

void cs_tool_hand_back(const void *p, size_t len)
{
    ASAN_UNPOISON_MEMORY_REGION(p, len);
#ifdef HAVE_VALGRIND_MEMCHECK_H
    VALGRIND_MAKE_MEM_DEFINED(p, len);
#endif
}

void cs_tool_drop_span(const struct cs_span *s)
{
    if (s->state == CS_SPAN_SMALL) {
        for (uint32_t i = 0; i < s->nobj; i++)
            if (!(s->freebits[i / 64] & ((uint64_t)1 << (i % 64))))
                VALGRIND_FREELIKE_BLOCK((void *)(cs_span_start(s) + (size_t)i * s->size), 0);
    } else {
        VALGRIND_FREELIKE_BLOCK((void *)cs_span_start(s), 0);
    }
    if (!s->notouch) {
        VALGRIND_MAKE_MEM_NOACCESS((void *)cs_span_start(s), s->npages * CS_PAGE);
        ASAN_POISON_MEMORY_REGION((void *)cs_span_start(s), s->npages * CS_PAGE);
    }
}
