// Checkpoints (trainer.hpp): everything a bit-identical continuation needs — model, momentum,
// every generator's state, the stored taps, the position and the dump buffer — in one libtorch
// archive, serialized in memory and written with write_file_atomic (a kill leaves the old or the new).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string_view>

#include "rngfree/atomic_file.hpp"

#include "archive_check.hpp"
#include "trainer_impl.hpp"

namespace rngfree::train {

namespace {
// The state that differs between the ranks of a data-parallel run: every site's word source (a
// generator's position, and for A, E and G its per-rank stream) and the stored taps (computed from
// the rank's own batch). Written into `ar` and listed in `meta`; read back by restore_rank_local.
void save_rank_local(const Engine& engine, torch::serialize::OutputArchive& ar, nlohmann::ordered_json& meta) {
  nlohmann::json sources = nlohmann::json::object(), taps = nlohmann::json::array();
  for (const auto& l : engine.layers) {
    for (int s = 0; s < kNumSites; ++s) {
      if (l->sites[s].source) sources[fmt::format("{}.{}", l->index, kSiteNames[s])] = l->sites[s].source->save_state();
    }
    for (int k = 0; k < kNumTapKinds; ++k) {
      if (k == static_cast<int>(harvest::TapKind::kWeights) || !l->taps[k].defined()) continue;
      ar.write(fmt::format("tap.{}.{}", l->index, k), l->taps[k]);
      taps.push_back(fmt::format("{}.{}", l->index, k));
    }
  }
  for (int k = 0; k < kNumTensorSites; ++k) {
    const QuantSite& site = engine.tensor_sites[static_cast<size_t>(k)];
    if (site.source) sources[fmt::format("tensor.{}", kTensorSiteNames[k])] = site.source->save_state();
  }
  meta["sources"] = sources;
  meta["taps"] = taps;
}

std::string serialize(torch::serialize::OutputArchive& ar, nlohmann::ordered_json& meta, const std::string& path) {
  ar.write("meta", bytes_tensor(meta.dump()));
  std::ostringstream bytes;
  try {
    ar.save_to(bytes);
  } catch (const std::exception& e) {
    throw library_error(fmt::format("checkpoint '{}': cannot serialize (", path), e, ")");
  }
  return bytes.str();
}
}  // namespace

void Trainer::save_checkpoint(const std::string& path, const std::string& extra) const {
  const Impl& m = *impl_;
  // Data-parallel: every rank calls this; ranks 1.. send their own state (taps, sources) to rank 0,
  // which stores each as an archive of its own ("rank.R"), so every rank resumes exactly where it was.
  std::vector<std::string> ranks;
  if (m.comm) {
    torch::serialize::OutputArchive own;
    nlohmann::ordered_json own_meta;
    own_meta["format"] = "rngfree-rank-state-1";
    own_meta["config"] = nlohmann::json::parse(to_json(m.cfg));
    own_meta["rank"] = m.rank;
    save_rank_local(m.engine, own, own_meta);
    ranks = m.comm->gather_bytes(m.rank == 0 ? std::string() : serialize(own, own_meta, path));
    if (m.rank != 0) return;
  }
  torch::serialize::OutputArchive ar;
  for (const auto& p : m.model->named_parameters()) ar.write("model." + p.key(), p.value());
  for (const auto& b : m.model->named_buffers()) ar.write("buffer." + b.key(), b.value());
  nlohmann::ordered_json meta;
  meta["format"] = "rngfree-checkpoint-1";
  meta["config"] = nlohmann::json::parse(to_json(m.cfg));
  meta["step"] = m.step;
  // The sums of an epoch the run stopped inside (--steps): a resumed run continues its row.
  meta["epoch_stats"] = {m.epoch_loss, m.epoch_correct, m.epoch_seen, m.epoch_seconds};
  meta["dump_bits"] = m.dump_bits;
  std::vector<int> mom;
  for (size_t i = 0; i < m.opt->params.size(); ++i) {
    if (m.opt->params[i].momentum.defined()) {
      ar.write(fmt::format("momentum.{}", i), m.opt->params[i].momentum);
      mom.push_back(static_cast<int>(i));
    }
  }
  meta["momentum"] = mom;
  std::vector<int> var;  // AdamW's second moments
  for (size_t i = 0; i < m.opt->params.size(); ++i) {
    if (m.opt->params[i].variance.defined()) {
      ar.write(fmt::format("variance.{}", i), m.opt->params[i].variance);
      var.push_back(static_cast<int>(i));
    }
  }
  meta["variance"] = var;
  save_rank_local(m.engine, ar, meta);  // rank 0's
  meta["world_size"] = m.world;
  for (size_t r = 1; r < ranks.size(); ++r) ar.write(fmt::format("rank.{}", r), bytes_tensor(ranks[r]));
  meta["extra"] = extra;
  if (!m.dump_bytes.empty()) {
    ar.write("dump", bytes_tensor(std::string(m.dump_bytes.begin(), m.dump_bytes.end())));
  }
  write_file_atomic(path, serialize(ar, meta, path));
}

namespace {
std::string read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("checkpoint '{}': cannot open the file", path));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(fmt::format("checkpoint '{}': cannot read the file", path));
  return bytes;
}

