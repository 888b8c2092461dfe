/*
 * cpu_relax_test.c - compiled by cpu_relax_select.sh, never linked into the
 * library.  lib/cpu_relax.h decides at preprocessing time, so the script
 * compiles this file once per combination of predefined macros (-U/-D on
 * the build machine's compiler, or a real cross compiler) and lets the
 * compiler check the choice: with -DEXPECT_KIND=N compilation fails unless
 * CS_RELAX_KIND is N, both for C code and for #if, which is what picks the
 * body of cs_cpu_relax() (an enumerator in #if silently reads as 0).
 * cs_test_relax() is what objdump is shown, to see the instruction itself;
 * main() runs it under qemu.
 */
#include "cpu_relax.h"

#ifdef EXPECT_KIND
_Static_assert(CS_RELAX_KIND == EXPECT_KIND, "cpu_relax.h chose another kind");
#if CS_RELAX_KIND != EXPECT_KIND
#error "for #if, CS_RELAX_KIND is not the kind C code sees: cs_cpu_relax() picks another body"
#endif
#endif

void cs_test_relax(void);
void cs_test_relax(void)
{
    cs_cpu_relax();
}

int main(void)
{
    for (int i = 0; i < 1000; i++)
        cs_test_relax();
    return CS_RELAX_KIND == CS_RELAX_BARRIER ? 10 : CS_RELAX_KIND == CS_RELAX_X86_PAUSE ? 11 : 12;
}
