// The training loop and evaluation (trainer.hpp); checkpoints are in checkpoint.cpp, run folders in
// run.cpp. Data order and CIFAR augmentation come from SplitMix64 streams keyed by (seed, epoch), so
// a resumed run sees exactly the batches an uninterrupted one does; checkpoints hold the rest.
#include "rngfree/train/trainer.hpp"

#include <dlfcn.h>
#include <link.h>
#include <fmt/core.h>
#include <unistd.h>

#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numbers>

#include "rngfree/harvest/harvest.hpp"
#include "rngfree/random/random_source.hpp"
#include "rngfree/train/optimizer.hpp"
#include "trainer_impl.hpp"

namespace rngfree::train {
namespace fs = std::filesystem;

void set_training_threads(int threads) {
  // More than one OpenBLAS may be loaded (libblas.so.3 through Debian's alternatives and
  // libopenblas.so.0): each has its own thread pool, so each is told to use one thread.
  using SetThreads = void (*)(int);
  std::vector<std::string> names;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        if (info->dlpi_name != nullptr && std::string_view(info->dlpi_name).find("blas") != std::string_view::npos) {
          static_cast<std::vector<std::string>*>(data)->push_back(info->dlpi_name);
        }
        return 0;
      },
      &names);
  for (const auto& name : names) {
    if (void* handle = dlopen(name.c_str(), RTLD_NOW | RTLD_NOLOAD)) {
      if (void* sym = dlsym(handle, "openblas_set_num_threads")) std::bit_cast<SetThreads>(sym)(1);
      dlclose(handle);
    }
  }
  if (void* sym = dlsym(RTLD_DEFAULT, "openblas_set_num_threads")) std::bit_cast<SetThreads>(sym)(1);
  if (threads > 0) torch::set_num_threads(threads);
}

Trainer::Trainer(const TrainConfig& config, const DistConfig& dist) : impl_(std::make_unique<Impl>(config, dist)) {}
Trainer::~Trainer() = default;

const TrainConfig& Trainer::config() const { return impl_->cfg; }

std::vector<LayerInfo> Trainer::layers() const {
  std::vector<LayerInfo> out;
  const SitePlan& plan = impl_->engine.plan;
  for (const auto& l : impl_->engine.layers) {
    LayerInfo info{l->index, l->name, l->weight.defined() ? l->weight.numel() : 0, {}};
    for (int s = 0; s < kNumSites; ++s) {
      const PlannedSite& p = plan.at(l->index, static_cast<Site>(s));
      if (p.active) info.sites.push_back(p.describe(plan.layer_names));
    }
    out.push_back(std::move(info));
  }
  return out;
}

const SitePlan& Trainer::site_plan() const { return impl_->engine.plan; }

void Trainer::set_site_callback(SiteCallback callback) { impl_->engine.site_callback = std::move(callback); }

void Trainer::set_tap_callback(TapCallback callback) {
  impl_->user_callback = std::move(callback);
  impl_->engine.callback = impl_->user_callback;
}

int64_t Trainer::steps_per_epoch() const { return impl_->steps_per_epoch; }
int64_t Trainer::step() const { return impl_->step; }
int Trainer::epochs_done() const {
  const Impl& m = *impl_;
  // a run that ended inside an epoch (--steps) counts that partial epoch as done
  const int64_t spe = m.steps_per_epoch;
  return static_cast<int>(m.step >= m.total_steps() ? (m.step + spe - 1) / spe : m.step / spe);
}
int Trainer::epochs_total() const { return impl_->total_epochs(); }
int64_t Trainer::total_steps() const { return impl_->total_steps(); }

StepBreakdown Trainer::breakdown() const {
  const Impl& m = *impl_;
  StepBreakdown b;
  b.steps = m.phase_steps;
  b.forward_s = m.phase_seconds[0];
  b.backward_s = m.phase_seconds[1];
  b.optimizer_s = m.phase_seconds[2];
  auto add = [&b](const std::string& layer, const std::string& site, const QuantSite& s) {
    if (s.elements > 0) b.sites.push_back({layer, site, s.seconds, s.elements, s.in_place_calls, s.op_seconds});
  };
  for (const auto& l : m.engine.layers) {
    for (int k = 0; k < kNumSites; ++k) add(l->name, std::string(kSiteNames[k]), l->sites[k]);
  }
  add("batchnorm", "BN", m.engine.batchnorm_site);  // BatchNorm outputs (nearest-even)
  for (int k = 0; k < kNumTensorSites; ++k) add("gpt", std::string(kTensorSiteNames[k]), m.engine.tensor_sites[static_cast<size_t>(k)]);
  return b;
}

