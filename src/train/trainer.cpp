// The training loop, evaluation, checkpoints and run folders (trainer.hpp). Data order and CIFAR
// augmentation come from SplitMix64 streams keyed by (seed, epoch), so a resumed run sees exactly
// the batches an uninterrupted one does; checkpoints hold every other piece of state.
#include "rngfree/train/trainer.hpp"

#include <dlfcn.h>
#include <link.h>
#include <fmt/core.h>
#include <unistd.h>

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
#include "rngfree/report/svg.hpp"
#include "rngfree/train/engine.hpp"

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

namespace {

std::shared_ptr<const DataSplit> cached_data(const std::string& spec) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const DataSplit>> cache;
  std::lock_guard lock(mu);
  auto& slot = cache[spec];
  if (!slot) slot = std::make_shared<const DataSplit>(load_data(spec));
  return slot;
}

uint64_t epoch_key(uint64_t seed, int64_t epoch, uint64_t purpose) {
  return random::splitmix64_mix(random::splitmix64_mix(seed ^ (purpose << 56)) + static_cast<uint64_t>(epoch));
}

torch::Tensor bytes_tensor(const std::string& s) {
  torch::Tensor t = torch::empty({static_cast<int64_t>(s.size())}, torch::kUInt8);
  if (!s.empty()) std::memcpy(t.data_ptr<uint8_t>(), s.data(), s.size());
  return t;
}
std::string tensor_bytes(const torch::Tensor& t) {
  torch::Tensor c = t.contiguous();
  return std::string(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()), static_cast<size_t>(c.numel()));
}

}  // namespace

struct Trainer::Impl {
  TrainConfig cfg;
  std::shared_ptr<const DataSplit> data;
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

  explicit Impl(const TrainConfig& c) : cfg(c) {
    cfg.validate();
    set_training_threads(cfg.threads);
    data = cached_data(cfg.data);
    train_count = cfg.train_limit > 0 ? std::min(cfg.train_limit, data->train.count) : data->train.count;
    test_count = cfg.test_limit > 0 ? std::min(cfg.test_limit, data->test.count) : data->test.count;
    batch = std::min<int64_t>(cfg.batch, train_count);
    steps_per_epoch = train_count / batch;  // the last partial batch is dropped
    for (int c = 0; c < 3; ++c) {
      for (int v = 0; v < 256; ++v) lut[c][v] = (static_cast<float>(v) / 255.0f - data->mean[c]) / data->stddev[c];
    }
    torch::manual_seed(cfg.seed);
    engine.threads = cfg.threads;
    model = make_model(cfg.model, cfg.width, data->train.channels, data->train.height, data->train.num_classes, engine);
    if (!cfg.dump.path.empty()) {
      if (cfg.dump.layer >= static_cast<int>(engine.layers.size())) {
        throw Error(fmt::format("dump.layer {}: model {} has quantized layers 0..{}", cfg.dump.layer, cfg.model,
                                engine.layers.size() - 1));
      }
      dump_kind = harvest::Tap::parse(cfg.dump.tap).kind;
      const int dl = dump_kind == harvest::TapKind::kInput ? 0 : cfg.dump.layer;
      engine.layers[dl]->keep[static_cast<int>(dump_kind)] = true;
    }
    engine.configure(cfg.quant, cfg.seed);
    opt = std::make_unique<QSgd>(*model, engine, cfg.momentum, cfg.weight_decay);
    model->train();
  }

