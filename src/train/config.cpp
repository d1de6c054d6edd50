// Training configuration: presets, TOML (toml++) and JSON (nlohmann) round trips, validation.
// The int8 presets follow WAGE (Wu et al. 2018) for W/A/G — 8-bit fixed point with a per-tensor
// power-of-two scale —, 8-bit block floating point for E (a scale per 32 values), and Gupta et al.
// 2015 for U (16-bit fixed-point master weights); docs/training.md gives the reasons.
#include "rngfree/train/config.hpp"
#include "rngfree/train/site_plan.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include "rngfree/error.hpp"
#include "rngfree/format.hpp"
#include "rngfree/random/random_source.hpp"
#include "rngfree/rounding.hpp"

namespace rngfree::train {

Site parse_site(std::string_view name) {
  for (int i = 0; i < kNumSites; ++i) {
    if (kSiteNames[i] == name) return static_cast<Site>(i);
  }
  throw Error(fmt::format("site '{}': unknown; allowed: W, A, E, G, U, M, V", name));
}

bool QuantConfig::any() const {
  for (const auto& s : sites) {
    if (!s.format.empty()) return true;
  }
  for (const auto& s : tensors) {
    if (!s.format.empty()) return true;
  }
  return !batchnorm.empty();
}

namespace {

constexpr std::array<std::string_view, 11> kPresets = {
    "fp32",          "int8-sr-lfsr",       "int8-sr-xoshiro",     "int8-sr-philox", "int8-sr-harvest", "int8-rne",
    "int8-dyn-sr-philox", "int8-dyn-sr-harvest", "bf16-rne",       "bf16-sr-philox", "bf16-sr-harvest"};
// The 8-bit formats of W, A, G (one scale per tensor) and E (one scale per 32 consecutive values:
// errors under one per-tensor scale made resnet20's evaluation collapse, docs/results.md) and the
// low-precision master-weight format U (see docs/training.md).
constexpr const char* kInt8Format = "fixed:8:dyn";
constexpr const char* kInt8ErrorFormat = "bfp:7:32";
constexpr const char* kUpdateFormat = "fixed:16:8";  // Gupta et al. 2015, <WL=16, FL=8>
constexpr const char* kSrBackward = "stochastic:8";
constexpr const char* kSrUpdate = "stochastic:16";
// Master weights that fit any layer: 16-bit fixed point with a per-tensor power-of-two step (the
// int8-dyn presets), or bfloat16 (Zamirai et al. 2020; the bf16 presets, every site in bf16).
constexpr const char* kUpdateDynFormat = "fixed:16:dyn";
constexpr const char* kBf16Format = "bf16";

const std::array<std::string_view, 4> kModels = {"mlp", "lenet5", "vgg7", "resnet20"};
const std::array<std::string_view, 1> kSrModels = {"espcn"};
const std::array<std::string_view, 1> kLmModels = {"gpt"};
const std::array<std::string_view, 3> kTasks = {"classify", "superres", "lm"};

void validate_site(const SiteConfig& s, std::string_view site_name) {
  if (s.format.empty()) return;
  try {
    (void)Format::parse(s.format);
    Rounding r = Rounding::parse(s.rounding);
    if (r.is_stochastic()) {
      if (s.source.empty()) {
        throw Error(fmt::format("quant.{}.source: empty, but rounding '{}' needs random bits; allowed: a generator "
                                "(philox, xoshiro128pp, xorshift32, mt19937, lfsr:W), harvest or harvest:TAP",
                                site_name, s.rounding));
      }
      if (s.source == "harvest" || s.source.starts_with("harvest:")) {
        if (s.source != "harvest") (void)parse_harvest_taps(std::string_view(s.source).substr(8));
        if (s.pairing != "shifted") (void)harvest::Pairing::parse(s.pairing);
      } else {
        (void)random::make_generator(s.source, 0, 0);
      }
    }
  } catch (const Error& e) {
    throw Error(fmt::format("quant.{}: {}", site_name, e.what()));
  }
}

// A tensor site of the gpt ([quant.layernorm] ...): the layer sites' checks, only for task lm, and
// SR only from a generator that gives the bits the rounding needs (no tap pairing is defined for
// these tensors, so harvested words are refused).
void validate_tensor_site(const SiteConfig& s, std::string_view site_name, std::string_view task) {
  if (s.format.empty()) return;
  if (task != "lm") {
    throw Error(fmt::format("quant.{}: format '{}', but task '{}' has no such tensor; only task lm (gpt) rounds "
                            "its layernorm, softmax and embedding outputs; leave [quant.{}] out",
                            site_name, s.format, task, site_name));
  }
  validate_site(s, site_name);
  const Rounding r = Rounding::parse(s.rounding);
  if (!r.is_stochastic()) return;
  if (s.source == "harvest" || s.source.starts_with("harvest:")) {
    throw Error(fmt::format("quant.{}.source '{}': harvested words are not available for this tensor (no tap "
                            "pairing is defined for it); allowed: a generator (philox, xoshiro128pp, xorshift32, "
                            "mt19937, lfsr:W)", site_name, s.source));
  }
  const int supplied = random::generator_random_bits(s.source);
  if (supplied < r.random_bits) {
    throw Error(fmt::format("quant.{}.source '{}': gives {} random bits per word, but rounding '{}' needs {}; use a "
                            "generator with at least {} bits (e.g. philox) or fewer random bits",
                            site_name, s.source, supplied, s.rounding, r.random_bits, r.random_bits));
  }
  if (s.pairing != "auto" || s.allow_own_bits) {
    throw Error(fmt::format("quant.{}: pairing and allow_own_bits are for harvested sources; leave them out",
                            site_name));
  }
}

}  // namespace

void TrainConfig::validate() const {
  if (std::find(kTasks.begin(), kTasks.end(), task) == kTasks.end()) {
    throw Error(fmt::format("task '{}': unknown; allowed: classify, superres, lm", task));
  }
  if (task == "lm") {
    if (std::find(kLmModels.begin(), kLmModels.end(), model) == kLmModels.end()) {
      throw Error(fmt::format("model '{}': not a language model; allowed for task lm: gpt", model));
    }
    if (data != "fortunes" && !data.starts_with("text:")) {
      throw Error(fmt::format("data '{}': allowed for task lm: fortunes, text:FILE", data));
    }
    (void)checked_integer("context", context, limits::kContext);
    (void)checked_integer("blocks", blocks, limits::kBlocks);
    (void)checked_integer("heads", heads, limits::kHeads);
    const int w = width > 0 ? width : 128;
    if (w % heads != 0) {
      throw Error(fmt::format("heads {}: must divide the width {} (each head takes width/heads channels)", heads, w));
    }
  } else if (task == "superres") {
    if (std::find(kSrModels.begin(), kSrModels.end(), model) == kSrModels.end()) {
      throw Error(fmt::format("model '{}': not a super-resolution model; allowed for task superres: espcn", model));
    }
    if (data != "photos" && !data.starts_with("sr:")) {
      throw Error(fmt::format("data '{}': allowed for task superres: photos, sr:DIR", data));
    }
    (void)checked_integer("scale", scale, limits::kScale);
  } else if (std::find(kModels.begin(), kModels.end(), model) == kModels.end()) {
    throw Error(fmt::format("model '{}': unknown; allowed: mlp, lenet5, vgg7, resnet20 (task superres: espcn, "
                            "task lm: gpt)", model));
  }
  if (optimizer != "sgd" && optimizer != "adamw") {
    throw Error(fmt::format("optimizer '{}': allowed sgd, adamw", optimizer));
  }
  (void)checked_real("beta1", beta1, limits::kBeta);
  (void)checked_real("beta2", beta2, limits::kBeta);
  (void)checked_integer("steps", steps, limits::kSteps);
  (void)checked_integer("width", width, limits::kWidth);
  (void)checked_integer("epochs", epochs, limits::kEpochs);
  (void)checked_integer("batch", batch, limits::kBatch);
  (void)checked_real("lr", lr, limits::kLr);
  (void)checked_real("momentum", momentum, limits::kMomentum);
  (void)checked_real("weight_decay", weight_decay, limits::kWeightDecay);
  if (schedule != "cosine" && schedule != "constant") {
    throw Error(fmt::format("schedule '{}': allowed cosine, constant", schedule));
  }
  (void)checked_integer("threads", threads, limits::kThreads);
  (void)checked_integer("train_limit", train_limit, limits::kImageLimit);
  (void)checked_integer("test_limit", test_limit, limits::kImageLimit);
  for (int i = 0; i < kNumSites; ++i) validate_site(quant.sites[i], kSiteNames[i]);
  for (int i = 0; i < kNumTensorSites; ++i) validate_tensor_site(quant.tensors[i], kTensorSiteNames[i], task);
  if (!quant.batchnorm.empty()) (void)Format::parse(quant.batchnorm);
  harvest::Extractor ex = harvest::Extractor::parse_bits(quant.harvest.bits);
  ex.validate();
  try {
    (void)harvest::parse_mix(quant.harvest.mix);
  } catch (const Error& e) {
    throw Error(fmt::format("quant.harvest.mix: {}", e.what()));
  }
  if (!dump.path.empty()) {
    harvest::TapKind kind = harvest::TapKind::kSelf;
    try {
      kind = harvest::Tap::parse(dump.tap).kind;
    } catch (const Error& e) {
      throw Error(fmt::format("dump.tap (--dump-tap): {}", e.what()));
    }
    if (kind == harvest::TapKind::kSelf) throw Error("dump.tap 'self': allowed input, weights, act, err, grad, prob");
    (void)checked_integer("dump.layer", dump.layer, limits::kDumpLayer);
    (void)checked_integer("dump.max_bits", dump.max_bits, limits::kDumpBits);
  }
}

std::vector<std::string> task_names() { return {kTasks.begin(), kTasks.end()}; }

void apply_task(TrainConfig& cfg, std::string_view name) {
  if (std::find(kTasks.begin(), kTasks.end(), name) == kTasks.end()) {
    throw Error(fmt::format("task '{}': unknown; allowed: classify, superres, lm", name));
  }
  const TrainConfig defaults;
  cfg.task = std::string(name);
  cfg.optimizer = defaults.optimizer;
  cfg.test_limit = defaults.test_limit;
  if (name == "lm") {
    cfg.model = "gpt";
    cfg.data = "fortunes";
    cfg.optimizer = "adamw";
    cfg.batch = 32;
    cfg.lr = 1e-3;
    cfg.weight_decay = 0.1;
    cfg.epochs = 1;
    cfg.test_limit = 64;  // validation windows of `context` bytes
  } else if (name == "superres") {
    cfg.model = "espcn";
    cfg.data = "photos";
    cfg.optimizer = "adamw";  // SGD's L1 sign steps barely move espcn (docs/superres.md, "Loss and optimizer")
    cfg.batch = 16;
    cfg.lr = 1e-3;            // 3e-3 collapsed the residual to 0 (docs/results.md, issue 11 second session)
    cfg.weight_decay = 0;
    cfg.epochs = 40;
  } else {
    cfg.model = defaults.model;
    cfg.data = defaults.data;
    cfg.batch = defaults.batch;
    cfg.lr = defaults.lr;
    cfg.weight_decay = defaults.weight_decay;
    cfg.epochs = defaults.epochs;
  }
}

std::vector<std::string> preset_names() { return {kPresets.begin(), kPresets.end()}; }

void apply_preset(TrainConfig& cfg, std::string_view name) {
  if (std::find(kPresets.begin(), kPresets.end(), name) == kPresets.end()) {
    throw Error(fmt::format("preset '{}': unknown; allowed: fp32, int8-rne, int8-sr-lfsr, int8-sr-xoshiro, "
                            "int8-sr-philox, int8-sr-harvest, int8-dyn-sr-philox, int8-dyn-sr-harvest, bf16-rne, "
                            "bf16-sr-philox, bf16-sr-harvest", name));
  }
  cfg.preset = std::string(name);
  QuantConfig q;
  if (name != "fp32") {
    auto& s = q.sites;
    const bool bf16 = name.starts_with("bf16-");
    for (Site site : {Site::kWeights, Site::kActivations, Site::kErrors, Site::kGradients}) {
      s[static_cast<int>(site)].format = bf16 ? kBf16Format : site == Site::kErrors ? kInt8ErrorFormat : kInt8Format;
    }
    s[static_cast<int>(Site::kUpdate)].format = bf16                         ? kBf16Format
                                                : name.starts_with("int8-dyn-") ? kUpdateDynFormat
                                                                               : kUpdateFormat;
    if (!name.ends_with("-rne")) {
      std::string source = name == "int8-sr-lfsr"      ? "lfsr:32"
                           : name == "int8-sr-xoshiro" ? "xoshiro128pp"
                           : name.ends_with("philox")  ? "philox"
                                                       : "harvest";
      // philox and xoshiro128pp give each rounding the R bits it reads, 32/R roundings per word
      // (GEN/R, docs/random.md); lfsr:32 keeps one word per rounding (docs/training.md, "Presets").
      const bool packed = source == "philox" || source == "xoshiro128pp";
      for (Site site : {Site::kErrors, Site::kGradients, Site::kUpdate}) {
        auto& sc = s[static_cast<int>(site)];
        sc.rounding = site == Site::kUpdate ? kSrUpdate : kSrBackward;
        sc.source = packed ? fmt::format("{}/{}", source, Rounding::parse(sc.rounding).random_bits) : source;
      }
    }
  }
  cfg.quant = q;
}

namespace {

template <typename T>
T get_value(const toml::node& node, std::string_view key, std::string_view origin) {
  if constexpr (std::is_same_v<T, std::string>) {
    if (auto v = node.value<std::string>()) return *v;
    throw Error(fmt::format("{}: key '{}' must be a string", origin, key));
  } else {
    static_assert(std::is_same_v<T, bool>, "numbers: get_integer / get_real (range-checked)");
    if (auto v = node.value<bool>(); v && node.is_boolean()) return *v;
    throw Error(fmt::format("{}: key '{}' must be true or false", origin, key));
  }
}

// A TOML integer within range (TOML integers are 64-bit signed; never narrowed into T).
template <typename T>
T get_integer(const toml::node& node, std::string_view key, std::string_view origin, IntRange<T> range) {
  if (!node.is_integer()) {
    throw Error(fmt::format("{}: key '{}' must be an integer; allowed {}", origin, key, range.text()));
  }
  return checked_integer(fmt::format("{}: {}", origin, key), *node.value<int64_t>(), range);
}

// A TOML number (integer or float) within range; nan and inf are outside every range.
double get_real(const toml::node& node, std::string_view key, std::string_view origin, const RealRange& range) {
  if (!node.is_number()) throw Error(fmt::format("{}: key '{}' must be a number; allowed {}", origin, key, range.text()));
  const double v = node.is_integer() ? static_cast<double>(*node.value<int64_t>()) : *node.value<double>();
  return checked_real(fmt::format("{}: {}", origin, key), v, range);
}

void apply_site(SiteConfig& s, const toml::table& t, std::string_view prefix, std::string_view origin) {
  for (auto&& [k, v] : t) {
    std::string key(k.str());
    std::string full = fmt::format("{}.{}", prefix, key);
    if (key == "format") s.format = get_value<std::string>(v, full, origin);
    else if (key == "rounding") s.rounding = get_value<std::string>(v, full, origin);
    else if (key == "source") s.source = get_value<std::string>(v, full, origin);
    else if (key == "pairing") s.pairing = get_value<std::string>(v, full, origin);
    else if (key == "allow_own_bits") s.allow_own_bits = get_value<bool>(v, full, origin);
    else throw Error(fmt::format("{}: unknown key '{}'; allowed: format, rounding, source, pairing, allow_own_bits",
                                 origin, full));
  }
}

void apply_table(TrainConfig& cfg, const toml::table& root, std::string_view origin, std::string_view preset_override) {
  if (!preset_override.empty()) {
    apply_preset(cfg, preset_override);
  } else if (auto p = root.get("preset")) {
    apply_preset(cfg, get_value<std::string>(*p, "preset", origin));
  }
  if (auto t = root.get("task")) apply_task(cfg, get_value<std::string>(*t, "task", origin));
  for (auto&& [k, v] : root) {
    std::string key(k.str());
    if (key == "preset" || key == "task") continue;
    if (key == "model") cfg.model = get_value<std::string>(v, key, origin);
    else if (key == "width") cfg.width = get_integer(v, key, origin, limits::kWidth);
    else if (key == "scale") cfg.scale = get_integer(v, key, origin, limits::kScale);
    else if (key == "context") cfg.context = get_integer(v, key, origin, limits::kContext);
    else if (key == "blocks") cfg.blocks = get_integer(v, key, origin, limits::kBlocks);
    else if (key == "heads") cfg.heads = get_integer(v, key, origin, limits::kHeads);
    else if (key == "steps") cfg.steps = get_integer(v, key, origin, limits::kSteps);
    else if (key == "optimizer") cfg.optimizer = get_value<std::string>(v, key, origin);
    else if (key == "beta1") cfg.beta1 = get_real(v, key, origin, limits::kBeta);
    else if (key == "beta2") cfg.beta2 = get_real(v, key, origin, limits::kBeta);
    else if (key == "data") cfg.data = get_value<std::string>(v, key, origin);
    else if (key == "train_limit") cfg.train_limit = get_integer(v, key, origin, limits::kImageLimit);
    else if (key == "test_limit") cfg.test_limit = get_integer(v, key, origin, limits::kImageLimit);
    else if (key == "epochs") cfg.epochs = get_integer(v, key, origin, limits::kEpochs);
    else if (key == "batch") cfg.batch = get_integer(v, key, origin, limits::kBatch);
    else if (key == "lr") cfg.lr = get_real(v, key, origin, limits::kLr);
    else if (key == "momentum") cfg.momentum = get_real(v, key, origin, limits::kMomentum);
    else if (key == "weight_decay") cfg.weight_decay = get_real(v, key, origin, limits::kWeightDecay);
    else if (key == "schedule") cfg.schedule = get_value<std::string>(v, key, origin);
    else if (key == "seed") cfg.seed = get_integer(v, key, origin, limits::kSeed);
    else if (key == "threads") cfg.threads = get_integer(v, key, origin, limits::kThreads);
    else if (key == "quant" && v.is_table()) {
      for (auto&& [qk, qv] : *v.as_table()) {
        std::string qkey(qk.str());
        std::string full = "quant." + qkey;
        if (qkey == "first_layer") cfg.quant.first_layer = get_value<bool>(qv, full, origin);
        else if (qkey == "last_layer") cfg.quant.last_layer = get_value<bool>(qv, full, origin);
        else if (qkey == "batchnorm") cfg.quant.batchnorm = get_value<std::string>(qv, full, origin);
        else if (qkey == "harvest" && qv.is_table()) {
          for (auto&& [hk, hv] : *qv.as_table()) {
            std::string hkey(hk.str());
            std::string hfull = "quant.harvest." + hkey;
            if (hkey == "bits") cfg.quant.harvest.bits = get_value<std::string>(hv, hfull, origin);
            else if (hkey == "mix") cfg.quant.harvest.mix = get_value<std::string>(hv, hfull, origin);
            else if (hkey == "whiten") cfg.quant.harvest.mix = get_value<bool>(hv, hfull, origin) ? "whiten32" : "none";
            else if (hkey == "skip_zeros") cfg.quant.harvest.skip_zeros = get_value<bool>(hv, hfull, origin);
            else throw Error(fmt::format("{}: unknown key '{}'; allowed: bits, mix, whiten, skip_zeros", origin, hfull));
          }
        } else if (qv.is_table() && qkey.size() == 1 && std::string_view("WAEGUMV").find(qkey[0]) != std::string_view::npos) {
          apply_site(cfg.quant.sites[static_cast<int>(parse_site(qkey))], *qv.as_table(), full, origin);
        } else if (auto t = std::find(kTensorSiteNames.begin(), kTensorSiteNames.end(), qkey);
                   qv.is_table() && t != kTensorSiteNames.end()) {
          apply_site(cfg.quant.tensors[static_cast<size_t>(t - kTensorSiteNames.begin())], *qv.as_table(), full, origin);
        } else {
          throw Error(fmt::format("{}: unknown key '{}'; allowed: first_layer, last_layer, batchnorm, [quant.harvest], "
                                  "[quant.W] [quant.A] [quant.E] [quant.G] [quant.U] [quant.M] [quant.V], "
                                  "[quant.layernorm] [quant.softmax] [quant.embedding] (task lm)", origin, full));
        }
      }
    } else if (key == "dump" && v.is_table()) {
      for (auto&& [dk, dv] : *v.as_table()) {
        std::string dkey(dk.str());
        std::string full = "dump." + dkey;
        if (dkey == "path") cfg.dump.path = get_value<std::string>(dv, full, origin);
        else if (dkey == "layer") cfg.dump.layer = get_integer(dv, full, origin, limits::kDumpLayer);
        else if (dkey == "tap") cfg.dump.tap = get_value<std::string>(dv, full, origin);
        else if (dkey == "max_bits") cfg.dump.max_bits = get_integer(dv, full, origin, limits::kDumpBits);
        else throw Error(fmt::format("{}: unknown key '{}'; allowed: path, layer, tap, max_bits", origin, full));
      }
    } else {
      throw Error(fmt::format("{}: unknown key '{}'; allowed: preset, task, scale, model, width, context, blocks, heads, "
                              "data, train_limit, test_limit, epochs, steps, batch, lr, optimizer, momentum, beta1, beta2, "
                              "weight_decay, schedule, seed, threads, [quant], [dump]",
                              origin, key));
    }
  }
}

}  // namespace

void apply_toml_text(TrainConfig& cfg, std::string_view text, std::string_view origin,
                     std::string_view preset_override) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    throw Error(fmt::format("{}: TOML syntax error at line {}, column {}: {}", origin, e.source().begin.line,
                            e.source().begin.column, e.description()));
  }
  apply_table(cfg, root, origin, preset_override);
}

