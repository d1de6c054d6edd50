// `rngfree train`: one training run from a preset and/or TOML config with command-line overrides
// (docs/training.md). Parses, calls rngfree::train::run_training, prints the result.
#include <fmt/core.h>

#include <cstdlib>
#include <optional>

#include "command.hpp"
#include "rngfree/rounding.hpp"
#include "rngfree/train/trainer.hpp"

namespace rngfree::app {
namespace {

struct TrainFlags {
  std::string config, preset, task, model, data, out;
  std::optional<int> epochs, batch, threads, width, scale, context, blocks, heads;
  std::optional<int64_t> steps;
  std::string optimizer;
  std::optional<double> lr;
  std::optional<uint64_t> seed;
  std::optional<int64_t> train_limit, test_limit, dump_bits;
  std::string dump, dump_tap;
  std::optional<int> dump_layer;
  bool resume = false, quiet = false, list_layers = false;
  // data parallelism (docs/distributed.md)
  std::optional<int> nproc, rank, world_size, master_port, dist_timeout;
  std::string master_addr;
  bool local_update_bits = false;
  std::string allreduce;  // --allreduce fp32|G
};

const RegisterCommand kTrain("", "train", [](CLI::App& root) {
  auto flags = std::make_shared<TrainFlags>();
  auto* cmd = root.add_subcommand(
      "train",
      "Train a model with quantized sites and stochastic rounding whose bits come from a generator or from the "
      "network itself. Settings: defaults < --preset < --config file < other flags (docs/training.md).");
  std::string presets;
  for (const auto& p : train::preset_names()) presets += (presets.empty() ? "" : ", ") + p;
  cmd->add_option("--preset", flags->preset, "Named precision preset: " + presets + " (default fp32)");
  cmd->add_option("--config", flags->config, "TOML config file (keys in docs/training.md)");
  cmd->add_option("--task", flags->task,
                  "classify (default) or superres (single-image super-resolution, docs/superres.md; sets its own "
                  "defaults: --model espcn --data photos --optimizer adamw --batch 16 --lr 1e-3 --epochs 40, no weight decay) or lm "
                  "(byte-level language model, docs/lm.md; defaults: --model gpt --data fortunes --optimizer adamw "
                  "--batch 32 --lr 0.001 --epochs 1, weight decay 0.1, --test-limit 64 validation windows)");
  add_integer_flag(cmd, "--context", flags->context, "lm: bytes per window (default 128)", train::limits::kContext);
  add_integer_flag(cmd, "--blocks", flags->blocks, "lm: transformer blocks (default 4)", train::limits::kBlocks);
  add_integer_flag(cmd, "--heads", flags->heads, "lm: attention heads, dividing --width (default 4)",
                   train::limits::kHeads);
  cmd->add_option("--optimizer", flags->optimizer, "sgd (default; momentum 0.9) or adamw (default of tasks superres and lm)");
  add_integer_flag(cmd, "--steps", flags->steps,
                   "Train exactly N optimizer steps, the learning-rate schedule fitted to them (instead of --epochs; "
                   "evaluation after every epoch and at the end)",
                   train::limits::kSteps);
  add_integer_flag(cmd, "--scale", flags->scale, "superres: upscaling factor (default 2)", train::limits::kScale);
  cmd->add_option("--model", flags->model, "mlp, lenet5, vgg7, resnet20 (default lenet5); superres: espcn; lm: gpt");
  add_integer_flag(cmd, "--width", flags->width,
                   "vgg7 channels of the first block (default 128); espcn channels (default 32); gpt width (default 128)",
                   train::limits::kWidth);
  cmd->add_option("--data", flags->data,
                  "fashion-mnist (default, Debian's copy), fashion-mnist:DIR, mnist:DIR, cifar10:DIR, cifar100:DIR; "
                  "superres: photos (default, Debian's sample photographs) or sr:DIR (DIR/train, DIR/test: HR images); "
                  "lm: fortunes (default, Debian's fortunes package) or text:FILE (any file, bytes)");
  add_integer_flag(cmd, "--epochs", flags->epochs, "Epochs to train (with --resume: train up to this many)",
                   train::limits::kEpochs);
  add_integer_flag(cmd, "--batch", flags->batch, "Batch size (default 128)", train::limits::kBatch);
  add_real_flag(cmd, "--lr", flags->lr, "Peak learning rate (default 0.05, cosine schedule)", train::limits::kLr);
  add_integer_flag(cmd, "--seed", flags->seed, "Seed of initialisation, data order and generators (default 1)",
                   train::limits::kSeed);
  add_integer_flag(cmd, "--threads", flags->threads, "Threads (default: all cores)", train::limits::kThreads);
  add_integer_flag(cmd, "--train-limit", flags->train_limit, "Use only the first N training images",
                   train::limits::kImageLimit);
  add_integer_flag(cmd, "--test-limit", flags->test_limit, "Use only the first N test images",
                   train::limits::kImageLimit);
  cmd->add_option("--out", flags->out, "Run folder: metrics.csv, summary.json, checkpoint.pt");
  cmd->add_option("--dump", flags->dump,
                  "Write the harvested bits of one tap (run's extractor) to this file, for rngfree nist --input binary");
  cmd->add_option("--dump-tap", flags->dump_tap, "Tap to dump: input, weights, act, err, grad, prob (lm: a h{i}.pv layer) (default act)");
  add_integer_flag(cmd, "--dump-layer", flags->dump_layer, "Quantized layer whose tap is dumped (default 0)",
                   train::limits::kDumpLayer);
  add_integer_flag(cmd, "--dump-bits", flags->dump_bits, "Bits to dump at most (default 10000000)",
                   train::limits::kDumpBits);
  cmd->add_flag("--resume", flags->resume,
                "Continue the run saved in --out DIR from its last checkpoint (up to --epochs). Its saved settings "
                "are the base: flags equal to them are accepted, flags that differ are refused (except --epochs, --steps "
                "and --threads)");

  add_integer_flag(cmd, "--nproc", flags->nproc,
                   "Data-parallel training in N local worker processes (Gloo on 127.0.0.1); --batch is per process, "
                   "the global batch is N times it (docs/distributed.md)",
                   train::limits::kNproc);
  add_integer_flag(cmd, "--rank", flags->rank, "This worker's rank (default: $RANK, else 0)", train::limits::kRank);
  add_integer_flag(cmd, "--world-size", flags->world_size, "Workers in the run (default: $WORLD_SIZE, else 1)",
                   train::limits::kWorldSize);
  cmd->add_option("--master-addr", flags->master_addr, "Rendezvous host (default: $MASTER_ADDR, else 127.0.0.1)");
  add_integer_flag(cmd, "--master-port", flags->master_port, "Rendezvous port (default: $MASTER_PORT, else 29500)",
                   train::limits::kMasterPort);
  add_integer_flag(cmd, "--dist-timeout", flags->dist_timeout,
                   "Seconds a worker waits for the others in any collective before it stops with an error (default 120)",
                   train::limits::kDistTimeout);
  cmd->add_option("--allreduce", flags->allreduce,
                  "Format of the weight gradients in the allreduce: fp32 (default) or G (the G site's fixed:WL:dyn, "
                  "a grid every rank computes alike; docs/distributed.md)");
  cmd->add_flag("--unsafe-local-update-bits", flags->local_update_bits,
                "Diagnostic: let every rank round U and M with its own harvested bits (the replicas drift apart and "
                "the per-epoch hash check stops the run). Never for training");
  cmd->add_flag("--quiet", flags->quiet, "No progress bar");
  cmd->add_flag("--layers", flags->list_layers, "Print the quantized layers and the source of every site, then exit");
  cmd->callback([flags] {
    // With --resume the saved run's settings are the base: the same command again (with --resume
    // added) gives the same configuration, and run_training refuses any setting that differs.
    train::TrainConfig cfg = flags->resume ? train::saved_run_config(flags->out) : train::TrainConfig{};
    if (!flags->task.empty() && (!flags->resume || flags->task != cfg.task)) train::apply_task(cfg, flags->task);
    if (!flags->preset.empty()) train::apply_preset(cfg, flags->preset);
    if (!flags->config.empty()) train::apply_toml_file(cfg, flags->config, flags->preset);
    if (!flags->model.empty()) cfg.model = flags->model;
    if (!flags->data.empty()) cfg.data = flags->data;
    if (flags->width) cfg.width = *flags->width;
    if (flags->scale) cfg.scale = *flags->scale;
    if (flags->context) cfg.context = *flags->context;
    if (flags->blocks) cfg.blocks = *flags->blocks;
    if (flags->heads) cfg.heads = *flags->heads;
    if (flags->steps) cfg.steps = *flags->steps;
    if (!flags->optimizer.empty()) cfg.optimizer = flags->optimizer;
    if (flags->epochs) cfg.epochs = *flags->epochs;
    if (flags->batch) cfg.batch = *flags->batch;
    if (flags->lr) cfg.lr = *flags->lr;
    if (flags->seed) cfg.seed = *flags->seed;
    if (flags->threads) cfg.threads = *flags->threads;
    if (flags->train_limit) cfg.train_limit = *flags->train_limit;
    if (flags->test_limit) cfg.test_limit = *flags->test_limit;
    if (!flags->dump.empty()) cfg.dump.path = flags->dump;
    if (!flags->dump_tap.empty()) cfg.dump.tap = flags->dump_tap;
    if (flags->dump_layer) cfg.dump.layer = *flags->dump_layer;
    if (flags->dump_bits) cfg.dump.max_bits = *flags->dump_bits;
    cfg.validate();
    if (flags->list_layers) {
      train::Trainer t(cfg);
      const int nproc = flags->nproc.value_or(1);
      const auto update_bits = flags->local_update_bits ? train::UpdateBits::kLocal : train::UpdateBits::kRankZero;
      for (const auto& l : t.layers()) {
        fmt::print("layer {} {} ({} weights)\n", l.index, l.name, l.weight_count);
        for (const auto& s : l.sites) fmt::print("  {}\n", s);
        for (int s = 0; s < train::kNumSites && nproc > 1; ++s) {  // where the ranks' words differ or agree
          const std::string note = train::describe(train::replica_bits(t.site_plan().at(l.index, static_cast<train::Site>(s)), update_bits));
          if (!note.empty()) fmt::print("  {} with --nproc {}: {}\n", train::kSiteNames[s], nproc, note);
        }
      }
      // The gpt's tensor sites ([quant.layernorm], [quant.softmax], [quant.embedding]; docs/lm.md).
      for (int k = 0; k < train::kNumTensorSites; ++k) {
        const train::SiteConfig& s = cfg.quant.tensors[static_cast<size_t>(k)];
        if (s.format.empty()) continue;
        const bool sr = Rounding::parse(s.rounding).is_stochastic();
        fmt::print("tensor site {}: {} {}{}\n", train::kTensorSiteNames[k], s.format, s.rounding,
                   sr ? fmt::format(" <- {} (stream 2^33 + {}{})", s.source, k, nproc > 1 ? ", rank R > 0 adds R*2^40" : "")
                      : std::string());
      }
      return;
    }
    // Where this process stands: defaults < torchrun's environment < flags.
    train::DistConfig dist = train::dist_config_from_env();
    if (flags->rank) dist.rank = *flags->rank;
    if (flags->world_size) dist.world_size = *flags->world_size;
    if (!flags->master_addr.empty()) dist.master_addr = flags->master_addr;
    if (flags->master_port) dist.master_port = *flags->master_port;
    if (flags->dist_timeout) dist.timeout_s = *flags->dist_timeout;
    if (flags->local_update_bits) dist.update_bits = train::UpdateBits::kLocal;
    if (!flags->allreduce.empty()) dist.allreduce = train::parse_allreduce_format(flags->allreduce);
    const int nproc = flags->nproc.value_or(1);
    if (nproc > 1 && !dist.agent_store) {
      // The launcher: N copies of this very command, each told its rank through the environment.
      if (flags->rank || flags->world_size || flags->master_port || !flags->master_addr.empty()) {
        throw Error("--nproc starts its own workers on 127.0.0.1: leave out --rank, --world-size, --master-addr and "
                    "--master-port (those are for workers started by torchrun or by hand)");
      }
      train::launch_local_workers(nproc, train::own_command_line(), dist.timeout_s);
      return;
    }
    if (nproc > 1 && dist.world_size != nproc) {
      throw Error(fmt::format("--nproc {} but WORLD_SIZE is {}", nproc, dist.world_size));
    }
    dist.validate();
    train::RunOptions opt;
    opt.out_dir = flags->out;
    opt.resume = flags->resume;
    opt.dist = dist;
    opt.progress = !flags->quiet && dist.rank == 0;  // the other ranks print nothing but errors
    train::RunSummary s = train::run_training(cfg, opt);
    if (dist.rank != 0) return;
    if (s.config.task == "lm") {
      fmt::print("{} {} on {}: validation loss {:.4f} nats/byte, {:.4f} bits/byte (best loss {:.4f}), {:.0f} bytes/s, "
                 "{:.1f} s\n", s.config.preset, s.config.model, s.config.data, s.val_loss, s.val_bpc, s.best_val_loss,
                 s.images_per_s, s.wall_seconds);
      if (!flags->out.empty()) fmt::print("wrote {}/metrics.csv, summary.json, checkpoint.pt\n", flags->out);
      return;
    }
    if (s.config.task == "superres") {
      fmt::print("{} {} x{} on {}: test PSNR {:.3f} dB (best {:.3f} dB; bicubic {:.3f} dB), SSIM {:.4f} (bicubic {:.4f}), "
                 "{:.0f} patches/s, {:.1f} s\n", s.config.preset, s.config.model, s.config.scale, s.config.data,
                 s.test_psnr_db, s.best_test_psnr_db, s.bicubic_psnr_db, s.test_ssim, s.bicubic_ssim, s.images_per_s,
                 s.wall_seconds);
      if (!flags->out.empty()) fmt::print("wrote {}/metrics.csv, summary.json, checkpoint.pt, sr_crop.png\n", flags->out);
      return;
    }
    fmt::print("{} {} on {}: test accuracy {:.2f}% (best {:.2f}%), {:.0f} images/s, {:.1f} s\n", s.config.preset,
               s.config.model, s.config.data, 100 * s.test_accuracy, 100 * s.best_test_accuracy, s.images_per_s,
               s.wall_seconds);
    if (s.world_size > 1) {
      const double steps = static_cast<double>(std::max<int64_t>(1, s.steps));
      fmt::print("{} processes, global batch {} ({} per process); collectives {:.2f} ms and {:.1f} KB written per step "
                 "on rank 0 (allreduce {})\n",
                 s.world_size, static_cast<int64_t>(s.config.batch) * s.world_size, s.config.batch,
                 1000.0 * s.collective_seconds / steps, s.collective_bytes / steps / 1000.0,
                 dist.allreduce == train::AllreduceFormat::kGradient ? "G" : "fp32");
    }
    if (!flags->out.empty()) fmt::print("wrote {}/metrics.csv, summary.json, checkpoint.pt\n", flags->out);
  });
});

}  // namespace
}  // namespace rngfree::app