  double lr_at(int64_t s) const {
    if (cfg.schedule == "constant") return cfg.lr;
    const double total = static_cast<double>(steps_per_epoch) * cfg.epochs;
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

  void dump_step() {
    if (cfg.dump.path.empty() || dump_bits >= cfg.dump.max_bits) return;
    const int dl = dump_kind == harvest::TapKind::kInput ? 0 : cfg.dump.layer;
    const torch::Tensor& t = engine.layers[dl]->taps[static_cast<int>(dump_kind)];
    if (!t.defined()) return;
    harvest::Extractor ex = harvest::Extractor::parse_bits(cfg.quant.harvest.bits);
    ex.mix = cfg.quant.harvest.whiten ? harvest::Mix::kWhiten32 : harvest::Mix::kNone;
    ex.zeros = cfg.quant.harvest.skip_zeros ? harvest::ZeroPolicy::kSkip : harvest::ZeroPolicy::kKeep;
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
    if (cfg.dump.path.empty()) return;
    std::string tmp = cfg.dump.path + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary);
      if (!out) throw Error(fmt::format("dump.path '{}': cannot write", cfg.dump.path));
      out.write(reinterpret_cast<const char*>(dump_bytes.data()), static_cast<std::streamsize>(dump_bytes.size()));
    }
    fs::rename(tmp, cfg.dump.path);
  }

  // One optimizer step on batch `pos` of epoch `epoch`.
  void one_step() {
    const int64_t epoch = step / steps_per_epoch, pos = step % steps_per_epoch;
    ensure_order(epoch);
    torch::Tensor x, y;
    make_batch(data->train, order.data() + pos * batch, batch, data->augment, epoch_key(cfg.seed, epoch, 2), x, y);
    const auto t0 = std::chrono::steady_clock::now();
    engine.step = step;
    torch::Tensor logits = model->forward(x);
    torch::Tensor loss = torch::nn::functional::cross_entropy(logits, y);
    const double l = loss.item<double>();
    if (!std::isfinite(l)) {
      throw NonFiniteLoss(fmt::format("the training loss became {} at step {} (epoch {}, batch {}); the run stopped. "
                                      "Lower --lr, or use a wider format for the sites that overflow",
                                      std::isnan(l) ? "NaN" : "infinite", step, epoch + 1, pos + 1));
    }
    opt->zero_grad();
    loss.backward();
    opt->step(lr_at(step));
    const double correct = static_cast<double>(logits.argmax(1).eq(y).sum().item<int64_t>());
    epoch_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    epoch_loss += l * static_cast<double>(batch);
    epoch_correct += correct;
    epoch_seen += static_cast<double>(batch);
    dump_step();
    ++step;
  }

  double evaluate(double* loss_out) {
    torch::NoGradGuard guard;
    model->eval();
    engine.recording = false;
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
    engine.recording = true;
    model->train();
    if (loss_out != nullptr) *loss_out = loss / static_cast<double>(test_count);
    return correct / static_cast<double>(test_count);
  }

  void reset_epoch_stats() { epoch_loss = epoch_correct = epoch_seen = epoch_seconds = 0; }
};

Trainer::Trainer(const TrainConfig& config) : impl_(std::make_unique<Impl>(config)) {}
Trainer::~Trainer() = default;

const TrainConfig& Trainer::config() const { return impl_->cfg; }

std::vector<LayerInfo> Trainer::layers() const {
  std::vector<LayerInfo> out;
  for (const auto& l : impl_->engine.layers) {
    LayerInfo info{l->index, l->name, l->weight.defined() ? l->weight.numel() : 0, {}};
    for (int s = 0; s < kNumSites; ++s) {
      const QuantSite& site = l->sites[s];
      if (!site.active) continue;
      info.sites.push_back(fmt::format("{}: {} {}{}", kSiteNames[s], site.format.name(), site.rounding.name(),
                                       site.source ? " <- " + site.source->describe() : ""));
    }
    out.push_back(std::move(info));
  }
  return out;
}

void Trainer::set_tap_callback(TapCallback callback) {
  impl_->user_callback = std::move(callback);
  impl_->engine.callback = impl_->user_callback;
}

