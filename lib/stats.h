/*
 * stats.h - statistics: per arena (cistern_arena_get_stats), per source,
 * and the report of cistern_stats_print (text or JSON).
 */
#ifndef CS_STATS_H
#define CS_STATS_H

/* The report of cistern_stats_print on stderr-like fd (used at exit). */
void cs_stats_print_fd(int fd, int json);

#endif