// The archive is read from `path`, or from `bytes` when given (then `path` only names it).
nlohmann::json read_meta(std::optional<detail::ArchiveTensors>& ar, const std::string& path,
                         std::optional<std::string_view> bytes = std::nullopt) {
  torch::Tensor meta;
  const std::string file = bytes ? std::string() : read_file_bytes(path);
  const std::string_view z = bytes ? *bytes : std::string_view(file);
  detail::check_torch_archive(z, path);
  try {
    ar.emplace(z);
    ar->read("meta", meta);
    nlohmann::json j = nlohmann::json::parse(tensor_bytes(meta));
    if (!j.is_object() || !j.contains("config")) {
      throw Error(fmt::format("checkpoint '{}': its meta record has no run configuration, so it is not an rngfree "
                              "checkpoint; run without --resume to start afresh", path));
    }
    return j;
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw library_error(fmt::format("checkpoint '{}': not a readable rngfree checkpoint (", path), e,
                        "); run without --resume to start afresh");
  }
}
}  // namespace

namespace {
void restore_rank_local(Engine& engine, const detail::ArchiveTensors& ar, const nlohmann::json& meta) {
  for (auto& l : engine.layers) {
    for (int k = 0; k < kNumTapKinds; ++k) {
      if (k != static_cast<int>(harvest::TapKind::kWeights)) l->taps[k] = torch::Tensor();
    }
  }
  for (const std::string key : meta.at("taps")) {
    const auto dot = key.find('.');
    const int li = std::stoi(key.substr(0, dot)), k = std::stoi(key.substr(dot + 1));
    torch::Tensor t;
    ar.read("tap." + key, t);
    detail::check_storage(t, "tap." + key);
    engine.layers.at(li)->taps.at(k) = t.contiguous();
  }
  const auto& sources = meta.at("sources");
  for (auto& l : engine.layers) {
    for (int s = 0; s < kNumSites; ++s) {
      const std::string key = fmt::format("{}.{}", l->index, kSiteNames[s]);
      if (l->sites[s].source && sources.contains(key)) l->sites[s].source->load_state(sources.at(key).get<std::string>());
    }
  }
  for (int k = 0; k < kNumTensorSites; ++k) {
    QuantSite& site = engine.tensor_sites[static_cast<size_t>(k)];
    const std::string key = fmt::format("tensor.{}", kTensorSiteNames[k]);
    if (site.source && sources.contains(key)) site.source->load_state(sources.at(key).get<std::string>());
  }
}
}  // namespace

TrainConfig load_checkpoint_config(const std::string& path) {
  if (!fs::exists(path)) {
    throw Error(fmt::format("--resume: no checkpoint '{}' (a run with --out DIR writes DIR/checkpoint.pt after each "
                            "epoch)", path));
  }
  std::optional<detail::ArchiveTensors> ar;
  return config_from_json(read_meta(ar, path).at("config").dump());
}

