// The state of one training run behind Trainer (internal to src/train): data, model, optimizer,
// sources, position, and the per-step loop pieces that trainer.cpp, checkpoint.cpp and run.cpp share.
#pragma once
#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <numbers>

#include "rngfree/atomic_file.hpp"
#include "rngfree/harvest/harvest.hpp"
#include "rngfree/quantize.hpp"
#include "rngfree/random/random_source.hpp"
#include "rngfree/train/optimizer.hpp"
#include "rngfree/train/superres.hpp"
#include "rngfree/train/text_data.hpp"
#include "rngfree/train/trainer.hpp"
#include "collectives.hpp"
#include "tensor_span.hpp"

namespace rngfree::train {
namespace fs = std::filesystem;

namespace detail {

inline std::shared_ptr<const DataSplit> cached_data(const std::string& spec) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const DataSplit>> cache;
  std::lock_guard lock(mu);
  auto& slot = cache[spec];
  if (!slot) slot = std::make_shared<const DataSplit>(load_data(spec));
  return slot;
}

// LR patch side of the super-resolution task's training patches.
inline constexpr int kSrPatch = 24;

inline std::shared_ptr<const SrSplit> cached_sr_data(const std::string& spec, int scale) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const SrSplit>> cache;
  std::lock_guard lock(mu);
  auto& slot = cache[spec + "|" + std::to_string(scale)];
  if (!slot) slot = std::make_shared<const SrSplit>(load_sr_data(spec, scale, kSrPatch));
  return slot;
}

inline std::shared_ptr<const TextSplit> cached_text_data(const std::string& spec) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const TextSplit>> cache;
  std::lock_guard lock(mu);
  auto& slot = cache[spec];
  if (!slot) slot = std::make_shared<const TextSplit>(load_text_data(spec));
  return slot;
}

// The super-resolved luma in [0, 1] of one LR luma image: clamp(bicubic + model residual).
inline std::vector<float> super_resolve_luma(Net& model, const SrImage& im) {
  torch::Tensor x = torch::from_blob(const_cast<float*>(im.lr.data()), {1, 1, im.lr_h, im.lr_w}, torch::kFloat32) - 0.5f;
  torch::Tensor bic = torch::from_blob(const_cast<float*>(im.bicubic.data()), {1, 1, im.hr_h, im.hr_w}, torch::kFloat32);
  torch::Tensor sr = (bic + model.forward(x)).clamp(0, 1).contiguous();
  return std::vector<float>(sr.data_ptr<float>(), sr.data_ptr<float>() + sr.numel());
}

inline uint64_t epoch_key(uint64_t seed, int64_t epoch, uint64_t purpose) {
  return random::splitmix64_mix(random::splitmix64_mix(seed ^ (purpose << 56)) + static_cast<uint64_t>(epoch));
}

inline torch::Tensor bytes_tensor(const std::string& s) {
  torch::Tensor t = torch::empty({static_cast<int64_t>(s.size())}, torch::kUInt8);
  if (!s.empty()) std::memcpy(t.data_ptr<uint8_t>(), s.data(), s.size());
  return t;
}
// A tensor read from an archive must fit in its storage's declared size (shape, strides, offset).
// libtorch 1.13 declares a storage's size from the pickle, not from the record it reads; that each
// record holds exactly its declared size is checked before libtorch reads the file
// (archive_check.hpp). Throws std::runtime_error (the loaders turn it into an Error).
inline void check_storage(const torch::Tensor& t, const std::string& what) {
  if (!t.defined() || !t.has_storage()) throw std::runtime_error(what + ": no tensor data");
  const int64_t need = (t.storage_offset() + (t.numel() == 0 ? 0 : 1)) * static_cast<int64_t>(t.element_size());
  int64_t extent = 0;
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (t.size(d) > 1) extent += (t.size(d) - 1) * t.stride(d);
    if (t.stride(d) < 0) throw std::runtime_error(what + ": negative stride");
  }
  const int64_t bytes = need + extent * static_cast<int64_t>(t.element_size());
  if (bytes > static_cast<int64_t>(t.storage().nbytes())) {
    throw std::runtime_error(what + ": the tensor needs " + std::to_string(bytes) + " bytes but its storage holds " +
                             std::to_string(t.storage().nbytes()));
  }
}
inline std::string tensor_bytes(const torch::Tensor& t) {
  check_storage(t, "a byte record");
  if (t.scalar_type() != torch::kUInt8) throw std::runtime_error("a byte record is not a uint8 tensor");
  torch::Tensor c = t.contiguous();
  return std::string(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()), static_cast<size_t>(c.numel()));
}