int64_t Trainer::steps_per_epoch() const { return impl_->steps_per_epoch; }
int64_t Trainer::step() const { return impl_->step; }
int Trainer::epochs_done() const { return static_cast<int>(impl_->step / impl_->steps_per_epoch); }

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
  const int64_t remaining = m.steps_per_epoch - pos;
  for (int64_t k = 0; k < remaining; ++k) {
    m.one_step();
    if (progress && ((k + 1) % 8 == 0 || k + 1 == remaining)) {
      progress(pos + k + 1, m.steps_per_epoch, m.epoch_loss / m.epoch_seen, m.epoch_correct / m.epoch_seen,
               m.epoch_seen / std::max(1e-9, m.epoch_seconds));
    }
  }
  EpochMetrics e;
  e.epoch = epochs_done();
  e.train_loss = m.epoch_loss / std::max(1.0, m.epoch_seen);
  e.train_accuracy = m.epoch_correct / std::max(1.0, m.epoch_seen);
  e.lr = m.lr_at(m.step - 1);
  e.seconds = m.epoch_seconds;
  e.images_per_s = m.epoch_seen / std::max(1e-9, m.epoch_seconds);
  e.test_accuracy = m.evaluate(&e.test_loss);
  m.write_dump();
  m.reset_epoch_stats();
  return e;
}

double Trainer::evaluate(double* loss) { return impl_->evaluate(loss); }

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

