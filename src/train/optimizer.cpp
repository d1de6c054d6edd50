// SGD with momentum and AdamW with the U/M/V sites (optimizer.hpp).
#include "rngfree/train/optimizer.hpp"

#include <cmath>
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
    params.push_back({p, it == owner.end() ? nullptr : it->second, {}, {}});
  }
}

void QSgd::zero_grad() {
  for (auto& p : params) {
    if (p.value.grad().defined()) p.value.mutable_grad() = torch::Tensor();
  }
}

void QSgd::use_adamw(double b1, double b2, double e) {
  adamw = true;
  beta1 = b1;
  beta2 = b2;
  eps = e;
}

void QSgd::step(double lr) {
  if (adamw) {
    step_adamw(lr);
  } else {
    step_sgd(lr);
  }
  ++steps_done;
}

namespace {
// x <- Q_U(next) where the layer's U site is on, else x <- next.
void write_master(QSgd::Param& p, const torch::Tensor& next) {
  QuantSite* u = p.layer != nullptr && p.layer->site(Site::kUpdate).active ? &p.layer->site(Site::kUpdate) : nullptr;
  if (u != nullptr) {
    torch::Tensor c = next.contiguous();
    u->apply(float_span(c), float_span_mut(p.value));
  } else {
    p.value.copy_(next);
  }
}
void round_state(QSgd::Param& p, Site site, torch::Tensor& t) {
  if (p.layer != nullptr && p.layer->site(site).active) p.layer->site(site).apply(float_span(t), float_span_mut(t));
}
}  // namespace

void QSgd::step_adamw(double lr) {
  torch::NoGradGuard guard;
  const double t = static_cast<double>(steps_done + 1);
  const double bc1 = 1 - std::pow(beta1, t), bc2 = 1 - std::pow(beta2, t);
  for (auto& p : params) {
    const torch::Tensor& g = p.value.grad();
    if (!g.defined()) continue;
    if (!p.momentum.defined()) {
      p.momentum = torch::zeros_like(p.value).contiguous();
      p.variance = torch::zeros_like(p.value).contiguous();
    }
    p.momentum.mul_(beta1).add_(g, 1 - beta1);
    round_state(p, Site::kMomentum, p.momentum);
    p.variance.mul_(beta2).addcmul_(g, g, 1 - beta2);
    round_state(p, Site::kVariance, p.variance);
    torch::Tensor next = p.value.dim() >= 2 && weight_decay != 0 ? p.value.mul(1 - lr * weight_decay) : p.value.clone();
    const torch::Tensor denom = (p.variance.sqrt() / std::sqrt(bc2)).add_(eps);
    next.addcdiv_(p.momentum, denom, -lr / bc1);
    write_master(p, next);
  }
}

void QSgd::step_sgd(double lr) {
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
      round_state(p, Site::kMomentum, p.momentum);
      step = p.momentum;
    }
    if (p.layer != nullptr && p.layer->site(Site::kUpdate).active) {
      write_master(p, p.value.sub(step, lr));
    } else {
      p.value.sub_(step, lr);
    }
  }
}

}  // namespace rngfree::train