// An Error for a failure inside libtorch: its message without the C++ backtrace that c10::Error
// appends (the full text stays as the detail that `rngfree --verbose` prints), between `before` and
// `after`. nlohmann's and the standard library's errors have no backtrace and pass whole.
inline Error library_error(const std::string& before, const std::exception& e, const std::string& after) {
  const auto* c10 = dynamic_cast<const c10::Error*>(&e);
  std::string brief = c10 != nullptr ? c10->what_without_backtrace() : e.what();
  while (!brief.empty() && (brief.back() == '\n' || brief.back() == ' ')) brief.pop_back();
  return Error(before + brief + after, e.what());
}

// U's or M's words in a data-parallel run whose source reads a rank-local tap: rank 0 computes them
// exactly as a single process would (its own taps), and every rank receives them by a broadcast, so
// all ranks round the same averaged update with the same words and stay bit-identical.
class RankZeroWords final : public WordSource {
 public:
  RankZeroWords(std::unique_ptr<WordSource> inner, Collectives& comm) : inner_(std::move(inner)), comm_(comm) {}
  void fill(std::span<const float> self, std::span<uint32_t> out) override {
    if (comm_.rank() == 0) inner_->fill(self, out);
    comm_.broadcast_words(out);
  }
  std::string save_state() const override { return inner_->save_state(); }
  void load_state(std::string_view state) override { inner_->load_state(state); }
  std::string describe() const override { return inner_->describe() + ", rank 0's words broadcast to every rank"; }

 private:
  std::unique_ptr<WordSource> inner_;
  Collectives& comm_;
};

}  // namespace detail

using namespace detail;

struct Trainer::Impl {
  TrainConfig cfg;
  bool superres = false, lm = false;
  std::shared_ptr<const DataSplit> data;  // classify
  std::shared_ptr<const SrSplit> sr;      // superres
  std::shared_ptr<const TextSplit> text;  // lm
  int64_t train_count = 0, test_count = 0;
  Engine engine;
  std::shared_ptr<Net> model;
  std::unique_ptr<QSgd> opt;
  int64_t step = 0;
  int64_t steps_per_epoch = 0;
  int64_t batch = 0;
  std::vector<int64_t> order;
  int64_t order_epoch = -1;
  std::array<std::array<float, 256>, 3> lut{};  // normalized value of each byte, per channel
  TapCallback user_callback;
  // running statistics of the current epoch
  double epoch_loss = 0, epoch_correct = 0, epoch_seen = 0, epoch_seconds = 0;
  // harvested-bit dump
  harvest::TapKind dump_kind = harvest::TapKind::kAct;
  std::vector<uint8_t> dump_bytes;
  int64_t dump_bits = 0;

  // data parallelism (world 1: none)
  DistConfig dist;
  std::unique_ptr<Collectives> comm;
  int rank = 0, world = 1;

