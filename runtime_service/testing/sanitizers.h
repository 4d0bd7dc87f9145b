#ifndef KILN_RUNTIME_SERVICE_TESTING_SANITIZERS_H_
#define KILN_RUNTIME_SERVICE_TESTING_SANITIZERS_H_

// KILN_SANITIZED is 1 in an ASan or TSan build (scripts/sanitize.sh), 0 otherwise. Tests of
// allocation failure need the production allocator: the sanitizers' replacement aborts on a
// throwing `new` it cannot satisfy instead of throwing std::bad_alloc, does not honour
// RLIMIT_AS the same way, and is not glibc malloc (malloc_trim, hooks).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define KILN_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define KILN_SANITIZED 1
#endif
#endif
#ifndef KILN_SANITIZED
#define KILN_SANITIZED 0
#endif

#endif  // KILN_RUNTIME_SERVICE_TESTING_SANITIZERS_H_