void Trainer::save_checkpoint(const std::string& path, const std::string& extra) const {
  const Impl& m = *impl_;
  torch::serialize::OutputArchive ar;
  for (const auto& p : m.model->named_parameters()) ar.write("model." + p.key(), p.value());
  for (const auto& b : m.model->named_buffers()) ar.write("buffer." + b.key(), b.value());
  nlohmann::ordered_json meta;
  meta["format"] = "rngfree-checkpoint-1";
  meta["config"] = nlohmann::json::parse(to_json(m.cfg));
  meta["step"] = m.step;
  meta["dump_bits"] = m.dump_bits;
  std::vector<int> mom;
  for (size_t i = 0; i < m.opt->params.size(); ++i) {
    if (m.opt->params[i].momentum.defined()) {
      ar.write(fmt::format("momentum.{}", i), m.opt->params[i].momentum);
      mom.push_back(static_cast<int>(i));
    }
  }
  meta["momentum"] = mom;
  nlohmann::json sources = nlohmann::json::object(), taps = nlohmann::json::array();
  for (const auto& l : m.engine.layers) {
    for (int s = 0; s < kNumSites; ++s) {
      if (l->sites[s].source) sources[fmt::format("{}.{}", l->index, kSiteNames[s])] = l->sites[s].source->save_state();
    }
    for (int k = 0; k < kNumTapKinds; ++k) {
      if (k == static_cast<int>(harvest::TapKind::kWeights) || !l->taps[k].defined()) continue;
      ar.write(fmt::format("tap.{}.{}", l->index, k), l->taps[k]);
      taps.push_back(fmt::format("{}.{}", l->index, k));
    }
  }
  meta["sources"] = sources;
  meta["taps"] = taps;
  meta["extra"] = extra;
  ar.write("meta", bytes_tensor(meta.dump()));
  if (!m.dump_bytes.empty()) {
    ar.write("dump", bytes_tensor(std::string(m.dump_bytes.begin(), m.dump_bytes.end())));
  }
  const std::string tmp = path + ".tmp";
  try {
    ar.save_to(tmp);
  } catch (const std::exception& e) {
    throw Error(fmt::format("checkpoint '{}': cannot write ({})", tmp, e.what()));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw Error(fmt::format("checkpoint '{}': cannot rename from '{}' ({})", path, tmp, ec.message()));
}

namespace {
nlohmann::json read_meta(torch::serialize::InputArchive& ar, const std::string& path) {
  torch::Tensor meta;
  try {
    ar.load_from(path);
    ar.read("meta", meta);
    return nlohmann::json::parse(tensor_bytes(meta));
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(fmt::format("checkpoint '{}': not a readable rngfree checkpoint ({}); run without --resume to start "
                            "afresh", path, std::string(e.what()).substr(0, 200)));
  }
}
}  // namespace

TrainConfig load_checkpoint_config(const std::string& path) {
  if (!fs::exists(path)) {
    throw Error(fmt::format("--resume: no checkpoint '{}' (a run with --out DIR writes DIR/checkpoint.pt after each "
                            "epoch)", path));
  }
  torch::serialize::InputArchive ar;
  return config_from_json(read_meta(ar, path).at("config").dump());
}

std::string Trainer::load_checkpoint(const std::string& path) {
  Impl& m = *impl_;
  torch::serialize::InputArchive ar;
  nlohmann::json meta = read_meta(ar, path);
  try {
    torch::NoGradGuard guard;
    for (auto& p : m.model->named_parameters()) {
      torch::Tensor t;
      ar.read("model." + p.key(), t);
      p.value().copy_(t);
    }
    for (auto& b : m.model->named_buffers()) {
      torch::Tensor t;
      ar.read("buffer." + b.key(), t);
      b.value().copy_(t);
    }
    for (auto& p : m.opt->params) p.momentum = torch::Tensor();
    for (int i : meta.at("momentum")) {
      torch::Tensor t;
      ar.read(fmt::format("momentum.{}", i), t);
      m.opt->params.at(i).momentum = t.contiguous();
    }
    for (auto& l : m.engine.layers) {
      for (int k = 0; k < kNumTapKinds; ++k) {
        if (k != static_cast<int>(harvest::TapKind::kWeights)) l->taps[k] = torch::Tensor();
      }
    }
    for (const std::string key : meta.at("taps")) {
      const auto dot = key.find('.');
      const int li = std::stoi(key.substr(0, dot)), k = std::stoi(key.substr(dot + 1));
      torch::Tensor t;
      ar.read("tap." + key, t);
      m.engine.layers.at(li)->taps.at(k) = t.contiguous();
    }
    const auto& sources = meta.at("sources");
    for (auto& l : m.engine.layers) {
      for (int s = 0; s < kNumSites; ++s) {
        const std::string key = fmt::format("{}.{}", l->index, kSiteNames[s]);
        if (l->sites[s].source && sources.contains(key)) l->sites[s].source->load_state(sources.at(key).get<std::string>());
      }
    }
    m.step = meta.at("step");
    m.dump_bits = meta.at("dump_bits");
    m.dump_bytes.clear();
    if (m.dump_bits > 0) {
      torch::Tensor t;
      ar.read("dump", t);
      std::string b = tensor_bytes(t);
      m.dump_bytes.assign(b.begin(), b.end());
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(fmt::format("checkpoint '{}': does not match this run's model ({}); resume with the same --model and "
                            "--preset", path, std::string(e.what()).substr(0, 200)));
  }
  m.order_epoch = -1;
  m.reset_epoch_stats();
  return meta.at("extra").get<std::string>();
}

// ---- run folders -------------------------------------------------------------------------------

namespace {

nlohmann::ordered_json epoch_json(const EpochMetrics& e) {
  return {{"epoch", e.epoch},         {"train_loss", e.train_loss}, {"train_accuracy", e.train_accuracy},
          {"test_loss", e.test_loss}, {"test_accuracy", e.test_accuracy}, {"lr", e.lr},
          {"seconds", e.seconds},     {"images_per_s", e.images_per_s}};
}

std::string metrics_csv(const std::vector<EpochMetrics>& rows) {
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
  for (const auto& e : s.epochs) {
    secs += e.seconds;
    imgs += e.seconds * e.images_per_s;
    s.best_test_accuracy = std::max(s.best_test_accuracy, e.test_accuracy);
  }
  s.test_accuracy = s.epochs.empty() ? 0 : s.epochs.back().test_accuracy;
  s.images_per_s = secs > 0 ? imgs / secs : 0;
}

std::string history_json(const std::vector<EpochMetrics>& rows, double wall) {
  nlohmann::ordered_json j;
  j["wall_seconds"] = wall;
  j["epochs"] = nlohmann::json::array();
  for (const auto& e : rows) j["epochs"].push_back(epoch_json(e));
  return j.dump();
}

std::vector<EpochMetrics> history_from_json(const std::string& text, double& wall) {
  std::vector<EpochMetrics> rows;
  wall = 0;
  if (text.empty()) return rows;
  auto j = nlohmann::json::parse(text);
  wall = j.at("wall_seconds");
  for (const auto& e : j.at("epochs")) {
    rows.push_back({e.at("epoch"), e.at("train_loss"), e.at("train_accuracy"), e.at("test_loss"), e.at("test_accuracy"),
                    e.at("lr"), e.at("seconds"), e.at("images_per_s")});
  }
  return rows;
}

void print_progress(int epoch, int epochs, int64_t done, int64_t total, double loss, double acc, double ips,
                    bool tty) {
  if (!tty && done != total) return;
  constexpr int kWidth = 28;
  const int filled = static_cast<int>(kWidth * done / std::max<int64_t>(1, total));
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < kWidth) bar += '>' + std::string(static_cast<size_t>(kWidth - filled - 1), ' ');
  std::fprintf(stderr, "%sepoch %d/%d [%s] %lld/%lld loss %.4f acc %.2f%% %.0f img/s", tty ? "\r" : "", epoch, epochs,
               bar.c_str(), static_cast<long long>(done), static_cast<long long>(total), loss, 100 * acc, ips);
}

}  // namespace

std::string summary_json(const RunSummary& s) {
  nlohmann::ordered_json j;
  j["config"] = nlohmann::json::parse(to_json(s.config));
  j["test_accuracy"] = s.test_accuracy;
  j["best_test_accuracy"] = s.best_test_accuracy;
  j["wall_seconds"] = s.wall_seconds;
  j["images_per_s"] = s.images_per_s;
  j["epochs"] = nlohmann::json::array();
  for (const auto& e : s.epochs) j["epochs"].push_back(epoch_json(e));
  return j.dump(2) + "\n";
}

namespace {
int options_stop(const RunOptions& opt) { return opt.stop_after_epochs; }
}  // namespace

RunSummary run_training(const TrainConfig& cfg_in, const RunOptions& opt) {
  const auto wall0 = std::chrono::steady_clock::now();
  TrainConfig cfg = cfg_in;
  const std::string ckpt = opt.out_dir.empty() ? std::string() : (fs::path(opt.out_dir) / "checkpoint.pt").string();
  if (opt.resume) {
    if (opt.out_dir.empty()) throw Error("--resume needs --out DIR (the folder of the run to continue)");
    TrainConfig saved = load_checkpoint_config(ckpt);
    saved.epochs = cfg_in.epochs;
    saved.threads = cfg_in.threads;
    cfg = saved;
  }
  if (!opt.out_dir.empty()) {
    std::error_code ec;
    fs::create_directories(opt.out_dir, ec);
    if (ec) throw Error(fmt::format("--out '{}': cannot create the folder ({})", opt.out_dir, ec.message()));
  }
  Trainer trainer(cfg);
  if (opt.tap_callback) trainer.set_tap_callback(opt.tap_callback);
  RunSummary summary;
  summary.config = cfg;
  double wall_before = 0;
  if (opt.resume) {
    summary.epochs = history_from_json(trainer.load_checkpoint(ckpt), wall_before);
    if (trainer.epochs_done() >= cfg.epochs) {
      throw Error(fmt::format("--resume: the run in '{}' has already done {} epochs; pass --epochs N with N > {} to "
                              "continue it", opt.out_dir, trainer.epochs_done(), trainer.epochs_done()));
    }
  }
  const bool tty = isatty(2) != 0;
  int epochs_this_call = 0;
  while (trainer.epochs_done() < cfg.epochs &&
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
        print_progress(epoch, cfg.epochs, done, total, loss, acc, ips, tty);
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
    if (opt.progress) {
      std::fprintf(stderr, "\n  test accuracy %.2f%%, test loss %.4f\n", 100 * e.test_accuracy, e.test_loss);
    }
    summary.epochs.push_back(e);
    const double wall =
        wall_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    summary.wall_seconds = wall;
    finish_summary(summary);
    if (!opt.out_dir.empty()) {
      trainer.save_checkpoint(ckpt, history_json(summary.epochs, wall));
      report::write_file_atomic((fs::path(opt.out_dir) / "metrics.csv").string(), metrics_csv(summary.epochs));
      report::write_file_atomic((fs::path(opt.out_dir) / "summary.json").string(), summary_json(summary));
    }
  }
  summary.wall_seconds = wall_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  finish_summary(summary);
  if (!opt.out_dir.empty()) {
    report::write_file_atomic((fs::path(opt.out_dir) / "summary.json").string(), summary_json(summary));
  }
  return summary;
}

}  // namespace rngfree::train