  explicit Impl(const TrainConfig& c, const DistConfig& d) : cfg(c), dist(d) {
    cfg.validate();
    dist.validate();
    rank = dist.rank;
    world = dist.world_size;
    set_training_threads(cfg.threads);
    superres = cfg.task == "superres";
    lm = cfg.task == "lm";
    int64_t train_total = 0, test_total = 0;
    if (lm) {  // counts in bytes (train) and validation windows (test)
      text = cached_text_data(cfg.data);
      check_text_length(*text, cfg.context);
      train_total = static_cast<int64_t>(text->train.size());
      test_total = (static_cast<int64_t>(text->val.size()) - 1) / cfg.context;
    } else if (superres) {
      sr = cached_sr_data(cfg.data, cfg.scale);
      train_total = sr->train.count;
      test_total = static_cast<int64_t>(sr->test.size());
    } else {
      data = cached_data(cfg.data);
      train_total = data->train.count;
      test_total = data->test.count;
    }
    train_count = cfg.train_limit > 0 ? std::min(cfg.train_limit, train_total) : train_total;
    test_count = cfg.test_limit > 0 ? std::min(cfg.test_limit, test_total) : test_total;
    // A global batch is `world` consecutive per-rank batches of the epoch's order; rank r takes the r-th.
    batch = std::min<int64_t>(cfg.batch, train_count / world);
    if (batch < 1) {
      throw Error(fmt::format("{} training {} cannot be split into {} ranks of at least one each", train_count,
                              superres ? "patches" : "images", world));
    }
    // the last partial global batch is dropped; lm: an epoch is as many windows as the text has bytes
    steps_per_epoch = lm ? std::max<int64_t>(1, train_count / (batch * world * cfg.context)) : train_count / (batch * world);
    for (int c = 0; c < 3 && !superres && !lm; ++c) {
      for (int v = 0; v < 256; ++v) lut[c][v] = (static_cast<float>(v) / 255.0f - data->mean[c]) / data->stddev[c];
    }
    torch::manual_seed(cfg.seed);
    engine.threads = cfg.threads;
    model = lm         ? make_lm_model(cfg.model, cfg.width, cfg.blocks, cfg.heads, cfg.context, engine)
            : superres ? make_sr_model(cfg.model, cfg.width, cfg.scale, engine)
                       : make_model(cfg.model, cfg.width, data->train.channels, data->train.height,
                                    data->train.num_classes, engine);
    if (!cfg.dump.path.empty()) {
      if (cfg.dump.layer >= static_cast<int>(engine.layers.size())) {
        throw Error(fmt::format("dump.layer {}: model {} has quantized layers 0..{}", cfg.dump.layer, cfg.model,
                                engine.layers.size() - 1));
      }
      dump_kind = harvest::Tap::parse(cfg.dump.tap).kind;
      const int dl = dump_kind == harvest::TapKind::kInput ? 0 : cfg.dump.layer;
      if (dump_kind == harvest::TapKind::kProb && !engine.layers[static_cast<size_t>(dl)]->has_prob) {
        std::string with;
        for (const auto& l : engine.layers) {
          if (l->has_prob) with += fmt::format("{}{} ({})", with.empty() ? "" : ", ", l->index, l->name);
        }
        throw Error(fmt::format("dump.tap 'prob' (--dump-tap) at dump.layer {} ({}): that layer has no prob tap; "
                                "layers with one: {}",
                                dl, engine.layers[static_cast<size_t>(dl)]->name,
                                with.empty() ? "none in model " + cfg.model : with));
      }
      engine.layers[dl]->keep[static_cast<int>(dump_kind)] = true;
    }
    engine.configure(cfg.quant, cfg.seed);
    opt = std::make_unique<QSgd>(*model, engine, cfg.momentum, cfg.weight_decay);
    if (cfg.optimizer == "adamw") opt->use_adamw(cfg.beta1, cfg.beta2);
    model->train();
    if (dist.distributed()) join_replicas();
  }

  // Joins the process group, starts every rank from rank 0's parameters and buffers (they are equal
  // already: the same seed builds the same model; the broadcast makes it a guarantee), and gives U
  // and M rank 0's words where their source reads a rank-local tap (UpdateBits::kRankZero).
  void join_replicas() {
    comm = std::make_unique<Collectives>(dist);
    {
      torch::NoGradGuard guard;
      for (auto p : model->parameters()) comm->broadcast(p);
      for (auto b : model->buffers()) comm->broadcast(b);
    }
    // A, E and G round tensors computed from the rank's own batch: with a generator, rank R > 0
    // draws its own stream, so the ranks' rounding errors are independent, as they are between the
    // images of one process's batch. W, U and M keep the replica-identical stream (identical weights,
    // identical averaged update). U and M harvested from rank-local taps take rank 0's words.
    for (auto& l : engine.layers) {
      for (int s = 0; s < kNumSites; ++s) {
        PlannedSite p = engine.plan.at(l->index, static_cast<Site>(s));
        QuantSite& site = l->sites[s];
        if (!site.active || site.source == nullptr) continue;
        const ReplicaBits bits = replica_bits(p, dist.update_bits);
        if (bits == ReplicaBits::kRankStream && rank > 0) {
          p.stream += replica_stream_offset(rank);
          site.source = make_word_source(p, engine, cfg.seed);
        } else if (bits == ReplicaBits::kRankZeroWords) {
          site.source = std::make_unique<RankZeroWords>(std::move(site.source), *comm);
        }
      }
    }
    // The gpt's tensor sites round tensors of the rank's own batch, as A does: rank R > 0 draws its
    // own stream.
    for (int k = 0; k < kNumTensorSites && rank > 0; ++k) {
      QuantSite& site = engine.tensor_sites[static_cast<size_t>(k)];
      if (!site.active || site.source == nullptr) continue;
      engine.set_tensor_site_generator(static_cast<TensorSite>(k), cfg.quant.tensors[static_cast<size_t>(k)].source,
                                       cfg.seed, replica_stream_offset(rank));
    }
  }