void Trainer::reset_breakdown() {
  Impl& m = *impl_;
  m.phase_seconds = {};
  m.phase_steps = 0;
  for (auto& l : m.engine.layers) {
    for (auto& s : l->sites) s.clear_counts();
  }
  m.engine.batchnorm_site.clear_counts();
  for (auto& s : m.engine.tensor_sites) s.clear_counts();
}

StepStats Trainer::train_steps(int64_t n, const ProgressFn& progress) {
  Impl& m = *impl_;
  StepStats st;
  const double loss0 = m.epoch_loss, correct0 = m.epoch_correct, seen0 = m.epoch_seen, sec0 = m.epoch_seconds;
  for (int64_t k = 0; k < n; ++k) {
    m.one_step();
    if (progress && ((k + 1) % 8 == 0 || k + 1 == n)) {
      progress(k + 1, n, (m.epoch_loss - loss0) / (m.epoch_seen - seen0), (m.epoch_correct - correct0) / (m.epoch_seen - seen0),
               (m.epoch_seen - seen0) / std::max(1e-9, m.epoch_seconds - sec0));
    }
  }
  st.steps = n;
  const double seen = m.epoch_seen - seen0;
  if (seen > 0) {
    st.mean_loss = (m.epoch_loss - loss0) / seen;
    st.accuracy = (m.epoch_correct - correct0) / seen;
    st.seconds = m.epoch_seconds - sec0;
    st.images_per_s = seen / std::max(1e-9, st.seconds);
  }
  return st;
}

EpochMetrics Trainer::train_epoch(const ProgressFn& progress) {
  Impl& m = *impl_;
  const int64_t pos = m.step % m.steps_per_epoch;
  if (pos == 0) m.reset_epoch_stats();
  // --steps: the last epoch ends at the run's last step
  const int64_t end = std::min(m.steps_per_epoch, pos + std::max<int64_t>(0, m.total_steps() - m.step));
  const int64_t remaining = end - pos;
  for (int64_t k = 0; k < remaining; ++k) {
    m.one_step();
    if (progress && ((k + 1) % 8 == 0 || k + 1 == remaining)) {
      progress(pos + k + 1, end, m.epoch_loss / m.epoch_seen, m.epoch_correct / m.epoch_seen,
               m.epoch_seen / std::max(1e-9, m.epoch_seconds));
    }
  }
  check_replicas(epochs_done());
  EpochMetrics e;
  e.epoch = epochs_done();
  e.train_loss = m.epoch_loss / std::max(1.0, m.epoch_seen);
  e.train_accuracy = m.epoch_correct / std::max(1.0, m.epoch_seen);
  e.lr = m.lr_at(m.step - 1);
  e.seconds = m.epoch_seconds;
  e.images_per_s = m.epoch_seen / std::max(1e-9, m.epoch_seconds);
  if (m.superres) e.train_accuracy = 0;
  // The replicas are identical (checked above): rank 0 evaluates for all, the others go on.
  if (m.rank == 0 && m.superres) {
    const Impl::SrMetrics sm = m.evaluate_sr();
    e.test_loss = sm.l1;
    e.test_psnr_db = sm.psnr_db;
    e.bicubic_psnr_db = sm.bicubic_psnr_db;
    e.test_ssim = sm.ssim;
    e.bicubic_ssim = sm.bicubic_ssim;
  } else if (m.rank == 0) {
    e.test_accuracy = m.evaluate(&e.test_loss);
    if (m.lm) e.val_bpc = e.test_loss / std::numbers::ln2;
  }
  e.step = m.step;
  m.write_dump();
  // A partial last epoch (--steps) keeps its sums: they go into the checkpoint, so a run resumed
  // with a larger --steps continues this epoch's row as an uninterrupted run would.
  if (m.step % m.steps_per_epoch == 0) m.reset_epoch_stats();
  return e;
}

double Trainer::evaluate(double* loss) { return impl_->evaluate(loss); }

Trainer::SrImages Trainer::super_resolve_test_image(int index) {
  Impl& m = *impl_;
  if (!m.superres) throw Error("super_resolve_test_image: the run's task is not superres");
  if (index < 0 || index >= static_cast<int>(m.sr->test.size())) {
    throw Error(fmt::format("test image {}: allowed 0..{}", index, m.sr->test.size() - 1));
  }
  const SrImage& im = m.sr->test[static_cast<size_t>(index)];
  std::vector<float> out;
  {
    torch::NoGradGuard guard;
    EvaluationScope evaluation(m.engine, *m.model);
    out = super_resolve_luma(*m.model, im);
  }
  SrImages r;
  r.bicubic = resize_bicubic(im.lr_rgb, im.hr_h, im.hr_w);
  const std::vector<float> bic_y = luma(r.bicubic);
  r.output = replace_luma(r.bicubic, bic_y, out);
  r.truth = im.hr_rgb;
  return r;
}