void apply_toml_file(TrainConfig& cfg, const std::string& path, std::string_view preset_override) {
  std::ifstream in(path);
  if (!in) throw Error(fmt::format("--config '{}': cannot open the file", path));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  apply_toml_text(cfg, text, path, preset_override);
}

namespace {
// One [quant.X] table as saved in a run's config (run folder, checkpoint) and read back.
nlohmann::json site_to_json(const SiteConfig& s) {
  return {{"format", s.format}, {"rounding", s.rounding}, {"source", s.source}, {"pairing", s.pairing},
          {"allow_own_bits", s.allow_own_bits}};
}
SiteConfig site_from_json(const nlohmann::json& s) {
  SiteConfig d;
  d.format = s.at("format");
  d.rounding = s.at("rounding");
  d.source = s.at("source");
  d.pairing = s.at("pairing");
  d.allow_own_bits = s.value("allow_own_bits", false);  // absent in runs saved before it existed
  return d;
}
}  // namespace

std::string to_json(const TrainConfig& c, int indent) {
  nlohmann::ordered_json j;
  j["preset"] = c.preset;
  j["task"] = c.task;
  j["scale"] = c.scale;
  j["model"] = c.model;
  j["width"] = c.width;
  j["context"] = c.context;
  j["blocks"] = c.blocks;
  j["heads"] = c.heads;
  j["data"] = c.data;
  j["train_limit"] = c.train_limit;
  j["test_limit"] = c.test_limit;
  j["epochs"] = c.epochs;
  j["steps"] = c.steps;
  j["batch"] = c.batch;
  j["lr"] = c.lr;
  j["optimizer"] = c.optimizer;
  j["momentum"] = c.momentum;
  j["beta1"] = c.beta1;
  j["beta2"] = c.beta2;
  j["weight_decay"] = c.weight_decay;
  j["schedule"] = c.schedule;
  j["seed"] = c.seed;
  j["threads"] = c.threads;
  auto& q = j["quant"];
  q["first_layer"] = c.quant.first_layer;
  q["last_layer"] = c.quant.last_layer;
  q["batchnorm"] = c.quant.batchnorm;
  q["harvest"] = {{"bits", c.quant.harvest.bits}, {"mix", c.quant.harvest.mix},
                  {"skip_zeros", c.quant.harvest.skip_zeros}};
  for (int i = 0; i < kNumSites; ++i) q[std::string(kSiteNames[i])] = site_to_json(c.quant.sites[i]);
  for (int i = 0; i < kNumTensorSites; ++i) {
    q[std::string(kTensorSiteNames[i])] = site_to_json(c.quant.tensors[static_cast<size_t>(i)]);
  }
  j["dump"] = {{"path", c.dump.path}, {"layer", c.dump.layer}, {"tap", c.dump.tap}, {"max_bits", c.dump.max_bits}};
  return j.dump(indent);
}