  // Data-parallel step: the mean over ranks of every gradient, of the float buffers (BatchNorm's
  // running statistics, so evaluation and checkpoints agree on every rank) and of the step's loss
  // and correct count, in one FP32 allreduce — except the weight gradients that travel in G's
  // format (AllreduceFormat::kGradient, average_in_gradient_format).
  void average_over_ranks(double& loss, double& correct) {
    torch::NoGradGuard guard;
    std::vector<QLayer*> low;
    if (dist.allreduce == AllreduceFormat::kGradient) {
      for (auto& l : engine.layers) {
        const QuantSite& g = l->site(Site::kGradients);
        if (g.active && g.format.kind == FormatKind::kFixedDynamic && l->weight.defined() && l->weight.grad().defined()) {
          low.push_back(l.get());
        }
      }
    }
    std::vector<torch::Tensor> parts;
    for (auto& p : opt->params) {
      if (!p.value.grad().defined()) continue;
      if (std::any_of(low.begin(), low.end(), [&](const QLayer* l) { return l->weight.is_same(p.value); })) continue;
      parts.push_back(p.value.mutable_grad());
    }
    for (auto b : model->buffers()) {
      if (b.is_floating_point()) parts.push_back(b);
    }
    torch::Tensor stats = torch::tensor({static_cast<float>(loss), static_cast<float>(correct)}, torch::kFloat32);
    parts.push_back(stats);
    comm->average(parts);
    loss = static_cast<double>(stats[0].item<float>());
    correct = static_cast<double>(stats[1].item<float>()) * world;
    if (!low.empty()) average_in_gradient_format(low);
  }

  // The mean over ranks of these layers' weight gradients (each already rounded by its G site,
  // fixed:WL:dyn with the rank's own step), carried as WL-bit integers. Every rank computes the same
  // step from the allreduced max|g| (the format's rule: e = floor(log2 max), FL = WL-2-e), rounds its
  // gradient onto that grid with G's rounding and G's (rank-local) words — exact where the rank's own
  // max is the largest, a second rounding on the coarser common grid otherwise — and the integers of
  // all ranks are summed exactly (int32, rank order) and scaled by 2^-FL / N identically everywhere.
  // WL <= 8 travels as int8 (an allgather: N-1 copies of n bytes per rank), wider as int32.
  void average_in_gradient_format(const std::vector<QLayer*>& low) {
    const int64_t n_layers = static_cast<int64_t>(low.size());
    torch::Tensor maxes = torch::zeros({n_layers}, torch::kFloat32);
    for (int64_t i = 0; i < n_layers; ++i) {
      const torch::Tensor g = low[i]->weight.grad().abs();
      maxes[i] = g.masked_fill(g.isfinite().logical_not(), 0).max();
    }
    comm->max(maxes);
    int wl = 0;
    std::vector<int> fl(static_cast<size_t>(n_layers), 0);
    std::vector<torch::Tensor> codes;
    for (int64_t i = 0; i < n_layers; ++i) {
      QuantSite& g = low[i]->site(Site::kGradients);
      wl = std::max(wl, g.format.word_length);
      const float top = maxes[i].item<float>();
      torch::Tensor grad = low[i]->weight.mutable_grad().contiguous();
      if (!(top > 0.0f)) {  // all zero on every rank
        codes.push_back(torch::zeros({grad.numel()}, torch::kInt32));
        continue;
      }
      int e2 = 0;
      (void)std::frexp(top, &e2);  // top = f·2^e2, f in [0.5, 1): floor(log2 top) = e2 - 1
      fl[i] = g.format.word_length - 2 - (e2 - 1);
      Format grid;
      grid.kind = FormatKind::kFixed;
      grid.word_length = g.format.word_length;
      grid.fraction_length = fl[i];
      if (fl[i] < -64 || fl[i] > 64) {
        throw Error(fmt::format("--allreduce G: layer {} ({}): the gradients' largest magnitude {} needs the step "
                                "2^-{}, outside fixed:WL:FL's FL range -64..64; use --allreduce fp32",
                                low[i]->index, low[i]->name, top, fl[i]));
      }
      torch::Tensor rounded = torch::empty_like(grad);
      std::vector<uint32_t> words;
      if (g.rounding.is_stochastic()) {
        words.resize(static_cast<size_t>(grad.numel()));
        g.source->fill(float_span(grad), words);
      }
      quantize(float_span(grad), float_span_mut(rounded), grid, g.rounding, words, QuantizeOptions{engine.threads});
      codes.push_back(rounded.mul(std::ldexp(1.0, fl[i])).round().to(torch::kInt32).reshape({-1}));
    }
    const auto wire = wl <= 8 ? torch::kInt8 : torch::kInt32;
    torch::Tensor flat = torch::cat(codes).to(wire);
    const std::vector<torch::Tensor> all = comm->allgather(flat);
    torch::Tensor sum = torch::zeros({flat.numel()}, torch::kInt32);
    for (const auto& t : all) sum += t.to(torch::kInt32);
    int64_t at = 0;
    for (int64_t i = 0; i < n_layers; ++i) {
      torch::Tensor grad = low[i]->weight.mutable_grad();
      const int64_t n = grad.numel();
      torch::Tensor mean = sum.narrow(0, at, n).to(torch::kFloat32).mul(std::ldexp(1.0, -fl[i])).div(world);
      grad.copy_(mean.view_as(grad));
      at += n;
    }
  }