std::string Trainer::generate(const std::string& prompt, int64_t tokens, double temperature, uint64_t seed) {
  Impl& m = *impl_;
  if (!m.lm) throw Error("sample: the run's task is not lm (a language model)");
  if (temperature < 0 || !std::isfinite(temperature)) {
    throw Error(fmt::format("temperature {}: allowed 0 (most likely byte) or more", temperature));
  }
  std::vector<int64_t> seq;
  for (unsigned char c : prompt.empty() ? std::string("\n") : prompt) seq.push_back(c);
  torch::NoGradGuard guard;
  EvaluationScope evaluation(m.engine, *m.model);
  random::SplitMix64 rng(seed);
  std::string out;
  for (int64_t k = 0; k < tokens; ++k) {
    const int64_t t = std::min<int64_t>(static_cast<int64_t>(seq.size()), m.cfg.context);
    torch::Tensor x = torch::from_blob(seq.data() + seq.size() - t, {1, t}, torch::kInt64).clone();
    torch::Tensor logits = m.model->forward(x).select(1, t - 1).squeeze(0).to(torch::kFloat64);
    int64_t next = 0;
    if (temperature == 0) {
      next = logits.argmax().item<int64_t>();
    } else {  // inverse CDF of the softmax at one uniform draw
      torch::Tensor p = torch::softmax(logits / temperature, 0).contiguous();
      const double u = static_cast<double>(rng.next() >> 11) * 0x1.0p-53;
      double acc = 0;
      next = kTextVocab - 1;
      for (int64_t i = 0; i < kTextVocab; ++i) {
        acc += p.data_ptr<double>()[i];
        if (u < acc) {
          next = i;
          break;
        }
      }
    }
    seq.push_back(next);
    out.push_back(static_cast<char>(next));
  }
  return out;
}

std::vector<float> Trainer::parameters() const {
  std::vector<float> out;
  auto add = [&](const torch::Tensor& t) {
    torch::Tensor c = t.detach().to(torch::kFloat32).contiguous();
    out.insert(out.end(), c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  };
  for (const auto& p : impl_->model->parameters()) add(p);
  for (const auto& b : impl_->model->buffers()) {
    if (b.is_floating_point()) add(b);
  }
  return out;
}

uint64_t Trainer::parameter_hash() const {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a, 64 bits, over the bytes of every 32-bit pattern
  auto add = [&h](float v) {
    const uint32_t bits = std::bit_cast<uint32_t>(v);
    for (int k = 0; k < 4; ++k) {
      h ^= (bits >> (8 * k)) & 0xffU;
      h *= 0x100000001b3ULL;
    }
  };
  for (float v : parameters()) add(v);
  for (const auto& p : impl_->opt->params) {
    for (const torch::Tensor* state : {&p.momentum, &p.variance}) {
      if (!state->defined()) continue;
      torch::Tensor c = state->contiguous();
      for (int64_t i = 0; i < c.numel(); ++i) add(c.data_ptr<float>()[i]);
    }
  }
  return h;
}

void Trainer::check_replicas(int epoch) {
  Impl& m = *impl_;
  if (!m.comm) return;
  const std::vector<uint64_t> hashes = m.comm->allgather(parameter_hash());
  std::string differ, all;
  for (size_t r = 0; r < hashes.size(); ++r) {
    all += fmt::format("{}rank {}: {:016x}", r == 0 ? "" : ", ", r, hashes[r]);
    if (hashes[r] != hashes[0]) differ += fmt::format("{}{}", differ.empty() ? "" : ", ", r);
  }
  if (differ.empty()) return;
  throw ReplicaMismatch(fmt::format(
      "after epoch {} the replicas differ: the parameters of rank(s) {} are not those of rank 0 (parameter hashes "
      "{}); every rank must apply bit-identical updates, so U's and M's stochastic rounding must not take "
      "rank-local bits (docs/distributed.md); the run stopped",
      epoch, differ, all));
}

int Trainer::rank() const { return impl_->rank; }
int Trainer::world_size() const { return impl_->world; }
double Trainer::collective_seconds() const { return impl_->comm ? impl_->comm->seconds() : 0.0; }
int64_t Trainer::collective_bytes() const { return impl_->comm ? impl_->comm->bytes_written() : 0; }

}  // namespace rngfree::train
