/* OpenMP shim: the package builds (serially) with compilers lacking OpenMP. */
#ifndef FASTCONV_OMP_H
#define FASTCONV_OMP_H
#ifdef _OPENMP
#include <omp.h>
static inline int fc_openmp_enabled(void) { return 1; }
static inline int fc_max_threads(void) { return omp_get_max_threads(); }
static inline int fc_thread_num(void) { return omp_get_thread_num(); }
#else
static inline int fc_openmp_enabled(void) { return 0; }
static inline int fc_max_threads(void) { return 1; }
static inline int fc_thread_num(void) { return 0; }
#endif
#endif
