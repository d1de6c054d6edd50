// Run folders (trainer.hpp, run_training): metrics.csv, summary.json and checkpoint.pt after every
// epoch, --resume, progress on stderr.
#include <nlohmann/json.hpp>

#include "rngfree/atomic_file.hpp"
#include "trainer_impl.hpp"

namespace rngfree::train {

// ---- run folders -------------------------------------------------------------------------------

namespace {

nlohmann::ordered_json epoch_json(const EpochMetrics& e, bool superres, bool lm = false) {
  if (lm) {  // test_* are the validation text's
    return {{"epoch", e.epoch},       {"step", e.step},       {"train_loss", e.train_loss},
            {"val_loss", e.test_loss}, {"val_bpc", e.val_bpc}, {"val_accuracy", e.test_accuracy},
            {"lr", e.lr},             {"seconds", e.seconds}, {"tokens_per_s", e.images_per_s}};
  }
  nlohmann::ordered_json j = {{"epoch", e.epoch},         {"train_loss", e.train_loss}, {"train_accuracy", e.train_accuracy},
                              {"test_loss", e.test_loss}, {"test_accuracy", e.test_accuracy}, {"lr", e.lr},
                              {"seconds", e.seconds},     {"images_per_s", e.images_per_s}};
  if (superres) {
    j["test_psnr_db"] = e.test_psnr_db;
    j["bicubic_psnr_db"] = e.bicubic_psnr_db;
    j["test_ssim"] = e.test_ssim;
    j["bicubic_ssim"] = e.bicubic_ssim;
  }
  return j;
}

std::string metrics_csv(const std::vector<EpochMetrics>& rows, bool superres, bool lm) {
  if (lm) {  // images_per_s counts bytes predicted
    std::string s = "epoch,step,train_loss,val_loss,val_bpc,val_accuracy,lr,seconds,tokens_per_s\n";
    for (const auto& e : rows) {
      s += fmt::format("{},{},{:.6f},{:.6f},{:.6f},{:.6f},{:.6g},{:.3f},{:.1f}\n", e.epoch, e.step, e.train_loss,
                       e.test_loss, e.val_bpc, e.test_accuracy, e.lr, e.seconds, e.images_per_s);
    }
    return s;
  }
  if (superres) {  // images_per_s counts training patches
    std::string s = "epoch,train_loss,test_loss,test_psnr_db,bicubic_psnr_db,test_ssim,bicubic_ssim,lr,seconds,images_per_s\n";
    for (const auto& e : rows) {
      s += fmt::format("{},{:.6f},{:.6f},{:.4f},{:.4f},{:.5f},{:.5f},{:.6g},{:.3f},{:.1f}\n", e.epoch, e.train_loss,
                       e.test_loss, e.test_psnr_db, e.bicubic_psnr_db, e.test_ssim, e.bicubic_ssim, e.lr, e.seconds,
                       e.images_per_s);
    }
    return s;
  }
  std::string s = "epoch,train_loss,train_accuracy,test_loss,test_accuracy,lr,seconds,images_per_s\n";
  for (const auto& e : rows) {
    s += fmt::format("{},{:.6f},{:.6f},{:.6f},{:.6f},{:.6g},{:.3f},{:.1f}\n", e.epoch, e.train_loss, e.train_accuracy,
                     e.test_loss, e.test_accuracy, e.lr, e.seconds, e.images_per_s);
  }
  return s;
}

void finish_summary(RunSummary& s) {
  double secs = 0, imgs = 0;
  s.best_test_accuracy = 0;
  s.best_test_psnr_db = s.epochs.empty() ? 0 : s.epochs.front().test_psnr_db;
  for (const auto& e : s.epochs) {
    secs += e.seconds;
    imgs += e.seconds * e.images_per_s;
    s.best_test_accuracy = std::max(s.best_test_accuracy, e.test_accuracy);
    s.best_test_psnr_db = std::max(s.best_test_psnr_db, e.test_psnr_db);
  }
  s.test_accuracy = s.epochs.empty() ? 0 : s.epochs.back().test_accuracy;
  s.best_val_loss = s.epochs.empty() ? 0 : s.epochs.front().test_loss;
  for (const auto& e : s.epochs) s.best_val_loss = std::min(s.best_val_loss, e.test_loss);
  s.val_loss = s.epochs.empty() ? 0 : s.epochs.back().test_loss;
  s.val_bpc = s.epochs.empty() ? 0 : s.epochs.back().val_bpc;
  if (!s.epochs.empty()) {
    s.test_psnr_db = s.epochs.back().test_psnr_db;
    s.bicubic_psnr_db = s.epochs.back().bicubic_psnr_db;
    s.test_ssim = s.epochs.back().test_ssim;
    s.bicubic_ssim = s.epochs.back().bicubic_ssim;
  }
  s.images_per_s = secs > 0 ? imgs / secs : 0;
}

std::string history_json(const std::vector<EpochMetrics>& rows, double wall, int world_size) {
  nlohmann::ordered_json j;
  j["wall_seconds"] = wall;
  j["world_size"] = world_size;
  j["epochs"] = nlohmann::json::array();
  for (const auto& e : rows) {
    nlohmann::ordered_json row = epoch_json(e, true);
    row["val_bpc"] = e.val_bpc;
    row["step"] = e.step;
    j["epochs"].push_back(row);
  }
  return j.dump();
}

std::vector<EpochMetrics> history_from_json(const std::string& text, double& wall, int& world_size) {
  std::vector<EpochMetrics> rows;
  wall = 0;
  world_size = 1;
  if (text.empty()) return rows;
  auto j = nlohmann::json::parse(text);
  wall = j.at("wall_seconds");
  // Runs saved before data parallelism have no world_size: they ran as one process.
  if (j.contains("world_size")) world_size = j.at("world_size").get<int>();
  for (const auto& e : j.at("epochs")) {
    rows.push_back({e.at("epoch"), e.at("train_loss"), e.at("train_accuracy"), e.at("test_loss"), e.at("test_accuracy"),
                    e.at("lr"), e.at("seconds"), e.at("images_per_s"), e.value("test_psnr_db", 0.0),
                    e.value("bicubic_psnr_db", 0.0), e.value("test_ssim", 0.0), e.value("bicubic_ssim", 0.0),
                    e.value("val_bpc", 0.0), e.value("step", int64_t{0})});
  }
  return rows;
}

void print_progress(int epoch, int epochs, int64_t done, int64_t total, double loss, double acc, double ips,
                    bool tty, bool superres, bool lm) {
  if (!tty && done != total) return;
  constexpr int kWidth = 28;
  const int filled = static_cast<int>(kWidth * done / std::max<int64_t>(1, total));
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < kWidth) bar += '>' + std::string(static_cast<size_t>(kWidth - filled - 1), ' ');
  if (superres) {
    std::fprintf(stderr, "%sepoch %d/%d [%s] %lld/%lld L1 %.5f %.0f patches/s", tty ? "\r" : "", epoch, epochs,
                 bar.c_str(), static_cast<long long>(done), static_cast<long long>(total), loss, ips);
    return;
  }
  if (lm) {
    std::fprintf(stderr, "%sepoch %d/%d [%s] %lld/%lld loss %.4f (%.3f bits/byte) %.0f bytes/s", tty ? "\r" : "", epoch,
                 epochs, bar.c_str(), static_cast<long long>(done), static_cast<long long>(total), loss,
                 loss / std::numbers::ln2, ips);
    return;
  }
  std::fprintf(stderr, "%sepoch %d/%d [%s] %lld/%lld loss %.4f acc %.2f%% %.0f img/s", tty ? "\r" : "", epoch, epochs,
               bar.c_str(), static_cast<long long>(done), static_cast<long long>(total), loss, 100 * acc, ips);
}

}  // namespace