  // The run's length: --steps, else epochs × steps per epoch; its epochs (the last one partial when
  // --steps is not a multiple of an epoch).
  int64_t total_steps() const { return cfg.steps > 0 ? cfg.steps : steps_per_epoch * cfg.epochs; }
  int total_epochs() const { return static_cast<int>((total_steps() + steps_per_epoch - 1) / steps_per_epoch); }

  double lr_at(int64_t s) const {
    if (cfg.schedule == "constant") return cfg.lr;
    const double total = static_cast<double>(total_steps());
    return 0.5 * cfg.lr * (1.0 + std::cos(std::numbers::pi * std::min(1.0, static_cast<double>(s) / total)));
  }

  void ensure_order(int64_t epoch) {
    if (order_epoch == epoch) return;
    order.resize(train_count);
    for (int64_t i = 0; i < train_count; ++i) order[i] = i;
    random::SplitMix64 rng(epoch_key(cfg.seed, epoch, 1));
    for (int64_t i = train_count - 1; i > 0; --i) {  // Fisher-Yates
      const int64_t j = static_cast<int64_t>(rng.next() % static_cast<uint64_t>(i + 1));
      std::swap(order[i], order[j]);
    }
    order_epoch = epoch;
  }

  // Images [first, first+n) of `order` (or of the split itself when order is null) as a
  // normalized (n, C, H, W) tensor; CIFAR training batches are randomly cropped and flipped.
  void make_batch(const Dataset& d, const int64_t* idx, int64_t n, bool augment, uint64_t aug_key, torch::Tensor& x,
                  torch::Tensor& y) {
    const int C = d.channels, H = d.height, W = d.width;
    x = torch::empty({n, C, H, W}, torch::kFloat32);
    y = torch::empty({n}, torch::kInt64);
    float* xp = x.data_ptr<float>();
    int64_t* yp = y.data_ptr<int64_t>();
    const int64_t img = d.image_size();
    for (int64_t b = 0; b < n; ++b) {
      const int64_t i = idx[b];
      const uint8_t* src = d.pixels.data() + i * img;
      float* dst = xp + b * img;
      yp[b] = d.labels[i];
      if (!augment) {
        for (int c = 0; c < C; ++c) {
          const auto& l = lut[c];
          for (int64_t k = 0; k < int64_t{H} * W; ++k) dst[c * H * W + k] = l[src[c * H * W + k]];
        }
        continue;
      }
      const uint64_t r = random::splitmix64_mix(aug_key + static_cast<uint64_t>(i));
      const int dy = static_cast<int>(r % 9) - 4, dx = static_cast<int>((r >> 8) % 9) - 4;
      const bool flip = ((r >> 16) & 1) != 0;
      for (int c = 0; c < C; ++c) {
        const auto& l = lut[c];
        const float zero = l[0] * 0.0f + (0.0f - data->mean[c]) / data->stddev[c];  // zero padding in pixel space
        for (int yy = 0; yy < H; ++yy) {
          for (int xx = 0; xx < W; ++xx) {
            const int sy = yy + dy, sx0 = xx + dx;
            const int sx = flip ? W - 1 - sx0 : sx0;
            dst[(c * H + yy) * W + xx] =
                (sy < 0 || sy >= H || sx0 < 0 || sx0 >= W) ? zero : l[src[(c * H + sy) * W + sx]];
          }
        }
      }
    }
  }

