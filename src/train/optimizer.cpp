// SGD with momentum and the U/M sites (optimizer.hpp).
#include "rngfree/train/optimizer.hpp"

#include <unordered_map>

#include "tensor_span.hpp"

namespace rngfree::train {

QSgd::QSgd(Net& model, Engine& engine, double momentum_, double weight_decay_)
    : momentum(momentum_), weight_decay(weight_decay_) {
  std::unordered_map<const void*, QLayer*> owner;
  for (auto& l : engine.layers) {
    if (l->weight.defined()) owner[l->weight.unsafeGetTensorImpl()] = l.get();
  }
  for (auto& p : model.parameters()) {
    auto it = owner.find(p.unsafeGetTensorImpl());
    params.push_back({p, it == owner.end() ? nullptr : it->second, {}});
  }
}

void QSgd::zero_grad() {
  for (auto& p : params) {
    if (p.value.grad().defined()) p.value.mutable_grad() = torch::Tensor();
  }
}

void QSgd::step(double lr) {
  torch::NoGradGuard guard;
  for (auto& p : params) {
    const torch::Tensor& g = p.value.grad();
    if (!g.defined()) continue;
    torch::Tensor d = weight_decay != 0 ? g.add(p.value, weight_decay) : g;
    torch::Tensor step = d;
    if (momentum != 0) {
      if (!p.momentum.defined()) {
        p.momentum = d.clone().contiguous();
      } else {
        p.momentum.mul_(momentum).add_(d);
      }
      if (p.layer != nullptr && p.layer->site(Site::kMomentum).active) {
        p.layer->site(Site::kMomentum).apply(float_span(p.momentum), float_span_mut(p.momentum));
      }
      step = p.momentum;
    }
    QuantSite* u = p.layer != nullptr && p.layer->site(Site::kUpdate).active ? &p.layer->site(Site::kUpdate) : nullptr;
    if (u != nullptr) {
      torch::Tensor next = p.value.sub(step, lr).contiguous();
      u->apply(float_span(next), float_span_mut(p.value));
    } else {
      p.value.sub_(step, lr);
    }
  }
}

}  // namespace rngfree::train