std::vector<std::string> config_differences(const TrainConfig& saved, const TrainConfig& given,
                                            const std::vector<std::string>& ignore) {
  // The command-line flag of a key, where it has one.
  static const std::map<std::string, std::string> kFlags = {
      {"preset", "--preset"}, {"task", "--task"}, {"scale", "--scale"}, {"model", "--model"}, {"width", "--width"}, {"data", "--data"},
      {"train_limit", "--train-limit"}, {"test_limit", "--test-limit"}, {"epochs", "--epochs"},
      {"steps", "--steps"}, {"optimizer", "--optimizer"}, {"context", "--context"}, {"blocks", "--blocks"},
      {"heads", "--heads"},
      {"batch", "--batch"}, {"lr", "--lr"}, {"seed", "--seed"}, {"threads", "--threads"},
      {"dump.path", "--dump"}, {"dump.tap", "--dump-tap"}, {"dump.layer", "--dump-layer"},
      {"dump.max_bits", "--dump-bits"}};
  const auto a = nlohmann::ordered_json::parse(to_json(saved)).flatten();
  const auto b = nlohmann::ordered_json::parse(to_json(given)).flatten();
  std::vector<std::string> out;
  for (const auto& [pointer, value] : a.items()) {
    std::string key = pointer.substr(1);  // "/quant/E/source" -> "quant.E.source"
    std::replace(key.begin(), key.end(), '/', '.');
    if (std::find(ignore.begin(), ignore.end(), key) != ignore.end()) continue;
    const auto other = b.find(pointer);
    if (other != b.end() && *other == value) continue;
    const auto flag = kFlags.find(key);
    out.push_back(fmt::format("{}{}: saved {}, given {}", key, flag == kFlags.end() ? "" : " (" + flag->second + ")",
                              value.dump(), other == b.end() ? "nothing" : other->dump()));
  }
  return out;
}

