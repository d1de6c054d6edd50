// The site plan (site_plan.hpp): one place that resolves a config's sites to sources, taps and
// pairings, and refuses the configurations that would silently bias stochastic rounding.
#include "rngfree/train/site_plan.hpp"

#include <fmt/core.h>

#include <algorithm>

#include "rngfree/error.hpp"
#include "rngfree/random/random_source.hpp"

namespace rngfree::train {

namespace {

bool is_harvest(const std::string& source) { return source == "harvest" || source.starts_with("harvest:"); }

std::string_view site_name(Site s) { return kSiteNames[static_cast<size_t>(s)]; }

// True when tap `kind` of the site's own layer (after resolution) may hold the very values the
// site rounds, element for element: A rounds the layer's input (act of the layer before, through
// ReLU/pooling, or the network input; at a softmax·V layer also the probabilities, its prob tap),
// E its err, G its grad, W and U its weights, M its momentum (the first momentum is the gradient itself).
bool may_hold_own_bits(Site site, harvest::TapKind kind, int tap_layer, int layer) {
  using harvest::TapKind;
  switch (site) {
    case Site::kActivations:
      return (kind == TapKind::kInput && layer == 0) || (kind == TapKind::kAct && tap_layer == layer - 1) ||
             (kind == TapKind::kProb && tap_layer == layer);
    case Site::kErrors: return kind == TapKind::kErr && tap_layer == layer;
    case Site::kGradients: return kind == TapKind::kGrad && tap_layer == layer;
    case Site::kWeights:
    case Site::kUpdate: return kind == TapKind::kWeights && tap_layer == layer;
    case Site::kMomentum: return kind == TapKind::kGrad && tap_layer == layer;
    case Site::kVariance: return false;  // g² holds none of g's low bits
  }
  return false;
}

}  // namespace

std::vector<harvest::Tap> default_harvest_taps(Site site) {
  using harvest::TapKind;
  switch (site) {
    // act alone fails at conv1, whose act is constant over the image background (E: NIST, U: bias):
    // the next layer's act is XORed in; in BatchNorm networks (resnet20) the convolutions have no
    // bias and act is a short integer times a power of two, so the next layer's err (FP32 through
    // BatchNorm's backward) is XORed in too. Over a constant background every tap of a
    // full-resolution stage is constant per channel (resnet20's first stage), so the act of the layer
    // before the last, whose receptive field covers the whole image, is XORed in as well
    // (docs/results.md, "The default harvester"). Not the layer's own err (G: its words were 82-98 %
    // zero) nor grad (U: its low mantissa bits are empty).
    case Site::kErrors:
    case Site::kGradients:
    case Site::kUpdate:
      return {{TapKind::kAct, 0}, {TapKind::kAct, +1}, {TapKind::kErr, +1}, {TapKind::kAct, -1, true}};
    case Site::kWeights: return {{TapKind::kGrad, 0}};   // previous step's, shifted
    case Site::kActivations: return {{TapKind::kAct, -1}};  // shifted; layer 0: the input
    case Site::kMomentum:
    case Site::kVariance: return {{TapKind::kErr, 0}};
  }
  return {{TapKind::kSelf, 0}};
}

namespace {

}  // namespace

std::vector<harvest::Tap> parse_harvest_taps(std::string_view spec) {
  std::vector<harvest::Tap> taps;
  size_t start = 0;
  for (size_t i = 0; i <= spec.size(); ++i) {
    // a '+' right after '@' is a layer offset ("act@+1"), not a separator
    if (i == spec.size() || (spec[i] == '+' && (i == 0 || spec[i - 1] != '@'))) {
      taps.push_back(harvest::Tap::parse(spec.substr(start, i - start)));
      start = i + 1;
    }
  }
  return taps;
}

namespace {

// Resolves a tap's layer: before the first layer is the input, after the last there is none (-1).
std::pair<harvest::TapKind, int> resolve(const harvest::Tap& tap, int layer, int n) {
  if (tap.kind == harvest::TapKind::kInput) return {tap.kind, 0};
  if (tap.kind == harvest::TapKind::kSelf) return {tap.kind, layer};
  const int at = (tap.from_last ? n - 1 : layer) + tap.layer_offset;
  if (at < 0) return {harvest::TapKind::kInput, 0};
  if (at >= n) return {harvest::TapKind::kSelf, -1};
  return {tap.kind, at};
}

// A prob tap resolved to layer `at`, which has none: the message names the key and, when the model
// has layers with one, the offsets that reach the first of them from this layer and from the last.
[[noreturn]] void refuse_missing_prob(const SitePlan& plan, const std::string& where, Site site,
                                      const std::string& source, int layer, int at) {
  const auto name = [&](int l) { return fmt::format("{} ({})", l, plan.layer_names[static_cast<size_t>(l)]); };
  std::string has;
  if (plan.prob_layers.empty()) {
    has = "this model has no layer with one (only the lm task's gpt has prob taps, at its softmax·V layers h{i}.pv)";
  } else {
    for (int l : plan.prob_layers) has += fmt::format("{}{}", has.empty() ? "" : ", ", name(l));
    const int first = plan.prob_layers.front(), last = plan.num_layers() - 1;
    const auto offset = [](int d) { return d == 0 ? std::string() : fmt::format("@{:+d}", d); };
    has = fmt::format("only layers {} have one; from layer {} name e.g. prob{} or, the same layer from every layer, "
                      "prob@last{}",
                      has, layer, offset(first - layer), first == last ? std::string() : fmt::format("{:d}", first - last));
  }
  throw Error(fmt::format("{}: [quant.{}] source '{}' reads prob of layer {}, which has no prob tap (the attention "
                          "probabilities); {}",
                          where, site_name(site), source, name(at), has));
}

}  // namespace

harvest::Extractor harvest_extractor(const HarvestConfig& config) {
  harvest::Extractor e = harvest::Extractor::parse_bits(config.bits);
  e.mix = harvest::parse_mix(config.mix);
  e.zeros = config.skip_zeros ? harvest::ZeroPolicy::kSkip : harvest::ZeroPolicy::kKeep;
  return e;
}

bool SitePlan::reads(int layer, harvest::TapKind kind) const {
  return std::any_of(sites.begin(), sites.end(), [&](const PlannedSite& p) {
    if (p.source != SourceKind::kHarvest) return false;
    if (p.tap == kind && p.tap_layer == layer) return true;
    return std::any_of(p.extra.begin(), p.extra.end(),
                       [&](const PlannedSite::ExtraTap& e) { return e.tap == kind && e.tap_layer == layer; });
  });
}

std::vector<const PlannedSite*> SitePlan::stochastic_sites() const {
  std::vector<const PlannedSite*> out;
  for (const auto& p : sites) {
    if (p.active && p.source != SourceKind::kNone) out.push_back(&p);
  }
  return out;
}

std::string PlannedSite::source_text(std::span<const std::string> layer_names) const {
  if (source == SourceKind::kGenerator) return fmt::format("{} (stream {})", generator, stream);
  if (source != SourceKind::kHarvest) return {};
  std::string s;
  if (tap == harvest::TapKind::kSelf) {
    s = fmt::format("harvest self (other elements of the tensor), {}", extractor.name());
  } else {
    s = fmt::format("harvest {} of layer {} ({})", tap_name(tap), tap_layer, layer_names[static_cast<size_t>(tap_layer)]);
    for (const auto& e : extra) {
      s += fmt::format(" ^ {} of layer {} ({})", tap_name(e.tap), e.tap_layer, layer_names[static_cast<size_t>(e.tap_layer)]);
    }
    const std::string mode = pairing_mode == PlanPairing::kAuto      ? "auto"
                             : pairing_mode == PlanPairing::kShifted ? "shifted"
                                                                     : pairing.name();
    s += fmt::format(", {}, pairing {}", extractor.name(), mode);
  }
  if (own_bits_allowed) s += ", own bits allowed";
  return s;
}

std::string PlannedSite::describe(std::span<const std::string> layer_names) const {
  const std::string src = source_text(layer_names);
  return fmt::format("{}: {} {}{}", site_name(site), format.name(), rounding.name(), src.empty() ? "" : " <- " + src);
}

SitePlan make_site_plan(const QuantConfig& quant, std::span<const std::string> layer_names,
                        std::span<const int> prob_layers) {
  SitePlan plan;
  plan.layer_names.assign(layer_names.begin(), layer_names.end());
  const int n = plan.num_layers();
  plan.prob_layers.assign(prob_layers.begin(), prob_layers.end());
  std::sort(plan.prob_layers.begin(), plan.prob_layers.end());
  for (int l : plan.prob_layers) RNGFREE_CHECK(l >= 0 && l < n, "a prob layer outside the model");
  const auto has_prob = [&](int l) {
    return std::binary_search(plan.prob_layers.begin(), plan.prob_layers.end(), l);
  };
  const harvest::Extractor extractor = harvest_extractor(quant.harvest);
  extractor.validate();
  plan.sites.resize(static_cast<size_t>(n) * kNumSites);
  for (int l = 0; l < n; ++l) {
    const bool layer_on = (l != 0 || quant.first_layer) && (l != n - 1 || quant.last_layer);
    for (int s = 0; s < kNumSites; ++s) {
      const SiteConfig& sc = quant.sites[static_cast<size_t>(s)];
      PlannedSite& p = plan.sites[static_cast<size_t>(l) * kNumSites + static_cast<size_t>(s)];
      p.layer = l;
      p.site = static_cast<Site>(s);
      p.active = layer_on && !sc.format.empty();
      if (!p.active) continue;
      const std::string where = fmt::format("layer {} ({}), site {}", l, plan.layer_names[static_cast<size_t>(l)],
                                            site_name(p.site));
      p.format = Format::parse(sc.format);
      p.rounding = Rounding::parse(sc.rounding);
      if (!p.rounding.is_stochastic()) continue;
      const int needed = p.rounding.random_bits;
      if (!is_harvest(sc.source)) {
        p.source = SourceKind::kGenerator;
        p.generator = sc.source;
        p.stream = site_stream(l, p.site);
        p.supplied_bits = random::generator_random_bits(sc.source);
        if (p.supplied_bits < needed) {
          throw Error(fmt::format("{}: source '{}' gives {} random bits per word, but rounding '{}' needs {}; "
                                  "the missing top bits of r would stay 0 (a bias toward -inf). Use a generator "
                                  "with at least {} bits (e.g. lfsr:{} or philox) or fewer random bits",
                                  where, sc.source, p.supplied_bits, sc.rounding, needed, needed, std::max(needed, 3)));
        }
        continue;
      }
      p.source = SourceKind::kHarvest;
      p.requested = sc.source;
      p.extractor = extractor;
      p.own_bits_allowed = sc.allow_own_bits;
      const std::vector<harvest::Tap> taps =
          sc.source == "harvest" ? default_harvest_taps(p.site) : parse_harvest_taps(std::string_view(sc.source).substr(8));
      for (size_t t = 0; t < taps.size(); ++t) {
        const auto [kind, at] = resolve(taps[t], l, n);
        if (kind == harvest::TapKind::kProb && !has_prob(at)) refuse_missing_prob(plan, where, p.site, sc.source, l, at);
        if (t == 0) {  // the primary tap: past the last layer, the tensor itself
          p.tap = kind;
          p.tap_layer = at < 0 ? l : at;
          continue;
        }
        if (at < 0) continue;  // an extra tap past the last layer is dropped
        if (kind == harvest::TapKind::kSelf) {
          throw Error(fmt::format("{}: source '{}': 'self' can only be the first tap of a sum", where, sc.source));
        }
        // A tensor XORed with itself cancels: a tap that resolves to one already in the sum (act@+1 and
        // act@last-1 at the layer before the last) is read once.
        const PlannedSite::ExtraTap tap{kind, at};  // (a lambda may not capture a structured binding in C++17)
        const bool repeated = (tap.tap == p.tap && tap.tap_layer == p.tap_layer) ||
                              std::any_of(p.extra.begin(), p.extra.end(), [&](const PlannedSite::ExtraTap& e) {
                                return e.tap == tap.tap && e.tap_layer == tap.tap_layer;
                              });
        if (!repeated) p.extra.push_back(tap);
      }
      // The defaults of W (grad, aligned with the weights) and A (the layer's own input) read a tap
      // aligned with the site: they take it shifted by half.
      const bool default_shifted =
          sc.source == "harvest" && sc.pairing == "auto" && (p.site == Site::kWeights || p.site == Site::kActivations);
      if (sc.pairing == "shifted" || default_shifted) {
        p.pairing_mode = PlanPairing::kShifted;
      } else if (sc.pairing == "auto") {
        p.pairing_mode = PlanPairing::kAuto;
      } else {
        p.pairing_mode = PlanPairing::kExplicit;
        p.pairing = harvest::Pairing::parse(sc.pairing);
      }
      p.supplied_bits = extractor.width();
      if (p.supplied_bits < needed) {
        throw Error(fmt::format("{}: the harvest field '{}' gives {} random bits per word, but rounding '{}' needs {}; "
                                "mixing does not add entropy, so the top bits of r would not be random. Widen "
                                "[quant.harvest] bits to at least {} bits",
                                where, quant.harvest.bits, p.supplied_bits, sc.rounding, needed, needed));
      }
      if (!p.own_bits_allowed) {
        std::vector<PlannedSite::ExtraTap> all{{p.tap, p.tap_layer}};
        all.insert(all.end(), p.extra.begin(), p.extra.end());
        const auto own = std::find_if(all.begin(), all.end(), [&](const PlannedSite::ExtraTap& e) {
          return may_hold_own_bits(p.site, e.tap, e.tap_layer, l);
        });
        if (p.pairing_mode != PlanPairing::kShifted && own != all.end()) {
          throw Error(fmt::format("{}: source '{}' reads {} of layer {}, which holds the very values this site "
                                  "rounds; SR would take each value's own fraction bits as its random bits. Use "
                                  "pairing = \"shifted\", another tap, or set allow_own_bits = true in [quant.{}] "
                                  "if this is what you want",
                                  where, sc.source, tap_name(own->tap), own->tap_layer, site_name(p.site)));
        }
        if (p.pairing_mode == PlanPairing::kShifted && extractor.zeros == harvest::ZeroPolicy::kSkip &&
            p.tap != harvest::TapKind::kSelf) {
          throw Error(fmt::format("{}: pairing 'shifted' with skip_zeros: the filtered tap can be shorter than the "
                                  "site, and the shift can then map an element onto its own value. Drop skip_zeros, "
                                  "or set allow_own_bits = true in [quant.{}]",
                                  where, site_name(p.site)));
        }
      }
    }
  }
  return plan;
}

harvest::Pairing harvest_pairing(const PlannedSite& site, int64_t n, int64_t m, int64_t step) {
  using harvest::Pairing;
  using harvest::PairingKind;
  if (site.tap == harvest::TapKind::kSelf || site.pairing_mode == PlanPairing::kShifted) {
    return harvest::self_pairing(m);
  }
  if (site.pairing_mode == PlanPairing::kExplicit) return site.pairing;
  __extension__ typedef unsigned __int128 u128;  // step·m may exceed 64 bits in a long run
  if (n == 0 || (n <= m && site.site == Site::kErrors)) {
    // E reads its own layer's act aligned, and a smaller tap whole from its start, every step. With
    // skip_zeros the tap's size is known only after filtering: auto resolves against it (aligned
    // when nothing was dropped, else from the start, wrapping), where aligned would be refused.
    if (site.extractor.zeros == harvest::ZeroPolicy::kSkip) return Pairing{};
    return Pairing{n == m ? PairingKind::kAligned : PairingKind::kStrided, 0, 1, 0};
  }
  if (n <= m) {
    // A tap no larger than the site, read whole and wrapping: G and U of a layer start a sixth of the
    // tap apart, and the start advances by m every step. From offset 0 both would read the same
    // elements for weight j, and G's r (the low 8 bits of the mixed word) would be the low bits of U's
    // for the same weight (lenet5's fc1: 48,000 weights, every tap smaller).
    const int64_t salt = site_salt(site.site, n);
    const int64_t offset = static_cast<int64_t>((static_cast<u128>(step) * static_cast<u128>(m) + salt) % n);
    return Pairing{PairingKind::kStrided, 0, 1, offset};
  }
  if (site.extractor.zeros == harvest::ZeroPolicy::kSkip) return Pairing{};  // n known only after filtering
  const harvest::SpreadShape shape = harvest::spread_shape(n, m, std::min(n / m, kMaxFold));
  // The offset advances by m every step, modulo the spread's period n - (k-1)·block, so that over
  // ceil(period/m) steps every element of the tap contributes; the sites of one layer start a sixth
  // of a block apart so that they do not read the same elements in the same step when the tap is
  // large enough (G and U both read act).
  const int64_t k = shape.k;
  const int64_t salt = site_salt(site.site, shape.block);
  const int64_t offset = static_cast<int64_t>((static_cast<u128>(step) * static_cast<u128>(m) + salt) % shape.period);
  return Pairing{PairingKind::kSpread, k, 1, offset};
}

}  // namespace rngfree::train
