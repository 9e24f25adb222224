#pragma once
// Whether this is a sanitizer build (make test-asan, test-tsan). The sanitizers replace
// glibc's allocator with their own, keep freed blocks in quarantine, and must be the first
// library a process loads: tests of glibc's trimming, or of jemalloc preloaded in front
// of everything, do not apply there and are skipped.

namespace cohort::test {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitizerAllocator = true;
#else
inline constexpr bool kSanitizerAllocator = false;
#endif

}  // namespace cohort::test