namespace {
// A saved integer (summary.json, a checkpoint's meta) within its range: a damaged file is refused,
// never narrowed into the field (nlohmann's get<int> would cast 2^32 + 1 to 1).
template <typename T>
T json_integer(const nlohmann::json& j, const char* key, IntRange<T> range, std::string_view prefix = {}) {
  const auto& v = j.at(key);
  const std::string name = fmt::format("saved run configuration: {}{}", prefix, key);
  if (v.is_number_unsigned()) return checked_integer(name, v.get<uint64_t>(), range);
  if (v.is_number_integer()) return checked_integer(name, v.get<int64_t>(), range);
  throw Error(fmt::format("{} {}: not an integer; allowed {}", name, v.dump(), range.text()));
}
}  // namespace

TrainConfig config_from_json(std::string_view text) {
  TrainConfig c;
  try {
    auto j = nlohmann::json::parse(text);
    c.preset = j.at("preset");
    c.task = j.value("task", std::string("classify"));  // absent in runs saved before the superres task
    c.scale = j.contains("scale") ? json_integer(j, "scale", limits::kScale) : 2;
    c.model = j.at("model");
    c.width = json_integer(j, "width", limits::kWidth);
    // absent in runs saved before the lm task and AdamW: their defaults
    if (j.contains("context")) c.context = json_integer(j, "context", limits::kContext);
    if (j.contains("blocks")) c.blocks = json_integer(j, "blocks", limits::kBlocks);
    if (j.contains("heads")) c.heads = json_integer(j, "heads", limits::kHeads);
    if (j.contains("steps")) c.steps = json_integer(j, "steps", limits::kSteps);
    c.optimizer = j.value("optimizer", std::string("sgd"));
    c.beta1 = j.value("beta1", c.beta1);
    c.beta2 = j.value("beta2", c.beta2);
    c.data = j.at("data");
    c.train_limit = json_integer(j, "train_limit", limits::kImageLimit);
    c.test_limit = json_integer(j, "test_limit", limits::kImageLimit);
    c.epochs = json_integer(j, "epochs", limits::kEpochs);
    c.batch = json_integer(j, "batch", limits::kBatch);
    c.lr = j.at("lr");
    c.momentum = j.at("momentum");
    c.weight_decay = j.at("weight_decay");
    c.schedule = j.at("schedule");
    c.seed = json_integer(j, "seed", limits::kSeed);
    c.threads = json_integer(j, "threads", limits::kThreads);
    const auto& q = j.at("quant");
    c.quant.first_layer = q.at("first_layer");
    c.quant.last_layer = q.at("last_layer");
    c.quant.batchnorm = q.at("batchnorm");
    c.quant.harvest.bits = q.at("harvest").at("bits");
    const auto& h = q.at("harvest");  // runs saved before `mix` existed stored `whiten`
    c.quant.harvest.mix = h.contains("mix") ? h.at("mix").get<std::string>()
                                            : (h.at("whiten").get<bool>() ? "whiten32" : "none");
    c.quant.harvest.skip_zeros = q.at("harvest").at("skip_zeros");
    for (int i = 0; i < kNumSites; ++i) {
      const std::string site_name(kSiteNames[i]);
      if (i == static_cast<int>(Site::kVariance) && !q.contains(site_name)) continue;  // runs saved before AdamW
      c.quant.sites[i] = site_from_json(q.at(site_name));
    }
    for (int i = 0; i < kNumTensorSites; ++i) {
      const std::string name(kTensorSiteNames[i]);
      if (!q.contains(name)) continue;  // runs saved before the tensor sites: FP32
      c.quant.tensors[static_cast<size_t>(i)] = site_from_json(q.at(name));
    }
    const auto& d = j.at("dump");
    c.dump.path = d.at("path");
    c.dump.layer = json_integer(d, "layer", limits::kDumpLayer, "dump.");
    c.dump.tap = d.at("tap");
    c.dump.max_bits = json_integer(d, "max_bits", limits::kDumpBits, "dump.");
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("saved run configuration: invalid JSON ({})", e.what()));
  }
  return c;
}

}  // namespace rngfree::train
