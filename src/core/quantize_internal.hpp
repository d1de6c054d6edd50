// Internal helpers shared by the reference quantizer and the fast kernels (not a public header).
#pragma once

namespace rngfree::detail {

// Largest FP32 value that is a multiple of 2^step_exponent and <= k·2^step_exponent (k > 0): the
// saturation bound of a fixed-point grid where the grid's end is not an FP32 value (WL > 25, or
// 2^128 for fixed:dyn when max|x| >= 2^127).
double fixed_grid_floor(double k, int step_exponent);

}  // namespace rngfree::detail
