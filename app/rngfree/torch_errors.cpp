// rngfree-torch only: an error of libtorch (c10::Error) is shown by its message; its backtrace
// with --verbose. Registering this is also what tells main.cpp that it runs in rngfree-torch.
#include <c10/util/Exception.h>

#include "command.hpp"

namespace rngfree::app {
namespace {
const RegisterErrorDescriber kTorchErrors([](const std::exception& e) -> std::optional<ErrorText> {
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) return ErrorText{c->what_without_backtrace(), c->what()};
  return std::nullopt;
});
}  // namespace
}  // namespace rngfree::app
