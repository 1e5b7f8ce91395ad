// Threads per call of gradtx's CPU kernels (and of the benchmark's floor kernel, which shares
// them so that the two are timed alike): GRADTX_FUSED_THREADS, by default the processors this
// process may run on, as XLA:CPU splits a large loop over its threads. On a host busy with other
// work, OpenMP workers that wait at barriers can slow a step down many times (tenfold measured
// on 2 cores shared with other jobs): there set it to 1.

#ifndef GRADTX_THREADS_H_
#define GRADTX_THREADS_H_

#include <cstdlib>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace gradtx {

inline int Threads() {
  static const int threads = [] {
    const char* value = std::getenv("GRADTX_FUSED_THREADS");
#if defined(_OPENMP)
    const int n = value ? std::atoi(value) : omp_get_num_procs();
#else
    const int n = 1;
#endif
    return n < 1 ? 1 : n;
  }();
  return threads;
}

}  // namespace gradtx

#endif  // GRADTX_THREADS_H_
