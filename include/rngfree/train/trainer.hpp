// Training runs (DESIGN.md "Training"): a Trainer owns the data, the model, the optimizer and every
// random source of one run; it trains step by step or epoch by epoch, evaluates, and saves/loads
// checkpoints holding everything a bit-identical continuation needs (model, optimizer, generator
// states, stored taps, position). run_training adds the --out folder: metrics.csv, summary.json,
// atomic checkpoints, --resume. The interface is free of libtorch (the engine sits behind it).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rngfree/error.hpp"
#include "rngfree/train/config.hpp"
#include "rngfree/train/data.hpp"
#include "rngfree/train/distributed.hpp"
#include "rngfree/train/image.hpp"
#include "rngfree/train/site_plan.hpp"
#include "rngfree/train/sites.hpp"

namespace rngfree::train {

struct EpochMetrics {
  int epoch = 0;  // 1-based
  double train_loss = 0, train_accuracy = 0;  // mean over the epoch's steps; accuracy as a fraction
  double test_loss = 0, test_accuracy = 0;
  double lr = 0;           // at the epoch's last step
  double seconds = 0;      // training time of the epoch (evaluation excluded)
  double images_per_s = 0;
  // superres (accuracies are 0, losses are mean L1 of luma): mean over the test images of the
  // Y-channel PSNR (border of `scale` pixels cropped) and SSIM, the model's and bicubic's
  double test_psnr_db = 0, bicubic_psnr_db = 0, test_ssim = 0, bicubic_ssim = 0;
  // lm (test_loss is the validation loss in nats per byte, test_accuracy the next-byte accuracy):
  // the validation loss in bits per byte (character), test_loss / ln 2
  double val_bpc = 0;
  int64_t step = 0;  // optimizer steps done at the epoch's end
};

struct StepStats {
  int64_t steps = 0;
  double mean_loss = 0, accuracy = 0;
  double seconds = 0, images_per_s = 0;
};

// Where training steps' time went since the trainer was made or reset_breakdown() (bench train):
// the phases of a step, and each active quantization site's time, which the phases include
// (forward: W and A; backward: E and G; optimizer: U and M). Wall-clock seconds.
struct StepBreakdown {
  int64_t steps = 0;
  double forward_s = 0, backward_s = 0, optimizer_s = 0;
  struct SiteTime {
    std::string layer, site;  // layer name, site letter (W A E G U M)
    double seconds = 0;
    int64_t elements = 0;
    int64_t in_place_calls = 0;  // backward calls that rounded the gradient in its own memory
    double op_seconds = 0;       // the autograd op around the rounding (QuantSite::op_seconds; 0: none)
  };
  std::vector<SiteTime> sites;
};

struct LayerInfo {
  int index = 0;
  std::string name;
  int64_t weight_count = 0;
  std::vector<std::string> sites;  // per active site: "E: fixed:8:dyn stochastic:8 <- harvest act of layer 2 ..."
};

// Progress within an epoch: (batches done, batches in the epoch, running loss, running accuracy,
// images/s so far).
using ProgressFn = std::function<void(int64_t done, int64_t total, double loss, double accuracy, double images_per_s)>;

// Thrown when the loss becomes NaN or infinite (a rngfree::Error: the run's settings made it diverge).
class NonFiniteLoss : public Error {
 public:
  using Error::Error;
};

class Trainer {
 public:
  // Validates the config, loads the data (cached per process), builds the model and sources. With
  // dist.world_size > 1 this process is one rank of a data-parallel run (docs/distributed.md): it
  // joins the process group, takes its slice of every global batch (cfg.batch images per rank),
  // starts from rank 0's parameters, averages gradients every step and takes U's and M's words from
  // rank 0 when their source reads a rank-local tap.
  explicit Trainer(const TrainConfig& config, const DistConfig& dist = {});
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  const TrainConfig& config() const;
  std::vector<LayerInfo> layers() const;
  // Called at every tap production point during training steps (not during evaluation).
  void set_tap_callback(TapCallback callback);
  // Called at every stochastic rounding during training steps with the exact values and the words
  // SR consumed for them (the audit). While set, harvested words are materialized, not fused.
  void set_site_callback(SiteCallback callback);
  // The resolved, validated sites of this run (sources, taps, pairings).
  const SitePlan& site_plan() const;

  int64_t steps_per_epoch() const;
  int64_t step() const;         // optimizer steps done
  int epochs_done() const;      // whole epochs done (the run's partial last epoch counts when done)
  int epochs_total() const;     // the run's epochs: config epochs, or --steps over steps_per_epoch rounded up
  int64_t total_steps() const;  // the run's optimizer steps: --steps, else epochs × steps_per_epoch
  // Runs n optimizer steps from the current position (crossing epoch boundaries, no evaluation).
  StepStats train_steps(int64_t n, const ProgressFn& progress = {});
  // Time per phase and per site since construction or the last reset_breakdown().
  StepBreakdown breakdown() const;
  void reset_breakdown();
  // Finishes the current epoch and evaluates on the test split.
  EpochMetrics train_epoch(const ProgressFn& progress = {});
  // Test-split accuracy (fraction; superres: the mean test PSNR in dB) and mean loss, in evaluation mode.
  double evaluate(double* loss = nullptr);

