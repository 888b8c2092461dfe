/*
 * cpu_relax.h - the spin-wait hint, defined on every architecture.
 *
 * The choice is the macro CS_RELAX_KIND, a pure function of predefined
 * macros, so a test can check each combination (tests/cross): x86 `pause`; ARM `yield`
 * when __ARM_ARCH >= 7 (or AArch64), whatever the endianness (the test is on
 * __ARM_ARCH, which ACLE compilers define, not on the GNU-only __ARM_ARCH__);
 * s390 and everything else a compiler barrier, which is always valid.
 */
#ifndef CS_CPU_RELAX_H
#define CS_CPU_RELAX_H

/* Macros, not enum constants: #if must see their values. */
#define CS_RELAX_BARRIER 0
#define CS_RELAX_X86_PAUSE 1
#define CS_RELAX_ARM_YIELD 2

/* The instruction this build uses, decided by the same macros as cs_cpu_relax(). */
#if defined(__x86_64__) || defined(__i386__)
#define CS_RELAX_KIND CS_RELAX_X86_PAUSE
#elif defined(__aarch64__)
#define CS_RELAX_KIND CS_RELAX_ARM_YIELD
#elif defined(__arm__) && defined(__ARM_ARCH) && __ARM_ARCH >= 7
#define CS_RELAX_KIND CS_RELAX_ARM_YIELD
#else
#define CS_RELAX_KIND CS_RELAX_BARRIER
#endif

static inline void cs_cpu_relax(void)
{
#if CS_RELAX_KIND == CS_RELAX_X86_PAUSE
    __asm__ __volatile__("pause" ::: "memory");
#elif CS_RELAX_KIND == CS_RELAX_ARM_YIELD
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

#endif /* CS_CPU_RELAX_H */
