// rngfree-torch only: glibc's allocator keeps the memory training frees, instead of giving it back
// to the system and taking it again — zeroed page by page — a moment later.
//
// Training allocates and frees tensors of a few MiB at every layer of every step (a quantized
// site's output, its words, libtorch's temporaries). With glibc's defaults the top of the heap is
// returned to the system whenever 2× the current mmap threshold lies free there, and the next step
// faults those pages in again: one round of `rngfree bench train --model resnet20 --threads 1` took
// 813,000 page faults and 1.7–2.1 s of kernel time, 295,000 and 0.76–0.83 s with the heap kept (the
// rest is the first touch of memory; docs/results.md, "Issue 14, thirteenth session"). So the
// program fixes the mmap threshold at glibc's largest (32 MiB: smaller blocks come from the heap)
// and never trims the heap. The peak
// of the heap stays the process's until it exits — what it needed at its busiest step anyway.
//
// A user who tunes glibc's allocator (GLIBC_TUNABLES with glibc.malloc, or the MALLOC_*_
// variables) keeps their settings: nothing is changed then.
#include <malloc.h>

#include <cstdlib>
#include <cstring>

namespace rngfree::app {
namespace {

bool allocator_tuned_by_user() {
  if (const char* t = std::getenv("GLIBC_TUNABLES"); t != nullptr && std::strstr(t, "glibc.malloc.") != nullptr) {
    return true;
  }
  for (const char* name : {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

const bool kKeepFreedMemory = [] {
  if (allocator_tuned_by_user()) return false;
  constexpr int kLargestMmapThreshold = 32 << 20;  // glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit
  return mallopt(M_MMAP_THRESHOLD, kLargestMmapThreshold) == 1 && mallopt(M_TRIM_THRESHOLD, -1) == 1;
}();

}  // namespace
}  // namespace rngfree::app