std::string summary_json(const RunSummary& s) {
  nlohmann::ordered_json j;
  j["config"] = nlohmann::json::parse(to_json(s.config));
  const bool sr = s.config.task == "superres", lm = s.config.task == "lm";
  if (lm) {
    j["val_loss"] = s.val_loss;
    j["val_bpc"] = s.val_bpc;
    j["best_val_loss"] = s.best_val_loss;
  } else if (sr) {
    j["test_psnr_db"] = s.test_psnr_db;
    j["best_test_psnr_db"] = s.best_test_psnr_db;
    j["bicubic_psnr_db"] = s.bicubic_psnr_db;
    j["test_ssim"] = s.test_ssim;
    j["bicubic_ssim"] = s.bicubic_ssim;
  } else {
    j["test_accuracy"] = s.test_accuracy;
    j["best_test_accuracy"] = s.best_test_accuracy;
  }
  j["wall_seconds"] = s.wall_seconds;
  j["images_per_s"] = s.images_per_s;
  if (s.world_size > 1) {
    j["world_size"] = s.world_size;
    j["global_batch"] = static_cast<int64_t>(s.config.batch) * s.world_size;
    j["collective_seconds"] = s.collective_seconds;
    j["collective_ms_per_step"] = s.steps > 0 ? 1000.0 * s.collective_seconds / static_cast<double>(s.steps) : 0.0;
    j["collective_bytes_written_per_step"] =
        s.steps > 0 && s.collective_bytes >= 0 ? static_cast<double>(s.collective_bytes) / static_cast<double>(s.steps) : -1.0;
  }
  j["epochs"] = nlohmann::json::array();
  for (const auto& e : s.epochs) j["epochs"].push_back(epoch_json(e, sr, lm));
  return j.dump(2) + "\n";
}

