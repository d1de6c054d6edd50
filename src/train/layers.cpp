// Quantized Linear and Conv2d (layers.hpp): the three rounding points around libtorch's op.
#include "rngfree/train/layers.hpp"

#include <cmath>

namespace rngfree::train {

namespace {

// PyTorch's default initialisation of Linear/Conv2d: kaiming_uniform(a = sqrt(5)) for the weights,
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias.
void init_like_pytorch(torch::Tensor& w, torch::Tensor& b, int64_t fan_in) {
  torch::NoGradGuard guard;
  torch::nn::init::kaiming_uniform_(w, std::sqrt(5.0));
  if (b.defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    b.uniform_(-bound, bound);
  }
}

// The three rounding points around a layer's libtorch op.
torch::Tensor quantized_input(QLayer& l, const torch::Tensor& x) {
  QuantSite& a = l.site(Site::kActivations);
  return a.active ? quantize_op(x, &l, &a, nullptr, -1, -1) : x;
}
torch::Tensor quantized_weight(QLayer& l, const torch::Tensor& w) {
  QuantSite& ws = l.site(Site::kWeights);
  QuantSite& gs = l.site(Site::kGradients);
  const bool rec_w = l.engine->wants(l, harvest::TapKind::kWeights);
  const bool rec_g = l.engine->wants(l, harvest::TapKind::kGrad);
  if (!ws.active && !gs.active && !rec_w && !rec_g) return w;
  return quantize_op(w, &l, ws.active ? &ws : nullptr, gs.active ? &gs : nullptr,
                     rec_w ? static_cast<int>(harvest::TapKind::kWeights) : -1,
                     rec_g ? static_cast<int>(harvest::TapKind::kGrad) : -1);
}
torch::Tensor quantized_output(QLayer& l, const torch::Tensor& y) {
  QuantSite& es = l.site(Site::kErrors);
  const bool rec_a = l.engine->wants(l, harvest::TapKind::kAct);
  const bool rec_e = l.engine->wants(l, harvest::TapKind::kErr);
  if (!es.active && !rec_a && !rec_e) return y;
  return quantize_op(y, &l, nullptr, es.active ? &es : nullptr, rec_a ? static_cast<int>(harvest::TapKind::kAct) : -1,
                     rec_e ? static_cast<int>(harvest::TapKind::kErr) : -1);
}

}  // namespace

QLinearImpl::QLinearImpl(int64_t in, int64_t out, QLayer* l, bool with_bias) : layer(l) {
  weight = register_parameter("weight", torch::empty({out, in}));
  if (with_bias) bias = register_parameter("bias", torch::empty({out}));
  init_like_pytorch(weight, bias, in);
  layer->weight = weight;
}

torch::Tensor QLinearImpl::forward(const torch::Tensor& x) {
  torch::Tensor a = quantized_input(*layer, x);
  torch::Tensor w = quantized_weight(*layer, weight);
  return quantized_output(*layer, torch::nn::functional::linear(a, w, bias));
}

QConv2dImpl::QConv2dImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride_, int64_t padding_, QLayer* l,
                         bool with_bias)
    : stride(stride_), padding(padding_), layer(l) {
  weight = register_parameter("weight", torch::empty({out, in, kernel, kernel}));
  if (with_bias) bias = register_parameter("bias", torch::empty({out}));
  init_like_pytorch(weight, bias, in * kernel * kernel);
  layer->weight = weight;
}

torch::Tensor QConv2dImpl::forward(const torch::Tensor& x) {
  torch::Tensor a = quantized_input(*layer, x);
  torch::Tensor w = quantized_weight(*layer, weight);
  return quantized_output(*layer, torch::conv2d(a, w, bias, {stride, stride}, {padding, padding}));
}

QMatmulImpl::QMatmulImpl(QLayer* l) : layer(l) {}

torch::Tensor QMatmulImpl::forward(const torch::Tensor& a, const torch::Tensor& b) {
  return quantized_output(*layer, torch::matmul(quantized_input(*layer, a), quantized_input(*layer, b)));
}

}  // namespace rngfree::train
