// The quantized autograd op and the rounding of one site (engine.hpp): forward rounds (W, A) and
// backward rounds (E, G) with the core quantize kernel, recording taps on the way.
#include <atomic>
#include <bit>
#include <chrono>
#include <mutex>

#include "rngfree/error.hpp"
#include "rngfree/quantize.hpp"
#include "rngfree/train/engine.hpp"
#include "tensor_span.hpp"

namespace rngfree::train {

namespace {

int64_t pack(const void* p) { return static_cast<int64_t>(std::bit_cast<uintptr_t>(p)); }
template <typename T>
T* unpack(int64_t v) {
  return std::bit_cast<T*>(static_cast<uintptr_t>(v));
}

// Adds the wall time from its construction to its destruction to *seconds (when not null): a
// site's rounding (QuantSite::seconds) and the autograd op around it (QuantSite::op_seconds).
class OpTimer {
 public:
  explicit OpTimer(double* seconds) : seconds_(seconds) {
    if (seconds_ != nullptr) start_ = std::chrono::steady_clock::now();
  }
  ~OpTimer() {
    if (seconds_ != nullptr) *seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  double* seconds_;
  std::chrono::steady_clock::time_point start_;
};

struct QuantizeFn : public torch::autograd::Function<QuantizeFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, int64_t layer,
                               int64_t fwd, int64_t bwd, int64_t fwd_tap, int64_t bwd_tap) {
    const OpTimer timer(fwd != 0 ? &unpack<QuantSite>(fwd)->op_seconds : nullptr);
    ctx->saved_data["layer"] = layer;
    ctx->saved_data["bwd"] = bwd;
    ctx->saved_data["bwd_tap"] = bwd_tap;
    auto* l = unpack<QLayer>(layer);
    if (fwd_tap >= 0 && l != nullptr) l->engine->record(*l, static_cast<harvest::TapKind>(fwd_tap), x);
    if (fwd != 0) return unpack<QuantSite>(fwd)->apply(x);
    return x;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    torch::Tensor g = std::move(grads[0]);  // no reference left in `grads` (gradient_is_exclusive)
    auto* l = unpack<QLayer>(ctx->saved_data["layer"].toInt());
    const int64_t bwd = ctx->saved_data["bwd"].toInt();
    const int64_t bwd_tap = ctx->saved_data["bwd_tap"].toInt();
    const OpTimer timer(bwd != 0 ? &unpack<QuantSite>(bwd)->op_seconds : nullptr);
    if (bwd_tap >= 0 && l != nullptr) l->engine->record(*l, static_cast<harvest::TapKind>(bwd_tap), g);
    if (bwd != 0) g = unpack<QuantSite>(bwd)->apply_to_gradient(std::move(g));
    return {g, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

// The reference count of a gradient that only the autograd engine's argument lists hold, as a
// backward function sees it after moving it out of its argument (QuantizeFn::backward does the
// same); 0 until probe_gradient_ownership has measured it, or for good if the probe failed.
std::atomic<int64_t> exclusive_gradient_count{0};
std::once_flag gradient_probe_once;

// The probe's function: the identity, noting the reference count of every gradient it receives.
struct CountingIdentity : public torch::autograd::Function<CountingIdentity> {
  static std::vector<int64_t>& counts() {
    static std::vector<int64_t> c;
    return c;
  }
  static torch::Tensor forward(torch::autograd::AutogradContext*, const torch::Tensor& x) { return x.clone(); }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext*,
                                                 torch::autograd::variable_list grads) {
    torch::Tensor g = std::move(grads[0]);
    counts().push_back(static_cast<int64_t>(g.use_count()));
    return {g};
  }
};

// Measures exclusive_gradient_count (left 0 where the two cases cannot be told apart).
void measure_exclusive_gradient_count() {
  c10::InferenceMode not_inference(false);
  torch::AutoGradMode grad_on(true);
  std::vector<int64_t>& counts = CountingIdentity::counts();
  const auto leaf = [] { return torch::ones({4}).requires_grad_(true); };
  // Exclusive: the multiplication's backward makes the gradient that reaches the identity.
  counts.clear();
  (CountingIdentity::apply(leaf()) * 2.0).sum().backward();
  if (counts.size() != 1) return;
  const int64_t exclusive = counts[0];
  // Shared: the addition's backward hands the gradient it received to both identities; the one
  // that runs first (the later made) sees the other's reference as well, and must count more.
  counts.clear();
  const torch::Tensor a = CountingIdentity::apply(leaf());
  const torch::Tensor b = CountingIdentity::apply(leaf());
  ((a + b) * 2.0).sum().backward();
  if (counts.size() != 2 || counts[0] <= exclusive) return;
  exclusive_gradient_count.store(exclusive);
}

// Q(t) in t's own storage (contiguous float32), returned.
torch::Tensor rounded_in_place(QuantSite& site, torch::Tensor t) {
  const std::span<float> x = float_span_mut(t);
  site.apply(x, x);
  return t;
}
}  // namespace

void probe_gradient_ownership() {
  std::call_once(gradient_probe_once, [] {
    try {
      measure_exclusive_gradient_count();
    } catch (const std::exception&) {  // in-place rounding stays off; training goes on as before
    }
  });
}

bool gradient_is_exclusive(const torch::Tensor& g) {
  const int64_t exclusive = exclusive_gradient_count.load();
  return exclusive > 0 && g.defined() && g.layout() == torch::kStrided && g.device().is_cpu() &&
         g.scalar_type() == torch::kFloat32 && !g.requires_grad() && g.is_contiguous() && g.has_storage() &&
         g.storage().use_count() == 1 && static_cast<int64_t>(g.use_count()) == exclusive;
}

void QuantSite::apply(std::span<const float> in, std::span<float> out) {
  RNGFREE_CHECK(active, "apply on an inactive site");
  const OpTimer timer(&seconds);  // this call's time, on every return path
  elements += static_cast<int64_t>(in.size());
  const QuantizeOptions options{threads};
  if (!rounding.is_stochastic()) {
    quantize(in, out, format, rounding, {}, options);
    return;
  }
  RNGFREE_CHECK(source != nullptr, "stochastic site without a word source");
  const bool observed = engine != nullptr && engine->site_callback && engine->recording;
  // In place, words made from the tensor itself must all be made before it is overwritten.
  const bool overwrites_words = out.data() == in.data() && source->reads_self(in);
  if (!observed && !overwrites_words) {
    if (RandomFill fill = source->fused(in)) {
      quantize_with_source(in, out, format, rounding, fill, options);
      return;
    }
  }
  words.resize(in.size());
  source->fill(in, words);
  if (observed) engine->site_callback(SiteEvent{layer, site, engine->step, in, words});
  quantize(in, out, format, rounding, words, options);
}

torch::Tensor QuantSite::apply(const torch::Tensor& t) {
  RNGFREE_CHECK(t.scalar_type() == torch::kFloat32, "quantize needs float32 tensors");
  torch::Tensor in = t.contiguous();
  if (!in.is_same(t)) return rounded_in_place(*this, std::move(in));  // a copy of t, this call's own
  torch::Tensor out = torch::empty_like(in, torch::MemoryFormat::Contiguous);
  apply(float_span(in), float_span_mut(out));
  return out;
}

torch::Tensor QuantSite::apply_to_gradient(torch::Tensor&& g) {
  if (!gradient_is_exclusive(g)) return apply(g);
  ++in_place_calls;
  return rounded_in_place(*this, std::move(g));
}

torch::Tensor quantize_op(const torch::Tensor& x, QLayer* layer, QuantSite* fwd, QuantSite* bwd, int fwd_tap,
                          int bwd_tap) {
  return QuantizeFn::apply(x, pack(layer), pack(fwd), pack(bwd), int64_t{fwd_tap}, int64_t{bwd_tap});
}


}  // namespace rngfree::train
