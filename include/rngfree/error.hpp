// Errors in three tiers (STYLE.md): rngfree::Error for bad user input (flags, configs, files) — its
// message names the parameter, the value and what is allowed; RNGFREE_CHECK for broken internal
// invariants (always on, with file and line); RNGFREE_DCHECK for hot loops (debug builds only).
#pragma once
#include <stdexcept>
#include <string>
#include <utility>

namespace rngfree {

// Bad user input. The command-line program prints what() and exits non-zero. `detail` keeps what a
// library underneath said in full (libtorch's message with its C++ backtrace): `rngfree --verbose`
// prints it, the plain message stays readable.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  Error(const std::string& message, std::string detail) : std::runtime_error(message), detail_(std::move(detail)) {}
  const std::string& detail() const noexcept { return detail_; }

 private:
  std::string detail_;
};

[[noreturn]] void check_failed(const char* expr, const char* file, int line, const std::string& msg);

}  // namespace rngfree

#define RNGFREE_CHECK(cond, msg)                                              \
  do {                                                                        \
    if (!(cond)) ::rngfree::check_failed(#cond, __FILE__, __LINE__, (msg));   \
  } while (0)

#ifdef NDEBUG
#define RNGFREE_DCHECK(cond, msg) \
  do {                            \
  } while (0)
#else
#define RNGFREE_DCHECK(cond, msg) RNGFREE_CHECK(cond, msg)
#endif
