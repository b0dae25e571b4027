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
#endif
}

}  // namespace meshtrain
