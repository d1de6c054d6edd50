// The message of the rngfree::Error that a callable throws, or "(no error)": lets tests check that
// bad input is rejected with a message naming the parameter, the value and what is allowed.
#pragma once
#include <string>

#include "rngfree/error.hpp"

namespace rngfree::testing {

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace rngfree::testing
