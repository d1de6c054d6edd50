// libtorch, as the training engine includes it. <ATen/core/ivalue.h> comes first: with clang in
// C++20 mode, libtorch 1.13's ATen/core/List.h otherwise instantiates std::vector<c10::IValue>
// while IValue is still incomplete (the asan preset builds with clang).
#pragma once
#include <ATen/core/ivalue.h>
#include <torch/torch.h>
