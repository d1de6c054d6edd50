// The site plan: a training config resolved to plain data per (layer, site) — format, rounding,
// random source, the tap a harvested site reads (resolved to a concrete layer, `self` where none
// exists), its pairing and extractor — and validated, without libtorch (DESIGN.md "site plan").
// The engine builds its sources from it, the atlas counts demand with it, `rngfree train --layers`
// prints it and the audit names sites with it, so the default pairing lives here and only here.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rngfree/format.hpp"
#include "rngfree/harvest/harvest.hpp"
#include "rngfree/rounding.hpp"
#include "rngfree/train/config.hpp"
#include "rngfree/train/sites.hpp"

namespace rngfree::train {

enum class SourceKind { kNone, kGenerator, kHarvest };

// How a harvested site maps tap elements to its words (resolved per call by harvest_pairing()).
enum class PlanPairing {
  kAuto,     // aligned if n == m; spread over the whole tap if n > m (at most kMaxFold copies, a
             // per-step offset so that every element contributes over successive steps); strided if n < m
  kShifted,  // element i takes tap element (i + floor(m/2)) mod n: a tap aligned with the site never
             // feeds an element its own value
  kExplicit, // the harvest::Pairing written in the config ("aligned", "folded:K", "strided:S:O", ...)
};

struct PlannedSite {
  int layer = 0;
  Site site = Site::kWeights;
  bool active = false;  // rounded at all (the layer is quantized and the site has a format)
  Format format;
  Rounding rounding;
  SourceKind source = SourceKind::kNone;  // kNone unless rounding is stochastic
  // kGenerator:
  std::string generator;    // spec, e.g. "philox"
  uint64_t stream = 0;      // make_generator(generator, seed, stream): 1 + layer·kNumSites + site
  // kHarvest:
  std::string requested;        // the config's source text ("harvest", "harvest:err@-1")
  harvest::TapKind tap = harvest::TapKind::kSelf;  // resolved: kInput (layer 0), a layer tap, or kSelf
  int tap_layer = 0;            // the layer whose tap is read (the site's own layer for kSelf)
  // Further taps whose (unmixed) words are XORed into the primary tap's before the mix, each paired
  // with the site by `auto` (the default E of a layer that has a next one: act ^ act@+1, see
  // docs/training.md); "harvest:act+act@+1" in a config. Never kSelf.
  struct ExtraTap {
    harvest::TapKind tap = harvest::TapKind::kAct;
    int tap_layer = 0;
  };
  std::vector<ExtraTap> extra;
  PlanPairing pairing_mode = PlanPairing::kAuto;
  harvest::Pairing pairing;     // kExplicit only
  harvest::Extractor extractor;
  bool own_bits_allowed = false;  // the config allowed a tap that may hold the rounded value's own bits
  int supplied_bits = 0;          // fresh random bits per word the source gives (generator or field width)

  // "E: fixed:8:dyn stochastic:8 <- " + source_text(), or without the arrow when not stochastic.
  std::string describe(std::span<const std::string> layer_names) const;
  // "philox (stream 15)", "harvest act of layer 1 (conv2) ^ act of layer 2 (fc1), bits 8-23, mix
  // field, pairing auto"; empty for a site without SR.
  std::string source_text(std::span<const std::string> layer_names) const;
};

// Training's `auto` folds at most this many tap elements into one word: a large tap (conv1's act,
// 600k elements) folded whole into a small site (its 150 weights) would cost a pass over the tap per step.
inline constexpr int64_t kMaxFold = 4;

class SitePlan {
 public:
  std::vector<std::string> layer_names;
  std::vector<PlannedSite> sites;  // layer-major: sites[layer * kNumSites + site]
  std::vector<int> prob_layers;    // the layers that have a prob tap (the gpt's h{i}.pv), ascending

  const PlannedSite& at(int layer, Site site) const {
    return sites[static_cast<size_t>(layer) * kNumSites + static_cast<size_t>(site)];
  }
  int num_layers() const { return static_cast<int>(layer_names.size()); }
  // True when some harvested site reads the tap (the engine must store it).
  bool reads(int layer, harvest::TapKind kind) const;
  // Active stochastic sites, in layer order.
  std::vector<const PlannedSite*> stochastic_sites() const;
};

// The default harvest taps of a site (docs/training.md "Default generator-free pairing"), the
// first one primary: E, G, U <- act ^ act@+1 ^ err@+1 ^ act@last-1 (the next layer's act and err,
// dropped past the last layer, and the act of the layer before the last, read once if it is one of
// the others), W <- grad (shifted), A <- act@-1 (shifted; layer 0: the input), M <- err.
std::vector<harvest::Tap> default_harvest_taps(Site site);

// The taps of a harvest source's TAP part: "act+act@+1" -> act, act@+1 (a '+' right after '@' is a
// layer offset). rngfree::Error for a bad tap.
std::vector<harvest::Tap> parse_harvest_taps(std::string_view spec);

// The extractor of the run's harvested sites ([quant.harvest]).
harvest::Extractor harvest_extractor(const HarvestConfig& config);

// Resolves and validates `quant` for a model whose quantized layers are `layer_names` (in forward
// order). Throws rngfree::Error naming the layer, the site and what is wrong when:
//  - a stochastic site's source supplies fewer random bits than its rounding needs (a field of
//    8 bits feeding stochastic:16, lfsr:4 feeding stochastic:8): the top of r would stay 0, a bias;
//  - a harvested site may read the very value it rounds (A <- act@-1, the input or its own layer's
//    prob, E <- err, G <- grad, W/U <- weights, M <- grad/err of its own layer, aligned or auto):
//    refused unless the pairing is `shifted` or the site sets allow_own_bits;
//  - `shifted` with skip_zeros (the filtered tap is shorter than the site, so the shift can map an
//    element onto itself), unless allow_own_bits;
//  - a `prob` tap that resolves to a layer not in `prob_layers` (the layers that have one: the
//    gpt's softmax·V layers; none for the other models): the message names the key, the layer and
//    the spellings that reach a layer with one.
// A prob tap is read like act: this step's when its layer has already run (E, G, U; forward sites
// of later layers), else the previous step's.
SitePlan make_site_plan(const QuantConfig& quant, std::span<const std::string> layer_names,
                        std::span<const int> prob_layers = {});

// The pairing a harvested site uses for one call: tap of n elements, site of m words, optimizer
// step `step` (the spread's offset advances every step and differs between the sites of a layer).
harvest::Pairing harvest_pairing(const PlannedSite& site, int64_t n, int64_t m, int64_t step);

}  // namespace rngfree::train
