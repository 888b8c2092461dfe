/*
 * export.h - which names leave the library.  Everything is built with
 * -fvisibility=hidden; only the public API (and, in libcistern, the malloc
 * family) carries CS_EXPORT.
 */
#ifndef CS_EXPORT_H
#define CS_EXPORT_H

#define CS_EXPORT __attribute__((visibility("default")))

#endif