  // superres: test image `index` (in photos_test_files / DIR/test order) as bicubic upscale, super-
  // resolved by the model (its luma on the bicubic chroma) and ground truth, RGB or gray, HR size.
  struct SrImages {
    Image bicubic, output, truth;
  };
  SrImages super_resolve_test_image(int index);

  // lm: `tokens` bytes continuing `prompt` (an empty prompt starts from "\n"), each drawn from the
  // model's softmax at `temperature` (0: the most likely byte) by a generator seeded with `seed`;
  // the model sees the last `context` bytes. Returns the new bytes only.
  std::string generate(const std::string& prompt, int64_t tokens, double temperature, uint64_t seed);

  // Every parameter and buffer of the model, flattened in registration order (tests compare runs).
  std::vector<float> parameters() const;
  // FNV-1a (64 bits) of the bit patterns of every parameter, float buffer and momentum buffer.
  uint64_t parameter_hash() const;
  // Data-parallel runs: compares every rank's parameter_hash (an allgather); throws ReplicaMismatch
  // naming `epoch` and the ranks that differ from rank 0. Called by train_epoch after every epoch's
  // steps; a no-op in a single-process run.
  void check_replicas(int epoch);
  int rank() const;
  int world_size() const;
  // Seconds this rank spent in collectives (allreduce, broadcasts, hash check) so far.
  double collective_seconds() const;
  // Bytes this process wrote inside collectives (Gloo's sockets; /proc/self/io), -1 if unknown.
  int64_t collective_bytes() const;

  // Atomic (temporary file, then rename). `extra` is opaque text stored alongside (run history).
  // Data-parallel: every rank calls it (each sends its own taps and word-source states to rank 0,
  // stored as the checkpoint's rank.R sections); only rank 0 writes, the others ignore `path`.
  void save_checkpoint(const std::string& path, const std::string& extra = {}) const;
  // Restores a checkpoint written by a Trainer with the same config; returns its `extra` text.
  // Rank R > 0 of a data-parallel run restores its own rank.R section when the checkpoint has one.
  std::string load_checkpoint(const std::string& path);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct RunOptions {
  std::string out_dir;         // "" = write nothing
  bool resume = false;         // continue the run saved in out_dir up to config.epochs
  bool progress = true;        // progress bar on stderr
  TapCallback tap_callback;    // optional, see Trainer::set_tap_callback
  int stop_after_epochs = 0;   // stop after this many epochs in this call, as if interrupted (0: run to the end)
  DistConfig dist;             // a rank of a data-parallel run: only rank 0 writes out_dir (all ranks read it)
};

struct RunSummary {
  TrainConfig config;
  std::vector<EpochMetrics> epochs;
  double test_accuracy = 0, best_test_accuracy = 0;
  double wall_seconds = 0, images_per_s = 0;
  // superres: the last epoch's test PSNR/SSIM and bicubic's, the best epoch's PSNR
  double test_psnr_db = 0, best_test_psnr_db = 0, bicubic_psnr_db = 0, test_ssim = 0, bicubic_ssim = 0;
  // lm: the last epoch's validation loss (nats per byte) and bits per byte, the best epoch's loss
  double val_loss = 0, val_bpc = 0, best_val_loss = 0;
  int world_size = 1;              // data-parallel ranks (images_per_s counts all of them)
  double collective_seconds = 0;   // rank 0's time in collectives during this call
  int64_t collective_bytes = 0;    // bytes rank 0 wrote inside collectives during this call (-1: unknown)
  int64_t steps = 0;               // optimizer steps done during this call
  int64_t steps_per_epoch = 0;     // the run's optimizer steps per whole epoch
};

// Trains cfg.epochs epochs (from a checkpoint with resume). With out_dir: metrics.csv (a row per
// epoch), summary.json, checkpoint.pt after every epoch (atomically); superres adds sr_crop.png
// (a crop of the first test image: bicubic | this model | ground truth) at the end. A NaN/inf loss throws
// rngfree::Error saying so; the last good checkpoint stays in place. With resume, cfg must equal
// the saved configuration except epochs (train up to) and threads: any other difference is refused
// with each setting named, saved and given value (config_differences), never silently replaced.
RunSummary run_training(const TrainConfig& cfg, const RunOptions& options);

// The configuration stored in a checkpoint (rngfree::Error when the file is missing or not one).
TrainConfig load_checkpoint_config(const std::string& path);
// The checkpoint of a run folder (out_dir/checkpoint.pt) and the configuration saved in it: the base
// that --resume applies the command's settings to (rngfree::Error when out_dir is empty).
std::string checkpoint_path(const std::string& out_dir);
TrainConfig saved_run_config(const std::string& out_dir);
// The same from a checkpoint file's bytes in memory (`name` names it in messages; fuzzed by
// fuzz/checkpoint.cpp).
TrainConfig checkpoint_config_from_bytes(std::string_view bytes, const std::string& name);

// Renders summary.json (what run_training writes).
std::string summary_json(const RunSummary& summary);

// Calls openblas_set_num_threads(1) when OpenBLAS is loaded (its threads on top of libtorch's
// oversubscribe the cores) and torch::set_num_threads(threads) (0: keep libtorch's default).
void set_training_threads(int threads);

}  // namespace rngfree::train
