// Data-parallel training on torch.distributed's c10d with the Gloo backend (docs/distributed.md):
// where a worker finds its rank and the rendezvous (torchrun's environment, or flags), and the
// launcher behind `rngfree train --nproc N`. Every rank applies bit-identical updates: gradients are
// averaged by one allreduce per step, and U's and M's stochastic-rounding words come from rank 0
// whenever their source reads a rank-local tap (trainer.cpp). No libtorch in this header.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "rngfree/error.hpp"
#include "rngfree/number_input.hpp"
#include "rngfree/train/site_plan.hpp"

namespace rngfree::train {

namespace limits {
inline constexpr IntRange<int> kNproc{1, 256};
inline constexpr IntRange<int> kRank{0, 255};
inline constexpr IntRange<int> kWorldSize{1, 256};
inline constexpr IntRange<int> kMasterPort{1, 65535};
inline constexpr IntRange<int> kDistTimeout{1, 86400, "seconds"};
}  // namespace limits

// Where U's (and M's) stochastic-rounding words come from in a data-parallel run when their source
// reads a rank-local tap (act, err, grad, input: tensors computed from the rank's own batch).
enum class UpdateBits {
  kRankZero,  // rank 0 harvests them as a single process would and broadcasts them (the default)
  kLocal,     // every rank uses its own: the replicas drift apart (a diagnostic: the per-epoch
              // parameter hash must catch it; never for training)
};

// The format the weight gradients travel in (docs/distributed.md "Low-precision allreduce").
enum class AllreduceFormat {
  kFp32,      // one FP32 allreduce of every gradient (the default)
  kGradient,  // a quantized layer's weight gradient whose G site is fixed:WL:dyn travels as WL-bit
              // integers on a grid every rank computes alike (the allreduced maximum of |g| fixes
              // the step), summed exactly; the rest (biases, BatchNorm, other formats) in FP32
};
// "fp32" or "G" (the flag's values); rngfree::Error naming the allowed values otherwise.
AllreduceFormat parse_allreduce_format(const std::string& text);

// One worker's place in a data-parallel run. world_size 1 = an ordinary single-process run.
struct DistConfig {
  int rank = 0;
  int world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  int timeout_s = 120;          // every collective and the rendezvous give up after this long
  bool agent_store = false;     // the launcher hosts the TCPStore (else rank 0 does)
  UpdateBits update_bits = UpdateBits::kRankZero;
  AllreduceFormat allreduce = AllreduceFormat::kFp32;
  bool distributed() const { return world_size > 1; }
  // rngfree::Error naming the setting when rank >= world_size, a port out of range, ...
  void validate() const;
};

// The torchrun conventions: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT from the environment (each
// range-checked; an unset variable keeps `base`'s value), and RNGFREE_AGENT_STORE=1 (set by the
// launcher). LOCAL_RANK is not needed (one CPU process per rank).
DistConfig dist_config_from_env(DistConfig base = {});

// Where a site's stochastic-rounding words come from on rank R of a data-parallel run (docs/distributed.md):
enum class ReplicaBits {
  kNone,           // no stochastic rounding, or words that are the same on every rank by construction
                   // (W, U, M from a generator; harvest from `self` or the weights only)
  kRankLocal,      // harvested from the rank's own taps (A, E, G; U and M with UpdateBits::kLocal)
  kRankStream,     // A, E, G from a generator: rank R draws the site's stream + R·2^40 (rank 0: a
                   // single process's stream), so the ranks' rounding errors are independent
  kRankZeroWords,  // U, M harvested from a rank-local tap: rank 0's words, broadcast to every rank
};
ReplicaBits replica_bits(const PlannedSite& site, UpdateBits update_bits = UpdateBits::kRankZero);
// "rank 0's words, broadcast to every rank", ...; empty for kNone.
std::string describe(ReplicaBits bits);
// The stream offset of rank R's replica-differing generator sites: R·2^40. Site streams are below
// 2^34 (1 + layer·6 + site, V's 2^32 + layer, the gpt's tensor sites 2^33 + k: sites.hpp), so no two (rank, site) pairs share a
// stream — with R·2^32, rank 1's A of layer 0 (2^32 + 2) was V's stream of layer 2.
inline uint64_t replica_stream_offset(int rank) { return static_cast<uint64_t>(rank) << 40; }

// Thrown when the replicas' parameter hashes differ after an epoch.
class ReplicaMismatch : public Error {
 public:
  using Error::Error;
};

// `rngfree train --nproc N`: hosts a c10d TCPStore on 127.0.0.1 (a port the kernel picks, so
// parallel runs never collide), starts N copies of `argv` (argv[0] is replaced by this program,
// /proc/self/exe) with RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT and RNGFREE_AGENT_STORE=1 set,
// and waits for them. When a worker fails, the others get `timeout_s` + 10 s to end on their own
// (Gloo reports the lost peer) and are then killed. Returns 0 when all succeeded; otherwise throws
// rngfree::Error naming every failed rank and how it ended.
int launch_local_workers(int nproc, const std::vector<std::string>& argv, int timeout_s);

// This process's command line (/proc/self/cmdline), argv[0] included.
std::vector<std::string> own_command_line();

}  // namespace rngfree::train