namespace {
int options_stop(const RunOptions& opt) { return opt.stop_after_epochs; }

// metrics.csv and summary.json of a run folder, each written atomically after the checkpoint (which
// holds the history they are made from).
void write_reports(const std::string& out_dir, const RunSummary& summary) {
  write_file_atomic((fs::path(out_dir) / "metrics.csv").string(),
                    metrics_csv(summary.epochs, summary.config.task == "superres", summary.config.task == "lm"));
  write_file_atomic((fs::path(out_dir) / "summary.json").string(), summary_json(summary));
}
}  // namespace

namespace {
// The centre (at most 128×128 HR pixels) of the first test image: bicubic | model | ground truth.
void write_sr_crop(const std::string& path, Trainer& trainer) {
  const Trainer::SrImages im = trainer.super_resolve_test_image(0);
  const int h = std::min(128, im.truth.height), w = std::min(128, im.truth.width);
  const int y = (im.truth.height - h) / 2, x = (im.truth.width - w) / 2;
  write_png(path, side_by_side({crop(im.bicubic, y, x, h, w), crop(im.output, y, x, h, w), crop(im.truth, y, x, h, w)}, 4));
}
}  // namespace

std::string checkpoint_path(const std::string& out_dir) { return (fs::path(out_dir) / "checkpoint.pt").string(); }

TrainConfig saved_run_config(const std::string& out_dir) {
  if (out_dir.empty()) throw Error("--resume needs --out DIR (the folder of the run to continue)");
  return load_checkpoint_config(checkpoint_path(out_dir));
}