  // Language-model batch of step `s` for this rank: `n` windows of `context` bytes of the training
  // text (x) and the bytes after each (y), (n, T) int64; window k of the global batch starts at a
  // position drawn by SplitMix64 keyed by (seed, s, k), so a resumed run sees the same windows.
  void make_lm_batch(int64_t s, int64_t n, torch::Tensor& x, torch::Tensor& y) const {
    const int64_t t = cfg.context;
    const auto& bytes = text->train;
    const uint64_t span = static_cast<uint64_t>(bytes.size()) - static_cast<uint64_t>(t);  // >= 1 (checked)
    const uint64_t key = epoch_key(cfg.seed, s, 4);
    x = torch::empty({n, t}, torch::kInt64);
    y = torch::empty({n, t}, torch::kInt64);
    int64_t* xp = x.data_ptr<int64_t>();
    int64_t* yp = y.data_ptr<int64_t>();
    for (int64_t b = 0; b < n; ++b) {
      const uint64_t k = static_cast<uint64_t>(rank * n + b);
      const size_t start = static_cast<size_t>(random::splitmix64_mix(key + k) % span);
      for (int64_t j = 0; j < t; ++j) {
        xp[b * t + j] = bytes[start + j];
        yp[b * t + j] = bytes[start + j + 1];
      }
    }
  }

