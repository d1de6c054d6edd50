// Shared body of the NIST input fuzz targets: the first byte chooses the stream count (1..4) and
// whether -n is given; the rest is the file. Whatever is read runs through every SP 800-22 test;
// a test must either give P-values in [0, 1] or say why it does not apply, never crash.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "rngfree/error.hpp"
#include "rngfree/nist/bit_sequence.hpp"
#include "rngfree/nist/suite.hpp"

namespace rngfree::fuzz {

inline int run_nist_input(const uint8_t* data, size_t size, nist::BitInput input) {
  // At most about 8192 bits: longer inputs only slow the suite down.
  if (size < 1 || size > (input == nist::BitInput::kBinary ? 1025u : 8193u)) return 0;
  const uint64_t streams = 1 + (data[0] & 3);
  const uint64_t n = (data[0] & 4) ? static_cast<uint64_t>(data[0] >> 3) * 37 : 0;
  const std::string_view file(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<nist::BitSequence> seqs;
  try {
    seqs = nist::read_sequences(file, input, n, streams, "fuzz input");
  } catch (const Error&) {
    return 0;
  }
  if (seqs.size() != streams) std::abort();
  nist::SuiteOptions options;
  options.threads = 1;
  const auto results = nist::run_suite(seqs, options);
  for (const auto& per_sequence : results) {
    for (const auto& r : per_sequence) {
      for (const auto& p : r.p_values) {
        if (p.p_value && !(*p.p_value >= 0.0 && *p.p_value <= 1.0)) std::abort();
      }
    }
  }
  return 0;
}

}  // namespace rngfree::fuzz