TrainConfig checkpoint_config_from_bytes(std::string_view bytes, const std::string& name) {
  std::optional<detail::ArchiveTensors> ar;
  return config_from_json(read_meta(ar, name, bytes).at("config").dump());
}

std::string Trainer::load_checkpoint(const std::string& path) {
  Impl& m = *impl_;
  std::optional<detail::ArchiveTensors> ar;
  nlohmann::json meta = read_meta(ar, path);
  try {
    torch::NoGradGuard guard;
    for (auto& p : m.model->named_parameters()) {
      torch::Tensor t;
      ar->read("model." + p.key(), t);
      detail::check_storage(t, "model." + p.key());
      p.value().copy_(t);
    }
    for (auto& b : m.model->named_buffers()) {
      torch::Tensor t;
      ar->read("buffer." + b.key(), t);
      detail::check_storage(t, "buffer." + b.key());
      b.value().copy_(t);
    }
    for (auto& p : m.opt->params) p.momentum = torch::Tensor();
    for (int i : meta.at("momentum")) {
      torch::Tensor t;
      ar->read(fmt::format("momentum.{}", i), t);
      detail::check_storage(t, fmt::format("momentum.{}", i));
      m.opt->params.at(i).momentum = t.contiguous();
    }
    for (auto& p : m.opt->params) p.variance = torch::Tensor();
    if (meta.contains("variance")) {  // absent in checkpoints written before AdamW
      for (int i : meta.at("variance")) {
        torch::Tensor t;
        ar->read(fmt::format("variance.{}", i), t);
        detail::check_storage(t, fmt::format("variance.{}", i));
        m.opt->params.at(i).variance = t.contiguous();
      }
    }
    restore_rank_local(m.engine, *ar, meta);
    // A data-parallel checkpoint holds every rank's own taps and sources; rank R > 0 takes its own
    // (checkpoints written before they were stored give every rank rank 0's).
    const std::string own = fmt::format("rank.{}", m.rank);
    if (m.rank > 0 && meta.value("world_size", 1) == m.world) {
      torch::Tensor t;
      ar->read(own, t);
      const std::string bytes = tensor_bytes(t);
      std::optional<detail::ArchiveTensors> rank_ar;
      const nlohmann::json rank_meta = read_meta(rank_ar, path + " (" + own + ")", bytes);
      restore_rank_local(m.engine, *rank_ar, rank_meta);
    }
    m.step = meta.at("step");
    m.opt->steps_done = m.step;  // AdamW's bias correction counts the optimizer steps done
    m.dump_bits = meta.at("dump_bits");
    m.dump_bytes.clear();
    if (m.dump_bits > 0) {
      torch::Tensor t;
      ar->read("dump", t);
      std::string b = tensor_bytes(t);
      m.dump_bytes.assign(b.begin(), b.end());
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw library_error(fmt::format("checkpoint '{}': does not match this run's model (", path), e,
                        "); resume with the same --model and --preset");
  }
  m.order_epoch = -1;
  m.reset_epoch_stats();
  if (meta.contains("epoch_stats") && m.step % m.steps_per_epoch != 0) {  // absent in older checkpoints
    const nlohmann::json& j = meta.at("epoch_stats");
    if (!j.is_array() || j.size() != 4 || !std::all_of(j.begin(), j.end(), [](const auto& v) { return v.is_number(); })) {
      throw Error(fmt::format("checkpoint '{}': epoch_stats is {}, not 4 numbers; run without --resume to start afresh",
                              path, j.dump()));
    }
    const std::vector<double> sums = j.get<std::vector<double>>();
    m.epoch_loss = sums[0];
    m.epoch_correct = sums[1];
    m.epoch_seen = sums[2];
    m.epoch_seconds = sums[3];
  }
  return meta.at("extra").get<std::string>();
}

}  // namespace rngfree::train
