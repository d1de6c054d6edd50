// The engine (engine.hpp): quantized layers, their taps, and their sites configured from the site plan.
#include "rngfree/train/engine.hpp"

#include "rngfree/error.hpp"
#include "rngfree/quantize.hpp"
#include "tensor_span.hpp"

namespace rngfree::train {

QLayer& Engine::add_layer(std::string name) {
  auto l = std::make_unique<QLayer>();
  l->index = static_cast<int>(layers.size());
  l->name = std::move(name);
  l->engine = this;
  layers.push_back(std::move(l));
  return *layers.back();
}

bool Engine::wants(const QLayer& layer, harvest::TapKind kind) const {
  return recording && (layer.keep[static_cast<int>(kind)] || callback);
}

void Engine::record(QLayer& layer, harvest::TapKind kind, const torch::Tensor& t) {
  RNGFREE_CHECK(kind != harvest::TapKind::kProb || layer.has_prob, "a prob tap recorded at a layer without one");
  if (!wants(layer, kind)) return;
  torch::Tensor c = t.detach().contiguous();
  if (layer.keep[static_cast<int>(kind)]) layer.taps[static_cast<int>(kind)] = c;
  if (callback) callback(TapEvent{layer.index, layer.name, kind, step, float_span(c)});
}

void Engine::configure(const QuantConfig& quant, uint64_t seed) {
  probe_gradient_ownership();  // before any backward (QuantSite::apply_to_gradient)
  std::vector<std::string> names;
  std::vector<int> prob_layers;
  for (const auto& l : layers) {
    names.push_back(l->name);
    if (l->has_prob) prob_layers.push_back(l->index);
  }
  plan = make_site_plan(quant, names, prob_layers);
  // A layer without weights (the GPT's attention products, layers.hpp QMatmul) has only A and E:
  // its W, G, U, M and V sites are off, so that no one (the audit, --layers) sees sites that never round.
  for (const auto& l : layers) {
    if (l->weight.defined()) continue;
    for (Site s : {Site::kWeights, Site::kGradients, Site::kUpdate, Site::kMomentum, Site::kVariance}) {
      plan.sites[static_cast<size_t>(l->index) * kNumSites + static_cast<size_t>(s)].active = false;
    }
  }
  for (auto& lp : layers) {
    QLayer& l = *lp;
    for (int s = 0; s < kNumSites; ++s) {
      const PlannedSite& p = plan.at(l.index, static_cast<Site>(s));
      QuantSite& site = l.sites[s];
      site.engine = this;
      site.layer = l.index;
      site.site = static_cast<Site>(s);
      site.active = p.active;
      site.threads = threads;
      site.source.reset();
      if (!site.active) continue;
      site.format = p.format;
      site.rounding = p.rounding;
      if (p.source == SourceKind::kNone) continue;
      if (p.source == SourceKind::kHarvest && p.tap != harvest::TapKind::kSelf) {
        layers[static_cast<size_t>(p.tap_layer)]->keep[static_cast<int>(p.tap)] = true;
      }
      for (const auto& e : p.extra) layers[static_cast<size_t>(e.tap_layer)]->keep[static_cast<int>(e.tap)] = true;
      site.source = make_word_source(p, *this, seed);
    }
    // Weights start in the master-weight format (nearest-even), so every later update rounds into it.
    QuantSite& u = l.site(Site::kUpdate);
    if (u.active && l.weight.defined()) {
      torch::NoGradGuard guard;
      quantize(float_span(l.weight), float_span_mut(l.weight), u.format, Rounding{}, {}, QuantizeOptions{threads});
    }
    if (l.weight.defined()) l.taps[static_cast<int>(harvest::TapKind::kWeights)] = l.weight.detach();
  }
  // The gpt's tensor sites; not the site plan's (no layer), so not audited or harvested: SR takes a
  // generator stream of its own.
  for (int k = 0; k < kNumTensorSites; ++k) {
    const SiteConfig& sc = quant.tensors[static_cast<size_t>(k)];
    QuantSite& site = tensor_sites[static_cast<size_t>(k)];
    site.layer = -1;
    site.threads = threads;
    site.source.reset();
    site.active = !sc.format.empty();
    if (!site.active) continue;
    site.format = Format::parse(sc.format);
    site.rounding = Rounding::parse(sc.rounding);
    if (site.rounding.is_stochastic()) set_tensor_site_generator(static_cast<TensorSite>(k), sc.source, seed);
  }
  batchnorm_site.active = !quant.batchnorm.empty();
  batchnorm_site.threads = threads;
  if (batchnorm_site.active) {
    batchnorm_site.format = Format::parse(quant.batchnorm);
    batchnorm_site.rounding = Rounding{};
  }
}

void Engine::set_tensor_site_generator(TensorSite s, const std::string& generator, uint64_t seed,
                                       uint64_t stream_offset) {
  QuantSite& site = tensor_sites[static_cast<size_t>(s)];
  PlannedSite p;
  p.active = true;
  p.format = site.format;
  p.rounding = site.rounding;
  p.source = SourceKind::kGenerator;
  p.generator = generator;
  p.stream = tensor_site_stream(s) + stream_offset;
  site.source = make_word_source(p, *this, seed);
}

torch::Tensor Engine::round_tensor(TensorSite s, const torch::Tensor& x) {
  QuantSite& site = tensor_sites[static_cast<size_t>(s)];
  if (!site.active) return x;
  torch::Tensor y = quantize_op(x, nullptr, &site, nullptr, -1, -1);
  if (tensor_site_observer) tensor_site_observer(s, x, y);
  return y;
}

}  // namespace rngfree::train
