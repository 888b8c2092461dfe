/*
 * main.c - the API conformance suite.  Built twice from the same sources:
 * api_conformance_dropin calls the standard names of the drop-in library,
 * api_conformance the cistern_* names of libcistern_api (see names.h).
 */
#include "api_suite.h"

static Suite *api_suite(void)
{
    Suite *s = suite_create("api conformance, " T_LIBNAME);
    suite_add_tcase(s, api_tcase_family());
    suite_add_tcase(s, api_tcase_huge());
    suite_add_tcase(s, api_tcase_align());
    suite_add_tcase(s, api_tcase_death());
#ifdef CS_TEST_DROPIN
    suite_add_tcase(s, api_tcase_glibc());
#endif
    return s;
}

CS_TEST_MAIN(api_suite)