RunSummary run_training(const TrainConfig& cfg_in, const RunOptions& opt) {
  const auto wall0 = std::chrono::steady_clock::now();
  TrainConfig cfg = cfg_in;
  const std::string ckpt = opt.out_dir.empty() ? std::string() : checkpoint_path(opt.out_dir);
  TrainConfig saved;
  if (!opt.out_dir.empty()) {
    const int removed = remove_abandoned_temporaries(opt.out_dir);  // left by a run killed inside a write
    if (removed > 0 && opt.progress) {
      std::fprintf(stderr, "removed %d temporary file(s) left in '%s' by a write that was killed\n", removed,
                   opt.out_dir.c_str());
    }
  }
  if (opt.resume) {
    saved = saved_run_config(opt.out_dir);
    const std::vector<std::string> diff = config_differences(saved, cfg, {"epochs", "steps", "threads"});
    if (!diff.empty()) {
      std::string list;
      for (const auto& d : diff) list += "\n  " + d;
      throw Error(fmt::format("--resume: {} setting(s) differ from the run saved in '{}':{}\nGive the saved values or "
                              "leave those flags out (the run continues with its own settings; only --epochs, --steps "
                              "and --threads may change), or start a new run in another --out folder",
                              diff.size(), ckpt, list));
    }
  }
  // Every rank reads the run folder (--resume); only rank 0 writes it.
  const bool writer = opt.dist.rank == 0;
  const std::string out_dir = writer ? opt.out_dir : std::string();
  if (!out_dir.empty()) {
    std::error_code ec;
    fs::create_directories(opt.out_dir, ec);
    if (ec) throw Error(fmt::format("--out '{}': cannot create the folder ({})", opt.out_dir, ec.message()));
  }
  Trainer trainer(cfg, opt.dist);
  if (opt.tap_callback) trainer.set_tap_callback(opt.tap_callback);
  RunSummary summary;
  summary.config = cfg;
  summary.world_size = opt.dist.world_size;
  summary.steps_per_epoch = trainer.steps_per_epoch();
  double wall_before = 0;
  if (opt.resume) {
    int saved_world = 1;
    summary.epochs = history_from_json(trainer.load_checkpoint(ckpt), wall_before, saved_world);
    if (saved_world != opt.dist.world_size) {
      // The global batch (and so the schedule and the data order per step) depends on the ranks.
      throw Error(fmt::format("--resume: the run in '{}' was trained by {} process(es), this one has {}; give the "
                              "same --nproc (or WORLD_SIZE) to continue it",
                              opt.out_dir, saved_world, opt.dist.world_size));
    }
    if (trainer.step() >= trainer.total_steps()) {
      // A run killed after its last checkpoint but before its reports: they are written again from
      // the checkpoint, so the folder is whole before the refusal.
      summary.config = saved;  // its epochs: the target the run was trained to, not the refused one
      summary.wall_seconds = wall_before;
      finish_summary(summary);
      if (writer) write_reports(opt.out_dir, summary);
      if (cfg.steps > 0) {
        throw Error(fmt::format("--resume: the run in '{}' has already done {} steps; pass --steps N with N > {} to "
                                "continue it", opt.out_dir, trainer.step(), trainer.step()));
      }
      throw Error(fmt::format("--resume: the run in '{}' has already done {} epochs; pass --epochs N with N > {} to "
                              "continue it", opt.out_dir, trainer.epochs_done(), trainer.epochs_done()));
    }
  }
  const bool tty = isatty(2) != 0;
  int epochs_this_call = 0;
  const int64_t step0 = trainer.step();
  while (trainer.step() < trainer.total_steps() &&
         (options_stop(opt) == 0 || epochs_this_call < options_stop(opt))) {
    ++epochs_this_call;
    const int epoch = trainer.epochs_done() + 1;
    ProgressFn progress;
    if (opt.progress) {
      const auto t0 = std::chrono::steady_clock::now();
      progress = [&, t0, epoch](int64_t done, int64_t total, double loss, double acc, double ips) {
        static auto last = std::chrono::steady_clock::time_point{};
        const auto now = std::chrono::steady_clock::now();
        if (done != total && now - last < std::chrono::milliseconds(200)) return;
        last = now;
        const double el = std::chrono::duration<double>(now - t0).count();
        print_progress(epoch, trainer.epochs_total(), done, total, loss, acc, ips, tty, cfg.task == "superres",
                       cfg.task == "lm");
        if (tty || done == total) {
          std::fprintf(stderr, " ETA %.0fs   ", done > 0 ? el * static_cast<double>(total - done) / done : 0.0);
        }
      };
    }
    EpochMetrics e;
    try {
      e = trainer.train_epoch(progress);
    } catch (const NonFiniteLoss& err) {
      if (opt.progress) std::fprintf(stderr, "\n");
      std::string where = ckpt.empty() ? std::string("no checkpoint (no --out)")
                                       : fs::exists(ckpt) ? fmt::format("the last good checkpoint is '{}' (epoch {})",
                                                                        ckpt, summary.epochs.size())
                                                          : std::string("no checkpoint yet (it failed in epoch 1)");
      throw NonFiniteLoss(fmt::format("{}; {}", err.what(), where));
    }
    if (opt.progress && cfg.task == "lm") {
      std::fprintf(stderr, "\n  step %lld: validation loss %.4f nats/byte, %.4f bits/byte, next-byte accuracy %.2f%%\n",
                   static_cast<long long>(e.step), e.test_loss, e.val_bpc, 100 * e.test_accuracy);
    } else if (opt.progress && cfg.task == "superres") {
      std::fprintf(stderr, "\n  test PSNR %.3f dB (bicubic %.3f dB), SSIM %.4f (bicubic %.4f)\n", e.test_psnr_db,
                   e.bicubic_psnr_db, e.test_ssim, e.bicubic_ssim);
    } else if (opt.progress) {
      std::fprintf(stderr, "\n  test accuracy %.2f%%, test loss %.4f\n", 100 * e.test_accuracy, e.test_loss);
      if (trainer.world_size() > 1) {
        std::fprintf(stderr, "  %d replicas bit-identical (parameter hash %016llx)\n", trainer.world_size(),
                     static_cast<unsigned long long>(trainer.parameter_hash()));
      }
    }
    // A run resumed inside its last epoch (a --steps run continued with a larger --steps) has that
    // epoch's partial row: the continued epoch replaces it, so every epoch has one row.
    if (!summary.epochs.empty() && summary.epochs.back().epoch == e.epoch) {
      summary.epochs.back() = e;
    } else {
      summary.epochs.push_back(e);
    }
    const double wall =
        wall_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    summary.wall_seconds = wall;
    finish_summary(summary);
    summary.collective_seconds = trainer.collective_seconds();
    summary.collective_bytes = trainer.collective_bytes();
    summary.steps = trainer.step() - step0;
    if (!opt.out_dir.empty()) {
      // Every rank takes part (data-parallel checkpoints hold each rank's own taps and sources);
      // rank 0 writes.
      trainer.save_checkpoint(writer ? ckpt : std::string(), history_json(summary.epochs, wall, opt.dist.world_size));
      if (writer) write_reports(opt.out_dir, summary);
    }
  }
  summary.wall_seconds = wall_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  finish_summary(summary);
  summary.collective_seconds = trainer.collective_seconds();
  summary.collective_bytes = trainer.collective_bytes();
  summary.steps = trainer.step() - step0;
  if (!out_dir.empty()) {
    write_file_atomic((fs::path(opt.out_dir) / "summary.json").string(), summary_json(summary));
    if (cfg.task == "superres") write_sr_crop((fs::path(opt.out_dir) / "sr_crop.png").string(), trainer);
  }
  return summary;
}

}  // namespace rngfree::train
