// The quantized autograd op and the rounding of one site (engine.hpp): forward rounds (W, A) and
// backward rounds (E, G) with the core quantize kernel, recording taps on the way.
#include <bit>
#include <chrono>

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

struct QuantizeFn : public torch::autograd::Function<QuantizeFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, int64_t layer,
                               int64_t fwd, int64_t bwd, int64_t fwd_tap, int64_t bwd_tap) {
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
    torch::Tensor g = grads[0];
    auto* l = unpack<QLayer>(ctx->saved_data["layer"].toInt());
    const int64_t bwd = ctx->saved_data["bwd"].toInt();
    const int64_t bwd_tap = ctx->saved_data["bwd_tap"].toInt();
    if (bwd_tap >= 0 && l != nullptr) l->engine->record(*l, static_cast<harvest::TapKind>(bwd_tap), g);
    if (bwd != 0) g = unpack<QuantSite>(bwd)->apply(g);
    return {g, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

void QuantSite::apply(std::span<const float> in, std::span<float> out) {
  RNGFREE_CHECK(active, "apply on an inactive site");
  const auto start = std::chrono::steady_clock::now();
  struct Timer {  // adds this call's time to the site on every return path
    QuantSite& site;
    std::chrono::steady_clock::time_point start;
    ~Timer() { site.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); }
  } timer{*this, start};
  elements += static_cast<int64_t>(in.size());
  const QuantizeOptions options{threads};
  if (!rounding.is_stochastic()) {
    quantize(in, out, format, rounding, {}, options);
    return;
  }
  RNGFREE_CHECK(source != nullptr, "stochastic site without a word source");
  const bool observed = engine != nullptr && engine->site_callback && engine->recording;
  if (!observed) {
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
  torch::Tensor out = torch::empty_like(in, torch::MemoryFormat::Contiguous);
  apply(float_span(in), float_span_mut(out));
  return out;
}

torch::Tensor quantize_op(const torch::Tensor& x, QLayer* layer, QuantSite* fwd, QuantSite* bwd, int fwd_tap,
                          int bwd_tap) {
  return QuantizeFn::apply(x, pack(layer), pack(fwd), pack(bwd), int64_t{fwd_tap}, int64_t{bwd_tap});
}


}  // namespace rngfree::train