  // Validation of the lm task: the first test_count windows of `context` bytes of the validation text
  // (consecutive, not overlapping), every position predicted; mean loss in nats per byte.
  double evaluate_lm(double* loss_out) {
    torch::NoGradGuard guard;
    EvaluationScope evaluation(engine, *model);
    const int64_t t = cfg.context;
    constexpr int64_t kEvalBatch = 32;
    double loss = 0, correct = 0;
    for (int64_t first = 0; first < test_count; first += kEvalBatch) {
      const int64_t n = std::min(kEvalBatch, test_count - first);
      torch::Tensor x = torch::empty({n, t}, torch::kInt64), y = torch::empty({n, t}, torch::kInt64);
      for (int64_t b = 0; b < n; ++b) {
        const size_t start = static_cast<size_t>((first + b) * t);
        for (int64_t j = 0; j < t; ++j) {
          x.data_ptr<int64_t>()[b * t + j] = text->val[start + j];
          y.data_ptr<int64_t>()[b * t + j] = text->val[start + j + 1];
        }
      }
      torch::Tensor logits = model->forward(x).view({n * t, kTextVocab});
      loss += torch::nn::functional::cross_entropy(logits, y.view({n * t}),
                                                   torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                  .item<double>();
      correct += static_cast<double>(logits.argmax(1).eq(y.view({n * t})).sum().item<int64_t>());
    }
    const double tokens = static_cast<double>(std::max<int64_t>(1, test_count * t));
    if (loss_out != nullptr) *loss_out = loss / tokens;
    return correct / tokens;
  }

  // Super-resolution batch: patches idx[0..n) as x (n, 1, p, p) LR luma - 0.5, the bicubic upscale
  // and the HR target (n, 1, p·s, p·s); training patches are flipped and transposed (the eight
  // symmetries of the square) by a key per (epoch, patch).
  void make_sr_batch(const int64_t* idx, int64_t n, uint64_t aug_key, torch::Tensor& x, torch::Tensor& bic,
                     torch::Tensor& hr) const {
    const SrPatches& p = sr->train;
    const int ls = p.lr_size, hs = p.lr_size * p.scale;
    x = torch::empty({n, 1, ls, ls}, torch::kFloat32);
    bic = torch::empty({n, 1, hs, hs}, torch::kFloat32);
    hr = torch::empty({n, 1, hs, hs}, torch::kFloat32);
    for (int64_t b = 0; b < n; ++b) {
      const int64_t i = idx[b];
      const uint64_t r = random::splitmix64_mix(aug_key + static_cast<uint64_t>(i));
      const bool fx = (r & 1) != 0, fy = (r & 2) != 0, tr = (r & 4) != 0;
      auto copy = [&](const float* src, float* dst, int size, float offset) {
        for (int yy = 0; yy < size; ++yy) {
          for (int xx = 0; xx < size; ++xx) {
            int sy = tr ? xx : yy, sx = tr ? yy : xx;
            if (fy) sy = size - 1 - sy;
            if (fx) sx = size - 1 - sx;
            dst[yy * size + xx] = src[sy * size + sx] + offset;
          }
        }
      };
      copy(p.lr.data() + i * p.lr_elems(), x.data_ptr<float>() + b * p.lr_elems(), ls, -0.5f);
      copy(p.bicubic.data() + i * p.hr_elems(), bic.data_ptr<float>() + b * p.hr_elems(), hs, 0.0f);
      copy(p.hr.data() + i * p.hr_elems(), hr.data_ptr<float>() + b * p.hr_elems(), hs, 0.0f);
    }
  }

  void dump_step() {
    if (cfg.dump.path.empty() || dump_bits >= cfg.dump.max_bits) return;
    const int dl = dump_kind == harvest::TapKind::kInput ? 0 : cfg.dump.layer;
    const torch::Tensor& t = engine.layers[dl]->taps[static_cast<int>(dump_kind)];
    if (!t.defined()) return;
    const harvest::Extractor ex = harvest_extractor(cfg.quant.harvest);
    torch::Tensor c = t.contiguous();
    harvest::BitStream bs = harvest::harvest_bits({c.data_ptr<float>(), static_cast<size_t>(c.numel())}, ex, 1,
                                                  harvest::HarvestOptions{cfg.threads});
    const int64_t take = std::min(bs.bits, cfg.dump.max_bits - dump_bits);
    for (int64_t k = 0; k < take; ++k) {
      const int bit = (bs.bytes[k >> 3] >> (7 - (k & 7))) & 1;
      if ((dump_bits & 7) == 0) dump_bytes.push_back(0);
      dump_bytes.back() |= static_cast<uint8_t>(bit << (7 - (dump_bits & 7)));
      ++dump_bits;
    }
  }

  void write_dump() const {
    if (cfg.dump.path.empty() || rank != 0) return;  // rank 0's taps; one writer
    write_file_atomic(cfg.dump.path,
                      std::string_view(reinterpret_cast<const char*>(dump_bytes.data()), dump_bytes.size()));
  }

  // One optimizer step on batch `pos` of epoch `epoch`.
  void one_step() {
    const int64_t epoch = step / steps_per_epoch, pos = step % steps_per_epoch;
    if (!lm) ensure_order(epoch);
    torch::Tensor x, y, bic, hr, logits, loss;
    const int64_t* first = lm ? nullptr : order.data() + (pos * world + rank) * batch;  // this rank's share
    if (lm) {
      make_lm_batch(step, batch, x, y);
    } else if (superres) {
      make_sr_batch(first, batch, epoch_key(cfg.seed, epoch, 2), x, bic, hr);
    } else {
      make_batch(data->train, first, batch, data->augment, epoch_key(cfg.seed, epoch, 2), x, y);
    }
    const auto t0 = std::chrono::steady_clock::now();
    engine.step = step;
    if (superres) {
      loss = torch::l1_loss(bic + model->forward(x), hr);  // L1 (EDSR, WDSR) on luma in [0, 1]
    } else if (lm) {  // next-byte cross-entropy over every position of every window
      logits = model->forward(x).view({-1, kTextVocab});
      y = y.view({-1});
      loss = torch::nn::functional::cross_entropy(logits, y);
    } else {
      logits = model->forward(x);
      loss = torch::nn::functional::cross_entropy(logits, y);
    }
    const double l = loss.item<double>();
    const auto t_forward = std::chrono::steady_clock::now();
    if (!std::isfinite(l)) {
      throw NonFiniteLoss(fmt::format("the training loss became {} at step {} (epoch {}, batch {}); the run stopped. "
                                      "Lower --lr, or use a wider format for the sites that overflow",
                                      std::isnan(l) ? "NaN" : "infinite", step, epoch + 1, pos + 1));
    }
    opt->zero_grad();
    loss.backward();
    double correct = superres ? 0.0 : static_cast<double>(logits.argmax(1).eq(y).sum().item<int64_t>());
    double step_loss = l;
    if (comm) average_over_ranks(step_loss, correct);
    const auto t_backward = std::chrono::steady_clock::now();
    opt->step(lr_at(step));
    const auto t_end = std::chrono::steady_clock::now();
    epoch_seconds += std::chrono::duration<double>(t_end - t0).count();
    phase_seconds[0] += std::chrono::duration<double>(t_forward - t0).count();
    phase_seconds[1] += std::chrono::duration<double>(t_backward - t_forward).count();
    phase_seconds[2] += std::chrono::duration<double>(t_end - t_backward).count();
    ++phase_steps;
    const double seen = static_cast<double>(batch * world * (lm ? cfg.context : 1));  // lm: bytes predicted
    epoch_loss += step_loss * seen;
    epoch_correct += correct;
    epoch_seen += seen;
    dump_step();
    ++step;
  }

  // Super-resolution test metrics over the first test_count test images (means of per-image values).
  struct SrMetrics {
    double psnr_db = 0, bicubic_psnr_db = 0, ssim = 0, bicubic_ssim = 0, l1 = 0;
  };
  SrMetrics evaluate_sr() {
    torch::NoGradGuard guard;
    EvaluationScope evaluation(engine, *model);
    SrMetrics m;
    for (int64_t i = 0; i < test_count; ++i) {
      const SrImage& im = sr->test[static_cast<size_t>(i)];
      const std::vector<float> out = super_resolve_luma(*model, im);
      const int border = im.scale;
      m.psnr_db += psnr(out, im.hr, im.hr_h, im.hr_w, border);
      m.bicubic_psnr_db += psnr(im.bicubic, im.hr, im.hr_h, im.hr_w, border);
      m.ssim += ssim(out, im.hr, im.hr_h, im.hr_w, border);
      m.bicubic_ssim += ssim(im.bicubic, im.hr, im.hr_h, im.hr_w, border);
      double l1 = 0;
      for (size_t k = 0; k < out.size(); ++k) l1 += std::fabs(static_cast<double>(out[k]) - im.hr[k]);
      m.l1 += l1 / static_cast<double>(out.size());
    }
    const double n = static_cast<double>(std::max<int64_t>(1, test_count));
    m.psnr_db /= n;
    m.bicubic_psnr_db /= n;
    m.ssim /= n;
    m.bicubic_ssim /= n;
    m.l1 /= n;
    return m;
  }

  double evaluate(double* loss_out) {
    if (lm) return evaluate_lm(loss_out);
    if (superres) {  // the test PSNR in dB stands for the accuracy
      const SrMetrics m = evaluate_sr();
      if (loss_out != nullptr) *loss_out = m.l1;
      return m.psnr_db;
    }
    torch::NoGradGuard guard;
    EvaluationScope evaluation(engine, *model);
    const Dataset& d = data->test;
    std::vector<int64_t> idx(static_cast<size_t>(test_count));
    for (int64_t i = 0; i < test_count; ++i) idx[i] = i;
    double loss = 0, correct = 0;
    constexpr int64_t kEvalBatch = 1000;
    for (int64_t first = 0; first < test_count; first += kEvalBatch) {
      const int64_t n = std::min(kEvalBatch, test_count - first);
      torch::Tensor x, y;
      make_batch(d, idx.data() + first, n, false, 0, x, y);
      torch::Tensor logits = model->forward(x);
      loss += torch::nn::functional::cross_entropy(logits, y,
                                                   torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                  .item<double>();
      correct += static_cast<double>(logits.argmax(1).eq(y).sum().item<int64_t>());
    }
    if (loss_out != nullptr) *loss_out = loss / static_cast<double>(test_count);
    return correct / static_cast<double>(test_count);
  }

  std::array<double, 3> phase_seconds{};  // forward, backward, optimizer (StepBreakdown)
  int64_t phase_steps = 0;

  void reset_epoch_stats() { epoch_loss = epoch_correct = epoch_seen = epoch_seconds = 0; }
};

}  // namespace rngfree::train
