// Checkpoints (trainer.hpp): everything a bit-identical continuation needs — model, momentum,
// every generator's state, the stored taps, the position and the dump buffer — in one libtorch
// archive, serialized in memory and written with write_file_atomic (a kill leaves the old or the new).
#include <nlohmann/json.hpp>

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
  std::ostringstream bytes;
  try {
    ar.save_to(bytes);
  } catch (const std::exception& e) {
    throw library_error(fmt::format("checkpoint '{}': cannot serialize (", path), e, ")");
  }
  write_file_atomic(path, bytes.str());
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
    for (auto& l : m.engine.layers) {
      for (int k = 0; k < kNumTapKinds; ++k) {
        if (k != static_cast<int>(harvest::TapKind::kWeights)) l->taps[k] = torch::Tensor();
      }
    }
    for (const std::string key : meta.at("taps")) {
      const auto dot = key.find('.');
      const int li = std::stoi(key.substr(0, dot)), k = std::stoi(key.substr(dot + 1));
      torch::Tensor t;
      ar->read("tap." + key, t);
      detail::check_storage(t, "tap." + key);
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
  return meta.at("extra").get<std::string>();
}

}  // namespace rngfree::train
