#include "meshtrain/transport.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace meshtrain {

void TuneAllocatorForMessages() {
#if defined(__GLIBC__)
  // Below 32 MB every block comes from the heap; freed memory is returned to
  // the system only once 64 MB of it sits unused at the top.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  // One arena for every thread: ZeroMQ's I/O threads and the comm thread
  // would each get their own, and each keeps the message memory freed in it
  // (about 1 MB more at the peak of a ring peer; docs/edge.md, "Peak
  // memory"). The step loop allocates nothing, so they contend for little.
  mallopt(M_ARENA_MAX, 1);
#endif
}

}  // namespace meshtrain
